// The bridge from what this host runs to the catalog: discovered services, with the status
// the health monitor derived, stamped with this host's clock and merged. A local service
// that vanishes from discovery is tombstoned. Records are refreshed on a short tick so
// they never reach the alive lifespan while they run. An operator's drain is held here and
// stamped on every refresh, so a drained record changes (and is announced) once per change,
// not once per refresh as in the original (reference §12.1).
import type { Catalog } from '../catalog/index.ts'
import type { Clock } from '../service/clock.ts'
import type { Logger } from '../lib/logger.ts'
import type { Startable } from '../lib/startable.ts'
import { Ticker } from '../lib/ticker.ts'
import { recordKey, withFields, type Service } from '../service/service.ts'
import { ServiceStatus } from '../service/status.ts'
import type { HealthMonitor } from '../health/monitor.ts'
import type { Discovered, Discoverer } from './types.ts'

export interface LocalAnnouncerInit {
  hostname: string
  /** Failover site stamped on every local record ('' for none). */
  site: string
  /** How often every local record is re-stamped (Updated = now). */
  refreshIntervalMs: number
}

export class LocalAnnouncer implements Startable {
  readonly #catalog: Catalog
  readonly #clock: Clock
  readonly #logger: Logger
  readonly #discoverers: readonly Discoverer[]
  readonly #monitor: HealthMonitor
  readonly #init: LocalAnnouncerInit
  /** (Hostname, ID) of every record this daemon announces, third-party hostnames included. */
  readonly #owned = new Map<string, Service>()
  /** Record keys an operator drained; forgotten when the instance goes away. */
  readonly #drained = new Set<string>()
  #ticker: Ticker | undefined
  readonly #onChange = (): void => { this.sync() }
  readonly #onStatus = (): void => { this.sync() }

  constructor (components: { catalog: Catalog, clock: Clock, logger: Logger, discoverers: readonly Discoverer[], monitor: HealthMonitor }, init: LocalAnnouncerInit) {
    this.#catalog = components.catalog
    this.#clock = components.clock
    this.#logger = components.logger
    this.#discoverers = components.discoverers
    this.#monitor = components.monitor
    this.#init = init
  }

  async start (): Promise<void> {
    if (this.#ticker !== undefined) return
    for (const d of this.#discoverers) d.on('change', this.#onChange)
    this.#monitor.on('status', this.#onStatus)
    this.sync()
    this.#ticker = new Ticker(() => { this.sync() }, { name: 'local refresh', intervalMs: this.#init.refreshIntervalMs, logger: this.#logger })
    this.#ticker.start()
  }

  async stop (): Promise<void> {
    for (const d of this.#discoverers) d.off('change', this.#onChange)
    this.#monitor.off('status', this.#onStatus)
    await this.#ticker?.stop()
    this.#ticker = undefined
  }

  /** Every discovered service, first discoverer winning on duplicate (Hostname, ID). */
  discovered (): Discovered[] {
    const seen = new Map<string, Discovered>()
    for (const disc of this.#discoverers) {
      for (const d of disc.services()) {
        const key = recordKey(d.service)
        if (!seen.has(key)) seen.set(key, d)
      }
    }
    return [...seen.values()]
  }

  /** The records this host announces right now (as stored in the catalog). */
  owned (): Service[] {
    return [...this.#owned.values()].map(s => this.#catalog.get(s.Hostname, s.ID) ?? s)
  }

  /**
   * Drains a local instance (one whose Hostname is this host's, reference §5.6): from now
   * on it is announced DRAINING (UNHEALTHY while its check fails), merged at once, so the
   * catalog emits one 'change' for it. Returns the stored record, or undefined when this
   * host announces no instance with that ID. Idempotent.
   */
  drain (id: string): Service | undefined {
    return this.#setDrained(id, true)
  }

  /**
   * Ends a drain: the instance is announced with its health status again, merged at once.
   * The catalog accepts the ALIVE record because it comes from its origin (this host), and
   * peers do the same when gossip hands them this host's record. Returns the stored record,
   * or undefined when this host announces no instance with that ID. Idempotent.
   */
  undrain (id: string): Service | undefined {
    return this.#setDrained(id, false)
  }

  /** True iff the operator drained this local instance. */
  isDrained (svc: Pick<Service, 'Hostname' | 'ID'>): boolean {
    return this.#drained.has(recordKey(svc))
  }

  #setDrained (id: string, drained: boolean): Service | undefined {
    const found = this.discovered().find(d => d.service.ID === id && d.service.Hostname === this.#init.hostname)
    if (found === undefined) return undefined
    const key = recordKey(found.service)
    if (drained) this.#drained.add(key)
    else this.#drained.delete(key)
    this.#logger.info({ id, name: found.service.Name }, `${drained ? 'draining' : 'undraining'} ${found.service.Name} (${id})`)
    this.sync()
    return this.#catalog.get(found.service.Hostname, id)
  }

  /** The status to announce: the health status, or DRAINING for a drained instance that is not failing its check. */
  #statusOf (svc: Service): ServiceStatus {
    const health = this.#monitor.status(svc.ID)
    return this.#drained.has(recordKey(svc)) && health !== ServiceStatus.UNHEALTHY ? ServiceStatus.DRAINING : health
  }

  /** Brings the catalog in line with discovery and health; idempotent, synchronous. */
  sync (): void {
    const discovered = this.discovered()
    this.#monitor.sync(discovered)
    const now = this.#clock.now()
    const live = new Set<string>()
    for (const d of discovered) {
      const key = recordKey(d.service)
      live.add(key)
      const record = withFields(d.service, {
        Updated: now,
        Status: this.#statusOf(d.service),
        ...(this.#init.site !== '' ? { Site: this.#init.site } : {}),
      })
      this.#owned.set(key, record)
      this.#catalog.merge(record)
    }
    // Vanished: what we announced before, plus our own hostname's records from an earlier run.
    const candidates = new Map(this.#owned)
    for (const s of Object.values(this.#catalog.server(this.#init.hostname)?.Services ?? {})) candidates.set(recordKey(s), s)
    for (const [key, svc] of candidates) {
      if (live.has(key)) continue
      this.#owned.delete(key)
      this.#drained.delete(key)
      const stored = this.#catalog.get(svc.Hostname, svc.ID)
      if (stored === undefined || stored.Status === ServiceStatus.TOMBSTONE) continue
      this.#logger.info({ id: svc.ID, name: svc.Name }, `tombstoning ${svc.Name} (${svc.ID}): no longer discovered`)
      this.#catalog.merge(withFields(stored, { Status: ServiceStatus.TOMBSTONE, Updated: now }))
    }
  }
}
