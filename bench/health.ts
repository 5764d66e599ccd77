// Health checking at scale: one real daemon (127.0.10.7) with N static services (default
// 10,000, the static file's cap): half AlwaysSuccessful, half TCP checks against four
// local TCP servers. Prints the time from spawn to every service ALIVE (and in check
// intervals), /health latency (p50/p99/max) meanwhile, and the daemon's largest
// event-loop delay. With --peer, a second daemon (127.0.23.2, no services) joins it and the
// bench prints whether that peer ever suspected it. Bounded: at most 120 s. Asserts nothing.
//   node bench/health.ts [N] [interval ms] [--peer]      (default: 10000 3000)
// BENCH_CPU_PROF=DIR writes the daemon's CPU profile (node --cpu-prof) into DIR when it exits;
// BENCH_NODE_OPTIONS adds Node options to the daemon (a preload, V8 flags).
import os from 'node:os'
import path from 'node:path'
import { readFileSync } from 'node:fs'
import { measureToHealthy, percentile, PROBE_TIMEOUT_MS, startManyServices, startWatchingPeer } from '../test/helpers/many-services.ts'

const args = process.argv.slice(2).filter(a => a !== '--peer')
const withPeer = process.argv.includes('--peer')
const n = Math.min(10_000, Math.max(1, Number(args[0] ?? 10_000)))
const intervalMs = Math.max(200, Number(args[1] ?? 3000))
const LIMIT_MS = 120_000
const profDir = process.env.BENCH_CPU_PROF
const nodeOptions = [...(profDir !== undefined ? [`--cpu-prof --cpu-prof-dir=${path.resolve(profDir)}`] : []), ...(process.env.BENCH_NODE_OPTIONS !== undefined ? [process.env.BENCH_NODE_OPTIONS] : [])]
const env: Record<string, string> = nodeOptions.length === 0 ? {} : { NODE_OPTIONS: nodeOptions.join(' ') }
/** The peer watches this long after every service is ALIVE: the gossip rounds that repeat the 10,000 changes run then. */
const PEER_WATCH_MS = 10_000

console.log(`node ${process.version}, ${os.cpus().length} cores, load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')} (before)`)
const m = await startManyServices({ ip: '127.0.10.7', hostname: 'bench-health', n, tcpServers: 4, intervalMs, env })
const peer = withPeer ? await startWatchingPeer(m, { ip: '127.0.23.2', hostname: 'bench-peer', limitMs: LIMIT_MS }) : undefined
try {
  const f = await measureToHealthy(m, n, LIMIT_MS)
  const healthy = f.allHealthyMs === undefined ? `not all within ${LIMIT_MS / 1000} s (${f.alive} ALIVE)` : `${(f.allHealthyMs / 1000).toFixed(1)} s = ${(f.allHealthyMs / intervalMs).toFixed(1)} check intervals`
  console.log(`services ${n}, check interval ${intervalMs} ms`)
  console.log(`time from spawn to all ALIVE: ${healthy}`)
  console.log(`/health while waiting: p50 ${percentile(f.apiMs, 0.5).toFixed(1)} ms, p99 ${percentile(f.apiMs, 0.99).toFixed(1)} ms, max ${Math.max(...f.apiMs).toFixed(1)} ms over ${f.apiMs.length} requests, ${f.apiFailures} failed or over ${PROBE_TIMEOUT_MS / 1000} s`)
  console.log(`daemon max event-loop delay (sidecar_nodejs_eventloop_lag_max_seconds): ${f.maxLoopDelayMs.toFixed(0)} ms; times its heap mode turned optimize-for-size off (sidecar_heap_bursts_total): ${f.heapBursts}`)
  const view = await peer?.view(PEER_WATCH_MS)
  if (view !== undefined) {
    console.log(`peer 127.0.23.2: ${view.member ? 'holds bench-health as a member' : 'does NOT hold bench-health as a member'}, holds ${view.alive} of its ${n} records ALIVE; suspected or dropped it ${view.suspicions.length} times${view.suspicions.length > 0 ? `:\n  ${view.suspicions.slice(0, 5).join('\n  ')}` : ''}`)
  }
} finally {
  await peer?.close()
  await m.close()
  console.log(`load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')} (after)`)
}
