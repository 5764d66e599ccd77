// One host's records as the catalog keeps them (ServerEntry), with the views cached on them:
// the IDs in order, the records in that order patched in place, the frozen blocks stateLists()
// hands out and the frozen ServerSnapshot. putRecord() and dropRecord() keep those caches and
// the host's counters right; the catalog (catalog.ts) owns the entries and everything that
// spans hosts (status counts, versions, the expiry index, the displaced keys).
import { ServiceStatus, Time, type Service } from '../service/index.ts'
import type { OldestTombstones } from './oldest-tombstones.ts'
import { compareGoStrings } from './rules.ts'
import { sameBlock } from './state-codec.ts'
import { STATE_BLOCK_RECORDS, type Report, type ServerSnapshot, type StateHost } from './types.ts'

export interface ServerEntry {
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
  /** The tombstones by age, made when the host first gives one up (displacement.ts), dropped when it holds none. */
  oldest: OldestTombstones | undefined
  /**
   * The newest Updated of this host's tombstones given up to make room (merge's 'displace')
   * that DISPLACED_KEYS_KEPT no longer remembers one by one: a record of a key not held that is
   * not newer is dropped as stale (displacement.ts superseded()). Goes with the entry.
   */
  displacedUpTo: Time | undefined
}

/** A host's entry before its first record is stored; updated: that record's Updated. */
export function newServerEntry (name: string, updated: Time): ServerEntry {
  return { name, services: new Map(), reports: new Map(), lastUpdated: updated, lastChanged: Time.EPOCH, snapshot: undefined, ids: undefined, ordered: undefined, list: undefined, patched: new Set(), reshaped: false, version: 0, tombstones: 0, oldest: undefined, displacedUpTo: undefined }
}

/**
 * Stores svc in its host's entry in place of the version held, if any, and returns that version.
 * Keeps the entry's caches right (`ordered` patched in place, or dropped when an ID comes; the
 * snapshot dropped), its tombstone count and queue, and its LastUpdated; the caller owns the rest
 * (status counts, LastChanged, version).
 */
export function putRecord (entry: ServerEntry, svc: Service, report: Report): Service | undefined {
  const previous = entry.services.get(svc.ID)
  if (previous !== undefined) {
    if (previous.Status === ServiceStatus.TOMBSTONE) entry.tombstones--
    if (entry.ordered !== undefined) {
      const i = indexOfId(entry.ids as string[], svc.ID)
      entry.ordered[i] = svc
      if (entry.list !== undefined) entry.patched.add(Math.floor(i / STATE_BLOCK_RECORDS))
    }
  } else {
    entry.ids = undefined
    entry.ordered = undefined
    entry.reshaped = true
  }
  entry.services.set(svc.ID, svc)
  if (svc.Status === ServiceStatus.TOMBSTONE) {
    entry.tombstones++
    entry.oldest?.add(svc, entry.tombstones)
  } else if (entry.tombstones === 0) entry.oldest = undefined
  entry.reports.set(svc.ID, report)
  // a stored version is always newer than the one it replaces, so the newest can only move up here
  if (entry.lastUpdated !== undefined) entry.lastUpdated = Time.max(entry.lastUpdated, svc.Updated)
  entry.snapshot = undefined
  return previous
}

/** Forgets a stored record of the entry, keeping its caches and counts right as putRecord() does; the caller drops the entry once it holds none. */
export function dropRecord (entry: ServerEntry, svc: Service): void {
  entry.services.delete(svc.ID)
  entry.ids = undefined
  entry.ordered = undefined
  entry.reshaped = true
  entry.reports.delete(svc.ID)
  if (entry.lastUpdated?.equals(svc.Updated) === true) entry.lastUpdated = undefined
  if (svc.Status === ServiceStatus.TOMBSTONE && --entry.tombstones === 0) entry.oldest = undefined
  entry.snapshot = undefined
}

/** A frozen object without a prototype, so that a key such as "constructor" is never inherited. */
export function frozenRecord<T> (entries: Iterable<readonly [string, T]>): Readonly<Record<string, T>> {
  const out = Object.create(null) as Record<string, T>
  for (const [k, v] of entries) out[k] = v
  return Object.freeze(out)
}

export function sortedKeys (keys: Iterable<string>): string[] {
  return [...keys].sort(compareGoStrings)
}

/** A server's LastUpdated: the newest Updated among its records, found again only after the record that had it was forgotten. */
export function lastUpdatedOf (entry: ServerEntry): Time {
  if (entry.lastUpdated === undefined) {
    let newest: Time | undefined
    for (const svc of entry.services.values()) newest = newest === undefined ? svc.Updated : Time.max(newest, svc.Updated)
    entry.lastUpdated = newest ?? Time.EPOCH
  }
  return entry.lastUpdated
}

/** A server's service IDs in sorted order (kept in the entry until one comes or goes). */
export function sortedIds (entry: ServerEntry): readonly string[] {
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

/** The host as a StateHost (stateLists()); its blocks made again only once the host changed, its flat `records` joined from them when first asked for. */
export function stateHostOf (entry: ServerEntry): StateHost {
  if (entry.list?.version !== entry.version) entry.list = { version: entry.version, blocks: stateBlocks(entry) }
  const blocks = entry.list.blocks
  let records: readonly Service[] | undefined
  return Object.freeze({
    name: entry.name,
    blocks,
    get records (): readonly Service[] { return (records ??= Object.freeze(blocks.flat())) },
    lastUpdated: lastUpdatedOf(entry),
    lastChanged: entry.lastChanged,
  })
}

/** The host's frozen view, cached in the entry until it changes. */
export function serverSnapshotOf (entry: ServerEntry): ServerSnapshot {
  entry.snapshot ??= Object.freeze({
    Name: entry.name,
    Services: frozenRecord(sortedIds(entry).map(id => [id, entry.services.get(id) as Service] as const)),
    LastUpdated: lastUpdatedOf(entry),
    LastChanged: entry.lastChanged,
  })
  return entry.snapshot
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
