// A token bucket: something allowed so many times at once and so often after, such as a peer's
// dials, exchanges or records, or a listener's POSTs. It holds at most capacity tokens, is full at
// first, and perPeriod tokens come back every periodMs. No timer runs: refill(now) brings it up to
// date when it is looked at, on its owner's clock (Date.now(), performance.now(), a test's), so
// unit tests never sleep. A clock that goes back gives nothing and counts on from the new now.
//
// Two ways of counting time, one for each kind of bucket that uses it (each pins its own instants):
//   - fractional (the default): time counts to the fraction of a period, tokens are fractions too;
//   - whole: only whole periods count and tokens stay integers (exact on an integer clock, where
//     fractions such as 1/3 would be rounded). What is left of a period is kept, so the tokens come
//     back periodMs apart; a full bucket's period starts again at now, so a token taken from it
//     comes back periodMs after it was taken.

export interface TokenBucketInit {
  /** Tokens at most, and at first; a function for a size that follows something else (read at each refill). */
  capacity: number | (() => number)
  /** How often perPeriod tokens come back; above 0. */
  periodMs: number
  /** Tokens back per period: 1 unless given; 'capacity' for a bucket that fills up from empty in one period. */
  perPeriod?: number | 'capacity'
  /** Only whole periods count (see above). */
  whole?: boolean
}

export class TokenBucket {
  readonly #init: TokenBucketInit
  #tokens: number
  /** When the tokens were last brought up to date (whole: when the period under way began). */
  #at: number

  /** A full bucket at now. */
  constructor (init: TokenBucketInit, now: number) {
    this.#init = init
    this.#tokens = this.#capacity()
    this.#at = now
  }

  /** Tokens as of the last refill(). */
  get tokens (): number { return this.#tokens }

  /**
   * Adds the tokens come back since the last refill, up to the capacity (tokens above a capacity
   * that has shrunk are dropped), and returns how many there are now.
   */
  refill (now: number): number {
    const cap = this.#capacity()
    const { periodMs, perPeriod = 1 } = this.#init
    const per = perPeriod === 'capacity' ? cap : perPeriod
    if (this.#init.whole !== true) {
      this.#tokens = Math.min(cap, this.#tokens + Math.max(0, now - this.#at) / periodMs * per)
      this.#at = now
    } else if (this.#tokens >= cap || now < this.#at) {
      this.#tokens = Math.min(cap, this.#tokens)
      this.#at = now
    } else {
      const periods = Math.floor((now - this.#at) / periodMs)
      this.#tokens = Math.min(cap, this.#tokens + periods * per)
      this.#at = this.#tokens === cap ? now : this.#at + periods * periodMs
    }
    return this.#tokens
  }

  /** Takes n tokens, or all there are if fewer (never below 0); refill() first to count the time since. */
  take (n = 1): void {
    this.#tokens = Math.max(0, this.#tokens - n)
  }

  /** Gives n tokens back (a dial that connected, say), up to the capacity. */
  give (n = 1): void {
    this.#tokens = Math.min(this.#capacity(), this.#tokens + n)
  }

  #capacity (): number {
    const c = this.#init.capacity
    return typeof c === 'number' ? c : c()
  }
}
