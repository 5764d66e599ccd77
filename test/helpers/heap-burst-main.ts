// Child process of test/unit/lib/heap-mode.test.ts, started with bin/sidecar.js's heap flags:
// grows the heap by ~200 MB of retained objects (as a join pull does) with garbage in between,
// with HeapMode watching ('on') or not ('off'), then waits for the heap to settle. Prints one
// JSON line: full collections during the growth, the mode during it and after the wait.
import { constants, PerformanceObserver } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { HeapMode } from '../../src/lib/heap-mode.ts'
import { silentLogger } from '../../src/lib/logger.ts'
import { Metrics } from '../../src/lib/metrics.ts'

const watching = process.argv[2] === 'on'
const mode = new HeapMode({ logger: silentLogger(), metrics: new Metrics() }, { managed: watching && process.execArgv.includes('--optimize-for-size'), quietMs: 1000 })
await mode.start()
let majors = 0
const observer = new PerformanceObserver(list => { for (const e of list.getEntries()) if ((e as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) majors++ })
observer.observe({ entryTypes: ['gc'] })
const keep: unknown[] = []
let sawThroughput = false
for (let i = 0; i < 400_000; i++) {
  keep.push({ id: `x${i}`, name: `svc-${i}-${'-'.repeat(50)}`, ports: [{ port: i, ip: '127.0.0.1' }], s: JSON.stringify({ a: i, b: 'y'.repeat(100) }) })
  JSON.parse(JSON.stringify({ garbage: 'z'.repeat(200), n: i }))
  if (i % 20_000 === 0) { await sleep(1); sawThroughput ||= mode.mode === 'throughput' } // lets the gc entries arrive
}
await sleep(50)
const during = majors
sawThroughput ||= mode.mode === 'throughput'
keep.length = 0
await sleep(2500)
console.log(JSON.stringify({ majors: during, sawThroughput, after: mode.mode }))
observer.disconnect()
await mode.stop()
