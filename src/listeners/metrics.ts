// The listeners' Prometheus series, labelled by listener name. A discovered listener's
// series are removed with it, so their number follows the services on this host.
import type { Counter } from 'prom-client'
import type { Metrics } from '../lib/metrics.ts'

/** What the scrape reads of each listener. */
export interface ListenerCounts {
  readonly name: string
  readonly queueDepth: number
  /** Events coalesced away from its full queue so far. */
  readonly coalesced: number
  /** Events dropped after every retry failed so far. */
  readonly gaveUp: number
}

export class ListenerMetrics {
  readonly #deliveries: Counter<'listener'>
  readonly #failures: Counter<'listener'>

  /**
   * The drops are read from each listener's own counts when scraped, not counted here: a
   * coalesced event is one per listener for each change while a queue is full, inside the
   * catalog operation, and prom-client's labelled inc() (0.7 µs) was a third of what 300
   * listeners cost a change (1,000 changes: 0.2 s of 0.55).
   */
  /** backlog: changes not yet handed to every listener. */
  constructor (metrics: Metrics, listeners: () => Iterable<ListenerCounts>, backlog: () => number) {
    this.#deliveries = metrics.counter('sidecar_listener_deliveries_total', 'Events a listener acknowledged with a 2xx response', ['listener'])
    this.#failures = metrics.counter('sidecar_listener_failures_total', 'Failed POST attempts (error status, timeout, connection error); each retry counts', ['listener'])
    metrics.counter('sidecar_listener_drops_total', 'Events a listener never got: coalesced away from a full queue, or retries exhausted', ['listener', 'reason'], function () {
      this.reset()
      for (const l of listeners()) {
        if (l.coalesced > 0) this.inc({ listener: l.name, reason: 'coalesced' }, l.coalesced)
        if (l.gaveUp > 0) this.inc({ listener: l.name, reason: 'retries_exhausted' }, l.gaveUp)
      }
    })
    metrics.gauge('sidecar_listener_backlog', 'Catalog changes not yet handed to every listener (each goes to the listeners\' queues, in order, in time slices after the catalog operation that made it)', [], function () {
      this.set(backlog())
    })
    metrics.gauge('sidecar_listener_queue_depth', 'Events waiting to be sent to a listener', ['listener'], function () {
      this.reset()
      for (const l of listeners()) this.set({ listener: l.name }, l.queueDepth)
    })
  }

  delivered (listener: string): void { this.#deliveries.inc({ listener }) }

  attemptFailed (listener: string): void { this.#failures.inc({ listener }) }

  /** Removes a listener's series (it was removed; its drops and depth go as it is no longer listed). */
  forget (listener: string): void {
    this.#deliveries.remove({ listener })
    this.#failures.remove({ listener })
  }
}
