// The prober's clock measurement over real libp2p streams (127.0.16.51-54): two probers whose
// clocks differ by 60 s each learn the offset (one by probing, the other from what the probes
// carry); a hostile peer whose answers do not echo our send time, or carry no finite time,
// gives no sample, yet still counts as answering.
import test from 'ava'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import type { OffsetSample } from '../../../src/gossip/clock-offset.ts'
import { createGossipNode, probeProtocolOf, tcpAddr, type GossipNode } from '../../../src/gossip/node.ts'
import { Prober } from '../../../src/gossip/prober.ts'
import { silentLogger } from '../../../src/lib/logger.ts'
import { waitFor } from '../../helpers/wait.ts'

const PROTOCOL = probeProtocolOf('clk')

async function node (t: import('ava').ExecutionContext, ip: string, hostname: string): Promise<GossipNode> {
  const { node } = await createGossipNode({ hostname, clusterName: 'clk', bindIp: ip, bindPort: 7946, advertiseIp: ip, clusterKey: '', quic: false, privateKey: await generateKeyPair('Ed25519'), version: '0.0.0' }, silentLogger())
  await node.start()
  t.teardown(async () => { await node.stop() })
  return node
}

function prober (t: import('ava').ExecutionContext, n: GossipNode, peer: () => string[], now: () => number, samples: OffsetSample[], silent: string[] = []): Prober {
  const p = new Prober({ node: n, logger: silentLogger(), members: peer, onSilent: (id) => { silent.push(id) }, onAnswer: () => {}, onClockSample: (_id, s) => { samples.push(s) }, now }, { protocol: PROTOCOL, intervalMs: 200, suspectAfterMs: 3000 })
  t.teardown(async () => { await p.stop() })
  return p
}

test('two probers 60 s apart both measure the offset, within the round trip', async t => {
  const a = await node(t, '127.0.16.51', 'clk-a')
  const b = await node(t, '127.0.16.52', 'clk-b')
  const aSamples: OffsetSample[] = []
  const bSamples: OffsetSample[] = []
  const pa = prober(t, a, () => [b.peerId.toString()], Date.now, aSamples)
  const pb = prober(t, b, () => [a.peerId.toString()], () => Date.now() + 60_000, bSamples)
  await a.dial(multiaddr(tcpAddr('127.0.16.52', 7946)))
  await pa.start()
  await pb.start()
  await waitFor(() => aSamples.length >= 3 && bSamples.length >= 3, { timeoutMs: 20_000, message: () => `samples on both sides (a ${aSamples.length}, b ${bSamples.length})` })
  const best = (s: OffsetSample[]): OffsetSample => s.reduce((x, y) => y.rttMs < x.rttMs ? y : x)
  t.log(`a sees b at ${best(aSamples).offsetMs.toFixed(1)} ms (rtt ${best(aSamples).rttMs.toFixed(1)}), b sees a at ${best(bSamples).offsetMs.toFixed(1)} ms`)
  t.true(Math.abs(best(aSamples).offsetMs - 60_000) <= best(aSamples).rttMs / 2 + 50)
  t.true(Math.abs(best(bSamples).offsetMs + 60_000) <= best(bSamples).rttMs / 2 + 50)
})

test('a peer whose answers do not echo our send time, or carry no finite time, gives no clock sample but still answers', async t => {
  const a = await node(t, '127.0.16.53', 'clk-c')
  const evil = await node(t, '127.0.16.54', 'clk-evil')
  let answered = 0
  // The hostile side answers every timed probe: alternately a wrong echo of t1, and an Infinity clock.
  await evil.handle(PROTOCOL, (stream) => {
    stream.addEventListener('message', (e) => {
      const probe = e.data.subarray()
      for (let off = 0; off + 28 <= probe.byteLength; off += 28) {
        const inV = new DataView(probe.buffer, probe.byteOffset + off, 28)
        const out = new Uint8Array(28)
        const v = new DataView(out.buffer)
        v.setUint32(0, inV.getUint32(0))
        v.setFloat64(4, answered % 2 === 0 ? Date.now() + 3_600_000 : Infinity)
        v.setFloat64(12, answered % 2 === 0 ? inV.getFloat64(4) + 1 : inV.getFloat64(4))
        answered++
        stream.send(out)
      }
    })
  })
  const samples: OffsetSample[] = []
  const silent: string[] = []
  const p = prober(t, a, () => [evil.peerId.toString()], Date.now, samples, silent)
  await a.dial(multiaddr(tcpAddr('127.0.16.54', 7946)))
  await p.start()
  await waitFor(() => answered >= 6, { timeoutMs: 20_000, message: () => `the hostile peer answered 6 probes (${answered})` })
  t.deepEqual(samples, [])
  t.deepEqual(silent, [], 'its answers still count as answers')
})
