// One Prometheus registry per daemon (not prom-client's global one), so that several
// daemons in one process (tests) do not collide. Components receive it and register
// their own metrics; the API serves it at /metrics.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'

const PREFIX = 'sidecar_'
/**
 * prom-client's default gauges whose names end in _total, a suffix Prometheus keeps for
 * counters (`promtool check metrics` rejects them). Dropped: their siblings without _total
 * (labelled by type) hold the same counts; sum them for the total.
 */
export const DROPPED_DEFAULT_METRICS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'].map(n => PREFIX + n)

export class Metrics {
  readonly registry = new Registry()

  constructor (opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics ?? true) {
      collectDefaultMetrics({ register: this.registry, prefix: PREFIX })
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

  /** The text exposition format. */
  async text (): Promise<string> { return await this.registry.metrics() }

  get contentType (): string { return this.registry.contentType }

  #get (name: string): unknown { return this.registry.getSingleMetric(name) }
}
