// The catalog: every known service record, keyed by (Hostname, ID), merged by the rules in
// rules.ts. merge() is the only way records come in; expire() and expireHost() are the only
// ways they go out. Changes are announced synchronously as 'change' events; readers get
// frozen snapshots, never the live maps (the queries are CatalogReads, catalog-reads.ts).
import type { Clock } from '../service/clock.ts'
import { ConfigError } from '../lib/errors.ts'
import { makeService, ServiceStatus, Time, withFields, type Service } from '../service/index.ts'
import { CatalogReads, type CatalogState } from './catalog-reads.ts'
import { Displacement } from './displacement.ts'
import { ExpiryIndex } from './expiry-index.ts'
import { DEPARTURE_BUMP_NS, EXPIRY_BUMP_MS, isDeadTombstone, isExpired, isRefresh, isStale, mergedStatus, shouldReplace } from './rules.ts'
import { dropRecord, newServerEntry, putRecord, type ServerEntry } from './server-entry.ts'
import type { CatalogOptions, ChangeEvent, MergeResult, MergeRoom } from './types.ts'

function validateOptions (init: CatalogOptions): void {
  const problems: string[] = []
  for (const key of ['aliveLifespanMs', 'drainingLifespanMs', 'tombstoneLifespanMs'] as const) {
    const v = init[key]
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) problems.push(`catalog option ${key} must be a positive number of milliseconds, got ${String(v)}`)
  }
  if (problems.length > 0) throw new ConfigError(problems)
}

/**
 * Holds the cluster's service records. All methods are synchronous and never await a
 * listener. 'change' listeners run inside merge()/expire()/expireHost(), after the state
 * has been updated (so they may read snapshots); they must not throw: an exception
 * propagates to the caller and the remaining events of that call are not emitted.
 */
export class Catalog extends CatalogReads {
  readonly #clock: Clock
  /** The state the queries (CatalogReads) read; only this class writes it. */
  readonly #state: CatalogState
  /** What expire() has to look at: one entry per stored version (tombstoning a live record, forgetting a tombstone). */
  readonly #due: ExpiryIndex

  constructor (components: { clock: Clock }, init: CatalogOptions) {
    validateOptions(init)
    const servers = new Map<string, ServerEntry>()
    const state: CatalogState = { opts: Object.freeze({ ...init }), servers, byStatus: new Map(), displaced: new Displacement(servers), lastChanged: Time.EPOCH, version: 0, snapshot: undefined }
    super(state)
    this.#state = state
    this.#clock = components.clock
    this.#due = new ExpiryIndex(state.opts)
  }

  /**
   * Merges one record (reference §2.2 with fixes): strictly newer Updated wins; DRAINING
   * survives an ALIVE record relayed by another host, but not one from its origin (`from`
   * equal to its Hostname: the local announcer, or the origin's own gossip), which is how
   * an undrain spreads; a stale record is dropped without touching what is stored. Emits
   * 'change' synchronously for 'added' and 'changed' (any field but Updated differs:
   * isRefresh), and 'contradicted' (stored, incoming, from) when a peer hands us an older
   * version of one of this host's own records with another status. `from` is the host that handed us
   * the record (default: this host). `originSigned`: the record's origin signed this version
   * (gossip's admission checked its proof), so it ends a drain whoever relayed it.
   * `room` (MergeRoom): whether a record of a key not held may be added; 'displace' forgets
   * the host's oldest tombstone for it (silently, as expiry forgets one), so the host's record
   * count does not grow (admission.ts admits a host's new record beyond a cap that way). A
   * record of a key not held that is not newer than the newest tombstone its host gave up so
   * is 'stale', and so is a live version past its lifespan (isExpired) for a key not held or
   * held as a tombstone: dead on arrival, it is never shown as live.
   */
  merge (svc: Service, from: string = this.#state.opts.hostname, originSigned = false, room: MergeRoom = 'any'): MergeResult {
    if (isStale(svc, this.#state.opts.tombstoneLifespanMs, this.#clock.now())) return 'stale'
    const server = this.#state.servers.get(svc.Hostname)
    const existing = server?.services.get(svc.ID)
    if (existing === undefined && this.#state.displaced.superseded(svc, server)) return 'stale'
    if (!shouldReplace(existing, svc)) {
      // A peer holds an older version of this host's own record with another status (our live
      // service as a tombstone after a partition, or our removed one as ALIVE): the origin must refute it.
      if (existing !== undefined && svc.Hostname === this.#state.opts.hostname && from !== this.#state.opts.hostname && existing.Status !== svc.Status) this.emit('contradicted', existing, svc, from)
      return 'ignored'
    }
    // A live version already past its lifespan, for a key held at most as a tombstone: the next
    // reap would tombstone it (stamped 1 s after it), so storing it only showed a dead instance
    // as live for up to one reap (a replay, a late joiner's pull, a peer's not yet reaped copy).
    if ((existing === undefined || existing.Status === ServiceStatus.TOMBSTONE) && isExpired(svc, this.#state.opts, this.#clock.now())) return 'stale'
    const status = existing === undefined ? svc.Status : mergedStatus(existing, svc, originSigned || from === svc.Hostname)
    const frozen = Object.isFrozen(svc) && (svc.Ports === null || Object.isFrozen(svc.Ports)) ? svc : makeService(svc)
    const stored = status === frozen.Status ? frozen : withFields(frozen, { Status: status })
    if (existing !== undefined && isRefresh(existing, stored)) {
      this.#store(stored, false, from)
      return 'refreshed'
    }
    if (existing === undefined && room !== 'any' && (room === 'held' || server === undefined || !this.#displace(server))) return 'stale'
    this.#store(stored, true, from)
    this.#emit([{ service: stored, previousStatus: existing?.Status ?? ServiceStatus.UNKNOWN, time: stored.Updated }])
    return existing === undefined ? 'added' : 'changed'
  }

  /**
   * One reaping pass (reference §2.5): deletes tombstones older than the tombstone lifespan
   * + 1 min, the stale cut-off (tombstoneKeptMs; and servers left empty), and tombstones every
   * record not refreshed within its lifespan with Updated = old Updated + 1 s, so that a newer
   * record elsewhere still wins.
   * Returns the new tombstones, for gossip to announce.
   */
  expire (): Service[] {
    return this.expireSome().expired
  }

  /**
   * expire() in slices: stops once slice.due() says so (checked every few records), with
   * done false when due records are left for another call. Without a slice, one whole pass.
   */
  expireSome (slice?: { due: () => boolean }): { expired: Service[], done: boolean } {
    const now = this.#clock.now()
    const nowMs = now.toMillis()
    const events: ChangeEvent[] = []
    // Only the seconds whose deadlines have come are looked at (ExpiryIndex); their entries are
    // early by up to 1 ms, so the rules decide. An entry of a version since replaced is skipped (the
    // new version has its own), and one not due yet (the clock stepped back) goes back in after the pass.
    const due = this.#due
    due.begin()
    for (let entry = due.next(nowMs, slice); entry !== undefined; entry = due.next(nowMs, slice)) {
      const { server, id } = entry
      const svc = server.services.get(id)
      if (svc === undefined || due.deadlineOf(svc) !== entry.at) continue
      if (isDeadTombstone(svc, this.#state.opts, now)) {
        this.#forget(server, svc)
      } else if (isExpired(svc, this.#state.opts, now)) {
        const tomb = withFields(svc, { Status: ServiceStatus.TOMBSTONE, Updated: svc.Updated.plusMillis(EXPIRY_BUMP_MS) })
        this.#store(tomb, true)
        events.push({ service: tomb, previousStatus: svc.Status, time: tomb.Updated })
      } else {
        due.notYet(entry)
      }
    }
    const done = due.end()
    this.#emit(events)
    return { expired: events.map(e => e.service), done }
  }

  /**
   * Tombstones every live record of a departed host (reference §2.6), each stamped with the
   * Updated of the version it replaces + 1 ns (DEPARTURE_BUMP_NS): newer than every version of
   * it this node held, and older than anything the host stamps after it. The original stamped
   * the observer's now, which put this node's clock into a comparison of the host's own
   * stamps: an observer whose clock was s ahead held the host's records down for about s after
   * the host came back (its re-announced versions, stamped by its own clock, lost to the
   * tombstone), and the host only re-announces at its own clock (an observer's tombstone of its
   * own records is never merged, and a host that re-stamped past it could be pushed ahead by
   * any member). Versions the host stamped after the one held here, which this node missed,
   * are refused while the host is not a member (admission), so the tombstone needs to beat no
   * more than what is held. Existing tombstones keep their time.
   * Returns the new tombstones; [] for an unknown host or one with nothing live.
   */
  expireHost (hostname: string): Service[] {
    return this.tombstoneDeparted(this.hostRecords(hostname))
  }

  /**
   * expireHost for some of a departed host's records (hostRecords), so a caller can spread a
   * large host over several turns of the event loop: each record is tombstoned only while it
   * is still the stored version (one that changed since, re-announced by the host on its
   * return for instance, is left alone); tombstones and unknown records are skipped.
   */
  tombstoneDeparted (records: readonly Service[]): Service[] {
    const events: ChangeEvent[] = []
    for (const svc of records) {
      if (svc.Status === ServiceStatus.TOMBSTONE || this.#state.servers.get(svc.Hostname)?.services.get(svc.ID) !== svc) continue
      const tomb = withFields(svc, { Status: ServiceStatus.TOMBSTONE, Updated: svc.Updated.plusNanos(DEPARTURE_BUMP_NS) })
      this.#store(tomb, true)
      events.push({ service: tomb, previousStatus: svc.Status, time: tomb.Updated })
    }
    this.#emit(events)
    return events.map(e => e.service)
  }

  /** Stores an accepted record; a change (new or new status) also advances LastChanged, never backwards. */
  #store (svc: Service, changed: boolean, from: string = this.#state.opts.hostname): void {
    let server = this.#state.servers.get(svc.Hostname)
    if (server === undefined) {
      server = newServerEntry(svc.Hostname, svc.Updated)
      this.#state.servers.set(svc.Hostname, server)
    }
    const previous = putRecord(server, svc, { from, at: this.#clock.now() })
    if (previous !== undefined) this.#count(previous.Status, -1)
    this.#count(svc.Status, 1)
    this.#due.add(server, svc)
    if (changed) {
      server.lastChanged = Time.max(server.lastChanged, svc.Updated)
      this.#state.lastChanged = Time.max(this.#state.lastChanged, svc.Updated)
    }
    this.#state.snapshot = undefined
    server.version = ++this.#state.version
  }

  /** Forgets a stored record (a dead tombstone, a displaced one), and its host once it holds none unless keepHost (a record of it is about to be stored). */
  #forget (server: ServerEntry, svc: Service, keepHost = false): void {
    dropRecord(server, svc)
    this.#count(svc.Status, -1)
    if (server.services.size === 0 && !keepHost) this.#state.servers.delete(server.name)
    this.#state.snapshot = undefined
    server.version = ++this.#state.version
  }

  /** Forgets the host's oldest tombstone to make room for a new record of the host (merge's 'displace'); false when it holds none. */
  #displace (server: ServerEntry): boolean {
    const oldest = this.#state.displaced.giveUp(server)
    if (oldest === undefined) return false
    this.#forget(server, oldest, true)
    return true
  }

  #count (status: ServiceStatus, delta: number): void {
    this.#state.byStatus.set(status, (this.#state.byStatus.get(status) ?? 0) + delta)
  }

  #emit (events: readonly ChangeEvent[]): void {
    for (const e of events) this.emit('change', Object.freeze(e))
  }
}
