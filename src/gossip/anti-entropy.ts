// Anti-entropy (reference §2.7 on a libp2p protocol): two nodes exchange their full state,
// both ways, and each merges the other's by the normal rules. The initiator sends first,
// then reads; the responder reads, then sends. A state is a header frame (identity and
// member list), chunk frames of records, and an end frame, each length-prefixed and capped,
// so a large state never needs one big write or one big parse. Merging yields to the event
// loop after every chunk: a 10,000-record state never blocks it for long.
import { setImmediate as yieldToLoop } from 'node:timers/promises'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { lpStream, type LengthPrefixedStream } from '@libp2p/utils'
import type { Catalog } from '../catalog/index.ts'
import { MAX_STATE_RECORDS } from '../catalog/index.ts'
import type { Clock } from '../lib/clock.ts'
import type { Logger } from '../lib/logger.ts'
import type { Admission } from './admission.ts'
import type { GossipMetrics } from './metrics.ts'
import type { GossipNode } from './node.ts'
import { decodeHeader, decodeSealedList, encodeEnd, encodeHeader, encodeRecords, KIND, openEnvelope, WIRE_LIMITS, WireError, type Header, type MemberInfo } from './wire.ts'

export interface AntiEntropyComponents {
  node: GossipNode
  catalog: Catalog
  clock: Clock
  logger: Logger
  metrics: GossipMetrics
  /** Our member list, sent in every header. */
  memberInfos: () => Promise<MemberInfo[]>
  /** Called with the member list of every header received. */
  learn: (members: readonly MemberInfo[]) => void
  /** The admission gate (admission.ts): signs what we send, judges what we receive. */
  admission: Pick<Admission, 'seal' | 'admit'>
}

export interface AntiEntropyInit {
  protocol: string
  hostname: string
  clusterName: string
  /** One whole exchange (both directions) must end within this. */
  timeoutMs: number
}

export interface ExchangeResult {
  peerHostname: string
  /** Records the peer sent. */
  received: number
  /** Records of ours that the peer's state changed or added. */
  merged: number
  sent: number
  ms: number
}

/** Concurrent exchanges served; more are refused by libp2p (the peer retries next interval). */
const MAX_INBOUND_EXCHANGES = 8

export class AntiEntropy {
  readonly #c: AntiEntropyComponents
  readonly #init: AntiEntropyInit
  #handling = false

  constructor (components: AntiEntropyComponents, init: AntiEntropyInit) {
    this.#c = components
    this.#init = init
  }

  async start (): Promise<void> {
    if (this.#handling) return
    await this.#c.node.handle(this.#init.protocol, async (stream: Stream, connection: Connection) => {
      await this.#serve(stream, connection)
    }, { maxInboundStreams: MAX_INBOUND_EXCHANGES, maxOutboundStreams: MAX_INBOUND_EXCHANGES })
    this.#handling = true
  }

  async stop (): Promise<void> {
    if (!this.#handling) return
    this.#handling = false
    await this.#c.node.unhandle(this.#init.protocol).catch(() => {})
  }

  /** Pushes our state to peer and pulls and merges theirs. Throws on failure (the caller logs). */
  async exchange (peer: PeerId, signal?: AbortSignal): Promise<ExchangeResult> {
    const t0 = performance.now()
    const timeout = AbortSignal.timeout(this.#init.timeoutMs)
    const sig = signal === undefined ? timeout : AbortSignal.any([signal, timeout])
    try {
      const stream = await this.#c.node.dialProtocol(peer, this.#init.protocol, { signal: sig })
      const lp = lpStream(stream, { maxDataLength: WIRE_LIMITS.maxFrameBytes })
      try {
        const sent = await this.#send(lp, sig)
        const got = await this.#receive(lp, sig)
        await stream.close({ signal: sig }).catch(() => {})
        const ms = performance.now() - t0
        this.#done('out', 'ok', ms)
        return { ...got, sent, ms }
      } catch (err) {
        stream.abort(err as Error)
        throw err
      }
    } catch (err) {
      this.#done('out', 'error', performance.now() - t0)
      throw err
    }
  }

  async #serve (stream: Stream, connection: Connection): Promise<void> {
    const t0 = performance.now()
    const sig = AbortSignal.timeout(this.#init.timeoutMs)
    const lp = lpStream(stream, { maxDataLength: WIRE_LIMITS.maxFrameBytes })
    try {
      const got = await this.#receive(lp, sig)
      const sent = await this.#send(lp, sig)
      await stream.close({ signal: sig }).catch(() => {})
      const ms = performance.now() - t0
      this.#done('in', 'ok', ms)
      this.#c.logger.debug(`anti-entropy with ${got.peerHostname} (asked by it): received ${got.received} records (${got.merged} new to us), sent ${sent}, ${ms.toFixed(1)} ms`)
    } catch (err) {
      this.#done('in', 'error', performance.now() - t0)
      if (err instanceof WireError) this.#c.metrics.rejected.inc({ reason: err.reason })
      this.#c.logger.debug(`anti-entropy asked by ${connection.remotePeer.toString()} failed: ${(err as Error).message}`)
      stream.abort(err as Error)
    }
  }

  #done (direction: 'in' | 'out', result: 'ok' | 'error', ms: number): void {
    this.#c.metrics.exchanges.inc({ direction, result })
    this.#c.metrics.exchangeSeconds.observe({ direction }, ms / 1000)
  }

  /** Writes header, chunks, end. The records are a snapshot taken at the start. */
  async #send (lp: LengthPrefixedStream, signal: AbortSignal): Promise<number> {
    const records = this.#c.catalog.services()
    await lp.write(encodeHeader({ hostname: this.#init.hostname, clusterName: this.#init.clusterName, members: await this.#c.memberInfos(), records: records.length }), { signal })
    for (let i = 0; i < records.length; i += WIRE_LIMITS.recordsPerChunk) {
      const frames = encodeRecords(this.#c.admission.seal(records.slice(i, i + WIRE_LIMITS.recordsPerChunk)), KIND.chunk, WIRE_LIMITS.maxFrameBytes)
      for (const f of frames) await lp.write(f, { signal })
      await yieldToLoop()
    }
    await lp.write(encodeEnd(), { signal })
    return records.length
  }

  /** Reads a peer's state to its end frame, merging chunk by chunk. Throws WireError on bad frames. */
  async #receive (lp: LengthPrefixedStream, signal: AbortSignal): Promise<{ peerHostname: string, received: number, merged: number }> {
    const first = openEnvelope((await lp.read({ signal })).subarray(), WIRE_LIMITS.maxFrameBytes)
    if (first.kind !== KIND.header) throw new WireError('kind', `expected a header frame, got kind ${first.kind}`)
    const header: Header = decodeHeader(first.body)
    if (header.clusterName !== this.#init.clusterName) throw new WireError('shape', `peer ${header.hostname} is in cluster ${JSON.stringify(header.clusterName)}, not ${JSON.stringify(this.#init.clusterName)}`)
    if (header.records > MAX_STATE_RECORDS) throw new WireError('size', `peer ${header.hostname} announces ${header.records} records, at most ${MAX_STATE_RECORDS} accepted`)
    this.#c.learn(header.members)
    let received = 0
    let merged = 0
    for (;;) {
      const frame = openEnvelope((await lp.read({ signal })).subarray(), WIRE_LIMITS.maxFrameBytes)
      if (frame.kind === KIND.end) break
      if (frame.kind !== KIND.chunk) throw new WireError('kind', `expected a chunk or end frame, got kind ${frame.kind}`)
      const sealed = decodeSealedList(frame.body, this.#c.clock.now(), WIRE_LIMITS.maxFrameBytes / 64)
      received += sealed.length
      if (received > header.records || received > MAX_STATE_RECORDS) throw new WireError('size', `peer ${header.hostname} sent more records than its header announced (${header.records})`)
      for (const svc of this.#c.admission.admit(sealed, header.hostname, 'anti-entropy').admitted) {
        const r = this.#c.catalog.merge(svc, header.hostname)
        if (r === 'added' || r === 'changed') merged++
      }
      await yieldToLoop()
    }
    return { peerHostname: header.hostname, received, merged }
  }
}
