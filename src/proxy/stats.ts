// Counters of one listener, kept both as plain numbers (for /api/proxy.json) and in the
// daemon's Prometheus registry (for /metrics). The per-request series (requests by class,
// the duration histogram) and the accepted connections are counted in plain numbers and read
// when /metrics is scraped: prom-client hashes the label set on every inc() and observe(),
// which with the garbage it leaves was a measurable share of a proxied request (and of a
// client's connection, where clients do not keep them). Rare events (retries, ejections,
// rejections) go to prom-client children directly.
import type { Counter, Gauge } from 'prom-client'
import { LogThrottle } from '../lib/log-throttle.ts'
import type { Metrics } from '../lib/metrics.ts'
import { bulkSocketCount, MAX_BULK_SOCKETS } from './read-buffer.ts'

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
const CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const

type Labels = 'service' | 'port'
const DURATION = 'sidecar_proxy_request_duration_seconds'
/** Response classes, then "error" (no response) and "tcp" (tcp-mode connections): the code label of sidecar_proxy_requests_total. */
const CODES = [...CLASSES, 'error', 'tcp'] as const
const ERROR = CLASSES.length
const TCP = CLASSES.length + 1

/** What a listener counts for the per-request series (kept across a listener's replacement, see ProxyMetrics.track). */
export class RequestCounts {
  /** Requests by code (CODES order). */
  readonly byCode = new Array<number>(CODES.length).fill(0)
  /** Durations by bucket (LATENCY_BUCKETS order, not cumulative; the last one is +Inf). */
  readonly buckets = new Array<number>(LATENCY_BUCKETS.length + 1).fill(0)
  sum = 0
  count = 0
  /** Client connections accepted. */
  connections = 0

  add (o: RequestCounts): void {
    this.connections += o.connections
    for (let i = 0; i < this.byCode.length; i++) this.byCode[i] += o.byCode[i]
    for (let i = 0; i < this.buckets.length; i++) this.buckets[i] += o.buckets[i]
    this.sum += o.sum
    this.count += o.count
  }
}

/** A tracked listener as the metrics read it. */
interface Tracked { readonly inFlight: number, readonly counts: RequestCounts }
/**
 * The listener on each (service, port), by trackKey(), with its labels as they were given: a
 * service name comes from gossip and may hold any character, the key's separator included, so
 * the labels are never read back out of the key.
 */
interface Entry { readonly service: string, readonly port: string, readonly stats: Tracked }
const TRACKED = new WeakMap<Metrics, Map<string, Entry>>()

/** Unique per (service, port): a port is digits, so the last NUL ends the name. */
const trackKey = (service: string, port: string): string => `${service}\u0000${port}`

/**
 * The duration histogram, built from the listeners' bucket counts when scraped; registered
 * as a custom collector (prom-client's registry only needs name, help, type and get()).
 */
class DurationHistogram {
  readonly name = DURATION
  readonly help = 'Time from request to the end of its response (tcp: connection lifetime)'
  readonly type = 'histogram'
  readonly aggregator = 'sum'
  readonly #tracked: Map<string, Entry>

  constructor (tracked: Map<string, Entry>) { this.#tracked = tracked }

  async get (): Promise<{ name: string, help: string, type: string, aggregator: string, values: Array<{ metricName: string, labels: Record<string, string | number>, value: number }> }> {
    const values = []
    for (const { service, port, stats: t } of this.#tracked.values()) {
      const c = t.counts
      let cumulative = 0
      for (let i = 0; i < c.buckets.length; i++) {
        cumulative += c.buckets[i]
        values.push({ metricName: `${DURATION}_bucket`, labels: { service, port, le: i < LATENCY_BUCKETS.length ? LATENCY_BUCKETS[i] : '+Inf' }, value: cumulative })
      }
      values.push({ metricName: `${DURATION}_sum`, labels: { service, port }, value: c.sum })
      values.push({ metricName: `${DURATION}_count`, labels: { service, port }, value: c.count })
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values }
  }
}
/** Why the proxy refused a client (the `reason` label of sidecar_proxy_rejections_total). */
export const REJECTIONS = ['bad request', 'head too large', 'header timeout', 'connection cap', 'total connection cap'] as const
export type Rejection = typeof REJECTIONS[number]
/** Rejections are logged at most once per this period per listener, with the count since the last line. */
const REJECTION_LOG_MS = 10_000

/** Where rejection lines go (a warn-level logger). */
export type RejectionLog = (line: string) => void

/** The metric families, registered once per daemon. */
export class ProxyMetrics {
  readonly requests: Counter<Labels | 'code'>
  readonly retries: Counter<Labels>
  readonly retriesRefused: Counter<Labels>
  readonly ejections: Counter<Labels>
  readonly connections: Counter<Labels>
  readonly inFlight: Gauge<Labels>
  readonly rejections: Counter<Labels | 'reason'>

  constructor (metrics: Metrics) {
    // one map per registry: the metric families are registered once per registry and read it
    const tracked = TRACKED.get(metrics) ?? new Map<string, Entry>()
    TRACKED.set(metrics, tracked)
    this.#tracked = tracked
    this.requests = metrics.counter('sidecar_proxy_requests_total', 'Requests proxied by response class; "error": no response, "tcp": tcp-mode connections', ['service', 'port', 'code'], function () {
      this.reset()
      for (const { service, port, stats: t } of tracked.values()) {
        for (let i = 0; i < CODES.length; i++) if (t.counts.byCode[i] > 0) this.inc({ service, port, code: CODES[i] }, t.counts.byCode[i])
      }
    })
    metrics.register(new DurationHistogram(tracked))
    this.retries = metrics.counter('sidecar_proxy_retries_total', 'Requests or connections sent again to another backend', ['service', 'port'])
    this.retriesRefused = metrics.counter('sidecar_proxy_retries_refused_total', 'Failed requests or connections not sent again to another backend because the listener\'s retry budget was spent ([proxy] retry_budget, retry_budget_min)', ['service', 'port'])
    this.ejections = metrics.counter('sidecar_proxy_ejections_total', 'Backends ejected by passive health checking', ['service', 'port'])
    this.connections = metrics.counter('sidecar_proxy_connections_total', 'Client connections accepted', ['service', 'port'], function () {
      this.reset()
      for (const { service, port, stats: t } of tracked.values()) {
        if (t.counts.connections > 0) this.inc({ service, port }, t.counts.connections)
      }
    })
    this.rejections = metrics.counter('sidecar_proxy_rejections_total', 'Client requests or connections refused by the proxy itself: bad request (400), head too large (431), header timeout (408), connection cap (one listener\'s), total connection cap (all listeners\')', ['service', 'port', 'reason'])
    this.inFlight = metrics.gauge('sidecar_proxy_in_flight', 'Requests (and tcp connections) in progress', ['service', 'port'], function () {
      this.reset()
      for (const { service, port, stats } of tracked.values()) {
        this.set({ service, port }, stats.inFlight)
      }
    })
    metrics.gauge('sidecar_proxy_bulk_read_sockets', `Proxy sockets (client or backend) reading a large transfer into a buffer of their own (at most ${MAX_BULK_SOCKETS}; beyond, transfers read through the shared buffer)`, [], function () {
      this.set(bulkSocketCount())
    })
  }

  readonly #tracked: Map<string, Entry>

  /**
   * The listener now on (service, port) provides the series' values; one that replaces
   * another carries its request counts on, so the counters do not go back.
   */
  track (service: string, port: string, stats: Tracked): void {
    const key = trackKey(service, port)
    const old = this.#tracked.get(key)?.stats
    if (old !== undefined && old !== stats) stats.counts.add(old.counts)
    this.#tracked.set(key, { service, port, stats })
  }

  /**
   * A closed listener's series go away (names come from gossip: a departed service must not
   * leave series behind forever), unless another listener took its place.
   */
  untrack (service: string, port: string, stats: Tracked): void {
    const key = trackKey(service, port)
    const now = this.#tracked.get(key)
    if (now !== undefined && now.stats !== stats) return
    this.#tracked.delete(key)
    for (const r of REJECTIONS) this.rejections.remove(service, port, r)
    this.retries.remove(service, port)
    this.retriesRefused.remove(service, port)
    this.ejections.remove(service, port)
  }
}

export class ListenerStats {
  requests = 0
  errors = 0
  retries = 0
  /** Retries the retry budget refused. */
  retriesRefused = 0
  ejections = 0
  connections = 0
  inFlight = 0
  /** Read by the metrics when scraped. */
  readonly counts = new RequestCounts()
  readonly #retries: { inc: () => void }
  readonly #retriesRefused: { inc: () => void }
  readonly #ejections: { inc: () => void }
  readonly #rejections: Map<string, { inc: () => void }>
  readonly #log: RejectionLog
  readonly #label: string
  rejected = 0
  readonly #throttle = new LogThrottle(REJECTION_LOG_MS)

  constructor (m: ProxyMetrics | undefined, service: string, port: number, log: RejectionLog = () => {}) {
    this.#log = log
    this.#label = `${service}:${port}`
    const p = String(port)
    const noop = { inc: () => {} }
    this.#retries = m?.retries.labels(service, p) ?? noop
    this.#retriesRefused = m?.retriesRefused.labels(service, p) ?? noop
    this.#ejections = m?.ejections.labels(service, p) ?? noop
    this.#rejections = new Map(REJECTIONS.map(r => [r, m?.rejections.labels(service, p, r) ?? noop]))
    // the series read inFlight and counts when scraped (see ProxyMetrics.track): no per-request label lookups
    m?.track(service, p, this)
  }

  begin (): void { this.inFlight++ }

  /** status 0: a tcp connection (or, with failed, a request that got no response). */
  end (status: number, seconds: number, failed: boolean): void {
    this.inFlight--
    this.requests++
    const c = this.counts
    if (failed) {
      this.errors++
      c.byCode[ERROR]++
    } else if (status >= 100 && status < 600) {
      c.byCode[Math.floor(status / 100) - 1]++
    } else {
      c.byCode[TCP]++
    }
    let b = 0
    while (b < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[b]) b++
    c.buckets[b]++
    c.sum += seconds
    c.count++
  }

  retry (): void { this.retries++; this.#retries.inc() }
  retryRefused (): void { this.retriesRefused++; this.#retriesRefused.inc() }
  ejection (): void { this.ejections++; this.#ejections.inc() }
  connection (): void { this.connections++; this.counts.connections++ }

  /** A refused client: counted, and logged rate-limited (a flood must not flood the log). */
  reject (reason: Rejection, detail: string, nowMs = Date.now()): void {
    this.rejected++
    this.#rejections.get(reason)?.inc()
    const count = this.#throttle.note(nowMs)
    if (count === undefined) return
    this.#log(`${this.#label}: refused ${count} client request(s) or connection(s) since the last such line (at most one per ${REJECTION_LOG_MS / 1000} s); latest: ${reason}: ${detail}`)
  }
}
