// Two real libp2p nodes in this process (127.0.25.1-.2): when gossipsub's outbound stream to a
// peer closes while the peer stays connected, gossipsub publishes nothing more to that peer
// (the library's behaviour, asserted here so that an upgrade that fixes it is noticed), and the
// mender opens a new stream once the peer has answered the failure detector since the stream
// went missing, after which messages flow again.
import test from 'ava'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { createGossipNode, tcpAddr, topicOf, type GossipNode } from '../../../src/gossip/node.ts'
import { StreamMender } from '../../../src/gossip/stream-mender.ts'
import { silentLogger } from '../../../src/lib/logger.ts'
import { sleep, waitFor } from '../../helpers/wait.ts'

const TOPIC = topicOf('mend')

interface Outbound { rawStream: { abort: (err: Error) => void } }
const outbound = (n: GossipNode): Map<string, Outbound> => (n.services.pubsub as unknown as { streamsOutbound: Map<string, Outbound> }).streamsOutbound

async function start (t: import('ava').ExecutionContext, ip: string, hostname: string): Promise<{ node: GossipNode, got: string[] }> {
  const { node } = await createGossipNode({ hostname, clusterName: 'mend', bindIp: ip, bindPort: 7946, advertiseIp: ip, clusterKey: '', quic: false, privateKey: await generateKeyPair('Ed25519'), version: '0.0.0' }, silentLogger())
  await node.start()
  t.teardown(async () => { await node.stop() })
  const got: string[] = []
  node.services.pubsub.addEventListener('message', (e) => { got.push(new TextDecoder().decode(e.detail.data)) })
  node.services.pubsub.subscribe(TOPIC)
  return { node, got }
}

test('stream mender: a gossip stream lost while the peer stays connected is opened again, and messages flow again', async t => {
  t.timeout(60_000)
  const a = await start(t, '127.0.25.1', 'mend-a')
  const b = await start(t, '127.0.25.2', 'mend-b')
  t.true(StreamMender.supported(a.node), 'the installed gossipsub has the entry point the mender uses')
  await b.node.dial(multiaddr(tcpAddr('127.0.25.1', 7946)))
  const bId = b.node.peerId.toString()
  let n = 0
  const delivered = async (label: string): Promise<boolean> => {
    const msg = `${label}-${n++}`
    await a.node.services.pubsub.publish(TOPIC, new TextEncoder().encode(msg))
    await sleep(200)
    return b.got.includes(msg)
  }
  await waitFor(async () => await delivered('before'), { timeoutMs: 20_000, intervalMs: 100, message: () => 'a reaches b before the stream is lost' })

  // The stream is reset; the connection stays.
  outbound(a.node).get(bId)?.rawStream.abort(new Error('test: stream lost'))
  await waitFor(() => !outbound(a.node).has(bId), { timeoutMs: 5000, message: () => 'gossipsub forgets the closed stream' })
  t.true(a.node.getConnections(b.node.peerId).some(c => c.status === 'open'), 'still connected')
  for (let i = 0; i < 5; i++) t.false(await delivered('lost'), 'gossipsub itself does not reopen the stream')
  t.false(outbound(a.node).has(bId))

  let heard = Date.now() - 1000 // when the failure detector last heard from b
  const mender = new StreamMender({ node: a.node, logger: silentLogger(), members: () => [{ peerId: bId, hostname: 'mend-b' }], lastHeard: () => heard })
  t.deepEqual(mender.mend(), [], 'a stream missing on one check only is left alone (a new connection\'s stream may be on its way)')
  t.deepEqual(mender.mend(), [], 'nor while b has not answered a probe since its stream went missing (it may be gone, its connection lingering)')
  await sleep(5)
  heard = Date.now()
  t.deepEqual(mender.mend(), ['mend-b'], 'missing since an earlier check, and b answered since: opened again')
  await waitFor(() => outbound(a.node).has(bId), { timeoutMs: 5000, message: () => 'gossipsub has a stream to b again' })
  await waitFor(async () => await delivered('after'), { timeoutMs: 10_000, intervalMs: 100, message: () => 'a reaches b after the mend' })
  t.deepEqual(mender.mend(), [], 'nothing to mend once the stream is there')
  t.deepEqual(mender.mend(), [])
})

test('stream mender: a member that is not connected is left to membership (no stream is forced without a connection)', async t => {
  t.timeout(30_000)
  const a = await start(t, '127.0.25.3', 'mend-c')
  const other = await generateKeyPair('Ed25519')
  const { peerIdFromPrivateKey } = await import('@libp2p/peer-id')
  const mender = new StreamMender({ node: a.node, logger: silentLogger(), members: () => [{ peerId: peerIdFromPrivateKey(other).toString(), hostname: 'gone' }], lastHeard: () => Date.now() })
  t.deepEqual(mender.mend(), [])
  t.deepEqual(mender.mend(), [])
})
