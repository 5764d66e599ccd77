// Real daemons on 127.0.89.2-4: a host that starts and removes instances faster than its
// tombstones expire (3 h) stays visible on peers whose max_records_per_host its tombstones
// exceed, by gossip while they run and by anti-entropy to a node that joins afterwards.
// Before, every new instance past the cap was refused there ('cap-host') until tombstones expired.
import test from 'ava'
import { ALIVE, makeCluster, startAll, statusIn, TOMBSTONE, waitOnAll, type StateJson } from '../helpers/cluster.ts'
import { metric } from '../helpers/rogue.ts'

const CLUSTER = 'churn'
const CAP = 40
const PER_ROUND = 10
const ROUNDS = 12 // 120 instances: three times the cap

async function refused (d: { url: (p: string) => string }, reason: string): Promise<number> {
  return metric(await (await fetch(d.url('/metrics'))).text(), 'sidecar_gossip_records_refused_total', `reason="${reason}"`)
}

const countOf = (s: StateJson, host: string): number => Object.keys(s.Servers[host]?.Services ?? {}).length

test('a host that starts and removes 120 instances stays visible on peers capped at 40 of its records, by gossip and to a late joiner', async t => {
  t.timeout(300_000)
  const nodes = await makeCluster(t, [
    { ip: '127.0.89.2', hostname: 'ci', args: ['-n', CLUSTER, '-c', '127.0.89.2'], services: ['job-0-0'] },
    { ip: '127.0.89.3', hostname: 'peer', args: ['-n', CLUSTER, '-c', '127.0.89.2'], env: { SIDECAR_MAX_RECORDS_PER_HOST: String(CAP) }, services: [] },
    { ip: '127.0.89.4', hostname: 'late', args: ['-n', CLUSTER, '-c', '127.0.89.2'], env: { SIDECAR_MAX_RECORDS_PER_HOST: String(CAP) }, services: [] },
  ])
  const [ci, peer, late] = nodes
  await startAll([ci, peer])
  await waitOnAll([peer], 'ci\'s first instance ALIVE on peer', s => statusIn(s, 'ci', 'job-0-0') === ALIVE, 30_000)
  // each round: the 10 instances of the round before are removed, 10 new ones start
  let previous = ['job-0-0']
  for (let round = 1; round <= ROUNDS; round++) {
    const names = Array.from({ length: PER_ROUND }, (_, i) => `job-${round}-${i}`)
    await ci.setServices(names)
    const gone = previous
    await waitOnAll([peer], `round ${round}: ci's ${PER_ROUND} new instances ALIVE and the ${gone.length} before removed on peer`,
      s => names.every(n => statusIn(s, 'ci', n) === ALIVE) && gone.every(n => statusIn(s, 'ci', n) !== ALIVE), 30_000)
    const held = countOf(await peer.state(), 'ci')
    if (held > CAP) t.fail(`peer holds ${held} records of ci after round ${round}, over its cap of ${CAP}`)
    previous = names
  }
  const ciState = await ci.state()
  t.is(countOf(ciState, 'ci'), 1 + ROUNDS * PER_ROUND, 'ci itself holds every tombstone (its own records are not capped)')
  t.is(countOf(await peer.state(), 'ci'), CAP, 'peer holds ci\'s records up to its cap')
  t.is(await refused(peer.d, 'cap-host'), 0, 'no record of ci refused for the cap')
  // A node that joins now pulls ci's 121 records (110 tombstones, 10 live) by anti-entropy. ci
  // re-stamps every record it owns, tombstones included, when a peer connects, so the tombstones
  // it gives up for room can be newer than ci's live records: those must get in all the same
  // (a single cut-off per host at the newest tombstone given up held them back for a heartbeat,
  // 55 s). Before, the live records past the cap in the join's ID order were refused until ci's
  // tombstones expired (3 h).
  await startAll([late])
  t.log(`ci's live instances on the late joiner after ${await waitOnAll([late], 'ci\'s 10 live instances ALIVE on the late joiner', s => previous.every(n => statusIn(s, 'ci', n) === ALIVE), 30_000)} ms`)
  const lateState = await late.state()
  t.true(countOf(lateState, 'ci') <= CAP, `late holds ${countOf(lateState, 'ci')} records of ci`)
  t.is(Object.values(lateState.Servers.ci?.Services ?? {}).filter(r => r.Status !== TOMBSTONE).length, PER_ROUND, 'exactly the live ones: no removed instance came back')
  t.is(await refused(late.d, 'cap-host'), 0)
})
