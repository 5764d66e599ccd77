// Real daemons gossiping on 127.0.1.x: convergence from one seed, changes, departures
// (SIGKILL, SIGTERM, SIGSTOP/SIGCONT), restarts, a late joiner, and a 20-node cluster.
// Assertions are grouped into few start-ups: each daemon costs seconds of CPU here.
import test from 'ava'
import { ALIVE, makeCluster, startAll, statusIn, TOMBSTONE, waitOnAll, type ClusterNode, type ServicesJson, type StateJson } from '../helpers/cluster.ts'
import { waitFor } from '../helpers/wait.ts'

/** Departure grace for the 5-node cluster: long enough that a SIGTERM'd node's own tombstones visibly beat departure detection. */
const GRACE_MS = 3000

function holdsAll (nodes: readonly ClusterNode[], status: number) {
  return (s: StateJson): boolean => nodes.every(n => n.services.every(name => statusIn(s, n.hostname, name) === status))
}

async function memberNames (n: ClusterNode): Promise<string[]> {
  return Object.keys((await n.d.json<ServicesJson>('/services.json')).ClusterMembers ?? {}).sort()
}

test.serial('5 daemons from one seed converge, share changes, tombstone departed hosts and take them back', async t => {
  t.timeout(180_000)
  const nodes = await makeCluster(t, [2, 3, 4, 5, 6].map(i => ({
    ip: `127.0.1.${i}`,
    hostname: `node${i}`,
    args: ['-c', '127.0.1.2'],
    env: { SIDECAR_DEPARTURE_GRACE: `${GRACE_MS}ms` },
  })))
  const [n2, n3, n4, n5, n6] = nodes
  await startAll(nodes)

  t.log(`converged in ${await waitOnAll(nodes, 'all 5 hosts\' services ALIVE on every node', holdsAll(nodes, ALIVE), 30_000)} ms`)
  const names = nodes.map(n => n.hostname).sort()
  await waitFor(async () => {
    for (const n of nodes) if ((await memberNames(n)).join() !== names.join()) return false
    return true
  }, { timeoutMs: 15_000, message: 'every node lists all 5 in ClusterMembers' })
  t.deepEqual(await memberNames(n4), names)

  // A service added to one node's static file appears everywhere; removed, it is tombstoned everywhere.
  await n3.setServices(['svc-node3', 'extra'])
  t.log(`added service everywhere in ${await waitOnAll(nodes, 'extra ALIVE everywhere', s => statusIn(s, 'node3', 'extra') === ALIVE)} ms`)
  await n3.setServices(['svc-node3'])
  t.log(`removed service tombstoned everywhere in ${await waitOnAll(nodes, 'extra TOMBSTONE everywhere', s => statusIn(s, 'node3', 'extra') === TOMBSTONE)} ms`)

  // SIGKILL: detected by the closed connections, tombstoned after the grace period.
  n6.d.kill()
  let ms = await waitOnAll([n2, n3, n4, n5], 'node6 TOMBSTONE after SIGKILL', s => statusIn(s, 'node6', 'svc-node6') === TOMBSTONE, 20_000)
  t.log(`SIGKILL -> tombstoned everywhere in ${ms} ms (grace ${GRACE_MS} ms)`)
  t.true(ms >= GRACE_MS - 200, 'not before the grace period')

  // SIGTERM: the node tombstones its own services before it exits, well before the grace period would.
  const stopping = n5.d.stop('SIGTERM')
  ms = await waitOnAll([n2, n3, n4], 'node5 TOMBSTONE after SIGTERM', s => statusIn(s, 'node5', 'svc-node5') === TOMBSTONE, GRACE_MS - 500)
  t.log(`SIGTERM -> tombstoned everywhere in ${ms} ms`)
  t.is((await stopping).code, 0, n5.d.output.split('\n').filter(l => !l.includes('DEBUG')).slice(-20).join('\n'))

  // SIGSTOP: a frozen node stops answering pings; SIGCONT: it rejoins and its services return.
  n4.d.child.kill('SIGSTOP')
  ms = await waitOnAll([n2, n3], 'node4 TOMBSTONE after SIGSTOP', s => statusIn(s, 'node4', 'svc-node4') === TOMBSTONE, 20_000)
  t.log(`SIGSTOP -> tombstoned everywhere in ${ms} ms`)
  n4.d.child.kill('SIGCONT')
  ms = await waitOnAll([n2, n3, n4], 'node4 ALIVE again after SIGCONT', holdsAll([n2, n3, n4], ALIVE), 20_000)
  t.log(`SIGCONT -> ALIVE everywhere in ${ms} ms`)

  // Restarted (same data dir, so the same peer id), node6's services come back everywhere.
  n6.spawn()
  await n6.d.ready()
  ms = await waitOnAll([n2, n3, n4, n6], 'node6 ALIVE again after restart', holdsAll([n2, n3, n4, n6], ALIVE), 20_000)
  t.log(`restart -> ALIVE everywhere in ${ms} ms`)
  await waitOnAll([n2, n3, n4, n6], 'node5 still TOMBSTONE', s => statusIn(s, 'node5', 'svc-node5') === TOMBSTONE)

  // A late joiner holds the full state, including tombstones nobody gossips any more: only anti-entropy gives it those.
  const [n7] = await makeCluster(t, [{ ip: '127.0.1.7', hostname: 'node7', args: ['-c', '127.0.1.3'] }])
  n7.spawn()
  await n7.d.ready()
  ms = await waitOnAll([n7], 'the late joiner holds every record', s =>
    holdsAll([n2, n3, n4, n6, n7], ALIVE)(s) && statusIn(s, 'node5', 'svc-node5') === TOMBSTONE && statusIn(s, 'node3', 'extra') === TOMBSTONE, 10_000)
  t.log(`late joiner complete ${ms} ms after its API answered`)
  await n7.d.waitForOutput(/anti-entropy \(join\) with node\d: received \d+ records/)
  let seen: string[] = []
  await waitFor(async () => (seen = await memberNames(n7)).join() === ['node2', 'node3', 'node4', 'node6', 'node7'].join(), { timeoutMs: 15_000, message: () => `node7 lists node2, 3, 4, 6, 7 as members, not ${seen.join()}` })
})

test.serial('20 daemons seeded from one node converge into one mesh, and a new record reaches all 20', async t => {
  t.timeout(600_000)
  const ips = Array.from({ length: 20 }, (_, i) => `127.0.1.${10 + i}`)
  // A departure grace of 5 s: 20 daemons starting at once on 2 cores, beside the other test files,
  // starve one another; with the default 1 s a node late with its pings was departed, came
  // back and was departed again, and the cluster had not settled after 90 s (one CI run).
  // Departures are what the 5-node test is about; this one is about convergence into a mesh.
  const nodes = await makeCluster(t, ips.map((ip, i) => ({ ip, hostname: `big${10 + i}`, args: ['-c', ips[0]], env: { SIDECAR_DEPARTURE_GRACE: '5s' } })))
  await startAll(nodes, 120_000)
  // 300 s: in CI this test shares the 2 cores with another test file and the image build
  // (load average 11-16); it converged 31 s after every API answered alone, 35-100 s in CI runs.
  t.log(`converged ${await waitOnAll(nodes, 'all 20 hosts\' services ALIVE on every node', holdsAll(nodes, ALIVE), 300_000)} ms after every API answered`)
  // Every node is a member everywhere: the cluster is a mesh, not a star around the seed.
  const all = nodes.map(n => n.hostname).sort()
  await waitFor(async () => {
    for (const n of [nodes[0], nodes[7], nodes[19]]) if ((await memberNames(n)).join() !== all.join()) return false
    return true
  }, { timeoutMs: 30_000, message: 'nodes 0, 7 and 19 list all 20 members' })
  t.deepEqual(await memberNames(nodes[19]), all)

  const origin = nodes[13]
  await origin.setServices([...origin.services, 'fresh'])
  t.log(`new record on all 20 in ${await waitOnAll(nodes, 'fresh ALIVE on all 20', s => statusIn(s, origin.hostname, 'fresh') === ALIVE, 20_000)} ms (including polling)`)
  const states = await Promise.all(nodes.map(async n => await n.state()))
  t.deepEqual(states.map(s => statusIn(s, origin.hostname, 'fresh')), nodes.map(() => ALIVE))
})
