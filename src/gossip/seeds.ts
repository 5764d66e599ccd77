// Seeds: the addresses a node joins through. Each is dialled over TCP (an IP or a DNS name
// resolved on every attempt); one that does not answer is retried with backoff for as long
// as the daemon runs, and one that answered is dialled again whenever its connection is
// gone, so a seed that restarts is found again. A seed naming this node is skipped.
import { lookup } from 'node:dns/promises'
import net from 'node:net'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { Logger } from '../lib/logger.ts'
import { tcpAddr, type GossipNode } from './node.ts'

/** First retry of a seed that did not answer, doubled after each failure up to SEED_MAX_BACKOFF_MS. */
const SEED_MIN_BACKOFF_MS = 1000
/** Slowest seed retry: a seed coming back is found within 30 s. */
const SEED_MAX_BACKOFF_MS = 30_000
/** One dial attempt of one address. */
const SEED_DIAL_TIMEOUT_MS = 5000

interface Seed {
  readonly text: string
  readonly host: string
  readonly port: number
  nextAt: number
  backoffMs: number
  peerId?: string
  dialing: boolean
  failures: number
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
  readonly #self: ReadonlySet<string>
  readonly #seeds: Seed[]

  constructor (components: { node: GossipNode, logger: Logger, isForeign: (peerId: string) => boolean }, init: { seeds: readonly string[], bindPort: number, self: ReadonlySet<string> }) {
    this.#node = components.node
    this.#logger = components.logger
    this.#isForeign = components.isForeign
    this.#self = init.self
    this.#seeds = init.seeds.map(text => ({ text, ...parseSeed(text, init.bindPort), nextAt: 0, backoffMs: SEED_MIN_BACKOFF_MS, dialing: false, failures: 0 }))
  }

  /** Starts the dials that are due; never waits for them. */
  tick (signal: AbortSignal): void {
    const now = Date.now()
    for (const seed of this.#seeds) {
      if (seed.dialing || now < seed.nextAt) continue
      if (seed.peerId !== undefined && this.#node.getConnections(toPeerId(seed.peerId)).length > 0) continue
      seed.dialing = true
      void this.#dial(seed, signal).finally(() => { seed.dialing = false })
    }
  }

  async #dial (seed: Seed, signal: AbortSignal): Promise<void> {
    let lastError = 'no address'
    try {
      const addrs = net.isIP(seed.host) !== 0 ? [seed.host] : (await lookup(seed.host, { all: true })).map(a => a.address)
      for (const ip of addrs) {
        if (this.#self.has(`${ip}:${seed.port}`)) { seed.nextAt = Infinity; return } // ourselves
        try {
          const conn = await this.#node.dial(multiaddr(tcpAddr(ip, seed.port)), { signal: AbortSignal.any([signal, AbortSignal.timeout(SEED_DIAL_TIMEOUT_MS)]) })
          seed.peerId = conn.remotePeer.toString()
          if (this.#isForeign(seed.peerId)) { lastError = 'it is not a sidecar of this cluster'; break }
          if (seed.failures > 0) this.#logger.info(`seed ${seed.text} answers again`)
          seed.failures = 0
          seed.backoffMs = SEED_MIN_BACKOFF_MS
          seed.nextAt = Date.now() + SEED_MIN_BACKOFF_MS
          return
        } catch (err) {
          lastError = (err as Error).message
        }
      }
    } catch (err) {
      lastError = (err as Error).message
    }
    if (signal.aborted) return
    seed.failures++
    const msg = `seed ${seed.text} did not answer (${lastError}); retrying in ${seed.backoffMs / 1000} s`
    if (seed.failures === 1) this.#logger.warn(msg)
    else this.#logger.debug(msg)
    seed.nextAt = Date.now() + seed.backoffMs
    seed.backoffMs = Math.min(seed.backoffMs * 2, SEED_MAX_BACKOFF_MS)
  }
}

function toPeerId (id: string): PeerId {
  return peerIdFromString(id)
}
