// A Clock for unit tests: time moves only when the test moves it, so nothing sleeps and
// every run sees the same timestamps. Unlike SystemClock, two now() calls at the same set
// time return the same value.
import type { Clock } from '../../src/service/clock.ts'
import { Time } from '../../src/service/index.ts'
import { BASE_TIME } from './factories.ts'

export class FakeClock implements Clock {
  #now: Time

  constructor (start: Time | string = BASE_TIME) {
    this.#now = typeof start === 'string' ? Time.parse(start) : start
  }

  now (): Time { return this.#now }

  nowMs (): number { return this.#now.toMillis() }

  /** Jumps to t (an RFC 3339 string or a Time); may go backwards, like a stepped wall clock. */
  set (t: Time | string): void {
    this.#now = typeof t === 'string' ? Time.parse(t) : t
  }

  /** Moves forward (or back, if negative) by ms milliseconds. */
  advance (ms: number): void {
    this.#now = this.#now.plusMillis(ms)
  }
}
