// A peer a daemon hung up on (it spoke sidecar 0.1.0's gossip, used the daemon's own hostname,
// or claimed a hostname pinned there to another key) that later comes back as a proper member
// under the same key: the daemon dials it when another member's member list names it, pins it
// and takes its records, as for any member. Real daemons alpha and bravo (each the other's seed)
// on 127.0.58.<n>1-<n>2; the peer on 127.0.58.<n>3 is played by libp2p nodes built from the
// project's modules (the 0.1.0 host as in mixed-versions.test.ts, then the rogue member of
// test/helpers/rogue.ts with the same key), which join through bravo alone and never dial
// alpha: a host at its 32-connection cap, or one alpha can reach but that cannot reach alpha.
// Before, alpha skipped it for good: never a member there, its records refused as "not pinned".
import test, { type ExecutionContext } from 'ava'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { tcpAddr, type GossipNode } from '../../src/gossip/node.ts'
import { makeService, ServiceStatus, Time } from '../../src/service/index.ts'
import { ALIVE, makeCluster, startAll, statusIn, waitOnAll, type ClusterNode } from '../helpers/cluster.ts'
import { startOldHost, startRogue, untilMember, type Rogue } from '../helpers/rogue.ts'
import { waitFor } from '../helpers/wait.ts'

const logTail = (n: ClusterNode): string => n.d.output.split('\n').filter(l => !l.includes('DEBUG')).slice(-20).join('\n')

/** alpha and bravo, each the other's seed, exchanging state every 2 s; alpha's data_dir made first by prepare. */
async function pair (t: ExecutionContext, net: string, cluster: string, prepare?: (alphaDataDir: string) => Promise<void>): Promise<ClusterNode[]> {
  const env = { SIDECAR_PUSH_PULL_INTERVAL: '2s' }
  const nodes = await makeCluster(t, [
    { ip: `${net}1`, hostname: 'alpha', args: ['-n', cluster, '-c', `${net}2`], env },
    { ip: `${net}2`, hostname: 'bravo', args: ['-n', cluster, '-c', `${net}1`], env },
  ])
  await prepare?.(path.join(nodes[0].dir, '.sidecar', 'alpha')) // data_dir '' = ~/.sidecar/<hostname>, HOME = its dir
  await startAll(nodes)
  await untilMember(nodes[0].d, 'bravo', 30_000)
  return nodes
}

/** node dials alpha, which takes the connection and then hangs up on it. */
async function hungUpOn (node: GossipNode, alpha: ClusterNode): Promise<void> {
  await waitFor(async () => await node.dial(multiaddr(tcpAddr(alpha.spec.ip, 7946))).then(() => true, () => false), { timeoutMs: 15_000, message: 'alpha took the dial' })
  await waitFor(() => node.getConnections().length === 0, { timeoutMs: 10_000, message: () => `alpha hung up; log:\n${logTail(alpha)}` })
}

/**
 * The peer, now a proper member called xray, joins through bravo alone and announces a record;
 * alpha must dial it from bravo's member list, list it and hold the record.
 */
async function joinsThroughBravo (t: ExecutionContext, alpha: ClusterNode, bravo: ClusterNode, xray: Rogue, ip: string): Promise<void> {
  await xray.join(bravo.spec.ip)
  await untilMember(bravo.d, 'xray')
  const now = Time.fromMillis(Date.now())
  await xray.publish([xray.sign(makeService({ ID: 'x1', Name: 'xray-web', Image: 'web:1', Hostname: 'xray', Created: now, Updated: now, Status: ServiceStatus.ALIVE, Ports: [{ Type: 'tcp', Port: 18080, ServicePort: 0, IP: ip }] }))])
  await waitOnAll([bravo], 'bravo holds xray\'s record', s => statusIn(s, 'xray', 'xray-web') === ALIVE, 15_000)
  // bravo names xray in every exchange with alpha (each 2 s), and alpha dials a peer it hung up
  // on again 30 s after that at the latest: before, it never did
  await waitFor(async () => (await alpha.d.json<{ ClusterMembers?: Record<string, unknown> }>('/services.json')).ClusterMembers?.xray !== undefined, {
    timeoutMs: 60_000, message: () => `alpha lists xray as a member; alpha's log:\n${logTail(alpha)}`,
  })
  // alpha dialled xray (its listen address, not an ephemeral port of xray's dial)
  await alpha.d.waitForOutput(/member xray joined \(\S+ at \/ip4\/127\.0\.58\.\d+\/tcp\/7946/)
  await waitOnAll([alpha], 'alpha holds xray\'s record', s => statusIn(s, 'xray', 'xray-web') === ALIVE, 30_000)
  t.is(xray.node.getPeers().length, 2, 'xray is connected to alpha and bravo')
}

/**
 * The peer, started by first on <net>3 with a new key, dials alpha and is hung up on (alpha says
 * why), stops, and comes back as xray with the same key through bravo alone.
 */
async function hungUpThenBack (t: ExecutionContext, net: string, cluster: string, first: (ip: string, key: PrivateKey) => Promise<GossipNode>, why: RegExp): Promise<void> {
  const [alpha, bravo] = await pair(t, net, cluster)
  const ip = `${net}3`
  const key = await generateKeyPair('Ed25519')
  const before = await first(ip, key)
  await hungUpOn(before, alpha)
  await alpha.d.waitForOutput(why)
  await before.stop()
  await joinsThroughBravo(t, alpha, bravo, await startRogue(t, { ip, hostname: 'xray', clusterName: cluster, key }), ip)
}

test('a host alpha hung up on for speaking sidecar 0.1.0\'s gossip, upgraded in place, is dialled by alpha from bravo\'s member list', async t => {
  t.timeout(180_000)
  await hungUpThenBack(t, '127.0.58.', 'flag-up', async (ip, key) => await startOldHost(t, { ip, hostname: 'xray', clusterName: 'flag-up', key }), /speaks sidecar gossip protocol 1\.0\.0/)
})

test('a host alpha hung up on for using alpha\'s own hostname, restarted under its own with the same key, is dialled by alpha from bravo\'s member list', async t => {
  t.timeout(180_000)
  await hungUpThenBack(t, '127.0.58.1', 'flag-name', async (ip, key) => (await startRogue(t, { ip, hostname: 'alpha', clusterName: 'flag-name', key })).node, /also calls itself alpha: every host needs its own hostname; hanging up/)
})

test('a host alpha refused for a hostname pinned to another key, unpinned by the operator, is dialled by alpha from bravo\'s member list', async t => {
  t.timeout(180_000)
  const cluster = 'flag-pin'
  const other = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
  let pinsFile = ''
  const [alpha, bravo] = await pair(t, '127.0.58.2', cluster, async (dir) => {
    await mkdir(dir, { recursive: true })
    pinsFile = path.join(dir, 'host-pins.json')
    await writeFile(pinsFile, JSON.stringify({ version: 1, pins: { xray: other } }))
  })
  const xray = await startRogue(t, { ip: '127.0.58.23', hostname: 'xray', clusterName: cluster })
  await hungUpOn(xray.node, alpha)
  await alpha.d.waitForOutput(/claims hostname xray, which is pinned to peer \S+: refused/)
  // the operator removes the pin on alpha, without a restart; xray is not restarted either
  const doc = JSON.parse(await readFile(pinsFile, 'utf8')) as { pins: Record<string, string> }
  delete doc.pins.xray
  await writeFile(pinsFile, JSON.stringify(doc))
  await joinsThroughBravo(t, alpha, bravo, xray, '127.0.58.23')
})
