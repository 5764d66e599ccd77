// The catalog: every known service record, keyed by (Hostname, ID), merged by the rules in
// rules.ts. merge() is the only way records come in; expire() and expireHost() are the only
// ways they go out. Changes are announced synchronously as 'change' events; readers get
// frozen snapshots, never the live maps.
import { EventEmitter } from 'node:events'
import type { Clock } from '../service/clock.ts'
import { ConfigError } from '../lib/errors.ts'
import { makeService, ServiceStatus, Time, withFields, type Service } from '../service/index.ts'
import { Displacement } from './displacement.ts'
import { ExpiryIndex } from './expiry-index.ts'
import { compareGoStrings, DEPARTURE_BUMP_NS, EXPIRY_BUMP_MS, isDeadTombstone, isExpired, isRefresh, isStale, mergedStatus, shouldReplace } from './rules.ts'
import { dropRecord, frozenRecord, lastUpdatedOf, newServerEntry, putRecord, serverSnapshotOf, sortedIds, sortedKeys, stateHostOf, type ServerEntry } from './server-entry.ts'
import type { CatalogOptions, ChangeEvent, MergeResult, MergeRoom, Report, ServerSnapshot, StateLists, StateSnapshot } from './types.ts'

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
export class Catalog extends EventEmitter<{ change: [ChangeEvent], contradicted: [Service, Service, string] }> {
  readonly #clock: Clock
  readonly #opts: CatalogOptions
  readonly #servers = new Map<string, ServerEntry>()
  /** Records by status, every host (statusCounts). */
  readonly #byStatus = new Map<ServiceStatus, number>()
  #lastChanged: Time = Time.EPOCH
  /** Tombstones given up to make room (merge's 'displace'), and what they keep out. */
  readonly #displaced = new Displacement(this.#servers)
  #snapshot: StateSnapshot | undefined
  #version = 0
  /** stateLists() of version. */
  #lists: { readonly version: number, readonly value: StateLists } | undefined
  /** What expire() has to look at: one entry per stored version (tombstoning a live record, forgetting a tombstone). */
  readonly #due: ExpiryIndex

  constructor (components: { clock: Clock }, init: CatalogOptions) {
    super()
    validateOptions(init)
    this.#clock = components.clock
    this.#opts = Object.freeze({ ...init })
    this.#due = new ExpiryIndex(this.#opts)
  }

  get hostname (): string { return this.#opts.hostname }

  get clusterName (): string { return this.#opts.clusterName }

  /** Updated of the most recent added or changed record; never moves backwards. */
  get lastChanged (): Time { return this.#lastChanged }

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
  merge (svc: Service, from: string = this.#opts.hostname, originSigned = false, room: MergeRoom = 'any'): MergeResult {
    if (isStale(svc, this.#opts.tombstoneLifespanMs, this.#clock.now())) return 'stale'
    const server = this.#servers.get(svc.Hostname)
    const existing = server?.services.get(svc.ID)
    if (existing === undefined && this.#displaced.superseded(svc, server)) return 'stale'
    if (!shouldReplace(existing, svc)) {
      // A peer holds an older version of this host's own record with another status (our live
      // service as a tombstone after a partition, or our removed one as ALIVE): the origin must refute it.
      if (existing !== undefined && svc.Hostname === this.#opts.hostname && from !== this.#opts.hostname && existing.Status !== svc.Status) this.emit('contradicted', existing, svc, from)
      return 'ignored'
    }
    // A live version already past its lifespan, for a key held at most as a tombstone: the next
    // reap would tombstone it (stamped 1 s after it), so storing it only showed a dead instance
    // as live for up to one reap (a replay, a late joiner's pull, a peer's not yet reaped copy).
    if ((existing === undefined || existing.Status === ServiceStatus.TOMBSTONE) && isExpired(svc, this.#opts, this.#clock.now())) return 'stale'
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

  get (hostname: string, id: string): Service | undefined {
    return this.#servers.get(hostname)?.services.get(id)
  }

  /** Who handed us the stored version of a record (a peer, or this host), and when. */
  reportOf (hostname: string, id: string): Report | undefined {
    return this.#servers.get(hostname)?.reports.get(id)
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
      if (isDeadTombstone(svc, this.#opts, now)) {
        this.#forget(server, svc)
      } else if (isExpired(svc, this.#opts, now)) {
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
      if (svc.Status === ServiceStatus.TOMBSTONE || this.#servers.get(svc.Hostname)?.services.get(svc.ID) !== svc) continue
      const tomb = withFields(svc, { Status: ServiceStatus.TOMBSTONE, Updated: svc.Updated.plusNanos(DEPARTURE_BUMP_NS) })
      this.#store(tomb, true)
      events.push({ service: tomb, previousStatus: svc.Status, time: tomb.Updated })
    }
    this.#emit(events)
    return events.map(e => e.service)
  }

  /** A frozen view of the whole catalog; cached until the next change, so cheap to call often. */
  snapshot (): StateSnapshot {
    this.#snapshot ??= Object.freeze({
      Servers: frozenRecord(sortedKeys(this.#servers.keys()).map(h => [h, serverSnapshotOf(this.#servers.get(h) as ServerEntry)] as const)),
      LastChanged: this.#lastChanged,
      ClusterName: this.#opts.clusterName,
      Hostname: this.#opts.hostname,
    })
    return this.#snapshot
  }

  /**
   * The state as each host's records in ID order, with the times a state document holds:
   * what encodeHostsParts encodes, byte for byte as encodeState(snapshot()). Cheap enough to
   * take after every change at 10,000 records: a host's list is made again only once that
   * host changed, from the records it keeps in order (ServerEntry.ordered; looking each
   * record up again took 0.4 ms, and with a listener the start takes it after every check
   * result), keeping the blocks of records that did not change (stateBlocks), and no frozen
   * object per record is made (snapshot() made one of 10,000 properties per change, 10-50 ms
   * with the collections it caused). The same object while the catalog does not change.
   */
  stateLists (): StateLists {
    if (this.#lists?.version === this.#version) return this.#lists.value
    const hosts = sortedKeys(this.#servers.keys()).map(name => stateHostOf(this.#servers.get(name) as ServerEntry))
    const value: StateLists = Object.freeze({ hosts: Object.freeze(hosts), lastChanged: this.#lastChanged, clusterName: this.#opts.clusterName, hostname: this.#opts.hostname })
    this.#lists = { version: this.#version, value }
    return value
  }

  /** A frozen view of one host's records, or undefined when the host is unknown. */
  server (hostname: string): ServerSnapshot | undefined {
    const entry = this.#servers.get(hostname)
    return entry === undefined ? undefined : serverSnapshotOf(entry)
  }

  /**
   * Name -> every instance on every host, whatever its status; each array by ascending
   * Updated (ties by Hostname, then ID); names in sorted order. A fresh object the caller
   * may keep (without a prototype, so any name is safe to look up).
   */
  byService (): Record<string, Service[]> {
    const groups = new Map<string, Service[]>()
    for (const svc of this.services()) {
      const list = groups.get(svc.Name)
      if (list === undefined) groups.set(svc.Name, [svc])
      else list.push(svc)
    }
    const out = Object.create(null) as Record<string, Service[]>
    for (const name of sortedKeys(groups.keys())) {
      out[name] = (groups.get(name) as Service[]).sort((a, b) => a.Updated.compare(b.Updated) || compareGoStrings(a.Hostname, b.Hostname) || compareGoStrings(a.ID, b.ID))
    }
    return out
  }

  /** Every record, by hostname then ID. */
  services (): Service[] {
    const out: Service[] = []
    for (const h of this.hostnames()) {
      const entry = this.#servers.get(h) as ServerEntry
      for (const id of sortedIds(entry)) out.push(entry.services.get(id) as Service)
    }
    return out
  }

  /** How many records (tombstones included) have each status, kept as records are stored: /metrics reads it without a pass over the catalog. */
  statusCounts (): ReadonlyMap<ServiceStatus, number> {
    return this.#byStatus
  }

  /** Goes up whenever anything stored changes (a cheaper identity than snapshot() for caches). */
  get version (): number { return this.#version }

  /** How many records (tombstones included) the catalog holds. */
  get size (): number {
    let n = 0
    for (const server of this.#servers.values()) n += server.services.size
    return n
  }

  /** How many records one host has and its LastUpdated, without building its snapshot; undefined for an unknown host. */
  serverSummary (hostname: string): { count: number, lastUpdated: Time, lastChanged: Time } | undefined {
    const server = this.#servers.get(hostname)
    return server === undefined ? undefined : { count: server.services.size, lastUpdated: lastUpdatedOf(server), lastChanged: server.lastChanged }
  }

  /** One host's records (tombstones included), unsorted: a fresh array, O(records of that host). */
  hostRecords (hostname: string): Service[] {
    const server = this.#servers.get(hostname)
    return server === undefined ? [] : [...server.services.values()]
  }

  /**
   * The catalog version at which one host's records last changed (a record stored or
   * forgotten); undefined for a host without records. The same number means the same records,
   * also across a host that left and came back (versions never repeat), so a cache of
   * anything computed from a host's records (anti-entropy digests) can key on it.
   */
  hostVersion (hostname: string): number | undefined {
    return this.#servers.get(hostname)?.version
  }

  /** Up to n of one host's records, in no particular order: O(n), not O(records of that host). */
  sampleRecords (hostname: string, n: number): Service[] {
    const out: Service[] = []
    const services = this.#servers.get(hostname)?.services
    if (services === undefined) return out
    for (const svc of services.values()) {
      if (out.length >= n) break
      out.push(svc)
    }
    return out
  }

  /** Tombstones one host has: O(1). */
  tombstoneCount (hostname: string): number {
    return this.#servers.get(hostname)?.tombstones ?? 0
  }

  /**
   * True iff svc, of a key not held, is not newer than a tombstone of that key given up to make
   * room (merge's 'displace'), or than its host's cut-off for those no longer remembered: merge()
   * drops it as stale. O(1).
   */
  superseded (svc: Service): boolean {
    return this.#displaced.superseded(svc, this.#servers.get(svc.Hostname))
  }

  /** Records held (tombstones included): of one host, or of all when hostname is undefined. */
  count (hostname?: string): number {
    return hostname === undefined ? this.size : this.#servers.get(hostname)?.services.size ?? 0
  }

  /** Hostnames that have at least one record (tombstones included), sorted. */
  hostnames (): string[] {
    return sortedKeys(this.#servers.keys())
  }

  /** Stores an accepted record; a change (new or new status) also advances LastChanged, never backwards. */
  #store (svc: Service, changed: boolean, from: string = this.#opts.hostname): void {
    let server = this.#servers.get(svc.Hostname)
    if (server === undefined) {
      server = newServerEntry(svc.Hostname, svc.Updated)
      this.#servers.set(svc.Hostname, server)
    }
    const previous = putRecord(server, svc, { from, at: this.#clock.now() })
    if (previous !== undefined) this.#count(previous.Status, -1)
    this.#count(svc.Status, 1)
    this.#due.add(server, svc)
    if (changed) {
      server.lastChanged = Time.max(server.lastChanged, svc.Updated)
      this.#lastChanged = Time.max(this.#lastChanged, svc.Updated)
    }
    this.#snapshot = undefined
    server.version = ++this.#version
  }

  /** Forgets a stored record (a dead tombstone, a displaced one), and its host once it holds none unless keepHost (a record of it is about to be stored). */
  #forget (server: ServerEntry, svc: Service, keepHost = false): void {
    dropRecord(server, svc)
    this.#count(svc.Status, -1)
    if (server.services.size === 0 && !keepHost) this.#servers.delete(server.name)
    this.#snapshot = undefined
    server.version = ++this.#version
  }

  /** Forgets the host's oldest tombstone to make room for a new record of the host (merge's 'displace'); false when it holds none. */
  #displace (server: ServerEntry): boolean {
    const oldest = this.#displaced.giveUp(server)
    if (oldest === undefined) return false
    this.#forget(server, oldest, true)
    return true
  }

  #count (status: ServiceStatus, delta: number): void {
    this.#byStatus.set(status, (this.#byStatus.get(status) ?? 0) + delta)
  }

  #emit (events: readonly ChangeEvent[]): void {
    for (const e of events) this.emit('change', Object.freeze(e))
  }
}
