// The event loop's delay, as Prometheus gauges: the longest and the 99th percentile delay
// since the previous scrape (perf_hooks.monitorEventLoopDelay), so a stall of any cause
// (a large merge, a big document, a slow consumer) is visible in /metrics. On Linux also the
// time the main thread (the event loop's) was ready to run but waited for a CPU, from the
// kernel's scheduler statistics: a delay while that grows is the host's CPU busy with other
// work (other processes, the daemon's own worker threads), not a long task of the daemon. On
// a 2-core machine with a second daemon starting beside it, most of each delay of 45 ms or
// more was that wait (bench/health.ts prints it).
import { readFileSync } from 'node:fs'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import type { Metrics } from './metrics.ts'
import type { Startable } from './startable.ts'

/** Sampling resolution: a 10 ms timer, the finest that costs nothing measurable. */
const RESOLUTION_MS = 10

type IntervalHistogram = ReturnType<typeof monitorEventLoopDelay>

/**
 * Seconds a thread has waited on a run queue since it began (the second field of its
 * schedstat file in /proc, in ns): the calling thread's, or with pid, that process's main
 * thread's (its thread ID is its PID). undefined where the kernel gives no such file (not
 * Linux, scheduler statistics left out of the kernel, or no such process).
 */
export function runQueueWaitSeconds (pid?: number): number | undefined {
  try {
    const file = pid === undefined ? '/proc/thread-self/schedstat' : `/proc/${pid}/task/${pid}/schedstat`
    const wait = Number(readFileSync(file, 'utf8').split(' ')[1])
    return Number.isFinite(wait) ? wait / 1e9 : undefined
  } catch {
    return undefined
  }
}

export class EventLoopMonitor implements Startable {
  #histogram: IntervalHistogram | undefined

  constructor (components: { metrics: Metrics }) {
    const reset = (): void => { this.#histogram?.reset() } // an arrow: the gauges' collect() binds its own this
    const read = (pick: (h: IntervalHistogram) => number): number => {
      const h = this.#histogram
      return h === undefined || h.count === 0 ? 0 : pick(h) / 1e9
    }
    components.metrics.gauge('sidecar_event_loop_delay_max_seconds', 'longest event-loop delay since the previous scrape (sampled every 10 ms, as the time between two samples: a stall of d ms reads as d to d + 10 ms)', [], function () {
      this.set(read(h => h.max))
    })
    // Registered after max: prom-client collects in registration order, so both read one period, then it restarts.
    components.metrics.gauge('sidecar_event_loop_delay_p99_seconds', '99th percentile event-loop delay since the previous scrape (sampled every 10 ms)', [], function () {
      this.set(read(h => h.percentile(99)))
      reset()
    })
    // read when scraped, on the main thread (the API's): /proc/thread-self is the event loop's thread
    if (runQueueWaitSeconds() !== undefined) {
      let counted = 0
      components.metrics.counter('sidecar_event_loop_cpu_wait_seconds_total', 'time the main thread (the event loop) was ready to run but waited for a CPU (Linux scheduler statistics): event-loop delay while this grows is the CPU busy with other work, not a long task of the daemon', [], function () {
        const now = runQueueWaitSeconds()
        if (now === undefined || now <= counted) return
        this.inc(now - counted)
        counted = now
      })
    }
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
