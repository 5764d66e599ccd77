// Anti-entropy (reference §2.7 on a libp2p protocol), digest first: two nodes compare
// per-host digests, then bucket hashes of the hosts that differ, then the versions in the
// buckets that differ, and finally each sends only the records the other lacks or holds
// older; both merge by the normal rules. A converged pair exchanges a few hundred bytes
// per host, whatever the state's size. See session.ts for the rounds and digest.ts for
// the rules.
import { setTimeout as sleep } from 'node:timers/promises'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import type { Catalog } from '../catalog/index.ts'
import type { Clock } from '../service/clock.ts'
import type { Logger } from '../lib/logger.ts'
import type { Startable } from '../lib/startable.ts'
import type { Admission } from './admission.ts'
import type { GossipMetrics } from './metrics.ts'
import { openStream, type GossipNode } from './node.ts'
import { ServeLimits, SERVE_LIMITS } from './serve-limits.ts'
import { Session, VersionsRefused, type SessionResult } from './session.ts'
import { STATE_LIMITS } from './state-wire.ts'
import { WireError, type MemberInfo } from './wire.ts'

export interface AntiEntropyComponents {
  node: GossipNode
  catalog: Catalog
  clock: Clock
  logger: Logger
  metrics: GossipMetrics
  /** Our member list, sent in every hello. */
  memberInfos: () => Promise<MemberInfo[]>
  /** Called with the member list of every hello received, and the peer id of the peer that sent it. */
  learn: (members: readonly MemberInfo[], from: string) => void
  /** The admission gate (admission.ts): signs what we send, judges what we receive. */
  admission: Pick<Admission, 'seal' | 'admitSliced' | 'prepare'> & Partial<Pick<Admission, 'sealAsync'>>
  /** The scope of exchanges others ask for right now (undefined: the whole state); see Gossip's pulls. */
  servingScope?: () => readonly string[] | undefined
  /** Whether an exchange may dial peerId when no connection is open (not a peer that refuses this host); default never. */
  mayDial?: (peerId: string) => boolean
  /**
   * The hostname of the member with this peer id (identified on its authenticated connection),
   * or undefined while it is none: the exchange's records count as handed by that name, or by
   * the peer id, as gossip's do. Without it, the name the peer gives in its hello, which is only
   * what it says (a member could pass its records off as another host's report).
   */
  hostnameOf?: (peerId: string) => string | undefined
}

export interface AntiEntropyInit {
  protocol: string
  hostname: string
  clusterName: string
  /** An exchange in which no frame moves for this long is given up (the next one resumes from the digests). */
  timeoutMs: number
}

export interface ExchangeResult extends SessionResult {
  ms: number
}

/** One exchange ends within this however it moves: a 100,000-record pull takes seconds on a healthy host. */
const MAX_EXCHANGE_MS = 10 * 60_000
/** Concurrent exchanges served; more are refused by libp2p (the peer retries next interval). */
const MAX_INBOUND_EXCHANGES = 8
/**
 * A refused exchange's stream is reset this long after it was opened: it holds one of the
 * connection's MAX_INBOUND_EXCHANGES streams meanwhile, so a peer looping on refusals is refused
 * a few times a second, not thousands (a legitimate peer's refused exchange fails 1 s later).
 */
const REFUSAL_HOLD_MS = 1000
/** Unread bytes a stream may hold: one frame at most is in flight per direction, so two are never legitimately buffered. */
const MAX_BUFFERED_BYTES = 2 * STATE_LIMITS.maxFrameBytes + 64

export class AntiEntropy implements Startable {
  readonly #c: AntiEntropyComponents
  readonly #init: AntiEntropyInit
  #handling = false
  /** Aborted by stop(): ends the exchanges we serve. */
  #stopping = new AbortController()
  /** Per peer: exchanges served at once and per second, records sent per minute (serve-limits.ts). */
  readonly #limits: ServeLimits

  constructor (components: AntiEntropyComponents, init: AntiEntropyInit) {
    this.#c = components
    this.#init = init
    this.#limits = new ServeLimits({
      stateSize: () => components.catalog.size,
      report: (peer, refused, heldBack, versionsRefused) => {
        components.logger.debug(`anti-entropy asked by ${peer}: ${refused} exchange${refused === 1 ? '' : 's'} refused (more than ${SERVE_LIMITS.maxPerPeer} at once or ${SERVE_LIMITS.exchangesPerS} a second), ${heldBack} records held back (over this node's state plus ${SERVE_LIMITS.recordSlack} a minute), ${versionsRefused} exchange${versionsRefused === 1 ? '' : 's'} ended before their versions (over ${SERVE_LIMITS.versionsPerState} times this node's state plus ${SERVE_LIMITS.versionSlack} a minute) since the last line about it; logged at most once a minute per peer`)
      },
    })
  }

  async start (): Promise<void> {
    if (this.#handling) return
    this.#stopping = new AbortController()
    await this.#c.node.handle(this.#init.protocol, async (stream: Stream, connection: Connection) => {
      await this.#serve(stream, connection)
    }, { maxInboundStreams: MAX_INBOUND_EXCHANGES, maxOutboundStreams: MAX_INBOUND_EXCHANGES })
    this.#handling = true
  }

  async stop (): Promise<void> {
    if (!this.#handling) return
    this.#handling = false
    this.#stopping.abort()
    await this.#c.node.unhandle(this.#init.protocol).catch(() => {})
  }

  /**
   * Compares states with peer and repairs both; with scope, only those hosts' records (and
   * only those in the peer's scope, if it names one). Throws on failure (the caller logs).
   */
  async exchange (peer: PeerId, signal?: AbortSignal, scope?: readonly string[]): Promise<ExchangeResult> {
    const t0 = performance.now()
    const { signal: sig, done } = exchangeSignal(signal)
    let session: Session | undefined
    try {
      const stream = await openStream(this.#c.node, peer, this.#init.protocol, { signal: AbortSignal.any([sig, AbortSignal.timeout(this.#init.timeoutMs)]) }, this.#c.mayDial?.(peer.toString()) ?? false)
      session = this.#session(stream, peer.toString(), true, sig, scope)
      try {
        const r = await session.run()
        await stream.close({ signal: AbortSignal.timeout(this.#init.timeoutMs) }).catch(() => {})
        return this.#done('out', 'ok', t0, r)
      } catch (err) {
        stream.abort(err as Error)
        throw err
      }
    } catch (err) {
      this.#failed('out', t0, session, err)
      throw err
    } finally {
      done()
    }
  }

  async #serve (stream: Stream, connection: Connection): Promise<void> {
    const t0 = performance.now()
    const peer = connection.remotePeer.toString()
    const ticket = this.#limits.open(peer)
    if (typeof ticket === 'string') {
      this.#c.metrics.exchanges.inc({ direction: 'in', result: 'refused' })
      await sleep(REFUSAL_HOLD_MS, undefined, { signal: this.#stopping.signal }).catch(() => {})
      stream.abort(new Error(`anti-entropy refused: ${ticket === 'busy' ? `${SERVE_LIMITS.maxPerPeer} exchanges with this peer already under way` : `more than ${SERVE_LIMITS.exchangesPerS} exchanges a second asked by this peer`}`))
      return
    }
    const { signal: sig, done } = exchangeSignal(this.#stopping.signal)
    const session = this.#session(stream, peer, false, sig, this.#c.servingScope?.(), (wanted) => {
      const n = ticket.sendable(wanted)
      if (n < wanted) this.#c.metrics.heldBack.inc(wanted - n)
      return n
    }, (n) => ticket.versions(n))
    try {
      const r = await session.run()
      await stream.close({ signal: AbortSignal.timeout(this.#init.timeoutMs) }).catch(() => {})
      this.#done('in', 'ok', t0, r)
    } catch (err) {
      if (err instanceof VersionsRefused) {
        // over the peer's versions budget: ended before any version was sent (serve-limits.ts), logged once a minute by the limits' report
        this.#c.metrics.exchanges.inc({ direction: 'in', result: 'refused' })
        this.#c.metrics.versionsRefused.inc()
        stream.abort(err)
        return
      }
      this.#failed('in', t0, session, err)
      this.#c.logger.debug(`anti-entropy asked by ${connection.remotePeer.toString()} failed: ${(err as Error).message}`)
      stream.abort(err as Error)
    } finally {
      done()
      ticket.release()
    }
  }

  #session (stream: Stream, peerId: string, initiator: boolean, signal: AbortSignal, scope?: readonly string[], sendable?: (wanted: number) => number, versionsAllowed?: (n: number) => boolean): Session {
    const lp = lpStream(stream, { maxDataLength: STATE_LIMITS.maxFrameBytes, maxBufferSize: MAX_BUFFERED_BYTES })
    return new Session({
      lp,
      catalog: this.#c.catalog,
      clock: this.#c.clock,
      memberInfos: this.#c.memberInfos,
      learn: (members) => { this.#c.learn(members, peerId) },
      // Every record a peer sends passes the one admission gate (admission.ts) before
      // catalog.merge: origin proof, pins, skew and Created bounds, backend IPs, caps. Records
      // arrive already decoded and checked by state-wire.ts (shape, sizes, future timestamps).
      prepare: async (records, slicer) => { await this.#c.admission.prepare(records, slicer) },
      admit: async (records, from, slicer) => await this.#c.admission.admitSliced(records, from, 'anti-entropy', slicer),
      seal: (svc) => this.#c.admission.seal([svc])[0],
      ...(this.#c.admission.sealAsync !== undefined ? { sealAsync: this.#c.admission.sealAsync.bind(this.#c.admission) } : {}),
      ...(sendable !== undefined ? { sendable } : {}),
      ...(versionsAllowed !== undefined ? { versionsAllowed } : {}),
    }, { initiator, signal, idleMs: this.#init.timeoutMs, hostname: this.#init.hostname, clusterName: this.#init.clusterName, ...(scope !== undefined ? { scope } : {}), ...(this.#c.hostnameOf !== undefined ? { peerName: this.#c.hostnameOf(peerId) ?? peerId } : {}) })
  }

  #done (direction: 'in' | 'out', result: 'ok', t0: number, r: SessionResult): ExchangeResult {
    const ms = performance.now() - t0
    const m = this.#c.metrics
    m.exchanges.inc({ direction, result })
    m.exchangeSeconds.observe({ direction }, ms / 1000)
    m.exchangeBytes.observe({ direction, way: 'sent' }, r.bytesSent)
    m.exchangeBytes.observe({ direction, way: 'received' }, r.bytesReceived)
    m.lastExchangeBytes.set({ way: 'sent' }, r.bytesSent)
    m.lastExchangeBytes.set({ way: 'received' }, r.bytesReceived)
    m.lastExchangeStateBytes.set(r.stateBytes)
    this.#c.logger.debug(`anti-entropy with ${r.peerHostname} (${direction === 'out' ? 'asked by us' : 'asked by it'}): ${r.hostsDiffering} of ${r.hosts} hosts differed, ${r.versionsSent} versions and ${r.sent} records sent${r.heldBack > 0 ? ` (${r.heldBack} more held back: its budget is spent)` : ''}, ${r.received} records received (${r.merged} new to us); ${r.bytesSent} bytes sent, ${r.bytesReceived} received in ${r.rounds} rounds, ${ms.toFixed(1)} ms`)
    return { ...r, ms }
  }

  #failed (direction: 'in' | 'out', t0: number, session: Session | undefined, err: unknown): void {
    const m = this.#c.metrics
    m.exchanges.inc({ direction, result: 'error' })
    m.exchangeSeconds.observe({ direction }, (performance.now() - t0) / 1000)
    if (session !== undefined) {
      m.exchangeBytes.observe({ direction, way: 'sent' }, session.bytesSent)
      m.exchangeBytes.observe({ direction, way: 'received' }, session.bytesReceived)
    }
    const reason = rejectReason(err)
    if (reason !== undefined) m.rejected.inc({ reason })
  }
}

/** The rejection-metric reason of a failed exchange caused by what the peer sent, else undefined. */
function rejectReason (err: unknown): string | undefined {
  if (err instanceof WireError) return err.reason
  const name = (err as Error | undefined)?.name
  if (name === 'InvalidDataLengthError' || name === 'InvalidDataLengthLengthError' || name === 'StreamBufferError') return 'size'
  if (name === 'InvalidMessageLengthError') return 'shape'
  return undefined
}

/**
 * One exchange's signal: aborted by parent, or after MAX_EXCHANGE_MS. done() clears the timer
 * and the listener on parent, so nothing of a finished exchange stays reachable from a
 * long-lived parent signal or a 10-minute timer (AbortSignal.any and AbortSignal.timeout keep
 * their signal, and with it every 'abort' listener's closure, until the source or the timer ends).
 */
function exchangeSignal (parent?: AbortSignal): { signal: AbortSignal, done: () => void } {
  const controller = new AbortController()
  const abort = (): void => { controller.abort(parent?.reason ?? new Error(`anti-entropy exchange over ${MAX_EXCHANGE_MS} ms`)) }
  if (parent?.aborted === true) abort()
  parent?.addEventListener('abort', abort, { once: true })
  const timer = setTimeout(() => { controller.abort(new Error(`anti-entropy exchange over ${MAX_EXCHANGE_MS} ms`)) }, MAX_EXCHANGE_MS)
  timer.unref()
  return { signal: controller.signal, done: () => { clearTimeout(timer); parent?.removeEventListener('abort', abort) } }
}
