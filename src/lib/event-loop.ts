// The event loop's delay, as Prometheus gauges: the longest and the 99th percentile delay
// since the previous scrape (perf_hooks.monitorEventLoopDelay), so a stall of any cause
// (a large merge, a big document, a slow consumer) is visible in /metrics.
import { monitorEventLoopDelay } from 'node:perf_hooks'
import type { Metrics } from './metrics.ts'
import type { Startable } from './startable.ts'

/** Sampling resolution: a 10 ms timer, the finest that costs nothing measurable. */
const RESOLUTION_MS = 10

type IntervalHistogram = ReturnType<typeof monitorEventLoopDelay>

export class EventLoopMonitor implements Startable {
  #histogram: IntervalHistogram | undefined

  constructor (components: { metrics: Metrics }) {
    const reset = (): void => { this.#histogram?.reset() } // an arrow: the gauges' collect() binds its own this
    const read = (pick: (h: IntervalHistogram) => number): number => {
      const h = this.#histogram
      return h === undefined || h.count === 0 ? 0 : pick(h) / 1e9
    }
    components.metrics.gauge('sidecar_event_loop_delay_max_seconds', 'longest event-loop delay since the previous scrape (sampled every 10 ms)', [], function () {
      this.set(read(h => h.max))
    })
    // Registered after max: prom-client collects in registration order, so both read one period, then it restarts.
    components.metrics.gauge('sidecar_event_loop_delay_p99_seconds', '99th percentile event-loop delay since the previous scrape (sampled every 10 ms)', [], function () {
      this.set(read(h => h.percentile(99)))
      reset()
    })
  }

  /** Idempotent. */
  async start (): Promise<void> {
    if (this.#histogram !== undefined) return
    this.#histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS })
    this.#histogram.enable()
  }

  async stop (): Promise<void> {
    this.#histogram?.disable()
    this.#histogram = undefined
  }
}
