// Mends gossipsub's outbound streams. @libp2p/gossipsub (17.1) keeps one outbound stream per
// peer, opened when the peer connects (or when the peer opens a new stream to us), and forgets
// it when it closes. A stream that closes while the peer stays connected is not opened again:
// the connection that carried it closed while a newer one to the same peer lived on (both
// sides redial after a partition), or the stream was reset. From then on everything this
// node publishes skips that peer, until the peer disconnects completely; only anti-entropy
// carries our changes to it. In the partition tests a member went 90 s without one gossip
// message from another after a 6 s cut (the library's own fix, js-libp2p PR 3531, covers a
// reconnect, and leaves this case as a follow-up).
//
// Each tick, every connected member whose stream has been missing since an earlier tick (a new
// connection's stream is on its way for a moment) and that answered the failure detector since
// then is handed to gossipsub again as newly connected, on its newest open connection:
// gossipsub opens the stream and sends our subscriptions on it. The answer matters: gossipsub
// opens outbound streams one at a time, and one to a member that is gone (killed, with a QUIC
// connection that lingers) or across a cut would hold up every other until its negotiation
// times out. That entry point is internal to the library; if a version lacks it, start() says
// so once and the node runs as before.
//
// A stream is also closed on purpose: when GOSSIP_SEND_BUFFER_BYTES are queued on it for a
// member that does not read them (node.ts). The mender watches each stream it sees for that
// end, logs it and counts it; the stream is then mended like any other, so a member that was
// only slow for a while gets gossip again, and one that never reads costs at most that much
// memory at a time.
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Logger } from '../lib/logger.ts'
import { Ticker } from '../lib/ticker.ts'
import { GOSSIP_SEND_BUFFER_BYTES, type GossipNode } from './node.ts'

/** How often the streams are checked; a lost stream is mended within two of these. */
export const MEND_INTERVAL_MS = 1000
/** A member whose stream needs mending again within this is logged at debug, not info. */
const LOG_AGAIN_MS = 60_000

/** What the mender reads and calls inside gossipsub (not in its typed API, hence checked at start). */
interface GossipsubInternals {
  streamsOutbound: Map<string, { rawStream?: EventTarget }>
  onPeerConnected?: (peerId: PeerId, connection: unknown) => void
}

export interface StreamMenderComponents {
  node: GossipNode
  logger: Logger
  /** Connected members, with a name for the log. */
  members: () => ReadonlyArray<{ peerId: string, hostname: string }>
  /** When the failure detector last heard from a member (Date.now() ms), if ever. */
  lastHeard: (peerId: string) => number | undefined
  /** Called once per stream opened again (a metric). */
  mended?: () => void
  /** Called once per stream closed because too much was queued for its member (a metric). */
  overflowed?: () => void
}

export class StreamMender {
  readonly #c: StreamMenderComponents
  #ticker: Ticker | undefined
  /** Members found without a stream, and since when (Date.now() ms). */
  #missing = new Map<string, number>()
  /** When each member's stream was last opened again (ms): a repeat within LOG_AGAIN_MS is logged at debug only. */
  readonly #lastMended = new Map<string, number>()
  /** Streams watched for an overflow already. */
  readonly #watched = new WeakSet<object>()

  constructor (components: StreamMenderComponents) {
    this.#c = components
  }

  /** Whether this gossipsub offers what mending needs. */
  static supported (node: GossipNode): boolean {
    const ps = node.services.pubsub as unknown as GossipsubInternals
    return ps.streamsOutbound instanceof Map && typeof ps.onPeerConnected === 'function'
  }

  start (): void {
    if (this.#ticker !== undefined) return
    if (!StreamMender.supported(this.#c.node)) {
      this.#c.logger.warn('this @libp2p/gossipsub has no onPeerConnected(); a gossip stream lost while its connection stays open is not reopened (anti-entropy still repairs what it misses)')
      return
    }
    this.#ticker = new Ticker(() => { this.mend() }, { name: 'gossip stream mender', intervalMs: MEND_INTERVAL_MS, logger: this.#c.logger })
    this.#ticker.start()
  }

  async stop (): Promise<void> {
    await this.#ticker?.stop()
    this.#ticker = undefined
    this.#missing.clear()
    this.#lastMended.clear()
  }

  /** One check (the ticker's task; tests call it directly). Returns the members whose stream was opened again. */
  mend (): string[] {
    const node = this.#c.node
    const ps = node.services.pubsub as unknown as GossipsubInternals
    if (typeof ps.onPeerConnected !== 'function') return []
    const now = Date.now()
    const missing = new Map<string, number>()
    const mended: string[] = []
    for (const m of this.#c.members()) {
      const stream = ps.streamsOutbound.get(m.peerId)
      if (stream !== undefined) {
        this.#watch(stream.rawStream, m.hostname)
        continue
      }
      const conns = node.getConnections(peerIdFromString(m.peerId)).filter(c => c.status === 'open')
      if (conns.length === 0) continue // not connected: membership redials, and a new connection brings a stream
      const since = this.#missing.get(m.peerId)
      if (since === undefined || !((this.#c.lastHeard(m.peerId) ?? -Infinity) > since)) { missing.set(m.peerId, since ?? now); continue }
      const newest = conns.reduce((a, b) => (b.timeline.open > a.timeline.open ? b : a))
      const line = `no outbound gossip stream to ${m.hostname} although connected: opening one`
      if (now - (this.#lastMended.get(m.peerId) ?? -Infinity) < LOG_AGAIN_MS) this.#c.logger.debug(line)
      else this.#c.logger.info(line)
      this.#lastMended.set(m.peerId, now)
      ps.onPeerConnected.call(ps, newest.remotePeer, newest)
      this.#c.mended?.()
      mended.push(m.hostname)
    }
    this.#missing = missing
    for (const [id, at] of this.#lastMended) if (now - at >= LOG_AGAIN_MS) this.#lastMended.delete(id)
    return mended
  }

  /** Logs and counts the stream's end if it comes from a full send buffer. */
  #watch (raw: EventTarget | undefined, hostname: string): void {
    if (raw === undefined || this.#watched.has(raw)) return
    this.#watched.add(raw)
    raw.addEventListener('close', (evt) => {
      const err = (evt as Event & { error?: Error }).error
      if (err?.name !== 'StreamBufferError') return
      this.#c.logger.warn(`closed the gossip stream to ${hostname}: ${GOSSIP_SEND_BUFFER_BYTES / 1048576} MiB queued for it and not read (a member that stopped reading); a new one is opened while it answers probes`)
      this.#c.overflowed?.()
    }, { once: true })
  }
}
