// Seeds: the addresses a node joins through. Each is dialled over TCP (an IP or a DNS name
// resolved on every attempt); one that does not answer is retried with backoff for as long
// as the daemon runs, and one that answered is dialled again whenever its connection is
// gone, so a seed that restarts is found again. A seed that hangs up right after we connect
// (it refuses us: our hostname is pinned to another peer id there, say) is retried with the
// same backoff as one that does not answer, not in a tight loop; one that said it refuses us
// (refusal.ts) at the refusal's slower pace, up to 30 s. A seed naming this node is skipped.
import { lookup } from 'node:dns/promises'
import net from 'node:net'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { Logger } from '../lib/logger.ts'
import { tcpAddr, type GossipNode } from './node.ts'

/** First retry of a seed that did not answer, doubled after each failure up to SEED_MAX_BACKOFF_MS. */
const SEED_MIN_BACKOFF_MS = 1000
/** Said of a seed we hung up on: another cluster, program or version, as membership.ts logged when it identified. */
const NOT_MEMBER_WHY = 'the line logged when it identified says why'
/** Slowest seed retry: a seed coming back is found within 30 s. */
const SEED_MAX_BACKOFF_MS = 30_000
/** One dial attempt of one address. */
const SEED_DIAL_TIMEOUT_MS = 5000
/** A seed connection closed sooner than this counts as a refusal for the backoff; one that lasted longer resets it. */
export const SEED_STABLE_MS = 2000
/** Slowest retry of a seed that keeps hanging up on us: it answers, so it is asked again sooner than a silent one. */
const SEED_HANGUP_MAX_BACKOFF_MS = 10_000

interface Seed {
  readonly text: string
  readonly host: string
  readonly port: number
  nextAt: number
  backoffMs: number
  peerId?: string
  dialing: boolean
  failures: number
  /** When our last successful dial connected, while that connection may still be a refusal. */
  connectedAt?: number
  /** Connections in a row the seed closed within SEED_STABLE_MS. */
  hangUps: number
}

/** "host", "host:port", a bare IPv6 address or "[ipv6]:port"; the port defaults to defaultPort. */
export function parseSeed (text: string, defaultPort: number): { host: string, port: number } {
  if (net.isIPv6(text)) return { host: text, port: defaultPort }
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(text) ?? /^([^:]+)(?::(\d+))?$/.exec(text)
  if (m === null) return { host: text, port: defaultPort }
  return { host: m[1], port: m[2] === undefined ? defaultPort : Number(m[2]) }
}

export class SeedDialer {
  readonly #node: GossipNode
  readonly #logger: Logger
  readonly #isForeign: (peerId: string) => boolean
  readonly #retryAt: (peerId: string) => number
  readonly #self: ReadonlySet<string>
  readonly #seeds: Seed[]
  readonly #resolve: (host: string) => Promise<string[]>

  /** resolve: a seed name's addresses (default: the system's resolver, as getaddrinfo sees it). */
  /** retryAt: when a seed's peer may be dialled again (a peer that refuses this host: refusal.ts); default any time. */
  constructor (components: { node: GossipNode, logger: Logger, isForeign: (peerId: string) => boolean, retryAt?: (peerId: string) => number, resolve?: (host: string) => Promise<string[]> }, init: { seeds: readonly string[], bindPort: number, self: ReadonlySet<string> }) {
    this.#node = components.node
    this.#resolve = components.resolve ?? (async host => (await lookup(host, { all: true })).map(a => a.address))
    this.#logger = components.logger
    this.#isForeign = components.isForeign
    this.#retryAt = components.retryAt ?? (() => 0)
    this.#self = init.self
    this.#seeds = init.seeds.map(text => ({ text, ...parseSeed(text, init.bindPort), nextAt: 0, backoffMs: SEED_MIN_BACKOFF_MS, dialing: false, failures: 0, hangUps: 0 }))
  }

  /** Starts the dials that are due; never waits for them. */
  tick (signal: AbortSignal): void {
    const now = Date.now()
    for (const seed of this.#seeds) {
      if (seed.dialing) continue
      if (seed.peerId !== undefined && this.#node.getConnections(toPeerId(seed.peerId)).length > 0) {
        if (seed.connectedAt !== undefined && now - seed.connectedAt >= SEED_STABLE_MS) this.#stable(seed)
        continue
      }
      if (seed.connectedAt !== undefined) this.#closed(seed, now)
      if (now < seed.nextAt || (seed.peerId !== undefined && now < this.#retryAt(seed.peerId))) continue
      seed.dialing = true
      void this.#dial(seed, signal).finally(() => { seed.dialing = false })
    }
  }

  async #dial (seed: Seed, signal: AbortSignal): Promise<void> {
    let lastError = 'no address'
    let failed = 'did not answer'
    try {
      const addrs = net.isIP(seed.host) !== 0 ? [seed.host] : await this.#resolve(seed.host)
      for (const ip of addrs) {
        if (this.#self.has(`${ip}:${seed.port}`)) { seed.nextAt = Infinity; return } // ourselves
        try {
          const conn = await this.#node.dial(multiaddr(tcpAddr(ip, seed.port)), { signal: AbortSignal.any([signal, AbortSignal.timeout(SEED_DIAL_TIMEOUT_MS)]) })
          seed.peerId = conn.remotePeer.toString()
          if (this.#isForeign(seed.peerId)) { failed = 'is not a member of this cluster'; lastError = NOT_MEMBER_WHY; break }
          if (seed.failures > 0) this.#logger.info(`seed ${seed.text} answers again`)
          seed.failures = 0
          seed.connectedAt = Date.now()
          seed.nextAt = seed.connectedAt + SEED_MIN_BACKOFF_MS
          return
        } catch (err) {
          lastError = (err as Error).message
          if (tookThenClosed(err)) failed = 'took the connection, then closed it before the handshake ended: is its [sidecar] cluster_key the same as this node\'s (the same secret on both, or none on both)?'
        }
      }
    } catch (err) {
      // only the lookup throws here (each dial's failure is caught above): a name no DNS server
      // (nor /etc/hosts) knows, a typo or DNS down
      lastError = (err as Error).message
      failed = 'did not resolve'
    }
    if (signal.aborted) return
    seed.failures++
    const msg = `seed ${seed.text} ${failed} (${lastError}); retrying in ${seed.backoffMs / 1000} s`
    if (seed.failures === 1) this.#logger.warn(msg)
    else this.#logger.debug(msg)
    seed.nextAt = Date.now() + seed.backoffMs
    seed.backoffMs = Math.min(seed.backoffMs * 2, SEED_MAX_BACKOFF_MS)
  }

  /** Our connection to the seed lasted: the next loss is retried promptly again. */
  #stable (seed: Seed): void {
    seed.connectedAt = undefined
    seed.hangUps = 0
    seed.backoffMs = SEED_MIN_BACKOFF_MS
  }

  /** Our connection to the seed is gone: one closed within SEED_STABLE_MS is a refusal and backs off. */
  #closed (seed: Seed, now: number): void {
    const lived = now - (seed.connectedAt ?? now)
    if (lived >= SEED_STABLE_MS) { this.#stable(seed); return }
    seed.connectedAt = undefined
    seed.hangUps++
    const refusedUntil = seed.peerId === undefined ? 0 : this.#retryAt(seed.peerId)
    if (refusedUntil > now) {
      // it said why (refusal.ts logged it as an ERROR): retried at the refusal's slower pace
      seed.nextAt = Math.max(seed.nextAt, refusedUntil)
      this.#logger.debug(`seed ${seed.text} refuses this host; retrying in ${Math.ceil((refusedUntil - now) / 1000)} s`)
      return
    }
    // we hung up on it (another cluster, another version: membership logged why), not it on us
    const ours = seed.peerId !== undefined && this.#isForeign(seed.peerId)
    const msg = ours
      ? `seed ${seed.text} is not a member of this cluster (${NOT_MEMBER_WHY}); retrying in ${seed.backoffMs / 1000} s`
      : `seed ${seed.text} hung up ${lived} ms after we connected (its log says why: this hostname pinned to another peer id there, another cluster_key, ...); retrying in ${seed.backoffMs / 1000} s`
    if (seed.hangUps === 1 && !ours) this.#logger.warn(msg)
    else this.#logger.debug(msg)
    seed.backoffMs = Math.min(seed.backoffMs, SEED_HANGUP_MAX_BACKOFF_MS)
    seed.nextAt = Math.max(seed.nextAt, now + seed.backoffMs)
    seed.backoffMs = Math.min(seed.backoffMs * 2, SEED_HANGUP_MAX_BACKOFF_MS)
  }
}

function toPeerId (id: string): PeerId {
  return peerIdFromString(id)
}

/**
 * A dial the seed accepted and then cut during the handshake: what a cluster_key on one side
 * only, or a different one, looks like from the dialling side (the private network's
 * handshake fails: a reset, or a length prefix read from bytes that are not one).
 */
function tookThenClosed (err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code
  if (code === 'ECONNRESET' || code === 'EPIPE') return true
  return /ECONNRESET|EPIPE|message length|unexpected end of input/i.test((err as Error).message)
}
