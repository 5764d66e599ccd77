// Prints how fast a new record spreads in the deterministic 1,000-node simulation
// (test/sim/simulation.ts: the real catalog over simulated gossipsub + anti-entropy).
// Usage: node bench/simulation.ts [nodes=1000] [seeds=5]
import os from 'node:os'
import { DAEMON, Simulation } from '../test/sim/simulation.ts'

const nodes = Number(process.argv[2] ?? 1000)
const seeds = Number(process.argv[3] ?? 5)
const RECORDS = 5

const scenarios = [
  { name: 'LAN: 1-20 ms per hop, no loss', delayMs: [1, 20] as [number, number], loss: 0 },
  { name: 'slow: 20-200 ms per hop, 10 % loss', delayMs: [20, 200] as [number, number], loss: 0.1 },
  { name: 'bad: 50-500 ms per hop, 30 % loss', delayMs: [50, 500] as [number, number], loss: 0.3 },
]

function pct (v: number[], p: number): number { const s = [...v].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil(p / 100 * s.length) - 1)] }
const fmt = (ms: number): string => ms === Infinity ? 'never' : `${(ms / 1000).toFixed(2)} s`

console.log(`simulation: ${nodes} nodes, ${seeds} seeds x ${RECORDS} new records each; mesh D=${DAEMON.D} (${DAEMON.Dlo}-${DAEMON.Dhi}), ${DAEMON.maxPeers} connections per node, heartbeat ${DAEMON.heartbeatMs} ms, anti-entropy every ${DAEMON.pushPullMs / 1000} s`)
for (const sc of scenarios) {
  const t = performance.now()
  const p99: number[] = []
  const all: number[] = []
  for (let seed = 1; seed <= seeds; seed++) {
    const sim = new Simulation({ nodes, seed, delayMs: sc.delayMs, loss: sc.loss })
    sim.runUntil(5000)
    for (let k = 0; k < RECORDS; k++) {
      const r = sim.spread(Math.floor(sim.random() * nodes), `r${k}`, 60_000)
      p99.push(r.p99Ms)
      all.push(r.allMs)
      sim.runUntil(sim.now + 6000)
    }
  }
  console.log(`${sc.name}: 99 % of nodes within p50 ${fmt(pct(p99, 50))}, worst ${fmt(Math.max(...p99))}; 100 % within p50 ${fmt(pct(all, 50))}, worst ${fmt(Math.max(...all))} (${(performance.now() - t).toFixed(0)} ms wall)`)
}
{
  const sim = new Simulation({ nodes, seed: 1, delayMs: [1, 20], loss: 0.05 })
  sim.runUntil(5000)
  const r = sim.partitionAndHeal(i => i % 10 < 3, 5, 'p', 10_000, 120_000)
  console.log(`partition of 30 % for 10 s: ${r.heldAtHeal} of ${nodes} held the record at the heal (${r.cutOffHolding} cut-off ones); all ${nodes} held it ${fmt(r.afterHealMs)} after the heal (by anti-entropy every ${DAEMON.pushPullMs / 1000} s and the origin's ${DAEMON.recordHeartbeatMs / 1000} s heartbeat)`)
}
console.log(`load average ${os.loadavg().map(l => l.toFixed(2)).join(' ')}`)
