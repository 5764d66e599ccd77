// Two real libp2p nodes in this process (127.0.1.51 and .52) exchange full states: both
// directions merge, and a 10,000-record state never blocks the event loop for long.
import test from 'ava'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { Catalog } from '../../../src/catalog/index.ts'
import { AntiEntropy } from '../../../src/gossip/anti-entropy.ts'
import { gossipMetrics } from '../../../src/gossip/metrics.ts'
import { createGossipNode, stateProtocolOf, tcpAddr, type GossipNode } from '../../../src/gossip/node.ts'
import { decodeRecordList, encodeRecords, openEnvelope, WIRE_LIMITS, type MemberInfo } from '../../../src/gossip/wire.ts'
import { systemClock } from '../../../src/lib/clock.ts'
import { silentLogger } from '../../../src/lib/logger.ts'
import { Metrics } from '../../../src/lib/metrics.ts'
import { makeService, ServiceStatus, type Service } from '../../../src/service/index.ts'
import { makeCatalogOptions } from '../../helpers/factories.ts'

interface Side { node: GossipNode, catalog: Catalog, ae: AntiEntropy, learned: MemberInfo[][] }

async function side (t: import('ava').ExecutionContext, ip: string, hostname: string): Promise<Side> {
  const { node } = await createGossipNode({ hostname, clusterName: 'ae', bindIp: ip, bindPort: 7946, advertiseIp: ip, clusterKey: '', quic: false, privateKey: await generateKeyPair('Ed25519'), version: '0.0.0' }, silentLogger())
  const catalog = new Catalog({ clock: systemClock }, makeCatalogOptions({ hostname, clusterName: 'ae' }))
  const learned: MemberInfo[][] = []
  const ae = new AntiEntropy({
    node, catalog, clock: systemClock, logger: silentLogger(), metrics: gossipMetrics(new Metrics({ defaultMetrics: false })),
    memberInfos: async () => [{ id: node.peerId.toString(), addrs: [tcpAddr(ip, 7946)] }],
    learn: (m) => { learned.push([...m]) },
    // this file tests the exchange itself; the gate's rules are tested in admission.test.ts and test/integration/gossip-trust.test.ts
    admission: { seal: (rs) => rs.map(svc => ({ svc })), admit: (rs) => ({ admitted: rs.map(r => r.svc), refused: 0, forged: 0 }) },
  }, { protocol: stateProtocolOf('ae'), hostname, clusterName: 'ae', timeoutMs: 60_000 })
  await node.start()
  await ae.start()
  t.teardown(async () => { await ae.stop(); await node.stop() })
  return { node, catalog, ae, learned }
}

function records (n: number, hostPrefix: string): Service[] {
  const now = systemClock.now()
  return Array.from({ length: n }, (_, i) => makeService({
    ID: `id${i % 100}`, Name: `svc${i % 37}`, Image: 'img:1', Hostname: `${hostPrefix}${Math.floor(i / 100)}`, Status: ServiceStatus.ALIVE, Updated: now,
    Ports: [{ Type: 'tcp', Port: 30000 + (i % 1000), ServicePort: 8080, IP: '10.0.0.1' }], ProxyMode: 'http',
  }))
}

/** The longest stretch the event loop was blocked while fn ran, sampled every 2 ms. */
async function maxBlock<T> (fn: () => Promise<T>): Promise<{ result: T, maxMs: number }> {
  let last = performance.now()
  let maxMs = 0
  const timer = setInterval(() => { const now = performance.now(); maxMs = Math.max(maxMs, now - last); last = now }, 2)
  try {
    const result = await fn()
    return { result, maxMs }
  } finally {
    clearInterval(timer)
  }
}

test('anti-entropy: both sides merge the other\'s full state; a 10,000-record state does not block the event loop', async t => {
  t.timeout(120_000)
  const a = await side(t, '127.0.1.51', 'ae-a')
  const b = await side(t, '127.0.1.52', 'ae-b')
  const big = records(10_000, 'h')
  for (const r of big) a.catalog.merge(r, 'someone')
  for (const r of records(10, 'mine')) b.catalog.merge(r)
  await b.node.dial(multiaddr(tcpAddr('127.0.1.51', 7946)))

  // Baseline: decoding and merging the same records in one synchronous go, as an unsliced implementation would.
  const frames = encodeRecords(big, 3, WIRE_LIMITS.maxFrameBytes * 100)
  const scratch = new Catalog({ clock: systemClock }, makeCatalogOptions({ hostname: 'x' }))
  const t0 = performance.now()
  for (const f of frames) for (const r of decodeRecordList(openEnvelope(f, Infinity).body, systemClock.now(), Infinity)) scratch.merge(r)
  const baselineMs = performance.now() - t0

  const { result, maxMs } = await maxBlock(async () => await b.ae.exchange(a.node.peerId))
  t.log(`10,010 records exchanged in ${result.ms.toFixed(0)} ms; longest event-loop block ${maxMs.toFixed(1)} ms; the same decode+merge in one go blocks ${baselineMs.toFixed(0)} ms`)
  t.is(result.received, 10_010, 'the responder sends its state after merging ours')
  t.is(result.sent, 10)
  t.is(result.peerHostname, 'ae-a')
  t.is(b.catalog.services().length, 10_010)
  t.is(a.catalog.services().length, 10_010)
  t.is(a.catalog.reportOf('mine0', 'id3')?.from, 'ae-b', 'merged as reported by the peer')
  t.deepEqual(a.learned.at(-1)?.map(m => m.id), [b.node.peerId.toString()], 'each side learns the other\'s member list')
  t.true(maxMs < Math.max(baselineMs / 2, 60), `longest block ${maxMs.toFixed(1)} ms, unsliced ${baselineMs.toFixed(0)} ms`)
})
