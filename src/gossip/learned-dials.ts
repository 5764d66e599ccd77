// What dials of peers learned from member lists may cost. A member list is a member's word:
// a hostile member can name thousands of made-up peer ids whose addresses are any host's
// ports, and every node it exchanges with would dial them all, again at each exchange (the
// cluster as a connection flood amplifier and port scanner). Each dial of a learned peer takes
// a token from the member that listed it and one from the node's total; a dial that connects
// gives both back, so listing real members costs nothing, however many join at once. Tokens
// come back slowly, so a member whose lists name peers that cannot be reached gets few dials,
// and many such members (one compromised host under many keys) no more than the total.

import { TokenBucket } from '../lib/token-bucket.ts'

export interface Bucket {
  /** Tokens at most, and at first. */
  readonly burst: number
  /** One token comes back this often. */
  readonly refillMs: number
}

export interface LearnedDialsInit {
  perSender: Bucket
  total: Bucket
  /** Senders remembered at most; the longest remembered is forgotten first (the total still bounds them all). */
  maxSenders: number
}

export class LearnedDials {
  readonly #init: LearnedDialsInit
  readonly #senders = new Map<string, TokenBucket>()
  readonly #total: TokenBucket

  constructor (init: LearnedDialsInit) {
    this.#init = init
    this.#total = bucket(init.total, 0)
  }

  /** Whether a peer sender listed may be dialled at now; if so, one token of sender's and one of the total are taken. */
  take (sender: string, now: number): boolean {
    const own = this.#sender(sender, now)
    this.#total.refill(now)
    if (own.tokens < 1 || this.#total.tokens < 1) return false
    own.take()
    this.#total.take()
    return true
  }

  /** A dial take() allowed connected: its tokens come back. */
  give (sender: string, now: number): void {
    this.#senders.get(sender)?.give()
    this.#total.refill(now)
    this.#total.give()
  }

  #sender (sender: string, now: number): TokenBucket {
    let own = this.#senders.get(sender)
    if (own === undefined) {
      if (this.#senders.size >= this.#init.maxSenders) this.#senders.delete(this.#senders.keys().next().value as string)
      this.#senders.set(sender, own = bucket(this.#init.perSender, now))
    }
    own.refill(now)
    return own
  }
}

/** Whole periods: a token comes back refillMs after the one before, or after it was taken from a full bucket. */
function bucket (b: Bucket, now: number): TokenBucket {
  return new TokenBucket({ capacity: b.burst, periodMs: b.refillMs, whole: true }, now)
}
