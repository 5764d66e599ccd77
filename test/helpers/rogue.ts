// A hostile cluster member built from the project's own modules: a real libp2p node that
// identifies as a sidecar of the cluster (so it becomes a member with a pinned hostname of
// its own), holds its own key, and can publish any bytes on the topic or send any frames on
// the anti-entropy protocol.
import type { ExecutionContext } from 'ava'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey, PeerId } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { createGossipNode, probeProtocolOf, stateProtocolOf, tcpAddr, topicOf, type GossipNode } from '../../src/gossip/node.ts'
import { RecordSigner, type SealedRecord } from '../../src/gossip/proof.ts'
import { encodeEnd, encodeHeader, encodeRecords, KIND, WIRE_LIMITS, type WireRecord } from '../../src/gossip/wire.ts'
import { silentLogger } from '../../src/lib/logger.ts'
import type { Service } from '../../src/service/index.ts'
import { waitFor } from './wait.ts'

export interface Rogue {
  node: GossipNode
  key: PrivateKey
  peerId: string
  /** Signs as this rogue (origin or observer proof). */
  sign: (svc: Service, observer?: boolean) => SealedRecord
  /** Publishes one gossip message of these records (or raw bytes). */
  publish: (data: readonly WireRecord[] | Uint8Array) => Promise<void>
  /** Runs one anti-entropy exchange with target: header, these frames (records or raw), end; reads the answer. Never throws. */
  exchange: (target: PeerId, frames: ReadonlyArray<readonly WireRecord[] | Uint8Array>, records?: number) => Promise<void>
  /** Connects to a daemon's gossip port and waits until it subscribed to our topic. */
  join: (ip: string) => Promise<PeerId>
}

export async function startRogue (t: ExecutionContext, opts: { ip: string, hostname: string, clusterName: string }): Promise<Rogue> {
  const key = await generateKeyPair('Ed25519')
  const { node } = await createGossipNode({
    hostname: opts.hostname, clusterName: opts.clusterName, bindIp: opts.ip, bindPort: 7946, advertiseIp: opts.ip,
    clusterKey: '', quic: false, privateKey: key, version: '0.0.0',
  }, silentLogger())
  t.teardown(async () => { await node.stop() })
  // answers an exchange with an empty state, so daemons keep it as a member
  await node.handle(stateProtocolOf(opts.clusterName), async (stream) => {
    const lp = lpStream(stream, { maxDataLength: WIRE_LIMITS.maxFrameBytes })
    try {
      for (;;) {
        const f = (await lp.read({ signal: AbortSignal.timeout(10_000) })).subarray()
        if (f[1] === KIND.end) break
      }
      await lp.write(encodeHeader({ hostname: opts.hostname, clusterName: opts.clusterName, members: [], records: 0 }))
      await lp.write(encodeEnd())
      await stream.close()
    } catch (err) {
      stream.abort(err as Error)
    }
  }, { maxInboundStreams: 64 })
  // answers the failure detector's probes (an echo), so it is not departed as silent
  await node.handle(probeProtocolOf(opts.clusterName), (stream) => {
    stream.addEventListener('message', (e) => { try { stream.send(e.data) } catch { stream.abort(new Error('echo failed')) } })
    stream.addEventListener('remoteCloseWrite', () => { void stream.close().catch(() => {}) })
  })
  await node.start()
  const topic = topicOf(opts.clusterName)
  node.services.pubsub.subscribe(topic)
  const peerId = node.peerId.toString()
  const signer = new RecordSigner(key, peerId, opts.clusterName)
  const toBytes = (data: readonly WireRecord[] | Uint8Array, kind: number): Uint8Array[] => data instanceof Uint8Array ? [data] : encodeRecords(data, kind as 1, kind === KIND.chunk ? WIRE_LIMITS.maxFrameBytes : WIRE_LIMITS.maxMessageBytes * 4)
  return {
    node,
    key,
    peerId,
    sign: (svc, observer = false) => signer.seal(svc, observer),
    publish: async (data) => {
      for (const m of toBytes(data, KIND.records)) await node.services.pubsub.publish(topic, m).catch(() => {})
    },
    exchange: async (target, frames, records) => {
      try {
        const stream = await node.dialProtocol(target, stateProtocolOf(opts.clusterName), { signal: AbortSignal.timeout(10_000) })
        const lp = lpStream(stream, { maxDataLength: WIRE_LIMITS.maxFrameBytes })
        try {
          const n = records ?? frames.reduce((s, f) => s + (f instanceof Uint8Array ? 250 : f.length), 0)
          await lp.write(encodeHeader({ hostname: opts.hostname, clusterName: opts.clusterName, members: [], records: n }))
          for (const f of frames) for (const b of toBytes(f, KIND.chunk)) await lp.write(b)
          await lp.write(encodeEnd())
          // the daemon's state comes back: read it to its end (or the daemon's abort)
          for (;;) {
            const f = (await lp.read({ signal: AbortSignal.timeout(10_000) })).subarray()
            if (f[1] === KIND.end) break
          }
          await stream.close()
        } catch (err) {
          stream.abort(err as Error)
        }
      } catch {
        // refused or aborted by the daemon: what hostile frames are for
      }
    },
    join: async (ip) => {
      const conn = await node.dial(multiaddr(tcpAddr(ip, 7946)))
      await waitFor(() => node.services.pubsub.getSubscribers(topic).some(p => p.equals(conn.remotePeer)), { timeoutMs: 15_000, message: `${ip} subscribed, as seen by the rogue` })
      return conn.remotePeer
    },
  }
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
