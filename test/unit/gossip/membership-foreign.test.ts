// A peer hung up on as not ours (another cluster, version or name) that comes back as a member
// of this cluster under the same key (upgraded in place, its configuration fixed) on a
// connection whose first identify fails (libp2p identifies a connection once, for 5 s: a busy
// host misses it). The peer store still holds what the old connection's identify said, so only
// a new identify of this connection can tell. Real libp2p nodes in-process on 127.0.76.1-2.
import { Writable } from 'node:stream'
import test from 'ava'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey, Startable } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { createGossipNode, probeProtocolOf, stateProtocolOf, type GossipNode } from '../../../src/gossip/node.ts'
import { Membership } from '../../../src/gossip/membership.ts'
import { createLogger, silentLogger } from '../../../src/lib/logger.ts'
import { waitFor } from '../../helpers/wait.ts'

const A = '127.0.76.1'
const B = '127.0.76.2'

async function peerNode (clusterName: string, privateKey: PrivateKey): Promise<GossipNode> {
  const { node } = await createGossipNode({
    hostname: 'host-b', clusterName, bindIp: B, bindPort: 7946, advertiseIp: B, clusterKey: '', quic: false, privateKey, version: '0.0.0',
  }, silentLogger())
  await node.start()
  // what the daemon's gossip registers: the protocols by which a peer is known as one of a cluster
  await node.handle(stateProtocolOf(clusterName), (stream) => { stream.abort(new Error('not served in this test')) })
  return node
}

test('membership: a peer flagged as foreign that comes back as a member on a connection whose first identify failed becomes a member', async t => {
  t.timeout(90_000)
  const { node } = await createGossipNode({
    hostname: 'host-a', clusterName: 'ours', bindIp: A, bindPort: 7946, advertiseIp: A, clusterKey: '', quic: false, privateKey: await generateKeyPair('Ed25519'), version: '0.0.0',
  }, silentLogger())
  await node.start()
  const lines: string[] = []
  const logger = createLogger({ level: 'debug', format: 'json', destination: new Writable({ write (c: Buffer, _e, cb) { lines.push(...c.toString().split('\n').filter(l => l !== '').map(l => (JSON.parse(l) as { msg: string }).msg)); cb() } }) })
  const membership = new Membership({ node, logger }, {
    hostname: 'host-a', seeds: [], bindPort: 7946, self: new Set([`${A}:7946`]),
    stateProtocol: stateProtocolOf('ours'), probeProtocol: probeProtocolOf('ours'), graceMs: 5000, maxPeers: 32,
  })
  await membership.start()
  const key = await generateKeyPair('Ed25519')
  const peers: GossipNode[] = []
  t.teardown(async () => {
    await membership.stop()
    for (const p of peers) await Promise.resolve(p.stop()).catch(() => {})
    await node.stop()
  })
  const log = (): string => lines.slice(-30).join('\n')

  // 1. host-b of another cluster: identified, hung up on, flagged
  const old = await peerNode('theirs', key)
  peers.push(old)
  const bId = old.peerId.toString()
  await old.dial(multiaddr(`/ip4/${A}/tcp/7946`))
  await waitFor(() => lines.some(l => l.startsWith(`peer ${bId} `) && l.endsWith('hanging up')) || undefined, { timeoutMs: 20_000, message: () => `host-a hung up on the foreign peer:\n${log()}` })
  await old.stop()

  // 2. the same key, now of this cluster; its identify handler is off while it connects, so
  // host-a's identify of the new connection fails, and on again right after
  const now = await peerNode('ours', key)
  peers.push(now)
  const idService = now.services.identify as unknown as Startable
  await idService.stop()
  await now.dial(multiaddr(`/ip4/${A}/tcp/7946`))
  await waitFor(() => node.getConnections(now.peerId).length > 0 || undefined, { timeoutMs: 20_000, message: () => `host-b connected to host-a:\n${log()}` })
  await new Promise(resolve => setTimeout(resolve, 1000)) // host-a's identify has been refused by then
  await idService.start()

  // host-a identifies the connection again and takes host-b as a member (before: never, for as
  // long as the connection lasted, with what the peer store held of the old one)
  await waitFor(() => membership.members().some(m => m.peerId === bId) || undefined, {
    timeoutMs: 45_000,
    message: () => `host-b (${bId}) became a member of host-a; connected: ${node.getConnections(now.peerId).length > 0}; log:\n${log()}`,
  })
  t.is(membership.hostnameOf(bId), 'host-b')
})
