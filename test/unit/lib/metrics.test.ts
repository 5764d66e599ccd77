// The daemon's metrics registry: prom-client's default metrics without nodejs_gc_duration_seconds
// unless asked ([api] gc_metrics), since its perf_hooks observer makes Node build an entry for
// every collection; nothing else of the defaults is lost, and no gc observer is connected.
import { PerformanceObserver } from 'node:perf_hooks'
import test from 'ava'
import { collectDefaultMetrics, Registry } from 'prom-client'
import { HeapMode } from '../../../src/lib/heap-mode.ts'
import { collectDefaultsButGc, DROPPED_DEFAULT_METRICS, Metrics } from '../../../src/lib/metrics.ts'
import { silentLogger } from '../../../src/lib/logger.ts'

const GC = 'sidecar_nodejs_gc_duration_seconds'
const names = (registry: Registry): string[] => registry.getMetricsAsArray().map(m => m.name).sort()

/** The entry types of every perf_hooks observer connected while fn runs. */
async function observed (fn: () => Promise<void> | void): Promise<string[]> {
  const types: string[] = []
  const observe = PerformanceObserver.prototype.observe
  PerformanceObserver.prototype.observe = function (this: PerformanceObserver, options) {
    types.push(...('entryTypes' in options ? options.entryTypes : [options.type]))
    observe.call(this, options)
  }
  try { await fn() } finally { PerformanceObserver.prototype.observe = observe }
  return types
}

test('metrics: the defaults are prom-client\'s, less nodejs_gc_duration_seconds unless gcDurations', t => {
  const all = new Registry()
  collectDefaultMetrics({ register: all, prefix: 'sidecar_' })
  const want = names(all).filter(n => !DROPPED_DEFAULT_METRICS.includes(n))
  t.true(want.includes(GC))
  t.true(want.length > 10)
  t.deepEqual(names(new Metrics().registry), want.filter(n => n !== GC))
  t.deepEqual(names(new Metrics({ gcDurations: true }).registry), want)
  t.deepEqual(names(new Metrics({ defaultMetrics: false }).registry), [])
})

test.serial('metrics: without gcDurations the scrape works and no observer of gc entries is connected (heap-mode neither)', async t => {
  let metrics: Metrics | undefined
  const mode = new HeapMode({ logger: silentLogger(), metrics: new Metrics({ defaultMetrics: false }) }, { managed: true })
  const types = await observed(async () => {
    metrics = new Metrics()
    await mode.start()
  })
  await mode.stop()
  t.deepEqual(types.filter(x => x === 'gc'), [])
  const text = await (metrics as Metrics).text()
  t.regex(text, /^sidecar_process_cpu_seconds_total \d/m)
  t.regex(text, /^sidecar_nodejs_eventloop_lag_p99_seconds /m)
  t.notRegex(text, /nodejs_gc_duration_seconds/)
})

test.serial('metrics: with gcDurations, prom-client\'s gc observer is connected and its histogram scraped', async t => {
  let metrics: Metrics | undefined
  const types = await observed(() => { metrics = new Metrics({ gcDurations: true }) })
  t.deepEqual(types.filter(x => x === 'gc'), ['gc'])
  t.regex(await (metrics as Metrics).text(), /^# TYPE sidecar_nodejs_gc_duration_seconds histogram/m)
})

test('metrics: where a prom-client collector cannot be loaded (a later prom-client moved them), nothing is half-registered and the caller gets false', t => {
  const registry = new Registry()
  let loaded = 0
  const ok = collectDefaultsButGc(registry, (name) => {
    if (++loaded === 3) throw new Error(`Cannot find module 'prom-client/lib/metrics/${name}.js'`)
    return () => { t.fail('a collector ran before every one was loaded') }
  })
  t.false(ok)
  t.is(loaded, 3)
  t.deepEqual(names(registry), [])
  t.true(collectDefaultsButGc(new Registry()), 'the installed prom-client\'s collectors load')
})
