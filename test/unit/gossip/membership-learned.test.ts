// Peers named in a member list that never connect leave nothing behind. libp2p's dialer writes
// a "last dial failure" entry into the peer store for every peer id it fails to reach, and the
// store drops an entry only when something reads it 6 hours later: a member listing made-up
// peer ids (docs/security-gossip.md, "Member lists") grew every node's peer store by one entry
// per dial, for as long as the daemon ran. A real libp2p node on 127.0.67.1 and Membership,
// in-process; the listed peers' addresses are a closed port on 127.0.67.2 (refused at once).
import { Writable } from 'node:stream'
import test from 'ava'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createGossipNode, probeProtocolOf, stateProtocolOf } from '../../../src/gossip/node.ts'
import { Membership } from '../../../src/gossip/membership.ts'
import { createLogger, silentLogger } from '../../../src/lib/logger.ts'
import { waitFor } from '../../helpers/wait.ts'

test('membership: a listed peer whose dial fails is not kept in the peer store', async t => {
  const { node } = await createGossipNode({
    hostname: 'learner', clusterName: 'learned', bindIp: '127.0.67.1', bindPort: 7946, advertiseIp: '127.0.67.1',
    clusterKey: '', quic: false, privateKey: await generateKeyPair('Ed25519'), version: '0.0.0',
  }, silentLogger())
  await node.start()
  t.teardown(async () => { await node.stop() })
  const lines: string[] = []
  const logger = createLogger({ level: 'debug', format: 'json', destination: new Writable({ write (c: Buffer, _e, cb) { lines.push(...c.toString().split('\n').filter(l => l !== '').map(l => (JSON.parse(l) as { msg: string }).msg)); cb() } }) })
  const membership = new Membership({ node, logger }, {
    hostname: 'learner', seeds: [], bindPort: 7946, self: new Set(['127.0.67.1:7946']),
    stateProtocol: stateProtocolOf('learned'), probeProtocol: probeProtocolOf('learned'), graceMs: 1000, maxPeers: 32,
  })
  const fakes = await Promise.all(Array.from({ length: 10 }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()))
  membership.learn(fakes.map(id => ({ id, addrs: ['/ip4/127.0.67.2/tcp/9'] })), 'a-member')
  // each failed dial is logged once it is over
  await waitFor(() => fakes.every(id => lines.some(l => l.startsWith(`cannot dial member ${id}:`))) || undefined, { timeoutMs: 20_000, message: () => `every listed peer's dial failed:\n${lines.join('\n')}` })
  const held: string[] = []
  for (const p of await node.peerStore.all()) if (fakes.includes(p.id.toString())) held.push(p.id.toString())
  t.deepEqual(held, [], 'peer store entries left by failed dials of listed peers')
})
