// One Prometheus registry per daemon (not prom-client's global one), so that several
// daemons in one process (tests) do not collide. Components receive it and register
// their own metrics; the API serves it at /metrics.
import { createRequire } from 'node:module'
import type * as PromClient from 'prom-client'
import { exposition } from './exposition.ts'

const PREFIX = 'sidecar_'
/**
 * prom-client's default gauges whose names end in _total, a suffix Prometheus keeps for
 * counters (`promtool check metrics` rejects them). Dropped: their siblings without _total
 * (labelled by type) hold the same counts; sum them for the total.
 */
export const DROPPED_DEFAULT_METRICS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'].map(n => PREFIX + n)

/** prom-client's default collector of nodejs_gc_duration_seconds, by its name in collectDefaultMetrics.metricsList. */
export const GC_COLLECTOR = 'gc'

type DefaultCollector = (registry: Registry, config: { prefix: string, eventLoopMonitoringPrecision: number }) => void

/** Loads one of prom-client's default collectors by its name in metricsList; throws where it cannot. */
export type CollectorLoader = (name: string) => DefaultCollector

const require = createRequire(import.meta.url)

type PromParts = Pick<typeof PromClient, 'Counter' | 'Gauge' | 'Histogram' | 'Registry' | 'collectDefaultMetrics'>

/**
 * prom-client's classes from their own modules rather than from its index, which also loads its
 * Pushgateway client and with it node:https, Node's TLS stack: with the checks and the webhook
 * listeners loading node:https only for an https: URL, that is about 2.5 MB less RSS per daemon
 * (measured: N = 3 daemons, 101 MB each against 103.5). Like the collectors' modules below, these
 * paths are not its documented API: where one cannot be loaded, the index is.
 */
function loadPromClient (): PromParts {
  try {
    return {
      Registry: require('prom-client/lib/registry.js') as PromParts['Registry'],
      Counter: require('prom-client/lib/counter.js') as PromParts['Counter'],
      Gauge: require('prom-client/lib/gauge.js') as PromParts['Gauge'],
      Histogram: require('prom-client/lib/histogram.js') as PromParts['Histogram'],
      collectDefaultMetrics: require('prom-client/lib/defaultMetrics.js') as PromParts['collectDefaultMetrics'],
    }
  } catch {
    return require('prom-client') as PromParts
  }
}

const { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } = loadPromClient()
type Counter<L extends string> = PromClient.Counter<L>
type Gauge<L extends string> = PromClient.Gauge<L>
type Histogram<L extends string> = PromClient.Histogram<L>
type Registry = PromClient.Registry

const loadFromPromClient: CollectorLoader = (name) => {
  const collect: unknown = require(`prom-client/lib/metrics/${name}.js`)
  if (typeof collect !== 'function') throw new TypeError(`prom-client/lib/metrics/${name}.js is not a collector`)
  return collect as DefaultCollector
}

/**
 * prom-client's default collectors but the gc one. That one connects a perf_hooks observer of gc
 * entries, and while one is connected Node builds an entry for every collection, scavenges
 * included, about 5 KB each that outlives the young generation: under proxy load they brought on
 * a full collection every 20-40 s, and with it the proxy's slowest requests (see
 * src/lib/heap-mode.ts). collectDefaultMetrics cannot leave one out, so the others are called one
 * by one, from the modules its metricsList names (lib/metrics/<name>.js): a collector a later
 * prom-client adds is called too, and a test checks the result against collectDefaultMetrics'.
 * Those modules are not prom-client's documented API (the package range allows a later 15.x that
 * moves them): false when one cannot be loaded, before anything is registered, and the caller
 * falls back to collectDefaultMetrics, the gc histogram included, rather than fail to start.
 */
export function collectDefaultsButGc (registry: Registry, load: CollectorLoader = loadFromPromClient): boolean {
  let collectors: DefaultCollector[]
  try {
    collectors = collectDefaultMetrics.metricsList.filter(name => name !== GC_COLLECTOR).map(load)
  } catch {
    return false
  }
  for (const collect of collectors) collect(registry, { prefix: PREFIX, eventLoopMonitoringPrecision: 10 }) // collectDefaultMetrics' own default precision
  return true
}

export class Metrics {
  readonly registry = new Registry()

  /**
   * defaultMetrics (default true): prom-client's process and Node.js metrics. gcDurations
   * (default false, [api] gc_metrics): with them, nodejs_gc_duration_seconds.
   */
  constructor (opts: { defaultMetrics?: boolean, gcDurations?: boolean } = {}) {
    if (opts.defaultMetrics ?? true) {
      if (opts.gcDurations === true || !collectDefaultsButGc(this.registry)) collectDefaultMetrics({ register: this.registry, prefix: PREFIX })
      for (const name of DROPPED_DEFAULT_METRICS) this.registry.removeSingleMetric(name)
    }
  }

  /** collect: called when scraped, to set the values (see gauge). */
  counter<L extends string = string> (name: string, help: string, labelNames: readonly L[] = [], collect?: (this: Counter<L>) => void): Counter<L> {
    return this.#get(name) as Counter<L> | undefined ?? new Counter({ name, help, labelNames, registers: [this.registry], ...(collect !== undefined ? { collect } : {}) })
  }

  gauge<L extends string = string> (name: string, help: string, labelNames: readonly L[] = [], collect?: (this: Gauge<L>) => void): Gauge<L> {
    return this.#get(name) as Gauge<L> | undefined ?? new Gauge({ name, help, labelNames, registers: [this.registry], ...(collect !== undefined ? { collect } : {}) })
  }

  histogram<L extends string = string> (name: string, help: string, buckets: number[], labelNames: readonly L[] = []): Histogram<L> {
    return this.#get(name) as Histogram<L> | undefined ?? new Histogram({ name, help, buckets, labelNames, registers: [this.registry] })
  }

  /**
   * A collector of its own (name, help, type, get() as prom-client's metrics have), for
   * series counted elsewhere and read when scraped. A second one by the same name replaces
   * the first (a component made again on the same registry, in tests).
   */
  register (metric: { name: string, help: string, type: string, get: () => Promise<unknown> }): void {
    this.registry.removeSingleMetric(metric.name)
    this.registry.registerMetric(metric as unknown as Parameters<Registry['registerMetric']>[0])
  }

  /** The text exposition format, written in time slices (exposition.ts): a scrape never holds the event loop long. */
  async parts (): Promise<Buffer[]> { return await exposition(this.registry) }

  /** The same as one string. */
  async text (): Promise<string> { return Buffer.concat(await this.parts()).toString() }

  get contentType (): string { return this.registry.contentType }

  #get (name: string): unknown { return this.registry.getSingleMetric(name) }
}
