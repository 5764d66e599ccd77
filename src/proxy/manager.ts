// Follows the catalog: after every change (coalesced to one rebuild per turn of the event
// loop) it plans the listeners of the ports that change touched, updates the pools of those
// that stay, opens the new ones and drains the ones no longer wanted. A change costs the
// records of its own ports, not the catalog's: a join that merges 100,000 records without
// service ports plans nothing. Nothing here blocks the catalog.
// - A port with its listener open whose owner and mode stay (PortClaims.ranking(): the names
//   ranked by their first Created, kept per name) is planned from its changed records alone:
//   they are patched into the pool, O(changes) plus O(names).
// - Any other port is planned whole (planPort: the claims ranked, the backends sorted), which
//   at thousands of records costs milliseconds, so the whole plans of a port of LARGE_PORT
//   records or more may take at most REBUILD_SHARE of the time: after a plan of 10 ms its
//   changes wait 30 ms more and are planned together, unless they can be patched in (its
//   listener is open now, with the same owner and mode). Smaller ports still follow each
//   change in the next turn, whatever else waits.
import { performance } from 'node:perf_hooks'
import type { Catalog, ChangeEvent } from '../catalog/index.ts'
import { recordKey, type Service } from '../service/index.ts'
import type { ProxyOptions } from './options.ts'
import type { Clock } from '../service/clock.ts'
import type { Logger } from '../lib/logger.ts'
import { LogThrottle } from '../lib/log-throttle.ts'
import type { Metrics } from '../lib/metrics.ts'
import type { Startable } from '../lib/startable.ts'
import type { ProxyActivity } from '../lib/heap-mode.ts'
import { AccessLog, type AccessSink } from './access-log.ts'
import { ClientCap } from './client-cap.ts'
import { PortRanges } from '../lib/port-ranges.ts'
import { ProxyListener, type ListenerInit } from './listener.ts'
import { PortClaims, type Ranking } from './claims.ts'
import { planPort, portSpec, proxiedPorts, type ListenerPlan, type PortConflict } from './plan.ts'
import { proxyReport, type ProxyReport } from './report.ts'
import { ProxyMetrics } from './stats.ts'

/** A listener that could not open its port is tried again this often. */
const RETRY_FAILED_MS = 5000
/** The share of the time the plans of one large port may take. */
const REBUILD_SHARE = 0.25
/** Records claiming a port from which its plans are spaced out (REBUILD_SHARE); smaller ports follow each change in the next turn. */
const LARGE_PORT = 1000
/** Ports left without a listener by [proxy] max_listeners are logged at most this often. */
const WAITING_LOG_MS = 60_000

type Planned = NonNullable<ReturnType<typeof planPort>>

interface Need { local: boolean, hosts: number, port: number }

/** > 0 when a is more needed than b (see ProxyManager's need()). */
function compareNeed (a: Need, b: Need): number {
  return Number(a.local) - Number(b.local) || a.hosts - b.hosts || b.port - a.port
}

/** An open listener as a plan: what it serves now. */
function planListener (l: ProxyListener): ListenerPlan {
  return { port: l.port, name: l.name, mode: l.mode, backends: l.pool.backends.map(b => b.spec) }
}

/** The hosts a plan's instances are on, each once. */
function hostsOf (p: ListenerPlan): string[] {
  return [...new Set(p.backends.map(b => b.hostname))]
}

export interface ProxyManagerInit {
  /** This host's name and site: local instances and the own failover site. */
  hostname: string
  site: string
  proxy: ProxyOptions
  /** This daemon's own ports and what they are ("the API port ([api] port)"): named when a service port is one of them. */
  ownPorts?: ReadonlyMap<number, string>
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
  /** The conflicts of now, as logged (names come from gossip: one gone is forgotten, or renaming would grow this for good). */
  #loggedConflicts = new Set<string>()
  /** Live records that claim a ServicePort, by port then record key (as of their last change event). */
  readonly #claims = new Map<number, PortClaims>()
  /** The ports each indexed record claims, to take it out of them when it changes. */
  readonly #portsOf = new Map<string, readonly number[]>()
  /** Ports whose claims changed since the last rebuild. */
  readonly #dirty = new Set<number>()
  readonly #conflictByPort = new Map<number, PortConflict>()
  /** Ports with a planned listener that [proxy] max_listeners left unopened, in the order they were refused. */
  readonly #waiting = new Map<number, ListenerPlan>()
  readonly #waitingLog = new LogThrottle(WAITING_LOG_MS)
  /** [proxy] service_ports: the ports a listener may open on. */
  readonly #ranges: PortRanges
  /** Ports outside it that records claimed, for the log line: each counted once. */
  readonly #outsideSeen = new Set<number>()
  readonly #outsideLog = new LogThrottle(WAITING_LOG_MS)
  #conflicts: readonly PortConflict[] = []
  /** Shared by every listener: [proxy] max_total_connections. */
  readonly #clientCap: ClientCap
  #scheduled: NodeJS.Immediate | undefined
  /** Ports whose last plan was expensive: performance.now() before which they are not planned again (REBUILD_SHARE). */
  readonly #planAt = new Map<number, number>()
  /** The rebuild for those ports' waiting changes. */
  #deferred: NodeJS.Timeout | undefined
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
    this.#ranges = new PortRanges(init.proxy.service_ports)
    const cap = this.#clientCap = new ClientCap(init.proxy.max_total_connections)
    c.metrics?.gauge('sidecar_proxy_client_connections', 'client connections open on all proxy ports together', [], function () { this.set(cap.open) })
    const waiting = this.#waiting
    c.metrics?.gauge('sidecar_proxy_listeners_waiting', 'service ports a record claims that get no listener, as [proxy] max_listeners are open', [], function () { this.set(waiting.size) })
    c.metrics?.gauge('sidecar_proxy_listeners_limit', 'listeners the proxy opens at most ([proxy] max_listeners)', [], function () { this.set(init.proxy.max_listeners) })
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
    clearTimeout(this.#deferred)
    this.#deferred = undefined
    this.#scheduled = undefined
    this.#claims.clear()
    this.#portsOf.clear()
    this.#dirty.clear()
    this.#conflictByPort.clear()
    this.#waiting.clear()
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
      waiting: this.waiting(),
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
    const began = performance.now()
    const ports: number[] = []
    let due = Infinity
    for (const port of [...this.#dirty].sort((a, b) => a - b)) {
      const at = this.#planAt.get(port)
      // an expensive port's changes wait, and are planned together; not those that are only patched in
      if (at !== undefined && at > began && this.#stays(port) === undefined) due = Math.min(due, at)
      else ports.push(port)
    }
    for (const port of ports) this.#dirty.delete(port)
    if (due < Infinity) this.#later(due - began)
    const starts: Array<Promise<void>> = []
    const started = new Set<ProxyListener>()
    const wanted: Planned[] = []
    for (const port of ports) {
      const t0 = performance.now()
      const whole = this.#replan(port, wanted)
      const ms = performance.now() - t0
      if (whole && (this.#claims.get(port)?.size ?? 0) >= LARGE_PORT) this.#planAt.set(port, t0 + ms / REBUILD_SHARE)
      else this.#planAt.delete(port)
    }
    // new listeners within [proxy] max_listeners, the most needed first. Over it, a new port
    // takes the place of an open one only when strictly more needed (need(), below).
    const max = this.#init.proxy.max_listeners
    // each plan's need is worked out once, and only when not every new listener fits
    const full = this.#listeners.size + wanted.length > max
    const candidates = wanted.map(planned => ({ planned, need: full ? this.#need(planned.listener) : undefined }))
    if (full) candidates.sort((a, b) => compareNeed(b.need as Need, a.need as Need))
    let weakest: Array<{ l: ProxyListener, need: Need }> | undefined // open listeners, least needed first (when full)
    let w = 0
    for (const { planned, need } of candidates) {
      const port = planned.listener.port
      if (this.#listeners.size >= max && need !== undefined) {
        weakest ??= [...this.#listeners.values()].map(l => ({ l, need: this.#need(planListener(l)) })).sort((a, b) => compareNeed(a.need, b.need))
        while (w < weakest.length && !this.#listeners.has(weakest[w].l.port)) w++
        const victim = weakest[w]
        if (victim === undefined || compareNeed(need, victim.need) <= 0) {
          this.#waiting.set(port, planned.listener)
          continue
        }
        w++
        this.#waiting.set(victim.l.port, planListener(victim.l))
        this.#logger.warn(`closing the ${victim.l.name} proxy on ${victim.l.address} for ${planned.listener.name} on port ${port}, which is needed more (${need.local ? 'an instance on this host' : `instances on ${need.hosts} hosts`}; [proxy] max_listeners ${max} are open)`)
        this.#retire(victim.l)
      }
      const l = this.#create(planned.listener)
      this.#listeners.set(port, l)
      starts.push(l.start())
      started.add(l)
      l.pool.update(planned.listener.backends)
      l.ignored = planned.conflict?.ignored ?? []
    }
    if (this.#waiting.size > 0) {
      // room again (a listener closed): the waiting ports are planned afresh in the next turn
      if (this.#listeners.size < max) {
        for (const port of this.#waiting.keys()) this.#dirty.add(port)
        this.#schedule()
      } else {
        this.#noteWaiting()
      }
    }
    for (const l of this.#listeners.values()) {
      if (l.state === 'failed' && !started.has(l)) starts.push(l.start())
    }
    if (ports.length > 0) this.#noteConflicts([...this.#conflictByPort.values()].sort((a, b) => a.port - b.port))
    await Promise.all(starts)
    this.#scheduleRetry()
  }

  /**
   * The port's ranking when its open listener stays (its claims' owner and mode are the
   * listener's): its changes are then patched into the pool, O(changes) plus O(names).
   */
  #stays (port: number): Ranking | undefined {
    const held = this.#claims.get(port)
    const l = this.#listeners.get(port)
    if (held === undefined || held.size === 0 || l === undefined) return undefined
    const ranking = held.ranking()
    return ranking !== undefined && ranking.owner === l.name && ranking.mode === l.mode ? ranking : undefined
  }

  /**
   * Plans one port: updates its listener's pool, retires a listener whose name or mode changed,
   * or adds the plan to `wanted` for a new listener. Returns whether the port was planned whole
   * (false: only its changed records were, see the header).
   */
  #replan (port: number, wanted: Planned[]): boolean {
    let held = this.#claims.get(port)
    if (held?.size === 0) {
      this.#claims.delete(port)
      held = undefined
    }
    const l = this.#listeners.get(port)
    const ranking = this.#stays(port)
    if (held !== undefined && l !== undefined && ranking !== undefined) {
      // the same owner and mode: the listener stays, and its pool holds the owner's other records already
      l.pool.patch([...held.changed].map(key => {
        const now = held.records.get(key)
        return { record: key, spec: now?.Name === l.name ? portSpec(this.#stored(now), port) : undefined }
      }))
      held.changed.clear()
      if (ranking.ignored.length > 0) this.#conflictByPort.set(port, { port, owner: ranking.owner, ignored: ranking.ignored })
      else this.#conflictByPort.delete(port)
      l.ignored = ranking.ignored
      return false
    }
    held?.changed.clear()
    const planned = held === undefined ? undefined : planPort(port, [...held.records.values()].map(svc => this.#stored(svc)))
    if (planned?.conflict !== undefined) this.#conflictByPort.set(port, planned.conflict)
    else this.#conflictByPort.delete(port)
    this.#waiting.delete(port)
    if (l !== undefined && (planned === undefined || planned.listener.name !== l.name || planned.listener.mode !== l.mode)) {
      this.#retire(l)
      if (planned !== undefined) wanted.push(planned)
      return true
    }
    if (planned === undefined) return true
    if (l === undefined) {
      wanted.push(planned)
      return true
    }
    l.pool.update(planned.listener.backends)
    l.ignored = planned.conflict?.ignored ?? []
    return true
  }

  /** The stored version of a record: a refresh since its last change event moved its Updated. */
  #stored (svc: Service): Service {
    return this.#catalog.get(svc.Hostname, svc.ID) ?? svc
  }

  /** Files a record under the ports it claims now (none once it is a tombstone) and marks the ports it left or joined. */
  #index (svc: Service): void {
    const key = recordKey(svc)
    const before = this.#portsOf.get(key) ?? []
    let after = proxiedPorts(svc)
    if (!this.#ranges.all && after.length > 0) {
      const outside = after.filter(p => !this.#ranges.has(p))
      if (outside.length > 0) {
        after = after.filter(p => this.#ranges.has(p))
        this.#noteOutside(svc, outside)
      }
    }
    if (before.length === 0 && after.length === 0) return
    for (const port of before) {
      const held = this.#claims.get(port)
      held?.delete(key) // an empty one stays until the port's next plan, with what changed
      this.#dirty.add(port)
    }
    for (const port of after) {
      let held = this.#claims.get(port)
      if (held === undefined) this.#claims.set(port, held = new PortClaims())
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
        outlier: { baseMs: px.ejection_base, maxMs: px.ejection_max, after5xx: px.eject_after_5xx, stallMs: px.stall_timeout },
      },
      forward: { connectTimeoutMs: px.connect_timeout, idleTimeoutMs: px.idle_timeout, requestTimeoutMs: px.request_timeout, retries: px.retries, retryBudget: px.retry_budget, retryBudgetMin: px.retry_budget_min, headerTimeoutMs: px.header_timeout },
      maxConnections: px.max_connections,
      ...(this.#init.ownPorts?.has(p.port) === true ? { ownPort: this.#init.ownPorts.get(p.port) } : {}),
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

  /** A rebuild in ms, for the changes of expensive ports waiting their turn (at most one such timer). */
  #later (ms: number): void {
    if (this.#deferred !== undefined) return
    this.#deferred = setTimeout(() => {
      this.#deferred = undefined
      this.#schedule()
    }, Math.max(1, ms))
  }

  #scheduleRetry (): void {
    clearTimeout(this.#retryTimer)
    this.#retryTimer = undefined
    if (![...this.#listeners.values()].some(l => l.state === 'failed')) return
    this.#retryTimer = setTimeout(() => { this.#schedule() }, RETRY_FAILED_MS)
    this.#retryTimer.unref()
  }

  /**
   * How much a port's listener is needed, compared by compareNeed: an instance on this host
   * first, then instances on more hosts (a member can only announce records of its own host,
   * so one member's ports never outrank a service that runs on two hosts), then the lower port.
   */
  #need (p: ListenerPlan): Need {
    const hosts = hostsOf(p)
    return { local: hosts.includes(this.#init.hostname), hosts: hosts.length, port: p.port }
  }

  /** ServicePorts outside [proxy] service_ports: each new one counted, one warning per WAITING_LOG_MS at most. */
  #noteOutside (svc: Service, ports: readonly number[]): void {
    let added = 0
    for (const p of ports) {
      if (this.#outsideSeen.has(p)) continue
      this.#outsideSeen.add(p)
      added++
    }
    const count = this.#outsideLog.note(this.#clock.nowMs(), added)
    if (count === undefined) return
    this.#logger.warn(`${count} service port(s) outside [proxy] service_ports (${this.#init.proxy.service_ports.join(', ')}) are not proxied (latest: ${ports.join(', ')} of ${svc.Name} on ${svc.Hostname}); at most one such line a minute`)
  }

  /** Ports that wait for a listener: one warning per WAITING_LOG_MS at most. */
  #noteWaiting (): void {
    if (this.#waitingLog.note(this.#clock.nowMs()) === undefined) return
    const sample = [...this.#waiting.values()].slice(0, 5).map(p => `${p.port} (${p.name} on ${hostsOf(p).join(', ')})`)
    this.#logger.warn(`${this.#waiting.size} service ports get no listener: ${this.#listeners.size} are open, the most [proxy] max_listeners allows; waiting: ${sample.join(', ')}${this.#waiting.size > sample.length ? ', ...' : ''} (all in /api/proxy.json under "waiting")`)
  }

  /** Ports that have no listener because of [proxy] max_listeners. */
  waiting (): NonNullable<ProxyReport['waiting']> {
    return [...this.#waiting.values()].sort((a, b) => a.port - b.port).map(p => ({ port: p.port, service: p.name, hosts: hostsOf(p).sort() }))
  }

  /** Each conflict is logged once, when it appears (again, if it went away meanwhile). */
  #noteConflicts (conflicts: readonly PortConflict[]): void {
    this.#conflicts = conflicts
    const logged = this.#loggedConflicts
    this.#loggedConflicts = new Set()
    for (const c of conflicts) {
      const key = `${c.port}\u0000${c.owner}\u0000${c.ignored.join('\u0000')}`
      this.#loggedConflicts.add(key)
      if (logged.has(key)) continue
      this.#logger.warn(`port conflict on ${c.port}: ${c.owner} keeps it (oldest record); not proxied there: ${c.ignored.join(', ')}`)
    }
  }
}
