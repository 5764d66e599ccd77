// A rolling upgrade half done: a host still on sidecar 0.1.0 (its gossip: the state protocol
// /sidecar/<cluster>/state/1.0.0, the one thing a peer sees of its version) next to a daemon of
// this version, on 127.0.55.2-3. The old host is played by a libp2p node built from the
// project's modules that lists 0.1.0's protocols and agent; then it "upgrades in place": the
// rogue member of test/helpers/rogue.ts (this version's protocols) with the same node key.
import test from 'ava'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { tcpAddr } from '../../src/gossip/node.ts'
import { makeCluster, startAll } from '../helpers/cluster.ts'
import { metric, startOldHost, startRogue, untilMember } from '../helpers/rogue.ts'
import { sleep, waitFor } from '../helpers/wait.ts'

const CLUSTER = 'rolling'

interface Health { status: string, versionMismatch?: Record<string, string> }

test('a host on sidecar 0.1.0\'s gossip is named once in a WARN and in /health with the fix, and leaves both once upgraded with its key', async t => {
  t.timeout(180_000)
  const key = await generateKeyPair('Ed25519')
  // sidecar 0.1.0 as identify shows it: agent "sidecar/0.1.0 host/old-host", state and probe protocols 1.0.0
  const old = await startOldHost(t, { ip: '127.0.55.3', hostname: 'old-host', clusterName: CLUSTER, key })
  const oldPeer = old.peerId.toString()

  // the old host is the new daemon's seed, and dials it too
  const [alpha] = await makeCluster(t, [{ ip: '127.0.55.2', hostname: 'alpha', args: ['-n', CLUSTER, '-c', '127.0.55.3'] }])
  await startAll([alpha])
  for (let i = 0; i < 3; i++) {
    await waitFor(async () => await old.dial(multiaddr(tcpAddr('127.0.55.2', 7946))).then(() => true, () => false), { timeoutMs: 15_000, message: 'alpha took the old host\'s dial' })
    await waitFor(() => old.getConnections().length === 0, { timeoutMs: 10_000, message: 'alpha hung up on the old host' })
  }
  const health = async (): Promise<Health> => await alpha.d.json<Health>('/health')
  const h = await waitFor(async () => { const r = await health(); return r.status === 'degraded' ? r : undefined }, { timeoutMs: 15_000, message: () => `alpha's /health degraded; log:\n${alpha.d.output.slice(-3000)}` })
  t.deepEqual(Object.keys(h.versionMismatch ?? {}), ['old-host'])
  const line = `peer ${oldPeer} \\(host old-host, /ip4/127\\.0\\.\\d+\\.\\d+/tcp/\\d+\\) speaks sidecar gossip protocol 1\\.0\\.0, as sidecar 0\\.1\\.0 does, this node 2\\.0\\.0: upgrade it; until then neither sees the other's services`
  t.regex(h.versionMismatch?.['old-host'] ?? '', new RegExp(`^${line}$`))
  const page = async (): Promise<string> => await (await fetch(alpha.d.url('/metrics'))).text()
  t.is(metric(await page(), 'sidecar_gossip_version_mismatch_peers'), 1)
  await alpha.d.waitForOutput('speaks sidecar gossip protocol') // the first line, counted below
  await sleep(3000) // the seed is dialled again meanwhile
  const warns = alpha.d.output.split('\n').filter(l => l.includes('speaks sidecar gossip protocol'))
  t.is(warns.length, 1, `one line for the old host, however often it connects:\n${warns.join('\n')}`)
  t.regex(warns[0], new RegExp(`WARN: \\[gossip\\] ${line}$`))
  t.notRegex(alpha.d.output, /is not a sidecar of this cluster/, 'not called a stranger')
  t.notRegex(alpha.d.output, /seed 127\.0\.55\.3 hung up/, 'alpha hung up, not the seed: no "its log says why"')
  t.falsy((await alpha.d.json<{ ClusterMembers?: Record<string, unknown> }>('/services.json')).ClusterMembers?.['old-host'], 'not a member')

  // the old host is upgraded in place: same key, this version's protocols
  await old.stop()
  const upgraded = await startRogue(t, { ip: '127.0.55.3', hostname: 'old-host', clusterName: CLUSTER, key })
  t.is(upgraded.peerId, oldPeer)
  await upgraded.join('127.0.55.2')
  await untilMember(alpha.d, 'old-host')
  const after = await waitFor(async () => { const r = await health(); return r.status === 'ok' ? r : undefined }, { timeoutMs: 10_000, message: 'alpha\'s /health ok again' })
  t.is(after.versionMismatch, undefined)
  t.is(metric(await page(), 'sidecar_gossip_version_mismatch_peers'), 0)
})
