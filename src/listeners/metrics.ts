// The listeners' Prometheus series, labelled by listener name. A discovered listener's
// series are removed with it, so their number follows the services on this host.
import type { Counter } from 'prom-client'
import type { Metrics } from '../lib/metrics.ts'

export type DropReason = 'coalesced' | 'retries_exhausted'

export class ListenerMetrics {
  readonly #deliveries: Counter<'listener'>
  readonly #failures: Counter<'listener'>
  readonly #drops: Counter<'listener' | 'reason'>

  constructor (metrics: Metrics, depths: () => Iterable<readonly [name: string, depth: number]>) {
    this.#deliveries = metrics.counter('sidecar_listener_deliveries_total', 'Events a listener acknowledged with a 2xx response', ['listener'])
    this.#failures = metrics.counter('sidecar_listener_failures_total', 'Failed POST attempts (error status, timeout, connection error); each retry counts', ['listener'])
    this.#drops = metrics.counter('sidecar_listener_drops_total', 'Events a listener never got: coalesced away from a full queue, or retries exhausted', ['listener', 'reason'])
    metrics.gauge('sidecar_listener_queue_depth', 'Events waiting to be sent to a listener', ['listener'], function () {
      this.reset()
      for (const [name, depth] of depths()) this.set({ listener: name }, depth)
    })
  }

  delivered (listener: string): void { this.#deliveries.inc({ listener }) }

  attemptFailed (listener: string): void { this.#failures.inc({ listener }) }

  dropped (listener: string, reason: DropReason): void { this.#drops.inc({ listener, reason }) }

  /** Removes a listener's series (it was removed). */
  forget (listener: string): void {
    this.#deliveries.remove({ listener })
    this.#failures.remove({ listener })
    for (const reason of ['coalesced', 'retries_exhausted'] as const) this.#drops.remove({ listener, reason })
  }
}
