// Counters of one listener, kept both as plain numbers (for /api/proxy.json) and in the
// daemon's Prometheus registry (for /metrics). Label children are resolved once per
// listener, so the per-request cost is a few increments.
import type { Counter, Gauge, Histogram } from 'prom-client'
import type { Metrics } from '../lib/metrics.ts'

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
const CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const

type Labels = 'service' | 'port'
/** Why the proxy refused a client (the `reason` label of sidecar_proxy_rejections_total). */
export const REJECTIONS = ['bad request', 'head too large', 'header timeout', 'connection cap'] as const
export type Rejection = typeof REJECTIONS[number]
/** Rejections are logged at most once per this period per listener, with the count since the last line. */
const REJECTION_LOG_MS = 10_000

/** Where rejection lines go (a warn-level logger). */
export type RejectionLog = (line: string) => void

/** The metric families, registered once per daemon. */
export class ProxyMetrics {
  readonly requests: Counter<Labels | 'code'>
  readonly duration: Histogram<Labels>
  readonly retries: Counter<Labels>
  readonly ejections: Counter<Labels>
  readonly connections: Counter<Labels>
  readonly inFlight: Gauge<Labels>
  readonly rejections: Counter<Labels | 'reason'>

  constructor (metrics: Metrics) {
    this.requests = metrics.counter('sidecar_proxy_requests_total', 'Requests proxied by response class; "error": no response, "tcp": tcp-mode connections', ['service', 'port', 'code'])
    this.duration = metrics.histogram('sidecar_proxy_request_duration_seconds', 'Time from request to the end of its response (tcp: connection lifetime)', LATENCY_BUCKETS, ['service', 'port'])
    this.retries = metrics.counter('sidecar_proxy_retries_total', 'Requests or connections sent again to another backend', ['service', 'port'])
    this.ejections = metrics.counter('sidecar_proxy_ejections_total', 'Backends ejected by passive health checking', ['service', 'port'])
    this.connections = metrics.counter('sidecar_proxy_connections_total', 'Client connections accepted', ['service', 'port'])
    this.rejections = metrics.counter('sidecar_proxy_rejections_total', 'Client requests or connections refused by the proxy itself: bad request (400), head too large (431), header timeout (408), connection cap', ['service', 'port', 'reason'])
    const tracked = this.#tracked
    this.inFlight = metrics.gauge('sidecar_proxy_in_flight', 'Requests (and tcp connections) in progress', ['service', 'port'], function () {
      this.reset()
      for (const [key, stats] of tracked) {
        const [service, port] = key.split('\u0000')
        this.set({ service, port }, stats.inFlight)
      }
    })
  }

  readonly #tracked = new Map<string, { readonly inFlight: number }>()

  /** The listener now on (service, port) provides the in-flight gauge's value. */
  track (service: string, port: string, stats: { readonly inFlight: number }): void {
    this.#tracked.set(`${service}\u0000${port}`, stats)
  }

  /**
   * A closed listener's series go away (names come from gossip: a departed service must not
   * leave series behind forever), unless another listener took its place.
   */
  untrack (service: string, port: string, stats: { readonly inFlight: number }): void {
    const key = `${service}\u0000${port}`
    if (this.#tracked.has(key) && this.#tracked.get(key) !== stats) return
    this.#tracked.delete(key)
    for (const c of [...CLASSES, 'error', 'tcp']) this.requests.remove(service, port, c)
    for (const r of REJECTIONS) this.rejections.remove(service, port, r)
    this.duration.remove(service, port)
    this.retries.remove(service, port)
    this.ejections.remove(service, port)
    this.connections.remove(service, port)
  }
}

export class ListenerStats {
  requests = 0
  errors = 0
  retries = 0
  ejections = 0
  connections = 0
  inFlight = 0
  readonly #byClass: Array<{ inc: () => void }>
  readonly #error: { inc: () => void }
  readonly #tcp: { inc: () => void }
  readonly #duration: { observe: (v: number) => void }
  readonly #retries: { inc: () => void }
  readonly #ejections: { inc: () => void }
  readonly #connections: { inc: () => void }
  readonly #rejections: Map<string, { inc: () => void }>
  readonly #log: RejectionLog
  readonly #label: string
  rejected = 0
  #unlogged = 0
  #lastLogMs = -Infinity

  constructor (m: ProxyMetrics | undefined, service: string, port: number, log: RejectionLog = () => {}) {
    this.#log = log
    this.#label = `${service}:${port}`
    const p = String(port)
    const noop = { inc: () => {}, observe: () => {} }
    this.#byClass = CLASSES.map(c => m?.requests.labels(service, p, c) ?? noop)
    this.#error = m?.requests.labels(service, p, 'error') ?? noop
    this.#tcp = m?.requests.labels(service, p, 'tcp') ?? noop
    this.#duration = m?.duration.labels(service, p) ?? noop
    this.#retries = m?.retries.labels(service, p) ?? noop
    this.#ejections = m?.ejections.labels(service, p) ?? noop
    this.#connections = m?.connections.labels(service, p) ?? noop
    this.#rejections = new Map(REJECTIONS.map(r => [r, m?.rejections.labels(service, p, r) ?? noop]))
    // the gauge reads inFlight when scraped (see ProxyMetrics.track): no per-request label lookups
    m?.track(service, p, this)
  }

  begin (): void { this.inFlight++ }

  /** status 0: a tcp connection (or, with failed, a request that got no response). */
  end (status: number, seconds: number, failed: boolean): void {
    this.inFlight--
    this.requests++
    if (failed) {
      this.errors++
      this.#error.inc()
    } else if (status >= 100 && status < 600) {
      this.#byClass[Math.floor(status / 100) - 1].inc()
    } else {
      this.#tcp.inc()
    }
    this.#duration.observe(seconds)
  }

  retry (): void { this.retries++; this.#retries.inc() }
  ejection (): void { this.ejections++; this.#ejections.inc() }
  connection (): void { this.connections++; this.#connections.inc() }

  /** A refused client: counted, and logged rate-limited (a flood must not flood the log). */
  reject (reason: Rejection, detail: string, nowMs = Date.now()): void {
    this.rejected++
    this.#rejections.get(reason)?.inc()
    this.#unlogged++
    if (nowMs - this.#lastLogMs < REJECTION_LOG_MS) return
    this.#log(`${this.#label}: refused ${this.#unlogged} client request(s) or connection(s) since the last such line (at most one per ${REJECTION_LOG_MS / 1000} s); latest: ${reason}: ${detail}`)
    this.#lastLogMs = nowMs
    this.#unlogged = 0
  }
}
