// A listener's retry budget (Linkerd's and Envoy's answer to retry storms): in any window of
// WINDOW_S seconds, retries may add at most `ratio` of the requests that came in that window,
// plus a floor of `minPerSecond` retries a second (minPerSecond * WINDOW_S in the window), so a
// few failures are always retried while a failing service does not get its load multiplied.
//
// Counted in a ring of per-second slots (requests and retries), with running sums: a request
// costs a clock comparison and two increments, a retry the same and one comparison. No timer
// runs and nothing is allocated after construction: the ring moves on when it is next used, on
// the clock its owner passes (wall-clock ms). A clock that goes back counts into the current
// slot; one that jumps ahead by a window or more starts an empty window.

/** Seconds over which retries are compared with requests (Linkerd's ttl, 10 s). */
export const WINDOW_S = 10

export class RetryBudget {
  readonly ratio: number
  readonly minPerSecond: number
  /** Retries allowed in a window whatever the requests: minPerSecond * WINDOW_S. */
  readonly #floor: number
  readonly #requests = new Array<number>(WINDOW_S).fill(0)
  readonly #retries = new Array<number>(WINDOW_S).fill(0)
  #requestSum = 0
  #retrySum = 0
  /** The second (floor(ms / 1000)) the current slot counts. */
  #second = -Infinity
  #slot = 0

  /** ratio: 0..1; minPerSecond: >= 0. */
  constructor (ratio: number, minPerSecond: number) {
    this.ratio = ratio
    this.minPerSecond = minPerSecond
    this.#floor = minPerSecond * WINDOW_S
  }

  /** A new request (or tcp connection) came in at nowMs: it adds ratio to what may be retried. */
  request (nowMs: number): void {
    if (nowMs >= this.#second * 1000 + 1000) this.#roll(nowMs)
    this.#requests[this.#slot]++
    this.#requestSum++
  }

  /**
   * Whether one more retry fits in the budget at nowMs; if it does, it is counted (true), else
   * nothing changes (false: the request is not retried).
   */
  retry (nowMs: number): boolean {
    if (nowMs >= this.#second * 1000 + 1000) this.#roll(nowMs)
    // a tiny slack: 0.2 * 15 is 3.0000000000000004 in floating point, and must allow 3
    if (this.#retrySum + 1 > this.ratio * this.#requestSum + this.#floor + 1e-9) return false
    this.#retries[this.#slot]++
    this.#retrySum++
    return true
  }

  /** Retries still allowed now (for tests and reports). */
  available (nowMs: number): number {
    if (nowMs >= this.#second * 1000 + 1000) this.#roll(nowMs)
    return Math.max(0, Math.floor(this.ratio * this.#requestSum + this.#floor + 1e-9) - this.#retrySum)
  }

  /** Moves the ring on to nowMs's second, emptying the slots of the seconds that passed. */
  #roll (nowMs: number): void {
    const second = Math.floor(nowMs / 1000)
    const passed = second - this.#second
    if (passed >= WINDOW_S) {
      this.#requests.fill(0)
      this.#retries.fill(0)
      this.#requestSum = 0
      this.#retrySum = 0
      this.#slot = 0
    } else {
      for (let i = 0; i < passed; i++) {
        this.#slot = this.#slot === WINDOW_S - 1 ? 0 : this.#slot + 1
        this.#requestSum -= this.#requests[this.#slot]
        this.#retrySum -= this.#retries[this.#slot]
        this.#requests[this.#slot] = 0
        this.#retries[this.#slot] = 0
      }
    }
    this.#second = second
  }
}
