// The deterministic 1,000-node simulation (test/sim/simulation.ts) with fixed seeds: a new
// record reaches 99 % of the nodes within 2 s of simulated time and all within 5 s, also with
// loss; a cut-off part gets nothing while cut and everything after the heal; same seed, same run.
import test from 'ava'
import { DAEMON, Simulation } from '../sim/simulation.ts'

const NODES = 1000

test('1,000 nodes: a new record reaches 99 % within 2 s and 100 % within 5 s of simulated time', t => {
  const sim = new Simulation({ nodes: NODES, seed: 42, delayMs: [1, 20], loss: 0 })
  sim.runUntil(5000)
  const runs = [0, 333, 999].map((origin, k) => { const r = sim.spread(origin, `r${k}`, 10_000); sim.runUntil(sim.now + 3000); return r })
  t.log(`1,000 nodes, 1-20 ms per hop: 99 % within ${runs.map(r => r.p99Ms).join(', ')} ms; 100 % within ${runs.map(r => r.allMs).join(', ')} ms`)
  for (const r of runs) {
    t.true(r.p99Ms <= 2000, `99 % after ${r.p99Ms} ms`)
    t.true(r.allMs <= 5000, `100 % after ${r.allMs} ms`)
  }
})

test('1,000 nodes with 30 % of messages lost and 50-500 ms per hop still reach 100 % within 5 s', t => {
  const sim = new Simulation({ nodes: NODES, seed: 7, delayMs: [50, 500], loss: 0.3 })
  sim.runUntil(5000)
  const r = sim.spread(17, 'lossy', 10_000)
  t.log(`30 % loss, 50-500 ms per hop: 99 % within ${r.p99Ms} ms, 100 % within ${r.allMs} ms; ${sim.stats.lost} of ${sim.stats.sent} messages lost`)
  t.true(r.p99Ms <= 2000)
  t.true(r.allMs <= 5000)
  t.true(sim.stats.lost > 0.25 * sim.stats.sent, 'the loss was applied')
})

test('a partitioned 30 % gets nothing while cut off and everything after the heal', t => {
  const sim = new Simulation({ nodes: NODES, seed: 3, delayMs: [1, 20], loss: 0.05 })
  sim.runUntil(5000)
  const cut = (i: number): boolean => i % 10 < 3
  const r = sim.partitionAndHeal(cut, 5, 'p', 10_000, 3 * DAEMON.recordHeartbeatMs)
  t.log(`partition of 30 % for 10 s: ${r.heldAtHeal} held the record at the heal, all ${NODES} ${r.afterHealMs} ms after it`)
  t.is(r.cutOffHolding, 0)
  t.is(r.heldAtHeal, 700)
  t.true(r.afterHealMs <= DAEMON.recordHeartbeatMs * 1.2 + 5000, `converged ${r.afterHealMs} ms after the heal`)
})

test('the same seed gives the same run', t => {
  const run = (): string => {
    const sim = new Simulation({ nodes: 200, seed: 9, delayMs: [5, 50], loss: 0.1 })
    sim.runUntil(3000)
    const r = sim.spread(3, 'x', 10_000)
    return JSON.stringify({ r, stats: sim.stats, now: sim.now })
  }
  t.is(run(), run())
})
