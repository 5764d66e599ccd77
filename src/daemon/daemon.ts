// Builds the components from the effective config, starts them in order, stops them in
// reverse. The constructor does no I/O; start() either brings everything up or leaves
// nothing running.
import { ApiActivity } from '../api/activity.ts'
import { createApp, type ClusterMember } from '../api/app.ts'
import { EventHub } from '../api/events.ts'
import { defaultRouteRule } from '../api/explain.ts'
import { machineNames } from '../api/host-names.ts'
import { registerCatalogMetrics } from '../api/metrics.ts'
import { ApiRejections } from '../api/rejections.ts'
import { HttpServer } from '../api/server.ts'
import { Catalog } from '../catalog/catalog.ts'
import { Reaper } from '../catalog/reaper.ts'
import type { SidecarConfig } from '../config/types.ts'
import { DockerDiscoverer } from '../discovery/docker/docker-discoverer.ts'
import { makeNamer } from '../discovery/docker/namer.ts'
import { StaticDiscoverer } from '../discovery/static/static-discoverer.ts'
import type { Discoverer } from '../discovery/types.ts'
import { Gossip } from '../gossip/gossip.ts'
import { HealthMonitor } from '../health/monitor.ts'
import { CorrectedClock, type Clock } from '../service/clock.ts'
import { ConfigError } from '../lib/errors.ts'
import type { Logger } from '../lib/logger.ts'
import { EventLoopMonitor } from '../lib/event-loop.ts'
import { growingPercentGiven, HeapMode } from '../lib/heap-mode.ts'
import { HeapReclaimer } from '../lib/heap-reclaim.ts'
import { Metrics } from '../lib/metrics.ts'
import { startAll, stopAll, type Startable } from '../lib/startable.ts'
import { packageVersion } from '../lib/version.ts'
import { Listeners } from '../listeners/index.ts'
import { LocalAnnouncer } from '../local/local-announcer.ts'
import { ProxyManager } from '../proxy/manager.ts'
import { recordKey } from '../service/service.ts'
import { proxyRouteRule } from './route-rule.ts'

/** How often local records are re-stamped (the original refreshed every second); far inside the 80 s alive lifespan, so a record never expires while its service runs. */
const LOCAL_REFRESH_MS = 1000
/**
 * A local record is re-stamped by the refresh once it is 80 % of the alive lifespan old (64 s
 * by default). Gossip's heartbeat (at most 72 % of it, gossip.ts) re-stamps and sends each
 * record first, so the version peers hold is the one this host holds (digests agree).
 */
const LOCAL_RESTAMP_FRACTION = 0.8

/** The gossip protocol this build speaks (`--version` names it: the package version does not tell builds apart). */
export { STATE_PROTOCOL_VERSION } from '../gossip/node.ts'

export class Daemon implements Startable {
  readonly config: SidecarConfig
  readonly catalog: Catalog
  readonly monitor: HealthMonitor
  readonly announcer: LocalAnnouncer
  readonly discoverers: readonly Discoverer[]
  readonly api: HttpServer
  /** The embedded proxy; undefined when [proxy] enabled = false. */
  readonly proxy: ProxyManager | undefined
  readonly listeners: Listeners
  readonly hub: EventHub
  readonly gossip: Gossip
  readonly metrics: Metrics
  readonly #logger: Logger
  readonly #components: Startable[]
  /** The components start() started (all of them unless a stop was asked for during it). */
  #started: Startable[] = []
  #running = false
  /** cancelStart() was called: start() starts no further component. */
  #cancelled = false
  /** From stop() (or cancelStart()) on: /health answers 503 "stopping". */
  #stopping = false

  constructor (config: SidecarConfig, components: { logger: Logger, clock?: Clock }) {
    this.config = config
    this.metrics = new Metrics({ gcDurations: config.api.gc_metrics })
    const logger = this.#logger = components.logger
    // The system clock, corrected by the offset gossip measures against the cluster (gossip/clock-offset.ts).
    const corrected = components.clock === undefined ? new CorrectedClock() : undefined
    const clock = components.clock ?? corrected as CorrectedClock
    const sc = config.sidecar
    const child = (component: string): Logger => logger.child({ component })

    this.catalog = new Catalog({ clock }, {
      hostname: sc.hostname,
      clusterName: sc.cluster_name,
      aliveLifespanMs: sc.alive_lifespan,
      drainingLifespanMs: sc.draining_lifespan,
      tombstoneLifespanMs: sc.tombstone_lifespan,
    })
    this.discoverers = sc.discovery.map((kind): Discoverer => {
      switch (kind) {
        case 'static':
          return new StaticDiscoverer({ logger: child('static'), clock }, { file: config.static_discovery.config_file, hostname: sc.hostname, advertiseIp: sc.advertise_ip, backendCidrs: sc.backend_cidrs })
        case 'docker':
          return new DockerDiscoverer({ logger: child('docker') }, {
            dockerUrl: config.docker_discovery.docker_url,
            hostname: sc.hostname,
            advertiseIp: sc.advertise_ip,
            namer: makeNamer(config.services),
            reconcileIntervalMs: config.docker_discovery.reconcile_interval,
            allowExternalChecks: config.docker_discovery.allow_external_checks,
            checkAnyTarget: config.docker_discovery.check_any_target,
            backendCidrs: sc.backend_cidrs,
          })
        default:
          throw new ConfigError([`[sidecar] discovery: ${JSON.stringify(kind)} is not available in this build`])
      }
    })
    if (this.discoverers.length === 0) logger.warn('no discovery method configured: running in passive mode (this host announces nothing)')
    const supplied = this.discoverers.flatMap(d => d instanceof DockerDiscoverer ? [d.health, d.execChecks] : [])
    this.monitor = new HealthMonitor({ logger: child('health'), clock, supplied, metrics: this.metrics }, {
      intervalMs: config.health.interval,
      timeoutMs: config.health.timeout,
      rise: config.health.rise,
      fall: config.health.fall,
    })
    this.announcer = new LocalAnnouncer({ catalog: this.catalog, clock, logger: child('announcer'), discoverers: this.discoverers, monitor: this.monitor }, {
      hostname: sc.hostname,
      site: sc.site,
      refreshIntervalMs: LOCAL_REFRESH_MS,
      restampAfterMs: sc.alive_lifespan * LOCAL_RESTAMP_FRACTION,
      // a rediscovered service's new check runs at once: its first verdict within a timeout, one interval at most behind a queue
      firstVerdictWaitMs: config.health.interval + config.health.timeout,
      dataDir: sc.data_dir,
      checkHost: sc.advertise_ip,
      defaultCheckEndpoint: sc.default_check_endpoint,
    })
    this.proxy = config.proxy.enabled
      ? new ProxyManager({ catalog: this.catalog, clock, logger: child('proxy'), metrics: this.metrics }, { hostname: sc.hostname, site: sc.site, proxy: config.proxy, ownPorts: new Map([[sc.bind_port, 'its gossip port ([sidecar] bind_port)'], [config.api.port, 'its API port ([api] port)']]) })
      : undefined
    const ls = config.listeners
    this.listeners = new Listeners({ catalog: this.catalog, logger: child('listeners'), metrics: this.metrics, clock, local: this.announcer }, {
      hostname: sc.hostname,
      urls: ls.urls,
      webhooks: ls.webhook.map(w => ({ url: w.url, services: w.services, statusChangesOnly: w.status_changes_only })),
      secret: ls.secret,
      timeoutMs: ls.timeout,
      retries: ls.retries,
      retryDelayMs: ls.retry_delay,
      queueSize: ls.queue_size,
      minIntervalMs: ls.min_interval,
    })
    this.gossip = new Gossip({ catalog: this.catalog, clock, logger: child('gossip'), metrics: this.metrics, local: this.announcer, correctClock: corrected?.correct.bind(corrected) }, {
      hostname: sc.hostname,
      clusterName: sc.cluster_name,
      bindIp: sc.bind_ip,
      bindPort: sc.bind_port,
      advertiseIp: sc.advertise_ip,
      seeds: sc.seeds,
      clusterKey: sc.cluster_key,
      dataDir: sc.data_dir,
      pushPullIntervalMs: sc.push_pull_interval,
      aliveLifespanMs: sc.alive_lifespan,
      departureGraceMs: sc.departure_grace,
      quic: sc.quic,
      version: packageVersion(),
      maxRecordsPerHost: sc.max_records_per_host,
      maxRecords: sc.max_records,
      backendCidrs: sc.backend_cidrs,
    })
    const reaper = new Reaper({ catalog: this.catalog, logger: child('catalog') }, { intervalMs: sc.reap_interval })
    const startedAt = Date.now()
    const members = (): ClusterMember[] => this.members()
    this.hub = new EventHub({ catalog: this.catalog, members, logger: child('events'), metrics: this.metrics }, { bufferSize: config.api.event_buffer, heartbeatIntervalMs: config.api.heartbeat_interval })
    registerCatalogMetrics(this.metrics, this.catalog, members)
    const lifespans = { aliveLifespanMs: sc.alive_lifespan, drainingLifespanMs: sc.draining_lifespan, tombstoneLifespanMs: sc.tombstone_lifespan }
    const rejections = new ApiRejections({ metrics: this.metrics, logger: child('api') })
    const apiActivity = new ApiActivity()
    const app = createApp({
      activity: apiActivity,
      catalog: this.catalog,
      logger: child('api'),
      members,
      discoveryErrors: () => Object.fromEntries(this.discoverers.flatMap(d => { const e = d.lastError(); return e === undefined ? [] : [[d.name, e]] })),
      proxyErrors: () => Object.fromEntries((this.proxy?.listeners() ?? []).flatMap(l => l.state === 'failed' && l.error !== undefined ? [[String(l.port), `${l.name}: ${l.error}`]] : [])),
      identityError: () => this.gossip.identityProblem,
      refusedBy: () => this.gossip.refusedBy,
      versionMismatch: () => this.gossip.versionMismatch,
      startedAt,
      phase: () => this.#stopping ? 'stopping' : this.gossip.joinOver ? 'running' : this.gossip.listening ? 'joining' : 'starting',
      proxy: () => this.proxy?.report() ?? { enabled: false, listeners: [], conflicts: [] },
      listeners: () => this.listeners.list(),
      listenerBacklog: () => this.listeners.backlog,
      hub: this.hub,
      metrics: this.metrics,
      drainer: this.announcer,
      check: id => this.monitor.check(recordKey({ Hostname: sc.hostname, ID: id })),
      lifespans,
      clock,
      streamQueueBytes: config.api.stream_queue_bytes,
      route: proxyRouteRule(defaultRouteRule(lifespans), () => this.proxy?.report()),
      frameAncestors: config.api.frame_ancestors,
      guard: { rejections, token: config.api.token, maxStreamClients: config.api.max_stream_clients, allowedHosts: config.api.allowed_hosts, ownNames: [sc.hostname, ...machineNames()] },
    })
    this.api = new HttpServer({ app, logger: child('api'), rejections }, { host: config.api.bind_ip, port: config.api.port, name: 'api', portSetting: '[api] port or --http-port', maxConnections: config.api.max_connections })
    // the reclaimer collects nothing while the heap mode lets the heap grow (a burst, proxy load)
    // the load the heap mode reads: the proxy's requests, the API's (large documents, streams) and the webhook listeners' bodies
    const ownPercent = growingPercentGiven()
    const heapMode = new HeapMode({
      logger: child('heap'),
      metrics: this.metrics,
      proxy: this.proxy === undefined || ownPercent ? undefined : () => (this.proxy as ProxyManager).activity(),
      api: ownPercent ? undefined : () => apiActivity.read(this.hub.deliveries),
      listeners: ownPercent ? undefined : () => this.listeners.bodyBytes,
    }, { managed: process.execArgv.includes('--optimize-for-size') })
    // The API first: the example config health checks the daemon's own API. The hub after
    // it, so that on stop the hub ends every stream with a final event before the API closes.
    // Gossip before discovery: a joining node pulls the cluster's state before it announces its own.
    // Listeners before the announcer, so they see the first events of this host's services.
    // The proxy last: it opens the ports the catalog holds once local services are announced.
    this.#components = [new EventLoopMonitor({ metrics: this.metrics }), new HeapReclaimer({ logger: child('heap'), metrics: this.metrics, growing: () => !heapMode.optimizeForSize }), heapMode, this.api, this.hub, reaper, this.gossip, ...this.discoverers, this.listeners, this.monitor, this.announcer, ...(this.proxy !== undefined ? [this.proxy] : [])]
  }

  /** Cluster members for /services.json: this host and the live membership. */
  members (): ClusterMember[] {
    return this.gossip.members()
  }

  async start (): Promise<void> {
    if (this.#running) return
    this.#stopping = false
    const sc = this.config.sidecar
    this.#logger.info(`starting sidecar on ${sc.hostname} (cluster ${sc.cluster_name}, advertise ${sc.advertise_ip}, discovery: ${sc.discovery.join(', ') || 'none'})`)
    this.#started = await startAll(this.#components, () => this.#cancelled)
    this.#running = true
  }

  /**
   * A stop was asked for while start() runs: start() returns early, without starting the
   * components after the one in progress (the proxy opens no port), gossip stops waiting for
   * a seed to answer (an unreachable one held the start, and the stop, 5 s), and the local announcer
   * stops waiting for the discovered services to be announced (on a host with thousands, that
   * wait was most of the CLI's 5 s stop limit). Then stop() leaves as usual, tombstoning what
   * was announced so far.
   */
  cancelStart (): void {
    this.#cancelled = true
    this.#stopping = true
    this.gossip.abortStart()
    this.announcer.abortStart()
  }

  /**
   * SIGHUP: each discoverer that can re-reads its source now (the static file; it is also
   * watched). The configuration itself (file, environment, flags) is read only at start.
   * Returns what is re-read, for the log; never throws, never stops anything.
   */
  reload (): string[] {
    return this.discoverers.flatMap(d => {
      const what = d.reload?.()
      return what === undefined ? [] : [what]
    })
  }

  async stop (): Promise<void> {
    if (!this.#running) return
    this.#running = false
    this.#stopping = true
    const started = this.#started
    // Health checks first: once the leave begins their verdicts are not followed, and 10,000
    // checks would compete with the leave and gossip's sends for the CLI's 5 s stop limit.
    if (started.includes(this.monitor)) await this.monitor.stop()
    // Then in reverse start order: the local component stops before gossip and tombstones every
    // record it announces (graceful leave); gossip sends them before its node goes down.
    await stopAll(started)
  }
}
