// Follows the catalog: after every change (coalesced to one rebuild per turn of the event
// loop) it plans the listeners, updates the pools of those that stay, opens the new ones
// and drains the ones no longer wanted. Nothing here blocks the catalog.
import type { Catalog } from '../catalog/index.ts'
import type { ProxyOptions } from './options.ts'
import type { Clock } from '../service/clock.ts'
import type { Logger } from '../lib/logger.ts'
import type { Metrics } from '../lib/metrics.ts'
import type { Startable } from '../lib/startable.ts'
import { AccessLog, type AccessSink } from './access-log.ts'
import { ProxyListener, type ListenerInit } from './listener.ts'
import { planListeners, type ListenerPlan, type PortConflict } from './plan.ts'
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
  #conflicts: readonly PortConflict[] = []
  #scheduled: NodeJS.Immediate | undefined
  #retryTimer: NodeJS.Timeout | undefined
  #running = false
  readonly #onChange = (): void => { this.#schedule() }

  constructor (c: ProxyManagerComponents, init: ProxyManagerInit) {
    this.#catalog = c.catalog
    this.#clock = c.clock
    this.#logger = c.logger
    this.#init = init
    this.#accessLog = new AccessLog(init.proxy.access_log, c.accessSink)
    this.#metrics = c.metrics === undefined ? undefined : new ProxyMetrics(c.metrics)
  }

  /** Opens the listeners the catalog holds now; a port that cannot be opened does not fail start. */
  async start (): Promise<void> {
    if (this.#running) return
    this.#running = true
    this.#catalog.on('change', this.#onChange)
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
    const all = [...this.#listeners.values(), ...this.#draining]
    this.#listeners.clear()
    await Promise.all(all.map(async l => { await l.stop() }))
    await Promise.all([...this.#drains])
  }

  /** Listeners by port, draining ones excluded. */
  listeners (): ProxyListener[] {
    return [...this.#listeners.values()].sort((a, b) => a.port - b.port)
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

  /** Brings listeners in line with the catalog; resolves when new listeners have tried to open. */
  async rebuild (): Promise<void> {
    this.#scheduled = undefined
    if (!this.#running) return
    const plan = planListeners(this.#catalog.services())
    this.#noteConflicts(plan.conflicts)
    const wanted = new Map(plan.listeners.map(l => [l.port, l]))
    const starts: Array<Promise<void>> = []
    for (const [port, l] of this.#listeners) {
      const p = wanted.get(port)
      if (p === undefined || p.name !== l.name || p.mode !== l.mode) this.#retire(l)
    }
    for (const p of plan.listeners) {
      let l = this.#listeners.get(p.port)
      if (l === undefined) {
        l = this.#create(p)
        this.#listeners.set(p.port, l)
        starts.push(l.start())
      } else if (l.state === 'failed') {
        starts.push(l.start())
      }
      l.pool.update(p.backends)
      l.ignored = plan.conflicts.find(c => c.port === p.port)?.ignored ?? []
    }
    await Promise.all(starts)
    this.#scheduleRetry()
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
