import { Time } from './time.ts'

/** Injected wherever merge, expiry or lifespan logic needs the time, so tests never sleep. */
export interface Clock {
  /** Wall-clock time with nanosecond resolution; strictly increasing between calls. */
  now (): Time
  /** Wall-clock milliseconds (Date.now()). */
  nowMs (): number
  /** How far this clock is moved from the system clock to agree with the cluster (CorrectedClock); absent: not at all. */
  correctionMs?: () => number
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

/**
 * The system clock moved by a correction the gossip layer measures against the cluster
 * (gossip/clock-offset.ts), so a host whose clock is off still stamps records its peers
 * judge right. A new correction is a step: times may go back by it once (a host that was
 * ahead), after which they increase strictly again; a backward step is not frozen out
 * (which would stop time for as long as the step) since every record this host owns is
 * re-stamped newer than its stored version anyway.
 */
export class CorrectedClock implements Clock {
  #last = 0n
  #correctionNs = 0n
  #correctionMs = 0

  now (): Time {
    let ns = BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n) + this.#correctionNs
    if (ns <= this.#last) ns = this.#last + 1n
    this.#last = ns
    return new Time(ns)
  }

  nowMs (): number { return Date.now() + this.#correctionMs }

  correctionMs = (): number => this.#correctionMs

  /** Sets the correction (ms added to the system clock). */
  correct (ms: number): void {
    if (!Number.isFinite(ms) || ms === this.#correctionMs) return
    if (ms < this.#correctionMs) this.#last = 0n
    this.#correctionMs = Math.round(ms)
    this.#correctionNs = BigInt(this.#correctionMs) * 1_000_000n
  }
}
