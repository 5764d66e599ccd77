// What one peer may ask of this node's anti-entropy: exchanges at once, exchanges per second,
// and records sent per minute. Any member may open exchanges, claim to hold nothing and so get
// the whole state each time: with nothing in the way, one member pulling in a loop had a daemon
// holding 20,000 records send it 3.6 GB a minute (190 full states in 30 s on one stream, 77 % of a
// core), and with 8 loops at once its /health answered in 90 ms at the median (1 s on a loaded
// machine, 5.4 s at worst; bench/pull-flood.ts,
// docs/security-gossip.md "A member that pulls without pause"). A legitimate peer asks far less:
// one periodic exchange per push_pull_interval among all members, one join pull at start, one
// rejoin after a partition, one scoped exchange per new member.
//
// Per peer (by the authenticated peer id of the connection, so one member on many connections
// is one budget):
//   - maxPerPeer exchanges served at once: a third is refused (a periodic exchange next to a
//     rejoin is two; nothing legitimate runs three at one peer);
//   - a bucket of exchangeBurst exchanges refilled at exchangesPerS (40, 20 a second): an exchange
//     that sends no record costs the daemon about 2.5 ms of CPU (8 loops of them got 470 a second,
//     117 % of a core), so a peer that loops gets about 10 % of a core (measured); a
//     legitimate peer asks one per push_pull_interval (20 s by default, 1 s in tests) plus one-offs;
//   - a bucket of records to send, as large as this node's state plus recordSlack and refilled
//     once per recordRefillMs: the first full pull always fits (a late joiner), a second within
//     the minute gets what has refilled and the rest at its next exchanges (digest-first, so the
//     records it did get are not sent again). An exchange over budget reads only the records it
//     may send (session.ts): at 100,000 records, listing all it lacked cost 40-75 ms per exchange;
//   - a bucket of versions to send, versionsPerState times this node's state plus versionSlack,
//     refilled once per recordRefillMs. A member that claims one record of a large host makes
//     that host's digest differ in every bucket, and was sent the versions of all its records at
//     each exchange (100,000 records: 4-5 MB and about 1 s of the daemon's CPU per exchange, 58-83
//     % of a core in 8 loops), which the record budget does not count. An exchange whose versions
//     would not fit is ended before any version is sent (session.ts, VersionsRefused): nothing is
//     half-sent, and the peer's next exchange starts again from the digests. Legitimate exchanges
//     send at most this node's state each (a rejoin after a partition in which every record
//     changed; a late joiner's pull sends none, a converged pair none), so the first always fits
//     and a rejoin next to a periodic exchange, then more periodic ones, fit within the minute.
// Refusals, held-back records and exchanges ended for their versions are counted
// (sidecar_anti_entropy_exchanges_total{result="refused"}, sidecar_anti_entropy_records_held_back_total,
// sidecar_anti_entropy_versions_refused_total) and logged at debug, once a minute per peer.

import { TokenBucket, type TokenBucketInit } from '../lib/token-bucket.ts'

export const SERVE_LIMITS = {
  maxPerPeer: 2,
  exchangeBurst: 40,
  exchangesPerS: 20,
  recordSlack: 1000,
  recordRefillMs: 60_000,
  /** Versions a peer may be sent per recordRefillMs: this many times this node's state, plus versionSlack. */
  versionsPerState: 4,
  versionSlack: 10_000,
  /** Peers remembered; beyond it, those whose buckets are full again and serve nothing are forgotten. */
  maxPeers: 1024,
  logEveryMs: 60_000,
} as const

/** Each peer's exchanges: exchangeBurst, exchangesPerS back a second. */
const EXCHANGES: TokenBucketInit = { capacity: SERVE_LIMITS.exchangeBurst, periodMs: 1000, perPeriod: SERVE_LIMITS.exchangesPerS }

interface PeerBudget {
  active: number
  exchanges: TokenBucket
  records: TokenBucket
  versions: TokenBucket
  /** When its budget was last looked at. */
  at: number
  /** Refusals and held-back records since the last log line about this peer, and when that was. */
  refused: number
  heldBack: number
  /** Exchanges ended because their versions did not fit the peer's budget. */
  versionsRefused: number
  loggedAt: number
}

export type ServeRefusal = 'busy' | 'rate'

export interface ServeTicket {
  /** Of `wanted` records, how many this exchange may send now (taken from the peer's budget). */
  sendable: (wanted: number) => number
  /**
   * Whether this exchange may send `n` versions (then taken from the peer's budget); false: the
   * exchange must end before sending any.
   */
  versions: (n: number) => boolean
  /** The exchange ended. */
  release: () => void
}

export interface ServeLimitsComponents {
  /** Records this node holds: the record bucket's size. */
  stateSize: () => number
  /** Called at most once a minute per peer with what was refused or held back since the last call. */
  report?: (peerId: string, refused: number, heldBack: number, versionsRefused: number) => void
  now?: () => number
}

export class ServeLimits {
  readonly #c: ServeLimitsComponents
  readonly #peers = new Map<string, PeerBudget>()
  /** Each peer's records: as many as this node holds plus recordSlack (the size read at each refill), all back once per recordRefillMs. */
  readonly #records: TokenBucketInit = { capacity: () => this.#c.stateSize() + SERVE_LIMITS.recordSlack, periodMs: SERVE_LIMITS.recordRefillMs, perPeriod: 'capacity' }
  /** Each peer's versions: versionsPerState times this node's state plus versionSlack, all back once per recordRefillMs. */
  readonly #versions: TokenBucketInit = { capacity: () => SERVE_LIMITS.versionsPerState * this.#c.stateSize() + SERVE_LIMITS.versionSlack, periodMs: SERVE_LIMITS.recordRefillMs, perPeriod: 'capacity' }

  constructor (components: ServeLimitsComponents) {
    this.#c = components
  }

  /** An exchange peerId asks for: a ticket, or why it is refused. */
  open (peerId: string): ServeTicket | ServeRefusal {
    const p = this.#refill(peerId)
    let refusal: ServeRefusal | undefined
    if (p.active >= SERVE_LIMITS.maxPerPeer) refusal = 'busy'
    else if (p.exchanges.tokens < 1) refusal = 'rate'
    // every attempt takes from the bucket: a peer that loops on refusals earns nothing back
    p.exchanges.take()
    if (refusal !== undefined) {
      p.refused++
      this.#maybeReport(peerId, p)
      return refusal
    }
    p.active++
    let released = false
    return {
      sendable: (wanted) => {
        const q = this.#refill(peerId)
        const n = Math.max(0, Math.min(wanted, Math.floor(q.records.tokens)))
        q.records.take(n)
        if (n < wanted) { q.heldBack += wanted - n; this.#maybeReport(peerId, q) }
        return n
      },
      versions: (n) => {
        const q = this.#refill(peerId)
        if (n <= 0) return true
        if (q.versions.tokens >= n) { q.versions.take(n); return true }
        q.versionsRefused++
        this.#maybeReport(peerId, q)
        return false
      },
      release: () => {
        if (released) return
        released = true
        p.active--
      },
    }
  }

  /** The peer's budget, refilled for the time since it was last looked at. */
  #refill (peerId: string): PeerBudget {
    const now = this.#c.now?.() ?? Date.now()
    let p = this.#peers.get(peerId)
    if (p === undefined) {
      if (this.#peers.size >= SERVE_LIMITS.maxPeers) this.#prune(now)
      p = { active: 0, exchanges: new TokenBucket(EXCHANGES, now), records: new TokenBucket(this.#records, now), versions: new TokenBucket(this.#versions, now), at: now, refused: 0, heldBack: 0, versionsRefused: 0, loggedAt: -Infinity }
      this.#peers.set(peerId, p)
      return p
    }
    p.at = now
    p.exchanges.refill(now)
    p.records.refill(now)
    p.versions.refill(now)
    return p
  }

  /**
   * Forgets the peers that would start afresh anyway (nothing being served, both buckets full by
   * now), then, while still full, the longest-idle ones serving nothing: the map never outgrows
   * maxPeers (a peer forgotten early gets a fresh budget, as a new peer id would).
   */
  #prune (now: number): void {
    const fullAfterMs = Math.max(SERVE_LIMITS.recordRefillMs, SERVE_LIMITS.exchangeBurst / SERVE_LIMITS.exchangesPerS * 1000)
    for (const [id, p] of this.#peers) if (p.active === 0 && now - p.at >= fullAfterMs) this.#peers.delete(id)
    const idle = [...this.#peers].filter(([, p]) => p.active === 0).sort((a, b) => a[1].at - b[1].at)
    for (const [id] of idle) {
      if (this.#peers.size < SERVE_LIMITS.maxPeers) break
      this.#peers.delete(id)
    }
  }

  #maybeReport (peerId: string, p: PeerBudget): void {
    const now = this.#c.now?.() ?? Date.now()
    if (now - p.loggedAt < SERVE_LIMITS.logEveryMs) return
    p.loggedAt = now
    this.#c.report?.(peerId, p.refused, p.heldBack, p.versionsRefused)
    p.refused = 0
    p.heldBack = 0
    p.versionsRefused = 0
  }

  /** Peers with a budget held (for tests). */
  get size (): number { return this.#peers.size }
}
