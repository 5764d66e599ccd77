// Partitions and heals on real daemons, each in its own network namespace (test/helpers/netns.ts):
// 20 runs, each cutting the cluster in two with nftables drop rules for 6 s (past departure
// detection), changing services on both sides meanwhile (new records, and
// records removed, whose tombstones must win), then healing. Every run must end with all
// 5 nodes holding the same /state.json (timestamps aside) within 30 s of the heal, with every
// live service ALIVE (nothing lost) and every removed one a tombstone (no ghost).
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import test from 'ava'
import { ALIVE, TOMBSTONE, type StateJson } from '../helpers/cluster.ts'
import { comparable, NsNode, percentile, statuses } from '../helpers/faults.ts'
import { NetLab, netnsUnavailable } from '../helpers/netns.ts'
import { sleep, waitFor } from '../helpers/wait.ts'

const N = 5
const RUNS = Number(process.env.FAULTS_PARTITION_RUNS ?? 20)
/** The done-when limit: identical state on every node this long after the heal. */
const HEAL_LIMIT_MS = 30_000
/** How long each partition lasts: past departure detection (3 s silence + 1 s grace). */
const HOLD_MS = 6000

const missing = netnsUnavailable()
if (missing !== undefined) console.log(`faults-partition: SKIPPED, ${missing}`)
const maybe = missing === undefined ? test.serial : test.serial.skip

maybe(`${RUNS} partitions of a 5-node cluster heal to one identical state within 30 s, nothing lost, no ghost`, async t => {
  t.timeout(RUNS * 60_000 + 120_000)
  const root = await mkdtemp(path.join(os.tmpdir(), 'sidecar-partition-'))
  const lab = new NetLab('p', N, path.join(root, 'sock'))
  const nodes: NsNode[] = []
  t.teardown(async () => {
    await Promise.all(nodes.map(async n => { await n.kill() }))
    await lab.destroy()
    await rm(root, { recursive: true, force: true })
  })
  await lab.create(7777)
  for (let i = 0; i < N; i++) {
    const seeds = Array.from({ length: N }, (_, j) => lab.addr(j)).filter((_, j) => j !== i).join(',')
    const n = new NsNode(lab, i, root, { args: ['-c', seeds], env: {} })
    await n.setServices(n.services)
    nodes.push(n)
  }
  for (const n of nodes) n.spawn()
  await Promise.all(nodes.map(async n => { await n.ready() }))

  const removed = new Set<string>() // host/name of every record that must stay a tombstone
  const expect = (s: StateJson): string | undefined => {
    const st = statuses(s)
    for (const n of nodes) for (const name of n.services) if (st.get(`${n.hostname}/${name}`) !== ALIVE) return `${n.hostname}/${name} is ${st.get(`${n.hostname}/${name}`)}, not ALIVE`
    for (const key of removed) if (st.get(key) !== TOMBSTONE) return `${key} is ${st.get(key)}, not a tombstone`
    return undefined
  }
  let last = ''
  const converged = async (): Promise<boolean> => {
    const states = await Promise.all(nodes.map(async n => await n.state()))
    const problems = states.map(expect)
    const docs = states.map(comparable)
    last = problems.map((p, i) => `${nodes[i].hostname}: ${p ?? 'ok'}`).join('; ') + (new Set(docs).size > 1 ? ` (${new Set(docs).size} different states)` : '')
    return problems.every(p => p === undefined) && new Set(docs).size === 1
  }
  await waitFor(converged, { timeoutMs: 60_000, intervalMs: 200, message: () => `the cluster forms: ${last}` })

  const healMs: number[] = []
  const cutMs: number[] = []
  const noticed: string[] = []
  for (let run = 0; run < RUNS; run++) {
    const size = run % 2 === 0 ? 2 : 1
    const side = Array.from({ length: size }, (_, k) => (run + k) % N)
    const other = nodes.map(n => n.i).filter(i => !side.includes(i))
    lab.partition(side)
    const t0 = Date.now()
    // Changes on both sides during the partition: one new record each, and the previous run's new records removed.
    const a = nodes[side[0]]
    const b = nodes[other[run % other.length]]
    for (const n of nodes) {
      const drop = n.services.filter(s => s.startsWith(`p${run - 1}-`))
      if (drop.length > 0) {
        for (const name of drop) removed.add(`${n.hostname}/${name}`)
        await n.setServices(n.services.filter(s => !drop.includes(s)))
      }
    }
    await a.setServices([...a.services, `p${run}-a`])
    await b.setServices([...b.services, `p${run}-b`])
    // Held past departure detection (3 s of silence + the 1 s grace). A 1 | 4 cut makes the four
    // tombstone the one; in a 2 | 3 cut every node sees at least half its members silent at once
    // and blames itself (prober.ts), so nobody departs: both kinds must heal.
    await sleep(HOLD_MS)
    const [sa, sb] = await Promise.all([a.state(), b.state()])
    noticed.push(`${statuses(sa).get(`${b.hostname}/svc-${b.hostname}`) === TOMBSTONE ? 'yes' : 'no'}/${statuses(sb).get(`${a.hostname}/svc-${a.hostname}`) === TOMBSTONE ? 'yes' : 'no'}`)
    cutMs.push(Date.now() - t0)
    lab.heal()
    const h0 = Date.now()
    await waitFor(converged, { timeoutMs: HEAL_LIMIT_MS, intervalMs: 100, message: () => `run ${run} (cut ${side.join(',')} | ${other.join(',')}): one identical state on all 5 within ${HEAL_LIMIT_MS} ms of the heal: ${last}\n${nodes.map(n => `--- ${n.hostname}\n${n.output.split('\n').slice(-12).join('\n')}`).join('\n')}` })
    healMs.push(Date.now() - h0)
    t.log(`run ${run + 1}/${RUNS}: cut ${side.join(',')} | ${other.join(',')}, held ${cutMs.at(-1)} ms, each side tombstoned the other: ${noticed.at(-1)}, identical state ${healMs.at(-1)} ms after the heal`)
  }
  t.log(`partition heal, ${RUNS} runs: converged ${healMs.length}/${RUNS}; ms after heal p50 ${percentile(healMs, 50)}, p90 ${percentile(healMs, 90)}, max ${Math.max(...healMs)}; ${removed.size} tombstones held; load ${os.loadavg()[0].toFixed(2)}`)
  t.is(healMs.length, RUNS)
  t.true(Math.max(...healMs) <= HEAL_LIMIT_MS)
})
