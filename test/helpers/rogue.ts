// A hostile cluster member built from the project's own modules: a real libp2p node that
// identifies as a sidecar of the cluster (so it becomes a member with a pinned hostname of
// its own), holds its own key, and can publish any bytes on the topic, push any records (with
// any proof) through a real anti-entropy exchange, or replace any frame of one.
import type { ExecutionContext } from 'ava'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey, PeerId, Stream } from '@libp2p/interface'
import { lpStream, type LengthPrefixedStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { createGossipNode, probeProtocolOf, stateProtocolOf, tcpAddr, topicOf, type GossipNode } from '../../src/gossip/node.ts'
import { RecordSigner, type SealedRecord } from '../../src/gossip/proof.ts'
import { Session, type SessionCatalog, type SessionResult } from '../../src/gossip/session.ts'
import { encodeHello, openStateFrame, STATE_KIND, STATE_LIMITS, stateFrame } from '../../src/gossip/state-wire.ts'
import { StreamMender } from '../../src/gossip/stream-mender.ts'
import { encodeRecords, KIND, WIRE_LIMITS, type MemberInfo, type WireRecord } from '../../src/gossip/wire.ts'
import { silentLogger } from '../../src/lib/logger.ts'
import { systemClock } from '../../src/service/clock.ts'
import type { Service } from '../../src/service/index.ts'
import type { DaemonProcess } from './daemon.ts'
import { sleep, waitFor } from './wait.ts'

export interface ExchangeOptions {
  /**
   * Called with every frame the rogue's session is about to write (index 0 is the hello);
   * bytes returned are written instead (malformed frames at a chosen point), undefined keeps it.
   */
  tamper?: (frame: Uint8Array, index: number) => Uint8Array | undefined
}

export interface ExchangeOutcome {
  /** The session's figures when the exchange completed (sent: records pushed in records pages). */
  result?: SessionResult
  /** Whether a tampered frame was written to the target. */
  tampered: boolean
  /** Why the exchange ended early (the target's refusal, typically). */
  error?: string
}

export interface PullOutcome {
  /** Bytes of the target's frames, and of its records pages alone. */
  bytes: number
  recordBytes: number
  /** Records pages read (each up to STATE_LIMITS.recordsPerPage records). */
  pages: number
  error?: string
}

export interface Rogue {
  node: GossipNode
  key: PrivateKey
  peerId: string
  /** Signs as this rogue (origin or observer proof). */
  sign: (svc: Service, observer?: boolean) => SealedRecord
  /** Publishes one gossip message of these records (or raw bytes). */
  publish: (data: readonly WireRecord[] | Uint8Array) => Promise<void>
  /**
   * Runs one real anti-entropy exchange (the project's Session, as initiator) with target,
   * holding exactly these records, each sent with the proof chosen here (forged, foreign
   * or none) whenever the protocol pushes it. Never throws.
   */
  exchange: (target: PeerId, records: readonly WireRecord[], opts?: ExchangeOptions) => Promise<ExchangeOutcome>
  /**
   * One anti-entropy exchange with target claiming to hold nothing (of the hosts in scope, if
   * given), at the least cost to the rogue: the target's records pages are read as bytes, never
   * decoded, so a loop of these measures what serving pulls costs the target. Never throws.
   */
  pull: (target: PeerId, scope?: readonly string[]) => Promise<PullOutcome>
  /** Connects to a daemon's gossip port and waits until it subscribed to our topic. */
  join: (ip: string) => Promise<PeerId>
  /** Stops answering the failure detector's probes, as a frozen or killed process would. */
  mute: () => void
  /** Answers them again. */
  unmute: () => void
  /** Holds its answers to probes from now on (a slow peer); release() sends them, and answers at once again. */
  hold: () => void
  release: () => void
  /** Probes held unanswered since hold(): a probe seen arriving here, with no log pipe in between. */
  heldProbes: () => number
  /**
   * The member list of every hello the rogue sends from now on (as initiator or when a daemon
   * exchanges with it), chosen per daemon (its peer id); default none, as before.
   */
  listMembers: (members: (peer: string) => readonly MemberInfo[]) => void
  /** From now on, each frame it sends while serving an exchange a daemon opened waits ms first (a seed sending a large state slowly). */
  delayServing: (ms: number) => void
}

/**
 * The rogue's state, as the session reads it: the records given, duplicates of one key
 * included (a catalog would keep one). get() finds nothing, so the session seals the very
 * object it pushes, which seal() maps back to the wire record chosen for it.
 */
function rogueState (records: readonly WireRecord[]): { catalog: SessionCatalog, seal: (svc: Service) => SealedRecord } {
  const chosen = new Map<Service, SealedRecord>()
  const byHost = new Map<string, Service[]>()
  for (const r of records) {
    const sealed: SealedRecord = 'svc' in r ? r : { svc: r }
    // a copy per record: the same Service object listed twice still goes out twice, each with its own proof
    const svc = { ...sealed.svc }
    chosen.set(svc, sealed)
    let list = byHost.get(svc.Hostname)
    if (list === undefined) byHost.set(svc.Hostname, list = [])
    list.push(svc)
  }
  const catalog: SessionCatalog = {
    size: records.length,
    count: (host) => host === undefined ? records.length : byHost.get(host)?.length ?? 0,
    hostnames: () => [...byHost.keys()].sort(),
    hostRecords: (host) => [...(byHost.get(host) ?? [])],
    hostVersion: () => undefined, // nothing cached: the rogue's digests are computed every time
    sampleRecords: (host, n) => (byHost.get(host) ?? []).slice(0, n),
    get: () => undefined,
    merge: () => 'ignored',
  }
  return { catalog, seal: (svc) => chosen.get(svc) ?? { svc } }
}

/** An lp stream whose every outgoing frame waits ms first. */
function delayed (lp: LengthPrefixedStream<Stream>, ms: number): LengthPrefixedStream<Stream> {
  return {
    read: async (o) => await lp.read(o),
    write: async (data, o) => { await sleep(ms); await lp.write(data, o) },
    writeV: async (data, o) => { await sleep(ms); await lp.writeV(data, o) },
    unwrap: () => lp.unwrap(),
  }
}

/** An lp stream that lets tamper() replace outgoing frames. */
function tampered (lp: LengthPrefixedStream<Stream>, tamper: ExchangeOptions['tamper'], out: ExchangeOutcome): LengthPrefixedStream<Stream> {
  let index = 0
  return {
    read: async (o) => await lp.read(o),
    write: async (data, o) => {
      const frame = data instanceof Uint8Array ? data : data.subarray()
      const swapped = tamper?.(frame, index++)
      if (swapped !== undefined) out.tampered = true
      await lp.write(swapped ?? frame, o)
    },
    writeV: async (data, o) => { await lp.writeV(data, o) },
    unwrap: () => lp.unwrap(),
  }
}

/** key: the rogue's node key (default a new one), e.g. a host's key from before its upgrade. */
export async function startRogue (t: ExecutionContext, opts: { ip: string, hostname: string, clusterName: string, quic?: boolean, key?: PrivateKey }): Promise<Rogue> {
  const key = opts.key ?? await generateKeyPair('Ed25519')
  const { node } = await createGossipNode({
    hostname: opts.hostname, clusterName: opts.clusterName, bindIp: opts.ip, bindPort: 7946, advertiseIp: opts.ip,
    clusterKey: '', quic: opts.quic ?? false, privateKey: key, version: '0.0.0',
  }, silentLogger())
  let muted = false
  let held: Array<() => void> | undefined
  let listed: (peer: string) => readonly MemberInfo[] = () => []
  let serveDelayMs = 0
  t.teardown(async () => { await node.stop() })
  const protocol = stateProtocolOf(opts.clusterName)
  const session = (lp: LengthPrefixedStream, records: readonly WireRecord[], initiator: boolean, peer: string): Session => {
    const state = rogueState(records)
    return new Session({
      lp, catalog: state.catalog, clock: systemClock, memberInfos: async () => [...listed(peer)], learn: () => {}, admit: () => ({ admitted: [] }), seal: state.seal,
    }, { initiator, signal: AbortSignal.timeout(60_000), idleMs: 10_000, hostname: opts.hostname, clusterName: opts.clusterName })
  }
  // answers an exchange as a member with an empty state (the real protocol), so daemons keep it as a member
  await node.handle(protocol, async (stream, connection) => {
    try {
      const lp = lpStream(stream, { maxDataLength: STATE_LIMITS.maxFrameBytes })
      await session(serveDelayMs === 0 ? lp : delayed(lp, serveDelayMs), [], false, connection.remotePeer.toString()).run()
      await stream.close()
    } catch (err) {
      stream.abort(err as Error)
    }
  }, { maxInboundStreams: 64 })
  // answers the failure detector's probes (an echo), so it is not departed as silent
  await node.handle(probeProtocolOf(opts.clusterName), (stream) => {
    const answer = (data: Parameters<typeof stream.send>[0]): void => { try { stream.send(data) } catch { stream.abort(new Error('echo failed')) } }
    stream.addEventListener('message', (e) => {
      if (muted) return
      if (held !== undefined) held.push(() => { answer(e.data) })
      else answer(e.data)
    })
    stream.addEventListener('remoteCloseWrite', () => { void stream.close().catch(() => {}) })
  })
  await node.start()
  // as a daemon's: a gossip stream to a peer that closes while the peer stays connected is
  // opened again (else the rogue's publishes skip that peer for good: a talker flooding a
  // loaded target once had its last round never arrive)
  const mender = new StreamMender({ node, logger: silentLogger(), members: () => node.getPeers().map(p => ({ peerId: p.toString(), hostname: p.toString() })), lastHeard: () => Date.now() })
  mender.start()
  t.teardown(async () => { await mender.stop() })
  /** Runs fn on a new state stream to target, closed after it (aborted if fn throws); the error's message, if any. */
  const onStream = async (target: PeerId, fn: (stream: Stream) => Promise<void>): Promise<string | undefined> => {
    try {
      const stream = await node.dialProtocol(target, protocol, { signal: AbortSignal.timeout(10_000) })
      try {
        await fn(stream)
        await stream.close()
      } catch (err) {
        stream.abort(err as Error)
        throw err
      }
    } catch (err) {
      return (err as Error).message
    }
    return undefined
  }
  const topic = topicOf(opts.clusterName)
  node.services.pubsub.subscribe(topic)
  const peerId = node.peerId.toString()
  const signer = new RecordSigner(key, peerId, opts.clusterName)
  return {
    node,
    key,
    peerId,
    sign: (svc, observer = false) => signer.seal(svc, observer),
    publish: async (data) => {
      const messages = data instanceof Uint8Array ? [data] : encodeRecords(data, KIND.records, WIRE_LIMITS.maxMessageBytes * 4)
      for (const m of messages) await node.services.pubsub.publish(topic, m).catch(() => {})
    },
    exchange: async (target, records, o = {}) => {
      const out: ExchangeOutcome = { tampered: false }
      // refused or aborted by the daemon: what hostile frames are for
      out.error = await onStream(target, async (stream) => {
        out.result = await session(tampered(lpStream(stream, { maxDataLength: STATE_LIMITS.maxFrameBytes }), o.tamper, out), records, true, target.toString()).run()
      })
      return out
    },
    pull: async (target, scope) => {
      const out: PullOutcome = { bytes: 0, recordBytes: 0, pages: 0 }
      out.error = await onStream(target, async (stream) => {
        const lp = lpStream(stream, { maxDataLength: STATE_LIMITS.maxFrameBytes })
        const signal = AbortSignal.timeout(60_000)
        const read = async (): Promise<Uint8Array> => {
          const data = (await lp.read({ signal })).subarray()
          out.bytes += data.byteLength
          return data
        }
        await lp.write(encodeHello({ hostname: opts.hostname, clusterName: opts.clusterName, members: [...listed(target.toString())], records: 0, ...(scope !== undefined ? { hosts: scope } : {}) }), { signal })
        await read()
        // the hosts phase: ours is one empty page; the target's digests say whether it has records to send
        let held = false
        for (let again = true; again;) {
          await lp.write(stateFrame(STATE_KIND.hosts, '{"Items":[],"More":false}'), { signal })
          const body = openStateFrame(await read()).body as { Items: Array<[string, number, string]>, More: boolean }
          if (body.Items.some(it => it[1] > 0)) held = true
          again = body.More
        }
        // no host both sides hold: no buckets or versions; the records phase, ours empty, theirs never decoded
        for (let again = held; again;) {
          await lp.write(stateFrame(STATE_KIND.records, '{"Items":[],"More":false}'), { signal })
          const frame = await read()
          out.recordBytes += frame.byteLength
          out.pages++
          again = Buffer.from(frame.subarray(-6)).toString() === ':true}'
        }
      })
      return out
    },
    join: async (ip) => {
      // a daemon's API starts before its gossip port listens (/health answers 503 "starting"
      // meanwhile): a refused dial right after its start is tried again
      const conn = await waitFor(async () => await node.dial(multiaddr(tcpAddr(ip, 7946))), { timeoutMs: 15_000, intervalMs: 200, message: `${ip}:7946 accepted the rogue's dial` })
      await waitFor(() => node.services.pubsub.getSubscribers(topic).some(p => p.equals(conn.remotePeer)), { timeoutMs: 15_000, message: `${ip} subscribed, as seen by the rogue` })
      return conn.remotePeer
    },
    mute: () => { muted = true },
    unmute: () => { muted = false },
    hold: () => { held ??= [] },
    release: () => {
      const answers = held ?? []
      held = undefined
      for (const send of answers) send()
    },
    heldProbes: () => held?.length ?? 0,
    listMembers: (members) => { listed = members },
    delayServing: (ms) => { serveDelayMs = ms },
  }
}

/**
 * A host on sidecar 0.1.0 as identify shows it (its agent, the state and probe protocols 1.0.0,
 * which it never answers), started; stopped at teardown unless stopped before.
 */
export async function startOldHost (t: ExecutionContext, opts: { ip: string, hostname: string, clusterName: string, key: PrivateKey }): Promise<GossipNode> {
  const { node } = await createGossipNode({
    hostname: opts.hostname, clusterName: opts.clusterName, bindIp: opts.ip, bindPort: 7946, advertiseIp: opts.ip, clusterKey: '', quic: false, privateKey: opts.key, version: '0.1.0',
  }, silentLogger())
  for (const p of ['state', 'probe']) await node.handle(`/sidecar/${opts.clusterName}/${p}/1.0.0`, (stream) => { stream.abort(new Error('not answered')) })
  await node.start()
  t.teardown(async () => { await node.stop() })
  return node
}

/** The value of a counter series in a Prometheus text page (0 when absent). */
export function metric (page: string, name: string, labels = ''): number {
  let sum = 0
  for (const line of page.split('\n')) {
    if (!line.startsWith(name)) continue
    const rest = line.slice(name.length)
    if (labels === '' ? !(rest.startsWith(' ') || rest.startsWith('{')) : !rest.startsWith(`{${labels}`)) continue
    sum += Number(line.split(' ').at(-1))
  }
  return sum
}

/** Waits until daemon d lists hostname (a rogue's) among its cluster members in /services.json. */
export async function untilMember (d: DaemonProcess, hostname: string, timeoutMs = 15_000): Promise<void> {
  await waitFor(async () => (await d.json<{ ClusterMembers?: Record<string, unknown> }>('/services.json')).ClusterMembers?.[hostname] !== undefined, { timeoutMs, message: `${hostname} is a member of ${d.hostname}` })
}
