import { Time } from './time.ts'

/** Injected wherever merge, expiry or lifespan logic needs the time, so tests never sleep. */
export interface Clock {
  /** Wall-clock time with nanosecond resolution; strictly increasing between calls. */
  now (): Time
  /** Wall-clock milliseconds (Date.now()). */
  nowMs (): number
}

/**
 * The system clock. Date.now() gives the wall time in ms; the sub-millisecond digits come
 * from the monotonic clock, and each value is made strictly greater than the last one, so
 * two records stamped in the same millisecond still order (merges need strictly newer).
 */
export class SystemClock implements Clock {
  #last = 0n

  now (): Time {
    let ns = BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n)
    if (ns <= this.#last) ns = this.#last + 1n
    this.#last = ns
    return new Time(ns)
  }

  nowMs (): number { return Date.now() }
}

export const systemClock: Clock = new SystemClock()
