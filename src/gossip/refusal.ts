// Refusal notices: a peer that refuses this host (there, this host's hostname is pinned to
// another peer id: pins.ts) says so on a small protocol of its own before it hangs up, so the
// refused host knows it is out of the cluster and why, and says so in its log (one ERROR per
// refusing peer) and /health, instead of a "joined the cluster" while nobody takes its records.
//
//   refusing side: identify -> claim refused -> one frame {"v":1,"reason":"pinned",...} -> waits
//                  for a one-byte ack (at most NOTICE_SEND_MS) -> hangs up
//   refused side:  reads one frame (at most MAX_NOTICE_BYTES, within NOTICE_READ_MS) -> Refusals
//
// A notice is information from one peer about itself: it is kept under the peer id of the
// connection it came on (noise authenticated it), so no peer can speak for another; one is kept
// per peer and MAX_REFUSALS in all; its text is never logged, only the fields checked here.
// A refusing peer hangs up right after its notice: a refusal ends when a connection to the peer
// has lasted ACCEPTED_AFTER_MS since both its opening and the last notice (it accepts this host
// now: the operator removed the pin; or a member that stays connected contradicts its notice),
// or when it has not repeated it for REFUSAL_TTL_MS (it is gone). While it lasts, the peer is
// retried slowly (retryAt()).
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import { SidecarError } from '../lib/errors.ts'
import type { Logger } from '../lib/logger.ts'
import type { Startable } from '../lib/startable.ts'
import { Ticker } from '../lib/ticker.ts'
import { openStream, type GossipNode } from './node.ts'
import { PINS_FILE } from './pins.ts'

/** A notice's frame at most: the fields below take about 200 bytes. */
export const MAX_NOTICE_BYTES = 512
/** Refusing peers remembered at most: a cluster has far fewer members; peers with made-up ids stop here. */
export const MAX_REFUSALS = 64
/** The refusing side waits this long at most for the ack before it hangs up anyway. */
const NOTICE_SEND_MS = 1000
/** The refused side reads a notice within this, or drops the stream. */
const NOTICE_READ_MS = 2000
/** Notice streams a peer may have open with us at once. */
const MAX_NOTICE_STREAMS = 2
/** A connection to the refusing peer held this long, since it opened and since the last notice, means it accepts this host now. */
const ACCEPTED_AFTER_MS = 3000
/** A refusal not repeated for this long is forgotten (the peer is gone); a refusing peer is retried far more often. */
const REFUSAL_TTL_MS = 3 * 60_000
/** The ERROR about one refusing peer is repeated at most this often (not at each retry). */
const LOG_EVERY_MS = 10 * 60_000
/** First retry of a refusing peer, doubled at each new refusal up to RETRY_MAX_MS: the operator must act, so slowly. */
const RETRY_MIN_MS = 1000
export const RETRY_MAX_MS = 30_000
/** How often refusals are checked for their end. */
const SWEEP_MS = 1000
const ACK = new Uint8Array([1])
/** A libp2p peer id as text (base58btc or a CIDv1 in base32). */
const PEER_ID = /^[1-9A-HJ-NP-Za-km-z]{16,100}$|^b[a-z2-7]{16,120}$/

export interface RefusalNotice {
  /** The hostname the peer refuses (ours). */
  hostname: string
  /** The peer id that hostname is pinned to there. */
  pinnedTo: string
}

/** A notice that is not one: bad JSON, unknown version or reason, fields out of range. */
export class InvalidNoticeError extends SidecarError {}

export function refusalProtocolOf (clusterName: string): string {
  return `/sidecar/${encodeURIComponent(clusterName)}/refused/1.0.0`
}

export function encodeNotice (n: RefusalNotice): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ v: 1, reason: 'pinned', hostname: n.hostname, pinnedTo: n.pinnedTo }))
}

/** The notice in bytes, checked against this host (its hostname and peer id); throws InvalidNoticeError. */
export function decodeNotice (bytes: Uint8Array, own: { hostname: string, peerId: string }): RefusalNotice {
  if (bytes.byteLength > MAX_NOTICE_BYTES) throw new InvalidNoticeError(`refusal notice of ${bytes.byteLength} bytes, over ${MAX_NOTICE_BYTES}`)
  let doc: unknown
  try {
    doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch (err) {
    throw new InvalidNoticeError('refusal notice is not JSON', { cause: err })
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new InvalidNoticeError('refusal notice is not an object')
  const { v, reason, hostname, pinnedTo } = doc as Record<string, unknown>
  if (v !== 1) throw new InvalidNoticeError('refusal notice of an unknown version (1 expected)')
  if (reason !== 'pinned') throw new InvalidNoticeError('refusal notice of an unknown reason ("pinned" expected)')
  if (hostname !== own.hostname) throw new InvalidNoticeError('refusal notice about another hostname than this host\'s')
  if (typeof pinnedTo !== 'string' || !PEER_ID.test(pinnedTo)) throw new InvalidNoticeError('refusal notice without a peer id in pinnedTo')
  if (pinnedTo === own.peerId) throw new InvalidNoticeError('refusal notice naming this host\'s own peer id as the pinned one')
  return { hostname, pinnedTo }
}

/**
 * Tells peer why it is refused, on the connection it holds (never dials), and waits for its ack
 * so the notice is read before the caller hangs up. Within NOTICE_SEND_MS; never throws.
 */
export async function sendNotice (node: GossipNode, peer: PeerId, protocol: string, notice: RefusalNotice): Promise<void> {
  const signal = AbortSignal.timeout(NOTICE_SEND_MS)
  let stream: Stream | undefined
  try {
    stream = await openStream(node, peer, protocol, { signal })
    const lp = lpStream(stream, { maxDataLength: ACK.byteLength })
    await lp.write(encodeNotice(notice), { signal })
    await lp.read({ signal })
    await stream.close({ signal })
  } catch {
    stream?.abort(new Error('refusal notice not taken'))
    // an older sidecar (no such protocol), a peer gone or too slow: it is hung up on all the same
  }
}

interface Refusal {
  readonly peerId: string
  notice: RefusalNotice
  /** When the last notice came (Date.now()). */
  at: number
  loggedAt: number
  retryMs: number
}

export interface RefusalsInit {
  protocol: string
  hostname: string
  peerId: string
}

export interface RefusalsComponents {
  node: GossipNode
  logger: Logger
  /** The refusing peer's hostname as this node pinned it, if it did (never what the peer says now). */
  hostnameOf: (peerId: string) => string | undefined
  /** A notice that was not one (by InvalidNoticeError or a size or time bound). */
  rejected?: (reason: 'size' | 'shape') => void
  /** The number of refusing peers changed. */
  changed?: (count: number) => void
}

/** What this host's peers said about refusing it. */
export class Refusals implements Startable {
  readonly #c: RefusalsComponents
  readonly #init: RefusalsInit
  readonly #refusals = new Map<string, Refusal>()
  #ticker: Ticker | undefined
  #errorLog = { minute: 0, count: 0 }

  constructor (components: RefusalsComponents, init: RefusalsInit) {
    this.#c = components
    this.#init = init
  }

  async start (): Promise<void> {
    if (this.#ticker !== undefined) return
    await this.#c.node.handle(this.#init.protocol, async (stream: Stream, connection: Connection) => {
      await this.#receive(stream, connection.remotePeer.toString())
    }, { maxInboundStreams: MAX_NOTICE_STREAMS, maxOutboundStreams: MAX_NOTICE_STREAMS })
    this.#ticker = new Ticker(() => { this.sweep(Date.now()) }, { name: 'refusals', intervalMs: SWEEP_MS, logger: this.#c.logger })
    this.#ticker.start()
  }

  async stop (): Promise<void> {
    if (this.#ticker === undefined) return
    await this.#ticker.stop()
    this.#ticker = undefined
    await this.#c.node.unhandle(this.#init.protocol).catch(() => {})
    this.#refusals.clear()
  }

  async #receive (stream: Stream, from: string): Promise<void> {
    const signal = AbortSignal.timeout(NOTICE_READ_MS)
    try {
      const lp = lpStream(stream, { maxDataLength: MAX_NOTICE_BYTES, maxBufferSize: MAX_NOTICE_BYTES + 16 })
      const frame = await lp.read({ signal })
      this.record(from, decodeNotice(frame.subarray(), this.#init))
      await lp.write(ACK, { signal })
      await stream.close({ signal })
    } catch (err) {
      const name = (err as Error).name
      const reason = name === 'InvalidDataLengthError' || name === 'InvalidDataLengthLengthError' || name === 'StreamBufferError' ? 'size' : 'shape'
      if (err instanceof InvalidNoticeError || reason === 'size') this.#c.rejected?.(reason)
      this.#c.logger.debug(`refusal notice from ${from} not taken: ${(err as Error).message.slice(0, 200)}`)
      stream.abort(err as Error)
    }
  }

  /** Keeps peerId's notice (one per peer, MAX_REFUSALS in all) and logs it, once per LOG_EVERY_MS. */
  record (peerId: string, notice: RefusalNotice, now = Date.now()): void {
    let r = this.#refusals.get(peerId)
    if (r === undefined) {
      if (this.#refusals.size >= MAX_REFUSALS) this.#forget(this.#oldest())
      r = { peerId, notice, at: now, loggedAt: -Infinity, retryMs: RETRY_MIN_MS }
      this.#refusals.set(peerId, r)
      this.#c.changed?.(this.#refusals.size)
    } else {
      r.retryMs = Math.min(r.retryMs * 2, RETRY_MAX_MS)
    }
    r.notice = notice
    r.at = now
    if (now - r.loggedAt >= LOG_EVERY_MS && this.#errorAllowed(now)) {
      r.loggedAt = now
      this.#c.logger.error(`${this.#name(peerId)} refuses this host: there, hostname ${notice.hostname} is pinned to peer ${notice.pinnedTo}, and this host is peer ${this.#init.peerId}. This host's key changed or another machine uses the hostname ${notice.hostname}: on that node remove ${notice.hostname}'s line from data_dir/${PINS_FILE}, or restore this host's old data_dir/peer.key, or give this machine its own hostname. Until then it takes none of this host's records; retried every ${RETRY_MAX_MS / 1000} s at most`)
    }
  }

  /** Ends refusals the peer took back (a connection held since) or stopped repeating (REFUSAL_TTL_MS). */
  sweep (now: number): void {
    for (const r of this.#refusals.values()) {
      const held = this.#c.node.getConnections(toPeerId(r.peerId)).some(c => c.status === 'open' && now - Math.max(c.timeline.open, r.at) >= ACCEPTED_AFTER_MS)
      if (held) {
        this.#c.logger.info(`${this.#name(r.peerId)} accepts this host now (a connection held ${ACCEPTED_AFTER_MS / 1000} s since its last refusal)`)
        this.#forget(r.peerId)
      } else if (now - r.at >= REFUSAL_TTL_MS) {
        this.#c.logger.info(`${this.#name(r.peerId)} has not refused this host for ${REFUSAL_TTL_MS / 60_000} min (not reached since): no longer counted as refusing it`)
        this.#forget(r.peerId)
      }
    }
  }

  /** True while peerId refuses this host. */
  has (peerId: string): boolean {
    return this.#refusals.has(peerId)
  }

  /** When peerId may be dialled again (0: any time): a refusing peer is retried with backoff up to RETRY_MAX_MS. */
  retryAt (peerId: string): number {
    const r = this.#refusals.get(peerId)
    return r === undefined ? 0 : r.at + r.retryMs
  }

  get size (): number { return this.#refusals.size }

  /** For /health: each refusing peer (hostname and id) and why, with the fix. */
  problems (): Record<string, string> {
    const out: Record<string, string> = {}
    for (const r of this.#refusals.values()) {
      out[this.#name(r.peerId)] = `refuses this host: hostname ${r.notice.hostname} is pinned there to peer ${r.notice.pinnedTo}, not to this host's ${this.#init.peerId}; remove ${r.notice.hostname}'s line from that node's data_dir/${PINS_FILE}, restore this host's old peer.key, or give this machine its own hostname`
    }
    return out
  }

  #name (peerId: string): string {
    const hostname = this.#c.hostnameOf(peerId)
    return hostname === undefined ? `peer ${peerId}` : `${hostname} (${peerId})`
  }

  #oldest (): string {
    let oldest: Refusal | undefined
    for (const r of this.#refusals.values()) if (oldest === undefined || r.at < oldest.at) oldest = r
    return oldest?.peerId ?? ''
  }

  #forget (peerId: string): void {
    if (this.#refusals.delete(peerId)) this.#c.changed?.(this.#refusals.size)
  }

  /** At most 10 refusal ERRORs a minute in all: peers with made-up ids must not flood the log. */
  #errorAllowed (now: number): boolean {
    const minute = Math.floor(now / 60_000)
    if (this.#errorLog.minute !== minute) this.#errorLog = { minute, count: 0 }
    return ++this.#errorLog.count <= 10
  }
}

function toPeerId (id: string): PeerId {
  return peerIdFromString(id)
}
