// The only writer of this host's records. It takes what discovery finds and the verdicts
// of the health monitor, and stamps every record it merges with this host's clock:
// Updated = max(now, stored.Updated + 1 ns), so no stored version (a peer's copy, an
// earlier run's) can out-date the origin. It drains and undrains, refreshes on a short
// tick (records never reach the alive lifespan while they run), tombstones what vanished
// from discovery and, on stop (graceful leave), everything it announces.
// This hostname's records of an earlier run (a crash or a quick restart: peers hand them back,
// ALIVE) are tombstoned only once every discoverer has listed its services: a Docker that has
// not answered yet lists nothing, and tombstoning then flapped every container that still runs.
// A rediscovered one keeps the health status its record of the earlier run holds (same fields)
// until its new check's first verdict, within a bound, instead of flapping to UNKNOWN and back.
// Work is O(changes): a status flip merges one record; a discovery change compares the
// discovered set with the last one and touches only what differs. The refresh tick is the
// one pass over every record (it must re-stamp them all anyway).
// An operator's drain is held here and stamped on every refresh, so a drained record
// changes (and is announced) once per change, not once per refresh (reference §12.1). Drains
// are kept in data_dir (drains.ts) and read before anything is announced at start: an instance
// discovered again with the same ID is DRAINING from its first record of the new run.
import { EventEmitter } from 'node:events'
import { isRefresh, type Catalog, type ChangeEvent } from '../catalog/index.ts'
import type { Discovered, Discoverer } from '../discovery/types.ts'
import type { CheckTargets } from '../health/target.ts'
import type { Logger } from '../lib/logger.ts'
import { nextTurn, Slicer, TurnBudget } from '../lib/slicer.ts'
import type { Startable } from '../lib/startable.ts'
import { Ticker } from '../lib/ticker.ts'
import type { Clock } from '../service/clock.ts'
import { listenerName, recordKey, withFields, type Service } from '../service/service.ts'
import { ServiceStatus } from '../service/status.ts'
import { Time } from '../service/time.ts'
import { checkTargetOf, type CheckDefaults } from './check-target.ts'
import { Drains } from './drains.ts'
import type { ListenerSource, ListenerTarget, OwnedRecords } from './types.ts'

/**
 * The graceful leave's slices are longer than the daemon's usual SLICE_MS: the whole
 * shutdown must stay within the CLI's 5 s stop limit on a loaded host, and the API and
 * gossip still get a turn between slices (a tombstone costs 20-40 us: 10,000 in ~15 turns).
 */
export const LEAVE_SLICE_MS = 25

/**
 * How long after start() this hostname's records of an earlier run are kept while a discoverer
 * has not listed its services yet (Docker not answering). Long enough for a Docker that starts
 * or restarts beside the sidecar (its discoverer retries every 5 s at most, and gives a request
 * 10 s); far shorter than the 10 min a DRAINING record would otherwise stay routable if Docker
 * is gone for good. Then the records no discoverer reports are tombstoned, as before.
 */
export const FIRST_LISTING_WAIT_MS = 30_000

export interface LocalAnnouncerInit extends Partial<CheckDefaults> {
  hostname: string
  /** Failover site stamped on every local record ('' for none). */
  site: string
  /** How often the refresh looks over every local record. */
  refreshIntervalMs: number
  /**
   * The refresh re-stamps a record only once its stored Updated is this old (or the catalog
   * holds another status than this host announces). Gossip's heartbeat re-stamps and sends
   * each record before that, so peers hold the very version this host holds and anti-entropy
   * digests agree; the refresh is the safety net that keeps a record inside its alive lifespan.
   * 0: every refresh re-stamps every record.
   */
  restampAfterMs?: number
  /** See FIRST_LISTING_WAIT_MS (the default). */
  firstListingWaitMs?: number
  /**
   * How long a service rediscovered after a restart is announced with the health status of its
   * record of the earlier run (ALIVE or UNHEALTHY, same fields) while its new check has no
   * verdict yet; then UNKNOWN as any new check. The daemon gives one health interval plus the
   * check timeout (a new check runs at once). Default FIRST_VERDICT_WAIT_MS; 0: never.
   */
  firstVerdictWaitMs?: number
  /** [sidecar] data_dir: drains are kept there across restarts (drains.ts). Unset: in memory only. */
  dataDir?: string
}

/** The default of firstVerdictWaitMs: the default health interval (3 s) plus timeout (2 s). */
export const FIRST_VERDICT_WAIT_MS = 5000

export interface LocalAnnouncerComponents {
  catalog: Catalog
  clock: Clock
  logger: Logger
  discoverers: readonly Discoverer[]
  /** Where checks go and verdicts come from (the HealthMonitor). */
  monitor: CheckTargets
}

/** What makes two discoveries of one record the same: every field but Status and Updated, plus check and listener. */
function fingerprint (d: Discovered): string {
  return JSON.stringify([{ ...d.service, Status: 0, Updated: null }, d.check ?? null, d.checkRendered === true, d.listenerUrl ?? null, d.container ?? null])
}

export class LocalAnnouncer extends EventEmitter<{ change: [] }> implements Startable, OwnedRecords, ListenerSource {
  readonly #c: LocalAnnouncerComponents
  readonly #init: LocalAnnouncerInit
  readonly #defaults: CheckDefaults
  /** restampAfterMs in ns, converted once: the refresh compares it for every record each second. */
  readonly #restampAfterNs: bigint
  /** Every discovered service by record key, first discoverer winning on a duplicate key. */
  #discovered = new Map<string, Discovered>()
  readonly #prints = new WeakMap<Discovered, string>()
  /** (Hostname, ID) of every record this daemon announces, third-party hostnames included. */
  readonly #owned = new Map<string, Service>()
  /** Record keys an operator drained, kept in data_dir; forgotten when the instance goes away. */
  readonly #drained: Drains
  /**
   * Rediscovered services announced with their earlier run's health status until their check's
   * first verdict: key -> that status and until when (clock ms). Ended by a verdict, a
   * rediscovery with other fields, a vanish, or the deadline (the refresh then announces UNKNOWN).
   */
  readonly #carried = new Map<string, { status: ServiceStatus, untilMs: number }>()
  #listenerTargets: readonly ListenerTarget[] = []
  #ticker: Ticker | undefined
  readonly #onDiscovery = (): void => {
    this.#followDiscovery()
    if (this.#listingWait !== undefined && this.#unlisted().length === 0) this.#endListingWait(false)
    if (this.#drained.pending && this.#unlisted().length === 0) void this.settled().then(() => { this.#forgetUndiscoveredDrains() })
  }

  /** Set from start() until every discoverer has listed once, or the wait ran out: an earlier run's records are kept meanwhile. */
  #listingWait: NodeJS.Timeout | undefined
  /** The tombstoning of an earlier run's records that follows the wait. */
  #sweep: Promise<void> | undefined
  /** Ends start()'s wait for the first announcements (abortStart). */
  #abortStart: (() => void) | undefined
  #startAborted = false
  /** The discovery change being applied (in slices), and whether another arrived meanwhile. */
  #reconciling: Promise<void> | undefined
  #rediscover = false
  /** Discovery changes applied (or given up) so far: tells a change applied within its turn from one still in slices. */
  #applied = 0
  /**
   * A verdict is announced at once (one merge, whose change event the API's hub, gossip and
   * listeners follow) while this turn's budget lasts. Verdicts land in bursts (a poll phase
   * of TCP connects, a round of 64 quick checks): the rest wait here, in arrival order, for
   * later turns; a key queued twice is announced once, with its latest status.
   */
  readonly #onStatus = (key: string): void => {
    this.#carried.delete(key) // the new check's verdict: announced as it is
    if (!this.#discovered.has(key)) return
    if (this.#statusQueue.size === 0 && !this.#statusBudget.exhausted) {
      this.#statusBudget.run(() => { this.#announce(key, this.#c.clock.now()) })
      return
    }
    this.#statusQueue.add(key)
    if (this.#statusQueue.size === 1) void this.#drainStatuses()
  }

  readonly #statusQueue = new Set<string>()
  readonly #statusBudget = new TurnBudget()
  /** Records under this hostname that arrive from elsewhere (an earlier run's, by anti-entropy) but are not discovered. */
  readonly #strays = new Set<string>()
  readonly #onCatalog = (e: ChangeEvent): void => {
    const svc = e.service
    if (svc.Hostname !== this.#init.hostname || svc.Status === ServiceStatus.TOMBSTONE || this.#discovered.has(recordKey(svc))) return
    // Not inside the merge that emitted this: tombstone it once the current operation is over.
    if (this.#strays.size === 0) queueMicrotask(() => { this.#tombstoneStrays() })
    this.#strays.add(recordKey(svc))
  }

  constructor (components: LocalAnnouncerComponents, init: LocalAnnouncerInit) {
    super()
    this.#c = components
    this.#init = init
    this.#defaults = { checkHost: init.checkHost ?? '127.0.0.1', defaultCheckEndpoint: init.defaultCheckEndpoint ?? '/version' }
    this.#restampAfterNs = BigInt(Math.round((init.restampAfterMs ?? 0) * 1e6))
    this.#drained = new Drains({ logger: components.logger }, { hostname: init.hostname, dataDir: init.dataDir })
  }

  async start (): Promise<void> {
    if (this.#ticker !== undefined) return
    await this.#drained.load() // before anything is announced: a drained instance's first record of this run is DRAINING
    if (this.#ticker !== undefined) return
    for (const d of this.#c.discoverers) d.on('change', this.#onDiscovery)
    this.#c.monitor.on('status', this.#onStatus)
    this.#c.catalog.on('change', this.#onCatalog)
    this.#ticker = new Ticker(async (signal) => { await this.#refresh(signal) }, { name: 'local refresh', intervalMs: this.#init.refreshIntervalMs, logger: this.#c.logger })
    this.#followDiscovery()
    // everything discovered is announced once start() returns (the proxy starts next), unless
    // the start is abandoned for a stop (abortStart): stop() then ends the announcing at its next slice
    if (!this.#startAborted) await Promise.race([this.settled(), new Promise<void>((resolve) => { this.#abortStart = resolve })])
    this.#abortStart = undefined
    if (this.#ticker === undefined || this.#startAborted) return // stopped meanwhile, or about to be
    this.#forgetUndiscoveredDrains()
    if (this.#unlisted().length === 0) await this.#tombstoneVanished() // this hostname's records left from an earlier run
    else this.#awaitListing()
    if (this.#ticker === undefined) return
    this.#ticker?.start()
  }

  /**
   * A stop is coming during start(): start() returns without waiting for the discovered
   * services to be announced, and without starting the refresh; the following stop() leaves
   * as usual (what was announced so far is tombstoned).
   */
  abortStart (): void {
    this.#startAborted = true
    this.#abortStart?.()
  }

  /** Resolves once the discovery changes reported so far are applied (they may take a few turns of the event loop). */
  async settled (): Promise<void> {
    while (this.#reconciling !== undefined) await this.#reconciling
  }

  /** Graceful leave: stops following discovery and health, then tombstones every record this host announces. */
  async stop (): Promise<void> {
    if (this.#ticker === undefined) return
    for (const d of this.#c.discoverers) d.off('change', this.#onDiscovery)
    this.#c.monitor.off('status', this.#onStatus)
    this.#c.catalog.off('change', this.#onCatalog)
    this.#strays.clear()
    if (this.#listingWait !== undefined) {
      // an earlier run's records kept for the wait leave with the rest: this host announces nothing after its leave
      for (const s of this.#c.catalog.hostRecords(this.#init.hostname)) if (s.Status !== ServiceStatus.TOMBSTONE && !this.#owned.has(recordKey(s))) this.#owned.set(recordKey(s), s)
    }
    clearTimeout(this.#listingWait)
    this.#listingWait = undefined
    const ticker = this.#ticker
    this.#ticker = undefined // also ends a discovery change still being applied, at its next slice
    await ticker.stop()
    await this.#reconciling
    await this.#sweep
    const n = await this.#leave()
    if (n > 0) this.#c.logger.info(`leaving: tombstoned ${n} local record${n === 1 ? '' : 's'}`)
    await this.#drained.flush()
  }

  /** Every discovered service, first discoverer winning on duplicate (Hostname, ID). */
  discovered (): Discovered[] {
    return [...this.#discovered.values()]
  }

  /** The records this host announces right now (as stored in the catalog). */
  owned (): Service[] {
    return [...this.#owned.values()].map(s => this.#c.catalog.get(s.Hostname, s.ID) ?? s)
  }

  isOwned (svc: Pick<Service, 'Hostname' | 'ID'>): boolean {
    return this.#owned.has(recordKey(svc))
  }

  restamp (hostname: string, id: string): Service | undefined {
    if (hostname !== this.#init.hostname && !this.#owned.has(recordKey({ Hostname: hostname, ID: id }))) return undefined
    const stored = this.#c.catalog.get(hostname, id)
    if (stored === undefined) return undefined
    this.#c.catalog.merge(withFields(stored, { Updated: this.#stamp(stored, this.#c.clock.now()) }))
    return this.#c.catalog.get(hostname, id)
  }

  listenerTargets (): readonly ListenerTarget[] {
    return this.#listenerTargets
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

  /**
   * Resolves once the drains and undrains so far are written to data_dir (or the write failed,
   * warned once), FLUSH_WAIT_MS at most: the API answers a drain after it. Never rejects.
   */
  async kept (): Promise<void> {
    await this.#drained.flush()
  }

  /** True iff the operator drained this local instance. */
  isDrained (svc: Pick<Service, 'Hostname' | 'ID'>): boolean {
    return this.#drained.has(recordKey(svc))
  }

  /**
   * The refresh: re-stamps every discovered record. Idempotent, synchronous, O(records).
   * (What vanished is tombstoned when discovery or the catalog says so, not here.)
   */
  sync (): void {
    const now = this.#c.clock.now()
    for (const key of this.#discovered.keys()) this.#announce(key, now)
  }

  /**
   * The ticker's refresh: re-stamps the records that need it (see restampAfterMs), in slices
   * of SLICE_MS, one per turn of the event loop, so 10,000 records never block the loop at once.
   */
  async #refresh (signal: AbortSignal): Promise<void> {
    const keys = [...this.#discovered.keys()]
    const slicer = new Slicer()
    let now = this.#c.clock.now()
    for (const key of keys) {
      if (slicer.due()) {
        await slicer.next()
        if (signal.aborted) return
        now = this.#c.clock.now()
      }
      if (this.#needsRestamp(key, now)) this.#announce(key, now)
    }
  }

  /** Announces queued verdicts, as much as each turn's budget allows, until none is left. */
  async #drainStatuses (): Promise<void> {
    while (this.#statusQueue.size > 0) {
      await nextTurn()
      if (this.#ticker === undefined) { this.#statusQueue.clear(); return } // stopped: the leave takes over
      for (const key of this.#statusQueue) {
        if (this.#statusBudget.exhausted) break
        this.#statusQueue.delete(key)
        if (this.#discovered.has(key)) this.#statusBudget.run(() => { this.#announce(key, this.#c.clock.now()) })
      }
    }
  }

  /** True iff the stored record is missing, shows another status than this host announces, or is older than restampAfterMs. */
  #needsRestamp (key: string, now: Time): boolean {
    const d = this.#discovered.get(key)
    if (d === undefined) return false
    const stored = this.#c.catalog.get(d.service.Hostname, d.service.ID)
    if (stored === undefined || stored.Status !== this.#statusOf(key)) return true
    return now.ns - stored.Updated.ns >= this.#restampAfterNs
  }

  #tombstoneStrays (): void {
    const keys = [...this.#strays]
    this.#strays.clear()
    if (this.#ticker === undefined || this.#listingWait !== undefined) return // waiting: the sweep after it looks at every record
    const now = this.#c.clock.now()
    for (const key of keys) {
      if (this.#discovered.has(key)) continue
      const [hostname, id] = key.split('\u0000')
      const svc = this.#c.catalog.get(hostname, id)
      if (svc !== undefined) this.#vanish(key, svc, now)
    }
  }

  /**
   * Tombstones what this host announced, or holds under its own hostname, but no longer
   * discovers, in slices. Unsorted records (catalog.server() would sort and freeze all 10,000 for this).
   */
  async #tombstoneVanished (): Promise<void> {
    const slicer = new Slicer()
    const candidates = new Map<string, Service>()
    for (const [key, svc] of this.#owned) if (!this.#discovered.has(key)) candidates.set(key, svc)
    for (const s of this.#c.catalog.hostRecords(this.#init.hostname)) {
      if (slicer.due()) await slicer.next()
      const key = recordKey(s)
      if (!this.#discovered.has(key)) candidates.set(key, s)
    }
    for (const [key, svc] of candidates) {
      if (slicer.due()) await slicer.next()
      if (this.#ticker === undefined) return // stopped: the leave takes over
      if (!this.#discovered.has(key)) this.#vanish(key, svc, this.#c.clock.now())
    }
  }

  /** The discoverers that have not listed their services yet. */
  #unlisted (): string[] {
    return this.#c.discoverers.flatMap(d => d.listed() ? [] : [d.name])
  }

  /**
   * Keeps this hostname's records that nothing discovers yet (an earlier run's) until every
   * discoverer has listed once, or for firstListingWaitMs at most: until then an empty
   * discovered set means "not asked yet". Whichever discoverer owned a record is not
   * recorded in it, so one unlisted discoverer holds them all.
   */
  #awaitListing (): void {
    const waitMs = this.#init.firstListingWaitMs ?? FIRST_LISTING_WAIT_MS
    this.#listingWait = setTimeout(() => { this.#endListingWait(true) }, waitMs)
    const kept = this.#undiscovered()
    if (kept > 0) this.#c.logger.info(`keeping ${kept} record${kept === 1 ? '' : 's'} of this host from an earlier run until ${this.#unlisted().join(' and ')} discovery has listed its services (at most ${waitMs / 1000} s): what still runs is not tombstoned`)
  }

  /** How many live records under this hostname nothing discovers (one pass, no merge: about 1 ms for 10,000). */
  #undiscovered (): number {
    let n = 0
    for (const s of this.#c.catalog.hostRecords(this.#init.hostname)) if (s.Status !== ServiceStatus.TOMBSTONE && !this.#discovered.has(recordKey(s))) n++
    return n
  }

  /** Ends the wait: every discoverer listed (the discovery change is applied first), or the time ran out. */
  #endListingWait (timedOut: boolean): void {
    clearTimeout(this.#listingWait)
    this.#listingWait = undefined
    const n = timedOut ? this.#undiscovered() : 0
    if (n > 0) this.#c.logger.warn(`${this.#unlisted().join(' and ')} discovery has not listed its services ${(this.#init.firstListingWaitMs ?? FIRST_LISTING_WAIT_MS) / 1000} s after the start: tombstoning the ${n} record${n === 1 ? '' : 's'} of this host from an earlier run that no discoverer reports`)
    const sweep = this.#sweep = (async () => {
      await this.settled()
      await this.#tombstoneVanished()
    })().catch((err: unknown) => { this.#c.logger.error({ err }, 'failed to tombstone the records of an earlier run') }).finally(() => {
      if (this.#sweep === sweep) this.#sweep = undefined
    })
  }

  #setDrained (id: string, drained: boolean): Service | undefined {
    const key = recordKey({ Hostname: this.#init.hostname, ID: id })
    const found = this.#discovered.get(key)
    if (found === undefined) return undefined
    this.#drained.set(key, drained)
    this.#c.logger.info({ id, name: found.service.Name }, `${drained ? 'draining' : 'undraining'} ${found.service.Name} (${id})`)
    this.#announce(key, this.#c.clock.now())
    return this.#c.catalog.get(found.service.Hostname, id)
  }

  /**
   * The drains read at start whose instance is not discovered again are forgotten once every
   * discoverer has listed and that listing is applied (callers wait for settled()); not after
   * a stop, whose leave empties the discovered set.
   */
  #forgetUndiscoveredDrains (): void {
    if (!this.#drained.pending || this.#ticker === undefined || this.#unlisted().length > 0) return
    this.#drained.forgetUndiscovered(key => this.#discovered.has(key))
  }

  /**
   * The status to announce: the health status (an earlier run's while the new check has no
   * verdict, see #carried), or DRAINING for a drained instance that is not failing its check.
   */
  #statusOf (key: string, health = this.#c.monitor.status(key)): ServiceStatus {
    if (health === ServiceStatus.UNKNOWN && this.#carried.size > 0) health = this.#carriedStatus(key) ?? health
    return this.#drained.has(key) && health !== ServiceStatus.UNHEALTHY ? ServiceStatus.DRAINING : health
  }

  /** The earlier run's status carried for key while its deadline lasts; a key past it is forgotten. */
  #carriedStatus (key: string): ServiceStatus | undefined {
    const c = this.#carried.get(key)
    if (c === undefined) return undefined
    if (this.#c.clock.now().toMillis() < c.untilMs) return c.status
    this.#carried.delete(key)
    return undefined
  }

  /**
   * When d is discovered for the first time in this run and its new check has no verdict yet
   * (health UNKNOWN): the health status of this host's record of an earlier run (a peer's copy
   * or this node's, origin-signed) if it is ALIVE or UNHEALTHY and has d's fields, so peers see
   * no UNKNOWN step in between; the status is carried until the first verdict, within a bound.
   * DRAINING is not carried: an operator's drain is kept in data_dir and read at start, and
   * #statusOf makes a drained instance DRAINING whatever status is carried (UNHEALTHY stays,
   * as for any drained instance whose check fails): a kept drain wins. A DRAINING record of an
   * earlier run whose drain was not kept (data_dir unwritable) starts UNKNOWN, as any new check.
   */
  #carryOver (key: string, d: Discovered, health: ServiceStatus): ServiceStatus {
    const waitMs = this.#init.firstVerdictWaitMs ?? FIRST_VERDICT_WAIT_MS
    if (health !== ServiceStatus.UNKNOWN || waitMs <= 0 || this.#owned.has(key)) return health
    const stored = this.#c.catalog.get(d.service.Hostname, d.service.ID)
    if (stored === undefined || (stored.Status !== ServiceStatus.ALIVE && stored.Status !== ServiceStatus.UNHEALTHY)) return health
    if (!isRefresh(stored, this.#record(d, stored.Status, stored.Updated))) return health
    this.#carried.set(key, { status: stored.Status, untilMs: this.#c.clock.now().toMillis() + waitMs })
    return stored.Status
  }

  /** Origin always wins for its own records: strictly newer than anything stored. */
  #stamp (stored: Service | undefined, now: Time): Time {
    return stored === undefined ? now : Time.max(now, stored.Updated.plusNanos(1n))
  }

  /** The record this host announces for d: its discovered fields with this status and time, and this host's site. */
  #record (d: Discovered, status: ServiceStatus, updated: Time): Service {
    return withFields(d.service, { Updated: updated, Status: status, ...(this.#init.site !== '' ? { Site: this.#init.site } : {}) })
  }

  #announce (key: string, now: Time, health?: ServiceStatus): void {
    const d = this.#discovered.get(key)
    if (d === undefined) return
    const stored = this.#c.catalog.get(d.service.Hostname, d.service.ID)
    const record = this.#record(d, this.#statusOf(key, health), this.#stamp(stored, now))
    this.#owned.set(key, record)
    this.#c.catalog.merge(record)
  }

  #vanish (key: string, svc: Service, now: Time): void {
    this.#owned.delete(key)
    this.#drained.vanished(key)
    this.#carried.delete(key)
    const stored = this.#c.catalog.get(svc.Hostname, svc.ID)
    if (stored === undefined || stored.Status === ServiceStatus.TOMBSTONE) return
    this.#c.logger.info({ id: svc.ID, name: svc.Name }, `tombstoning ${svc.Name} (${svc.ID}): no longer discovered`)
    this.#c.catalog.merge(withFields(stored, { Status: ServiceStatus.TOMBSTONE, Updated: this.#stamp(stored, now) }))
  }

  /** Applies discovery changes one after another: one reported while another is applied runs after it. */
  #followDiscovery (): void {
    if (this.#reconciling !== undefined) { this.#rediscover = true; return }
    const applied = this.#applied
    const first = this.#reconcile() // its first slice runs now, in this turn
    if (this.#applied !== applied) { // applied within this turn: the next change may follow at once
      first.catch((err: unknown) => { this.#c.logger.error({ err }, 'failed to follow a discovery change') })
      return
    }
    const done = this.#reconciling = (async () => {
      await first
      while (this.#rediscover && this.#ticker !== undefined) {
        this.#rediscover = false
        await this.#reconcile()
      }
    })().catch((err: unknown) => { this.#c.logger.error({ err }, 'failed to follow a discovery change') }).finally(() => {
      if (this.#reconciling === done) this.#reconciling = undefined
    })
  }

  /**
   * Follows a discovery change: only records that appeared, changed or vanished are touched
   * (a check handed to the monitor and one merge each: 50-100 us a record on a loaded host).
   * All of it, the comparison with the last discovered set included, runs in slices of
   * SLICE_MS, one per turn of the event loop: the start of 10,000 static services was one
   * 400-600 ms step. The first slice runs in the caller's turn, so a small change is applied
   * in the turn that reported it. Until the comparison is done, the last set stays in force.
   */
  async #reconcile (): Promise<void> {
    try {
      const slicer = new Slicer()
      const stopped = async (): Promise<boolean> => {
        await slicer.next()
        return this.#ticker === undefined // stopped: the leave tombstones what was announced
      }
      const lists = this.#c.discoverers.map(d => d.services())
      const prev = this.#discovered
      const next = new Map<string, Discovered>()
      const touched: Array<[string, Discovered]> = []
      for (const list of lists) {
        for (const d of list) {
          if (slicer.due() && await stopped()) return
          const key = recordKey(d.service)
          if (next.has(key)) continue
          next.set(key, d)
          const before = prev.get(key)
          if (before === undefined || (before !== d && this.#print(before) !== this.#print(d))) touched.push([key, d])
        }
      }
      const vanished: Array<[string, Discovered]> = []
      for (const entry of prev) {
        if (slicer.due() && await stopped()) return
        if (!next.has(entry[0])) vanished.push(entry)
      }
      this.#discovered = next
      if (touched.length === 0 && vanished.length === 0) return
      // Listener targets first: a discovered listener exists before its own service is first
      // announced (the records below may take several turns), and is gone before its tombstone.
      this.#listenerTargets = Object.freeze([...next.values()].flatMap(d => d.listenerUrl === undefined ? [] : [Object.freeze({ name: listenerName(d.service), url: d.listenerUrl })]))
      this.emit('change')
      for (const [key, d] of touched) {
        if (slicer.due() && await stopped()) return
        // The record first, with the status its check will have, then the check: a quick check
        // (AlwaysSuccessful) ends a microtask later, and its verdict must not land before the
        // change events of this operation are settled (listeners snapshot the state then).
        const target = checkTargetOf(d, this.#defaults)
        const health = this.#c.monitor.statusAfterSet(target)
        if (prev.has(key)) this.#carried.delete(key) // other fields or check: its record of an earlier run says nothing of it
        this.#announce(key, this.#c.clock.now(), this.#carryOver(key, d, health))
        this.#c.monitor.set(target)
      }
      for (const [key, d] of vanished) {
        if (slicer.due() && await stopped()) return
        this.#c.monitor.delete(key)
        this.#vanish(key, this.#c.catalog.get(d.service.Hostname, d.service.ID) ?? d.service, this.#c.clock.now())
      }
    } finally {
      this.#applied++ // synchronously when nothing yielded: #followDiscovery tells by it
    }
  }

  #print (d: Discovered): string {
    let p = this.#prints.get(d)
    if (p === undefined) this.#prints.set(d, p = fingerprint(d))
    return p
  }

  /**
   * Tombstones every owned record (Updated stamped as always); they stay owned so gossip can
   * repeat them. In slices of LEAVE_SLICE_MS: the API answers while 10,000 records are
   * tombstoned, and gossip sends the first ones meanwhile.
   */
  async #leave (): Promise<number> {
    let n = 0
    const owned = [...this.#owned]
    this.#discovered = new Map() // first: a drain or status change meanwhile must not announce a record again
    const slicer = new Slicer(LEAVE_SLICE_MS)
    let now = this.#c.clock.now()
    for (const [key, svc] of owned) {
      if (slicer.due()) {
        await slicer.next()
        now = this.#c.clock.now()
      }
      const stored = this.#c.catalog.get(svc.Hostname, svc.ID)
      if (stored?.Status === ServiceStatus.TOMBSTONE) continue
      const tomb = withFields(stored ?? svc, { Status: ServiceStatus.TOMBSTONE, Updated: this.#stamp(stored, now) })
      this.#owned.set(key, tomb)
      this.#c.catalog.merge(tomb)
      n++
    }
    this.#listenerTargets = []
    this.emit('change')
    return n
  }
}
