// Child process of test/unit/lib/heap-mode.test.ts, started with bin/sidecar.js's heap flags,
// with HeapMode watching ('on') or not ('off'). Prints one JSON line: full collections during
// the work, whether the mode was 'throughput' at any time during it, and the mode after a wait.
// Work 'growth' (default): grows the heap by ~200 MB of retained objects (as a join pull does)
// with garbage in between. Work 'flood': what a flood of hostile gossip does: batches of a few
// MB decoded, held across a few turns of the event loop while they are judged, then dropped, so
// the heap in use swings by several MB from one full collection to the next but nothing stays.
import { constants, PerformanceObserver } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { HeapMode } from '../../src/lib/heap-mode.ts'
import { pino } from 'pino'
import { Metrics } from '../../src/lib/metrics.ts'

const watching = process.argv[2] === 'on'
const work = process.argv[3] === 'flood' ? 'flood' : 'growth'
// what HeapMode says when it changes the flag (debug lines), printed with the result
const said: string[] = []
const logger = pino({ level: 'debug' }, { write: (line: string) => { said.push((JSON.parse(line) as { msg: string }).msg) } })
// 'serving' (4th argument): a proxy whose counts move all along, as under steady traffic
let finished = 0
const proxy = process.argv[4] === 'serving' ? () => { finished += 1000; return { finished, inFlight: 0 } } : undefined
const mode = new HeapMode({ logger, metrics: new Metrics(), proxy }, { managed: watching && process.execArgv.includes('--optimize-for-size'), quietMs: 1000, servingPollMs: 50 })
await mode.start()
let majors = 0
const observer = new PerformanceObserver(list => { for (const e of list.getEntries()) if ((e as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) majors++ })
observer.observe({ entryTypes: ['gc'] })
let sawThroughput = false
/** Flood only: time spent in 'throughput' mode (sampled at each turn), in all and in the longest stretch. */
let throughputMs = 0
let longestMs = 0
let stretch = 0
/** The growing percent HeapMode had set at a moment it was in 'throughput' mode (the highest seen), and in 'small' mode. */
let percentInBurst = 0
let percentSmall = 0
const sample = (): void => {
  if (mode.mode === 'throughput') percentInBurst = Math.max(percentInBurst, mode.growingPercent)
  else percentSmall = Math.max(percentSmall, mode.growingPercent)
}
const sampler = setInterval(sample, 5)
if (work === 'growth') {
  const keep: unknown[] = []
  for (let i = 0; i < 400_000; i++) {
    keep.push({ id: `x${i}`, name: `svc-${i}-${'-'.repeat(50)}`, ports: [{ port: i, ip: '127.0.0.1' }], s: JSON.stringify({ a: i, b: 'y'.repeat(100) }) })
    JSON.parse(JSON.stringify({ garbage: 'z'.repeat(200), n: i }))
    if (i % 20_000 === 0) { await sleep(1); sawThroughput ||= mode.mode === 'throughput'; sample() } // lets the gc entries arrive
  }
  await sleep(50)
  sawThroughput ||= mode.mode === 'throughput'
  keep.length = 0
} else {
  // batches of 2,000-40,000 records (0.5-10 MB) judged over 1-4 turns each, 8 s in all; nothing kept between batches; the
  // time in 'throughput' mode is summed from one turn to the next
  let seed = 7
  const rand = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n }
  const end = Date.now() + 8000
  let sampled = performance.now()
  for (let b = 0; Date.now() < end; b++) {
    const n = 2000 + rand(38_000)
    const batch = Array.from({ length: n }, (_, i) => JSON.parse(JSON.stringify({ id: `h${b}-${i}`, name: `svc-${i}`, ports: [{ port: i, ip: '127.0.0.1' }], pad: 'q'.repeat(120) })) as unknown)
    for (let turns = 1 + rand(4); turns > 0; turns--) {
      await sleep(1)
      const now = performance.now()
      if (mode.mode === 'throughput') {
        sawThroughput = true
        throughputMs += now - sampled
        stretch += now - sampled
        longestMs = Math.max(longestMs, stretch)
      } else {
        stretch = 0
      }
      sampled = now
    }
    if (batch.length !== n) throw new Error('unreachable')
  }
  await sleep(50)
  sawThroughput ||= mode.mode === 'throughput'
}
const during = majors
await sleep(2500)
sample()
clearInterval(sampler)
console.log(JSON.stringify({ majors: during, percentInBurst, percentSmall, percentAfter: mode.growingPercent, sawThroughput, throughputMs: Math.round(throughputMs), longestMs: Math.round(longestMs), after: mode.mode, said }))
observer.disconnect()
await mode.stop()
