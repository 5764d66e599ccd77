// The bridge from what this host runs to the catalog: discovered services, with the status
// the health monitor derived, stamped with this host's clock and merged. A local service
// that vanishes from discovery is tombstoned. Records are refreshed on a short tick so
// they never reach the alive lifespan while they run.
import type { Catalog } from '../catalog/index.ts'
import type { Clock } from '../lib/clock.ts'
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
        Status: this.#monitor.status(d.service.ID),
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
      const stored = this.#catalog.get(svc.Hostname, svc.ID)
      if (stored === undefined || stored.Status === ServiceStatus.TOMBSTONE) continue
      this.#logger.info({ id: svc.ID, name: svc.Name }, `tombstoning ${svc.Name} (${svc.ID}): no longer discovered`)
      this.#catalog.merge(withFields(stored, { Status: ServiceStatus.TOMBSTONE, Updated: now }))
    }
  }
}
