// What dials of peers learned from member lists may cost. A member list is a member's word:
// a hostile member can name thousands of made-up peer ids whose addresses are any host's
// ports, and every node it exchanges with would dial them all, again at each exchange (the
// cluster as a connection flood amplifier and port scanner). Each dial of a learned peer takes
// a token from the member that listed it and one from the node's total; a dial that connects
// gives both back, so listing real members costs nothing, however many join at once. Tokens
// come back slowly, so a member whose lists name peers that cannot be reached gets few dials,
// and many such members (one compromised host under many keys) no more than the total.

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

interface Tokens { n: number, at: number }

export class LearnedDials {
  readonly #init: LearnedDialsInit
  readonly #senders = new Map<string, Tokens>()
  readonly #total: Tokens

  constructor (init: LearnedDialsInit) {
    this.#init = init
    this.#total = { n: init.total.burst, at: 0 }
  }

  /** Whether a peer sender listed may be dialled at now; if so, one token of sender's and one of the total are taken. */
  take (sender: string, now: number): boolean {
    const own = this.#sender(sender, now)
    refill(this.#total, this.#init.total, now)
    if (own.n < 1 || this.#total.n < 1) return false
    own.n--
    this.#total.n--
    return true
  }

  /** A dial take() allowed connected: its tokens come back. */
  give (sender: string, now: number): void {
    const own = this.#senders.get(sender)
    if (own !== undefined) own.n = Math.min(this.#init.perSender.burst, own.n + 1)
    refill(this.#total, this.#init.total, now)
    this.#total.n = Math.min(this.#init.total.burst, this.#total.n + 1)
  }

  #sender (sender: string, now: number): Tokens {
    let own = this.#senders.get(sender)
    if (own === undefined) {
      if (this.#senders.size >= this.#init.maxSenders) this.#senders.delete(this.#senders.keys().next().value as string)
      this.#senders.set(sender, own = { n: this.#init.perSender.burst, at: now })
    }
    refill(own, this.#init.perSender, now)
    return own
  }
}

/** Adds the tokens come back since t.at; a full bucket's time starts again at now (a token taken from it comes back refillMs later). */
function refill (t: Tokens, b: Bucket, now: number): void {
  if (t.n >= b.burst || now < t.at) { t.at = now; return }
  const back = Math.floor((now - t.at) / b.refillMs)
  t.n = Math.min(b.burst, t.n + back)
  t.at = t.n === b.burst ? now : t.at + back * b.refillMs
}
