// Follows the catalog: after every change (coalesced to one rebuild per turn of the event
// loop) it plans the listeners of the ports that change touched, updates the pools of those
// that stay, opens the new ones and drains the ones no longer wanted. A change costs the
// records of its own ports, not the catalog's: a join that merges 100,000 records without
// service ports plans nothing. Nothing here blocks the catalog.
import type { Catalog, ChangeEvent } from '../catalog/index.ts'
import { recordKey, type Service } from '../service/index.ts'
import type { ProxyOptions } from './options.ts'
import type { Clock } from '../service/clock.ts'
import type { Logger } from '../lib/logger.ts'
import type { Metrics } from '../lib/metrics.ts'
import type { Startable } from '../lib/startable.ts'
import type { ProxyActivity } from '../lib/heap-mode.ts'
import { AccessLog, type AccessSink } from './access-log.ts'
import { ClientCap } from './client-cap.ts'
import { ProxyListener, type ListenerInit } from './listener.ts'
import { planPort, proxiedPorts, type ListenerPlan, type PortConflict } from './plan.ts'
import { proxyReport, type ProxyReport } from './report.ts'
import { ProxyMetrics } from './stats.ts'

/** A listener that could not open its port is tried again this often. */
const RETRY_FAILED_MS = 5000

export interface ProxyManagerInit {
  /** This host's name and site: local instances and the own failover site. */
  hostname: string
  site: string
  proxy: ProxyOptions
}

export interface ProxyManagerComponents {
  catalog: Catalog
  clock: Clock
  logger: Logger
  metrics?: Metrics
  /** Where access log lines go; default stdout. */
  accessSink?: AccessSink
}

export class ProxyManager implements Startable {
  readonly #catalog: Catalog
  readonly #clock: Clock
  readonly #logger: Logger
  readonly #init: ProxyManagerInit
  readonly #accessLog: AccessLog
  readonly #metrics: ProxyMetrics | undefined
  readonly #listeners = new Map<number, ProxyListener>()
  readonly #draining = new Set<ProxyListener>()
  readonly #drains = new Set<Promise<void>>()
  readonly #loggedConflicts = new Set<string>()
  /** Live records that claim a ServicePort, by port then record key (as of their last change event). */
  readonly #claims = new Map<number, Map<string, Service>>()
  /** The ports each indexed record claims, to take it out of them when it changes. */
  readonly #portsOf = new Map<string, readonly number[]>()
  /** Ports whose claims changed since the last rebuild. */
  readonly #dirty = new Set<number>()
  readonly #conflictByPort = new Map<number, PortConflict>()
  #conflicts: readonly PortConflict[] = []
  /** Shared by every listener: [proxy] max_total_connections. */
  readonly #clientCap: ClientCap
  #scheduled: NodeJS.Immediate | undefined
  #retryTimer: NodeJS.Timeout | undefined
  #running = false
  readonly #onChange = (e: ChangeEvent): void => {
    this.#index(e.service)
    this.#schedule()
  }

  constructor (c: ProxyManagerComponents, init: ProxyManagerInit) {
    this.#catalog = c.catalog
    this.#clock = c.clock
    this.#logger = c.logger
    this.#init = init
    this.#accessLog = new AccessLog(init.proxy.access_log, c.accessSink)
    this.#metrics = c.metrics === undefined ? undefined : new ProxyMetrics(c.metrics)
    const cap = this.#clientCap = new ClientCap(init.proxy.max_total_connections)
    c.metrics?.gauge('sidecar_proxy_client_connections', 'client connections open on all proxy ports together', [], function () { this.set(cap.open) })
    c.metrics?.gauge('sidecar_proxy_client_connections_limit', 'client connections all proxy ports together may hold ([proxy] max_total_connections); more are closed at accept', [], function () { this.set(cap.limit) })
  }

  /** Opens the listeners the catalog holds now; a port that cannot be opened does not fail start. */
  async start (): Promise<void> {
    if (this.#running) return
    this.#running = true
    this.#catalog.on('change', this.#onChange)
    for (const host of this.#catalog.hostnames()) {
      for (const svc of this.#catalog.hostRecords(host)) this.#index(svc)
    }
    await this.rebuild()
  }

  /** Closes every listener at once (no grace: the daemon is going down). */
  async stop (): Promise<void> {
    if (!this.#running) return
    this.#running = false
    this.#catalog.off('change', this.#onChange)
    if (this.#scheduled !== undefined) clearImmediate(this.#scheduled)
    clearTimeout(this.#retryTimer)
    this.#scheduled = undefined
    this.#claims.clear()
    this.#portsOf.clear()
    this.#dirty.clear()
    this.#conflictByPort.clear()
    const all = [...this.#listeners.values(), ...this.#draining]
    this.#listeners.clear()
    await Promise.all(all.map(async l => { await l.stop() }))
    await Promise.all([...this.#drains])
  }

  /** Listeners by port, draining ones excluded. */
  listeners (): ProxyListener[] {
    return [...this.#listeners.values()].sort((a, b) => a.port - b.port)
  }

  /** Requests (and tcp connections) finished and in progress, over all listeners, draining ones included: a cheap read for the heap mode. */
  activity (): ProxyActivity {
    let finished = 0
    let inFlight = 0
    for (const l of this.#listeners.values()) { finished += l.stats.requests; inFlight += l.stats.inFlight }
    for (const l of this.#draining) { finished += l.stats.requests; inFlight += l.stats.inFlight }
    return { finished, inFlight }
  }

  report (): ProxyReport {
    return proxyReport({
      bindIp: this.#init.proxy.bind_ip,
      proxy: this.#init.proxy,
      site: this.#init.site,
      listeners: [...this.listeners(), ...[...this.#draining].sort((a, b) => a.port - b.port)],
      conflicts: this.#conflicts,
      nowMs: this.#clock.nowMs(),
    })
  }

  /**
   * Brings the listeners of the ports changed since the last call in line with the catalog,
   * and tries failed ones again; resolves when new listeners have tried to open.
   */
  async rebuild (): Promise<void> {
    this.#scheduled = undefined
    if (!this.#running) return
    const ports = [...this.#dirty].sort((a, b) => a - b)
    this.#dirty.clear()
    const starts: Array<Promise<void>> = []
    const started = new Set<ProxyListener>()
    for (const port of ports) {
      const held = this.#claims.get(port)
      // the stored version of each record: a refresh since its last change event moved its Updated
      const planned = held === undefined ? undefined : planPort(port, [...held.values()].map(svc => this.#catalog.get(svc.Hostname, svc.ID) ?? svc))
      if (planned?.conflict !== undefined) this.#conflictByPort.set(port, planned.conflict)
      else this.#conflictByPort.delete(port)
      let l = this.#listeners.get(port)
      if (l !== undefined && (planned === undefined || planned.listener.name !== l.name || planned.listener.mode !== l.mode)) {
        this.#retire(l)
        l = undefined
      }
      if (planned === undefined) continue
      if (l === undefined) {
        l = this.#create(planned.listener)
        this.#listeners.set(port, l)
        starts.push(l.start())
        started.add(l)
      }
      l.pool.update(planned.listener.backends)
      l.ignored = planned.conflict?.ignored ?? []
    }
    for (const l of this.#listeners.values()) {
      if (l.state === 'failed' && !started.has(l)) starts.push(l.start())
    }
    if (ports.length > 0) this.#noteConflicts([...this.#conflictByPort.values()].sort((a, b) => a.port - b.port))
    await Promise.all(starts)
    this.#scheduleRetry()
  }

  /** Files a record under the ports it claims now (none once it is a tombstone) and marks the ports it left or joined. */
  #index (svc: Service): void {
    const key = recordKey(svc)
    const before = this.#portsOf.get(key) ?? []
    const after = proxiedPorts(svc)
    if (before.length === 0 && after.length === 0) return
    for (const port of before) {
      const held = this.#claims.get(port)
      held?.delete(key)
      if (held?.size === 0) this.#claims.delete(port)
      this.#dirty.add(port)
    }
    for (const port of after) {
      let held = this.#claims.get(port)
      if (held === undefined) this.#claims.set(port, held = new Map())
      held.set(key, svc)
      this.#dirty.add(port)
    }
    if (after.length === 0) this.#portsOf.delete(key)
    else this.#portsOf.set(key, after)
  }

  #create (p: ListenerPlan): ProxyListener {
    const px = this.#init.proxy
    const init: ListenerInit = {
      name: p.name,
      port: p.port,
      mode: p.mode,
      bindIp: px.bind_ip,
      pool: {
        balance: px.balance, hostname: this.#init.hostname, preferLocal: px.prefer_local,
        siteFailover: px.site_failover, site: this.#init.site, siteOrder: px.site_order,
        outlier: { baseMs: px.ejection_base, maxMs: px.ejection_max, after5xx: px.eject_after_5xx },
      },
      forward: { connectTimeoutMs: px.connect_timeout, idleTimeoutMs: px.idle_timeout, requestTimeoutMs: px.request_timeout, retries: px.retries, headerTimeoutMs: px.header_timeout },
      maxConnections: px.max_connections,
    }
    return new ProxyListener({
      clientCap: this.#clientCap,
      logger: this.#logger,
      accessLog: this.#accessLog,
      ...(this.#metrics !== undefined ? { metrics: this.#metrics } : {}),
      nowMs: () => this.#clock.nowMs(),
    }, init)
  }

  #retire (l: ProxyListener): void {
    this.#listeners.delete(l.port)
    this.#draining.add(l)
    if (l.state === 'listening') this.#logger.info(`closing the ${l.name} proxy on ${l.address}; ${l.connections} connections get ${this.#init.proxy.drain_grace} ms to finish`)
    const done = l.drain(this.#init.proxy.drain_grace).then(() => {
      this.#draining.delete(l)
      this.#drains.delete(done)
    })
    this.#drains.add(done)
  }

  #schedule (): void {
    if (this.#scheduled !== undefined || !this.#running) return
    this.#scheduled = setImmediate(() => {
      this.rebuild().catch((err: unknown) => { this.#logger.error({ err }, 'proxy rebuild failed') })
    })
  }

  #scheduleRetry (): void {
    clearTimeout(this.#retryTimer)
    this.#retryTimer = undefined
    if (![...this.#listeners.values()].some(l => l.state === 'failed')) return
    this.#retryTimer = setTimeout(() => { this.#schedule() }, RETRY_FAILED_MS)
    this.#retryTimer.unref()
  }

  /** Each conflict is logged once, when it appears. */
  #noteConflicts (conflicts: readonly PortConflict[]): void {
    this.#conflicts = conflicts
    for (const c of conflicts) {
      const key = `${c.port}\u0000${c.owner}\u0000${c.ignored.join(',')}`
      if (this.#loggedConflicts.has(key)) continue
      this.#loggedConflicts.add(key)
      this.#logger.warn(`port conflict on ${c.port}: ${c.owner} keeps it (oldest record); not proxied there: ${c.ignored.join(', ')}`)
    }
  }
}
