// Health checking at scale: one real daemon (127.0.10.7) with N static services (default
// 10,000, the static file's cap): half AlwaysSuccessful, half TCP checks against four
// local TCP servers. Prints the time from spawn to every service ALIVE (and in check
// intervals), /health latency (p50/p99/max) meanwhile, and the daemon's longest
// event-loop stall (at 1 ms resolution, test/helpers/stall-meter.ts, and its own 10 ms gauge), and how long its main thread waited for a CPU meanwhile (run-queue wait, from
// /proc: on 2 cores a delay is often that, not the daemon's own work). With --peer, a second
// daemon (127.0.23.2, no services) joins it and the bench prints whether that peer ever suspected
// it. The peer stands for another host, so it runs at CPU niceness 10 (all its threads): at equal
// priority, on a machine with only 2 cores, it takes the daemon's cores while it merges the 10,000
// records. --peer-nice=N sets another niceness (0: the same priority as the daemon). With --listener, every change is also
// POSTed to a webhook receiver on 127.0.0.1 (the whole state in each body), and the bench
// prints when its last POST showed every service ALIVE. Bounded: at most 120 s (and 60 s
// more for the listener). Asserts nothing.
//   node bench/health.ts [N] [interval ms] [--peer] [--peer-nice=N] [--listener]      (default: 10000 3000)
// BENCH_CPU_PROF=DIR writes the daemon's CPU profile (node --cpu-prof) into DIR when it exits;
// BENCH_NODE_OPTIONS adds Node options to the daemon (a preload, V8 flags).
import { spawnSync } from 'node:child_process'
import os from 'node:os'
import path from 'node:path'
import { readFileSync } from 'node:fs'
import { runQueueWaitSeconds } from '../src/lib/event-loop.ts'
import { startReceiver } from '../test/helpers/receiver.ts'
import { describeStall, StallMeter } from '../test/helpers/stall-meter.ts'
import { measureToHealthy, percentile, PROBE_TIMEOUT_MS, startManyServices, startWatchingPeer } from '../test/helpers/many-services.ts'

const args = process.argv.slice(2).filter(a => a !== '--peer' && a !== '--listener' && !a.startsWith('--peer-nice='))
const peerNiceArg = process.argv.find(a => a.startsWith('--peer-nice='))
const peerNice = peerNiceArg === undefined ? 10 : Number(peerNiceArg.slice('--peer-nice='.length))
if (!Number.isInteger(peerNice) || peerNice < 0 || peerNice > 19) throw new Error(`--peer-nice takes a niceness of 0 to 19, not ${JSON.stringify(peerNiceArg)}`)
const withPeer = process.argv.includes('--peer') || peerNiceArg !== undefined
// coreutils' nice starts the peer; where there is none, the peer runs at the daemon's priority, and the bench says so
const niceWorks = !withPeer || peerNice === 0 || spawnSync('nice', ['-n', '1', 'true']).status === 0
if (withPeer && !niceWorks) console.log(`no working \`nice\` command here: the peer runs at the daemon's priority, not at niceness ${peerNice}`)
const peerNiceness = niceWorks ? peerNice : 0
const withListener = process.argv.includes('--listener')
const n = Math.min(10_000, Math.max(1, Number(args[0] ?? 10_000)))
const intervalMs = Math.max(200, Number(args[1] ?? 3000))
const LIMIT_MS = 120_000
const profDir = process.env.BENCH_CPU_PROF
const nodeOptions = [...(profDir !== undefined ? [`--cpu-prof --cpu-prof-dir=${path.resolve(profDir)}`] : []), ...(process.env.BENCH_NODE_OPTIONS !== undefined ? [process.env.BENCH_NODE_OPTIONS] : [])]
// The longest stall at 1 ms resolution (the daemon's gauge samples every 10 ms), from the API's first answer on.
const meter = new StallMeter('bench-health')
const env: Record<string, string> = meter.env(nodeOptions.join(' '))
// --listener: a webhook receiver on 127.0.0.1 that answers at once; every change is POSTed to
// it with the whole state (about 2.5 MB at 10,000 services).
const receiver = withListener ? await startReceiver() : undefined
if (receiver !== undefined) env.LISTENERS_URLS = receiver.url()
/** The peer watches this long after every service is ALIVE: the gossip rounds that repeat the 10,000 changes run then. */
const PEER_WATCH_MS = 10_000

console.log(`node ${process.version}, ${os.cpus().length} cores, load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')} (before)`)
const m = await startManyServices({ ip: '127.0.10.7', hostname: 'bench-health', n, tcpServers: 4, intervalMs, env })
const peer = withPeer ? await startWatchingPeer(m, { ip: '127.0.23.2', hostname: 'bench-peer', limitMs: LIMIT_MS, ...(peerNiceness > 0 ? { nice: peerNiceness } : {}) }) : undefined
try {
  const waitBefore = runQueueWaitSeconds(m.d.child.pid)
  const f = await measureToHealthy(m, n, LIMIT_MS, meter)
  const waitAfter = runQueueWaitSeconds(m.d.child.pid)
  const healthy = f.allHealthyMs === undefined ? `not all within ${LIMIT_MS / 1000} s (${f.alive} ALIVE)` : `${(f.allHealthyMs / 1000).toFixed(1)} s = ${(f.allHealthyMs / intervalMs).toFixed(1)} check intervals`
  console.log(`services ${n}, check interval ${intervalMs} ms`)
  console.log(`time from spawn to all ALIVE: ${healthy}`)
  console.log(`/health while waiting: p50 ${percentile(f.apiMs, 0.5).toFixed(1)} ms, p99 ${percentile(f.apiMs, 0.99).toFixed(1)} ms, max ${Math.max(...f.apiMs).toFixed(1)} ms over ${f.apiMs.length} requests, ${f.apiFailures} failed or over ${PROBE_TIMEOUT_MS / 1000} s`)
  console.log(`daemon's longest event-loop stall (1 ms sampling, from its API's first answer to all ALIVE): ${f.stall === undefined ? '-' : describeStall(f.stall)}; its own gauge (sidecar_nodejs_eventloop_lag_max_seconds, 10 ms sampling: the stall plus up to 10 ms): ${f.maxLoopDelayMs.toFixed(0)} ms; times its heap mode turned optimize-for-size off (sidecar_heap_bursts_total): ${f.heapBursts}`)
  if (waitBefore !== undefined && waitAfter !== undefined) console.log(`daemon main thread waited for a CPU (run queue, /proc schedstat) ${((waitAfter - waitBefore) * 1000).toFixed(0)} ms in total while the bench waited for every service ALIVE${withPeer ? `; the peer runs at niceness ${peerNiceness}` : ''}`)
  if (receiver !== undefined) {
    // The listener catches up: its last POST shows every service ALIVE (bounded: 60 s), while
    // the daemon's event-loop delay is read every 250 ms.
    const until = performance.now() + 60_000
    const aliveIn = (raw: Buffer | undefined): number => raw === undefined
      ? 0
      : Object.values((JSON.parse(raw.toString()) as { State: { Servers: Record<string, { Services: Record<string, { Status: number }> }> } }).State.Servers)
        .reduce((k, server) => k + Object.values(server.Services).filter(svc => svc.Status === 0).length, 0)
    let lagMax = 0
    let caughtUp: number | undefined
    while (performance.now() < until) {
      const lag = /^sidecar_nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(await (await fetch(m.d.url('/metrics'), { signal: AbortSignal.timeout(5000) })).text())?.[1]
      lagMax = Math.max(lagMax, 1000 * Number(lag ?? 0))
      if (aliveIn(receiver.requests.at(-1)?.raw) === n) { caughtUp = performance.now() - m.spawnedAt; break }
      await new Promise(resolve => setTimeout(resolve, 250))
    }
    const last = receiver.requests.at(-1)
    const stall = await meter.read()
    console.log(`listener: ${receiver.requests.length} POSTs, the last ${((last?.raw.length ?? 0) / 1e6).toFixed(1)} MB showing ${aliveIn(last?.raw)} ALIVE; ${caughtUp !== undefined ? `every service ALIVE in a POST ${(caughtUp / 1000).toFixed(1)} s after spawn` : 'not all ALIVE in a POST within 60 s'}; daemon's longest stall meanwhile ${describeStall(stall)} (1 ms sampling), its gauge ${lagMax.toFixed(0)} ms`)
  }
  const view = await peer?.view(PEER_WATCH_MS)
  if (view !== undefined) {
    console.log(`peer 127.0.23.2: ${view.member ? 'holds bench-health as a member' : 'does NOT hold bench-health as a member'}, holds ${view.alive} of its ${n} records ALIVE; suspected or dropped it ${view.suspicions.length} times${view.suspicions.length > 0 ? `:\n  ${view.suspicions.slice(0, 5).join('\n  ')}` : ''}`)
  }
} finally {
  await peer?.close()
  await m.close()
  await receiver?.close()
  await meter.close()
  console.log(`load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')} (after)`)
}
