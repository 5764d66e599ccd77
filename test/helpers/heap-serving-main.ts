// Child process of test/unit/lib/heap-mode.test.ts, started with bin/sidecar.js's heap flags.
// Builds a live set of about 30 MB (a daemon's heap under the proxy benchmark), then does what
// proxy load does to the heap: per "request" some short-lived garbage, and the state of
// "connections" (with a buffer each) that outlive the young generation and die a second or two
// later. HeapMode watches with a proxy whose counts move with that load ('serving'); with that
// load and, from a quarter of it on, 40 MB held across full collections and dropped as it ends,
// as a gossip flood's caches are ('flood'); with a trickle of requests (about 25 a second, 'trickle'); or
// with no proxy ('none'). Prints one JSON line: full collections during the load, the growing
// percent set during it and whether optimize-for-size was off, the percent and the flag once the
// proxy has been idle longer than the (shortened) idle time, the heap in use then, and what
// HeapMode said.
import { constants, PerformanceObserver } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { getHeapStatistics } from 'node:v8'
import { pino } from 'pino'
import { HeapMode } from '../../src/lib/heap-mode.ts'
import { Metrics } from '../../src/lib/metrics.ts'

const kind = process.argv[2] as 'serving' | 'flood' | 'trickle' | 'none'
const LOAD_MS = Number(process.argv[3] ?? 4000)
/** HeapMode's idle time, shortened: long enough that a load starved for a moment on a busy machine still counts as load. */
const IDLE_MS = 2500
const said: string[] = []
const logger = pino({ level: 'debug' }, { write: (line: string) => { said.push((JSON.parse(line) as { msg: string }).msg) } })

// the live set first, before HeapMode watches (its growth is not what is measured)
const live: unknown[] = []
for (let i = 0; i < 60_000; i++) live.push({ id: `svc-${i}`, tags: [i, i + 1], pad: `${i}`.padEnd(200, '.') })
await sleep(200)

let finished = 0
const metrics = new Metrics()
const mode = new HeapMode({ logger, metrics, proxy: kind === 'none' ? undefined : () => ({ finished, inFlight: 0 }) }, { managed: process.execArgv.includes('--optimize-for-size'), servingPollMs: 100, servingIdleMs: IDLE_MS })
await mode.start()
let majors = 0
const observer = new PerformanceObserver(list => { for (const e of list.getEntries()) if ((e as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) majors++ })
observer.observe({ entryTypes: ['gc'] })

// batches of 20 requests every 10 ms or so, each leaving 6 KB of garbage and replacing one of 2,000 connections' 2 KB
// buffer: a connection lives about 2 s, many young collections
const conns: unknown[] = Array.from({ length: 2000 }, () => null)
let percentDuring = 0
let sizeFlagOffDuring = false
let held: unknown[] = []
const begun = Date.now()
const end = begun + LOAD_MS
for (let n = 0; Date.now() < end; n++) {
  for (let i = 0; i < 20; i++) {
    JSON.parse(JSON.stringify({ head: 'x'.repeat(2000), n }))
    conns[(n * 20 + i) % conns.length] = { buf: Buffer.alloc(2048), at: n }
    finished += kind !== 'trickle' || (i === 0 && n % 4 === 0) ? 1 : 0
  }
  // the flood's 40 MB: held from a quarter of the load on, across its full collections
  if (kind === 'flood' && held.length === 0 && Date.now() - begun >= LOAD_MS / 4) for (let i = 0; i < 150_000; i++) held.push({ id: `flood-${i}`, pad: `${i}`.padEnd(200, '.') })
  if (n === 50) majors = 0 // from here on: the percent is set (polled every 100 ms)
  await sleep(10)
  percentDuring = Math.max(percentDuring, mode.growingPercent)
  sizeFlagOffDuring ||= !mode.optimizeForSize
}
const during = majors
conns.fill(null)
held = [] // garbage as the load ends (gossipsub's caches expire minutes after a flood): nothing allocates to collect it
await sleep(IDLE_MS + 600) // idle for longer than servingIdleMs
const text = await metrics.text()
console.log(JSON.stringify({
  majors: during, percentDuring, percentAfter: mode.growingPercent, sizeFlagOffDuring, sizeFlagAfter: mode.optimizeForSize, usedMB: Math.round(getHeapStatistics().used_heap_size / 1048576), held: held.length,
  gauge: text.match(/^sidecar_heap_growing_percent (\d+)$/m)?.[1], sizeGauge: text.match(/^sidecar_heap_optimize_for_size (\d+)$/m)?.[1], said, live: live.length,
}))
observer.disconnect()
await mode.stop()
