// Builds the components from the effective config, starts them in order, stops them in
// reverse. The constructor does no I/O; start() either brings everything up or leaves
// nothing running.
import { createApp, type ClusterMember } from '../api/app.ts'
import { EventHub } from '../api/events.ts'
import { defaultRouteRule } from '../api/explain.ts'
import { registerCatalogMetrics } from '../api/metrics.ts'
import { HttpServer } from '../api/server.ts'
import { Catalog } from '../catalog/catalog.ts'
import { Reaper } from '../catalog/reaper.ts'
import type { SidecarConfig } from '../config/types.ts'
import { DockerDiscoverer } from '../discovery/docker/docker-discoverer.ts'
import { makeNamer } from '../discovery/docker/namer.ts'
import { LocalAnnouncer } from '../discovery/local-announcer.ts'
import { StaticDiscoverer } from '../discovery/static/static-discoverer.ts'
import type { Discoverer } from '../discovery/types.ts'
import { Gossip } from '../gossip/gossip.ts'
import { HealthMonitor } from '../health/monitor.ts'
import { systemClock, type Clock } from '../lib/clock.ts'
import { ConfigError } from '../lib/errors.ts'
import type { Logger } from '../lib/logger.ts'
import { Metrics } from '../lib/metrics.ts'
import { startAll, stopAll, type Startable } from '../lib/startable.ts'
import { packageVersion } from '../lib/version.ts'
import { Listeners } from '../listeners/index.ts'
import { ProxyManager } from '../proxy/manager.ts'
import { proxyRouteRule } from './route-rule.ts'

/** How often local records are re-stamped; well inside the alive lifespan. */
const LOCAL_REFRESH_MS = 1000

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
  readonly metrics = new Metrics()
  readonly #logger: Logger
  readonly #components: Startable[]
  #running = false

  constructor (config: SidecarConfig, components: { logger: Logger, clock?: Clock }) {
    this.config = config
    const logger = this.#logger = components.logger
    const clock = components.clock ?? systemClock
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
          return new StaticDiscoverer({ logger: child('static'), clock }, { file: config.static_discovery.config_file, hostname: sc.hostname, advertiseIp: sc.advertise_ip })
        case 'docker':
          return new DockerDiscoverer({ logger: child('docker') }, {
            dockerUrl: config.docker_discovery.docker_url,
            hostname: sc.hostname,
            advertiseIp: sc.advertise_ip,
            namer: makeNamer(config.services),
            reconcileIntervalMs: config.docker_discovery.reconcile_interval,
          })
        default:
          throw new ConfigError([`[sidecar] discovery: ${JSON.stringify(kind)} is not available in this build`])
      }
    })
    if (this.discoverers.length === 0) logger.warn('no discovery method configured: running in passive mode (this host announces nothing)')
    const supplied = this.discoverers.flatMap(d => d instanceof DockerDiscoverer ? [d.health] : [])
    this.monitor = new HealthMonitor({ logger: child('health'), clock, supplied, metrics: this.metrics }, {
      intervalMs: config.health.interval,
      timeoutMs: config.health.timeout,
      rise: config.health.rise,
      fall: config.health.fall,
      checkHost: sc.advertise_ip,
      defaultCheckEndpoint: sc.default_check_endpoint,
    })
    this.announcer = new LocalAnnouncer({ catalog: this.catalog, clock, logger: child('announcer'), discoverers: this.discoverers, monitor: this.monitor }, {
      hostname: sc.hostname,
      site: sc.site,
      refreshIntervalMs: LOCAL_REFRESH_MS,
    })
    this.proxy = config.proxy.enabled
      ? new ProxyManager({ catalog: this.catalog, clock, logger: child('proxy'), metrics: this.metrics }, { hostname: sc.hostname, site: sc.site, proxy: config.proxy })
      : undefined
    const ls = config.listeners
    this.listeners = new Listeners({ catalog: this.catalog, logger: child('listeners'), metrics: this.metrics, clock, discovered: () => this.announcer.discovered(), discoverers: this.discoverers }, {
      hostname: sc.hostname,
      urls: ls.urls,
      webhooks: ls.webhook.map(w => ({ url: w.url, services: w.services, statusChangesOnly: w.status_changes_only })),
      secret: ls.secret,
      timeoutMs: ls.timeout,
      retries: ls.retries,
      retryDelayMs: ls.retry_delay,
      queueSize: ls.queue_size,
    })
    this.gossip = new Gossip({ catalog: this.catalog, clock, logger: child('gossip'), metrics: this.metrics, owned: () => this.announcer.owned() }, {
      hostname: sc.hostname,
      clusterName: sc.cluster_name,
      bindIp: sc.bind_ip,
      bindPort: sc.bind_port,
      advertiseIp: sc.advertise_ip,
      seeds: sc.seeds,
      clusterKey: sc.cluster_key,
      dataDir: sc.data_dir,
      pushPullIntervalMs: sc.push_pull_interval,
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
    const app = createApp({
      catalog: this.catalog,
      logger: child('api'),
      members,
      discoveryErrors: () => Object.fromEntries(this.discoverers.flatMap(d => { const e = d.lastError(); return e === undefined ? [] : [[d.name, e]] })),
      startedAt,
      proxy: () => this.proxy?.report() ?? { enabled: false, listeners: [], conflicts: [] },
      listeners: () => this.listeners.list(),
      hub: this.hub,
      metrics: this.metrics,
      drainer: this.announcer,
      check: id => this.monitor.check(id),
      lifespans,
      clock,
      streamQueueBytes: config.api.stream_queue_bytes,
      route: proxyRouteRule(defaultRouteRule(lifespans), () => this.proxy?.report()),
    })
    this.api = new HttpServer({ app, logger: child('api') }, { host: config.api.bind_ip, port: config.api.port, name: 'api', portSetting: '[api] port or --http-port' })
    // The API first: the example config health checks the daemon's own API. The hub after
    // it, so that on stop the hub ends every stream with a final event before the API closes.
    // Gossip before discovery: a joining node pulls the cluster's state before it announces its own.
    // Listeners before the announcer, so they see the first events of this host's services.
    // The proxy last: it opens the ports the catalog holds once local services are announced.
    this.#components = [this.api, this.hub, reaper, this.gossip, ...this.discoverers, this.listeners, this.monitor, this.announcer, ...(this.proxy !== undefined ? [this.proxy] : [])]
  }

  /** Cluster members for /services.json: this host and the live membership. */
  members (): ClusterMember[] {
    return this.gossip.members()
  }

  async start (): Promise<void> {
    if (this.#running) return
    const sc = this.config.sidecar
    this.#logger.info(`starting sidecar on ${sc.hostname} (cluster ${sc.cluster_name}, advertise ${sc.advertise_ip}, discovery: ${sc.discovery.join(', ') || 'none'})`)
    await startAll(this.#components)
    this.#running = true
  }

  async stop (): Promise<void> {
    if (!this.#running) return
    this.#running = false
    // Graceful leave first: local announcing stops, then our tombstones go out while the network is still up.
    await this.announcer.stop()
    await this.gossip.leave()
    await stopAll(this.#components)
  }
}
