// The catalog: every known service record, keyed by (Hostname, ID), merged by the rules in
// rules.ts. merge() is the only way records come in; expire() and expireHost() are the only
// ways they go out. Changes are announced synchronously as 'change' events; readers get
// frozen snapshots, never the live maps.
import { EventEmitter } from 'node:events'
import type { Clock } from '../service/clock.ts'
import { ConfigError } from '../lib/errors.ts'
import { makeService, recordKey, ServiceStatus, Time, withFields, type Service } from '../service/index.ts'
import { MinHeap } from '../lib/min-heap.ts'
import { OldestTombstones } from './oldest-tombstones.ts'
import { sameBlock } from './state-codec.ts'
import { compareGoStrings, DEPARTURE_BUMP_NS, EXPIRY_BUMP_MS, expiryAfterMs, isDeadTombstone, isExpired, isRefresh, isStale, mergedStatus, shouldReplace } from './rules.ts'
import { STATE_BLOCK_RECORDS, type CatalogOptions, type ChangeEvent, type MergeResult, type MergeRoom, type ServerSnapshot, type StateHost, type StateLists, type StateSnapshot } from './types.ts'

interface ServerEntry {
  readonly name: string
  readonly services: Map<string, Service>
  /** Who handed us each record's current version, and when (for explain). */
  readonly reports: Map<string, Report>
  /**
   * The newest Updated of the records held (lastUpdatedOf), so the same records give the same
   * time whatever order they came in; undefined once the record that had it was forgotten,
   * until next read.
   */
  lastUpdated: Time | undefined
  lastChanged: Time
  /** Cached frozen view; dropped whenever this server changes. */
  snapshot: ServerSnapshot | undefined
  /**
   * The IDs of services, sorted (sortedKeys), kept until one comes or goes: a new version of a
   * record does not change them, and sorting 10,000 IDs after every change cost milliseconds.
   */
  ids: string[] | undefined
  /**
   * The current records in `ids` order, patched in place when a record's new version is stored
   * (its place found by binary search in `ids`), made again only once an ID comes or goes.
   * stateLists() hands out frozen blocks of it (looking 10,000 records up again took 0.4 ms).
   */
  ordered: Service[] | undefined
  /** The blocks of `ordered` as of `version` (stateLists()); a new list once the host changed. */
  list: { readonly version: number, readonly blocks: ReadonlyArray<readonly Service[]> } | undefined
  /** Blocks of the last list in which `ordered` was patched since (by index). */
  patched: Set<number>
  /** True once `ordered` was made again (an ID came or went) since the last list: every block is compared. */
  reshaped: boolean
  /** The catalog's version when this host's records last changed (hostVersion). */
  version: number
  /** How many of `services` are tombstones. */
  tombstones: number
  /** The tombstones by age, made when the host first gives one up (merge's displace), dropped when it holds none. */
  oldest: OldestTombstones | undefined
  /**
   * The newest Updated of this host's tombstones given up to make room (merge's 'displace')
   * that DISPLACED_KEYS_KEPT no longer remembers one by one: a record of a key not held that is
   * not newer is dropped as stale (superseded()). Goes with the entry.
   */
  displacedUpTo: Time | undefined
}

/**
 * Tombstones given up to make room (merge's 'displace') remembered one by one, every host
 * together, with their Updated: a record of such a key that is not newer is what the tombstone
 * superseded (an ALIVE replayed from before the removal) and is dropped. Past this many, the
 * oldest given up is forgotten and only raises its host's cut-off (ServerEntry.displacedUpTo),
 * which then refuses any key of that host not newer. A cut-off raised at once by the first
 * tombstones given up would also refuse live records a little older than them: a host
 * re-stamps its tombstones whenever a peer connects. 20,000 entries: about 4 MB at most.
 */
export const DISPLACED_KEYS_KEPT = 20_000

/** One stored version of a record, due for expire() at `at` (ms): which record, not the version, so replaced versions are not kept alive. */
interface DueEntry {
  readonly server: ServerEntry
  readonly id: string
  readonly at: number
}

/** Where the stored version of a record came from: a peer's hostname, or this host's for local records. */
export interface Report {
  readonly from: string
  readonly at: Time
}

/** A frozen object without a prototype, so that a key such as "constructor" is never inherited. */
function frozenRecord<T> (entries: Iterable<readonly [string, T]>): Readonly<Record<string, T>> {
  const out = Object.create(null) as Record<string, T>
  for (const [k, v] of entries) out[k] = v
  return Object.freeze(out)
}

function sortedKeys (keys: Iterable<string>): string[] {
  return [...keys].sort(compareGoStrings)
}

/** A server's LastUpdated: the newest Updated among its records, found again only after the record that had it was forgotten. */
function lastUpdatedOf (entry: ServerEntry): Time {
  if (entry.lastUpdated === undefined) {
    let newest: Time | undefined
    for (const svc of entry.services.values()) newest = newest === undefined ? svc.Updated : Time.max(newest, svc.Updated)
    entry.lastUpdated = newest ?? Time.EPOCH
  }
  return entry.lastUpdated
}

/** A server's service IDs in sorted order (kept in the entry until one comes or goes). */
function sortedIds (entry: ServerEntry): readonly string[] {
  entry.ids ??= sortedKeys(entry.services.keys())
  return entry.ids
}

/** A server's current records in ID order (kept in the entry, see ServerEntry.ordered): not to be handed out, it changes in place. */
function orderedRecords (entry: ServerEntry): Service[] {
  entry.ordered ??= sortedIds(entry).map(id => entry.services.get(id) as Service)
  return entry.ordered
}

/**
 * The host's records in frozen blocks of STATE_BLOCK_RECORDS, keeping each block of the last
 * list that is still right: as it was when nothing in it was patched, and after a reshape when
 * it holds the same records (the blocks before an ID that came or went). A change of one record
 * thus costs one block of 128 and the list of blocks, instead of a copy of all 10,000 records
 * per catalog operation (a listener takes the state after each; the copies were 80 KB each,
 * and what queued events held of them was copied by every scavenge).
 */
function stateBlocks (entry: ServerEntry): ReadonlyArray<readonly Service[]> {
  const ordered = orderedRecords(entry)
  const before = entry.list?.blocks ?? []
  const blocks: Array<readonly Service[]> = []
  for (let b = 0, start = 0; start < ordered.length; b++, start += STATE_BLOCK_RECORDS) {
    const end = Math.min(start + STATE_BLOCK_RECORDS, ordered.length)
    const old = before[b]
    // untouched since the last list: kept as it is; else kept only if it still holds the same records
    const untouched = !entry.reshaped && !entry.patched.has(b)
    if (old !== undefined && (untouched ? old.length === end - start : sameBlock(old, ordered, start, end))) blocks.push(old)
    else blocks.push(Object.freeze(ordered.slice(start, end)))
  }
  entry.patched.clear()
  entry.reshaped = false
  return Object.freeze(blocks)
}

/** A StateHost; its flat `records` are joined from the blocks when first asked for. */
function stateHost (name: string, blocks: ReadonlyArray<readonly Service[]>, lastUpdated: Time, lastChanged: Time): StateHost {
  let records: readonly Service[] | undefined
  return Object.freeze({
    name,
    blocks,
    get records (): readonly Service[] { return (records ??= Object.freeze(blocks.flat())) },
    lastUpdated,
    lastChanged,
  })
}

/** Where id is in ids, sorted by compareGoStrings (it must be there). */
function indexOfId (ids: readonly string[], id: string): number {
  let lo = 0
  let hi = ids.length - 1
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (compareGoStrings(ids[mid], id) < 0) lo = mid + 1
    else hi = mid
  }
  return lo
}

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
  /** Keys of tombstones given up (DISPLACED_KEYS_KEPT), oldest first: their host and Updated. */
  readonly #displaced = new Map<string, { readonly host: string, readonly updated: Time }>()
  #snapshot: StateSnapshot | undefined
  #version = 0
  /** stateLists() of version. */
  #lists: { readonly version: number, readonly value: StateLists } | undefined
  /**
   * What expire() has to look at, by the second of its deadline: one entry per stored version
   * (tombstoning a live record, forgetting a tombstone); the seconds in order in #dueSeconds.
   */
  readonly #due = new Map<number, DueEntry[]>()
  readonly #dueSeconds = new MinHeap<number>(second => second)
  /** Where a pass cut by its slice stopped: the next one starts there. */
  #cut: { second: number, index: number } | undefined
  /** During expire(): entries stored by the pass itself, added once it is over, so a pass never sees its own. */
  #dueLater: DueEntry[] | undefined

  constructor (components: { clock: Clock }, init: CatalogOptions) {
    super()
    validateOptions(init)
    this.#clock = components.clock
    this.#opts = Object.freeze({ ...init })
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
    if (existing === undefined && this.#superseded(svc, server)) return 'stale'
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
    let done = true
    // Only the seconds whose deadlines have come are looked at (a pass over all of a 100,000-record
    // catalog took 12-135 ms every 2 s). Their entries are early by up to 1 ms, so the rules
    // decide; an entry of a version since replaced is skipped (the new version has its own), and
    // one not due yet (the clock stepped back) goes back in after the pass.
    this.#dueLater = []
    pass: for (let second = this.#dueSeconds.peek(); second !== undefined && second * 1000 <= nowMs + 1; second = this.#dueSeconds.peek()) {
      const entries = this.#due.get(second) as DueEntry[]
      const from = this.#cut?.second === second ? this.#cut.index : 0
      for (let i = from; i < entries.length; i++) {
        if (slice !== undefined && i > from && (i - from) % 32 === 0 && slice.due()) {
          this.#cut = { second, index: i }
          done = false
          break pass
        }
        const entry = entries[i]
        const { server, id } = entry
        const svc = server.services.get(id)
        if (svc === undefined || this.#deadlineOf(svc) !== entry.at) continue
        if (isDeadTombstone(svc, this.#opts, now)) {
          this.#forget(server, svc)
        } else if (isExpired(svc, this.#opts, now)) {
          const tomb = withFields(svc, { Status: ServiceStatus.TOMBSTONE, Updated: svc.Updated.plusMillis(EXPIRY_BUMP_MS) })
          this.#store(tomb, true)
          events.push({ service: tomb, previousStatus: svc.Status, time: tomb.Updated })
        } else {
          this.#dueLater.push(entry)
        }
      }
      this.#cut = undefined
      this.#dueSeconds.pop()
      this.#due.delete(second)
    }
    const later = this.#dueLater
    this.#dueLater = undefined
    for (const entry of later) this.#addDue(entry)
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
      Servers: frozenRecord(sortedKeys(this.#servers.keys()).map(h => [h, this.#serverSnapshot(this.#servers.get(h) as ServerEntry)] as const)),
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
    const hosts = sortedKeys(this.#servers.keys()).map(name => {
      const entry = this.#servers.get(name) as ServerEntry
      if (entry.list?.version !== entry.version) entry.list = { version: entry.version, blocks: stateBlocks(entry) }
      return stateHost(name, entry.list.blocks, lastUpdatedOf(entry), entry.lastChanged)
    })
    const value: StateLists = Object.freeze({ hosts: Object.freeze(hosts), lastChanged: this.#lastChanged, clusterName: this.#opts.clusterName, hostname: this.#opts.hostname })
    this.#lists = { version: this.#version, value }
    return value
  }

  /** A frozen view of one host's records, or undefined when the host is unknown. */
  server (hostname: string): ServerSnapshot | undefined {
    const entry = this.#servers.get(hostname)
    return entry === undefined ? undefined : this.#serverSnapshot(entry)
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
    return this.#superseded(svc, this.#servers.get(svc.Hostname))
  }

  #superseded (svc: Service, server: ServerEntry | undefined): boolean {
    if (server?.displacedUpTo !== undefined && !svc.Updated.isAfter(server.displacedUpTo)) return true
    if (this.#displaced.size === 0) return false
    const given = this.#displaced.get(recordKey(svc))
    return given !== undefined && !svc.Updated.isAfter(given.updated)
  }

  /** Records held (tombstones included): of one host, or of all when hostname is undefined. */
  count (hostname?: string): number {
    return hostname === undefined ? this.size : this.#servers.get(hostname)?.services.size ?? 0
  }

  /** Hostnames that have at least one record (tombstones included), sorted. */
  hostnames (): string[] {
    return sortedKeys(this.#servers.keys())
  }

  #serverSnapshot (entry: ServerEntry): ServerSnapshot {
    entry.snapshot ??= Object.freeze({
      Name: entry.name,
      Services: frozenRecord(sortedIds(entry).map(id => [id, entry.services.get(id) as Service] as const)),
      LastUpdated: lastUpdatedOf(entry),
      LastChanged: entry.lastChanged,
    })
    return entry.snapshot
  }

  /** Stores an accepted record; a change (new or new status) also advances LastChanged, never backwards. */
  #store (svc: Service, changed: boolean, from: string = this.#opts.hostname): void {
    let server = this.#servers.get(svc.Hostname)
    if (server === undefined) {
      server = { name: svc.Hostname, services: new Map(), reports: new Map(), lastUpdated: svc.Updated, lastChanged: Time.EPOCH, snapshot: undefined, ids: undefined, ordered: undefined, list: undefined, patched: new Set(), reshaped: false, version: 0, tombstones: 0, oldest: undefined, displacedUpTo: undefined }
      this.#servers.set(svc.Hostname, server)
    }
    const previous = server.services.get(svc.ID)
    if (previous !== undefined) {
      this.#count(previous.Status, -1)
      if (previous.Status === ServiceStatus.TOMBSTONE) server.tombstones--
      if (server.ordered !== undefined) {
        const i = indexOfId(server.ids as string[], svc.ID)
        server.ordered[i] = svc
        if (server.list !== undefined) server.patched.add(Math.floor(i / STATE_BLOCK_RECORDS))
      }
    } else {
      server.ids = undefined
      server.ordered = undefined
      server.reshaped = true
    }
    this.#count(svc.Status, 1)
    server.services.set(svc.ID, svc)
    if (svc.Status === ServiceStatus.TOMBSTONE) {
      server.tombstones++
      server.oldest?.add(svc, server.tombstones)
    } else if (server.tombstones === 0) server.oldest = undefined
    server.reports.set(svc.ID, { from, at: this.#clock.now() })
    const due = { server, id: svc.ID, at: this.#deadlineOf(svc) }
    if (this.#dueLater !== undefined) this.#dueLater.push(due)
    else this.#addDue(due)
    // a stored version is always newer than the one it replaces, so the newest can only move up here
    if (server.lastUpdated !== undefined) server.lastUpdated = Time.max(server.lastUpdated, svc.Updated)
    if (changed) {
      server.lastChanged = Time.max(server.lastChanged, svc.Updated)
      this.#lastChanged = Time.max(this.#lastChanged, svc.Updated)
    }
    server.snapshot = undefined
    this.#snapshot = undefined
    server.version = ++this.#version
  }

  /** Forgets a stored record (a dead tombstone, a displaced one), and its host once it holds none unless keepHost (a record of it is about to be stored). */
  #forget (server: ServerEntry, svc: Service, keepHost = false): void {
    server.services.delete(svc.ID)
    server.ids = undefined
    server.ordered = undefined
    server.reshaped = true
    server.reports.delete(svc.ID)
    if (server.lastUpdated?.equals(svc.Updated) === true) server.lastUpdated = undefined
    this.#count(svc.Status, -1)
    if (svc.Status === ServiceStatus.TOMBSTONE && --server.tombstones === 0) server.oldest = undefined
    if (server.services.size === 0 && !keepHost) this.#servers.delete(server.name)
    server.snapshot = undefined
    this.#snapshot = undefined
    server.version = ++this.#version
  }

  /** Forgets the host's oldest tombstone to make room for a new record of the host (merge's 'displace'); false when it holds none. */
  #displace (server: ServerEntry): boolean {
    if (server.tombstones === 0) return false
    server.oldest ??= new OldestTombstones(server.services)
    const oldest = server.oldest.take()
    if (oldest === undefined) return false
    const key = recordKey(oldest)
    this.#displaced.delete(key) // kept in the order given up
    this.#displaced.set(key, { host: server.name, updated: oldest.Updated })
    if (this.#displaced.size > DISPLACED_KEYS_KEPT) {
      const [first, { host, updated }] = this.#displaced.entries().next().value as [string, { host: string, updated: Time }]
      this.#displaced.delete(first)
      // a host gone since held only tombstones past their lifespan: what they superseded is stale anyway
      const entry = this.#servers.get(host)
      if (entry !== undefined) entry.displacedUpTo = entry.displacedUpTo === undefined ? updated : Time.max(entry.displacedUpTo, updated)
    }
    this.#forget(server, oldest, true)
    return true
  }

  /**
   * When expire() has work for svc, in whole milliseconds and early rather than late: the
   * nanoseconds as a double are off by at most 256 ns, well within the 1 ms taken off
   * (a BigInt division, Time.toMillis, cost 430 ns a record; this 50).
   */
  #deadlineOf (svc: Service): number {
    return Math.floor(Number(svc.Updated.ns) / 1e6) - 1 + expiryAfterMs(svc, this.#opts)
  }

  #addDue (entry: DueEntry): void {
    const second = Math.floor(entry.at / 1000)
    const list = this.#due.get(second)
    if (list !== undefined) {
      list.push(entry)
      return
    }
    this.#due.set(second, [entry])
    this.#dueSeconds.push(second)
  }

  #count (status: ServiceStatus, delta: number): void {
    this.#byStatus.set(status, (this.#byStatus.get(status) ?? 0) + delta)
  }

  #emit (events: readonly ChangeEvent[]): void {
    for (const e of events) this.emit('change', Object.freeze(e))
  }
}
