// The tombstones a host gave up to make room (catalog.merge(..., 'displace'): admission.ts admits
// a host's new record beyond a cap so) and what they still keep out: a record of a given-up key
// that is not newer than the tombstone is what that tombstone superseded (an ALIVE replayed from
// before the removal) and is dropped as stale. The catalog owns one Displacement and forgets the
// tombstone that giveUp() picks.
import { recordKey, Time, type Service } from '../service/index.ts'
import { OldestTombstones } from './oldest-tombstones.ts'
import type { ServerEntry } from './server-entry.ts'

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

interface Given {
  readonly host: string
  readonly updated: Time
}

/** The catalog's record of tombstones given up: O(1) per check, O(log n) amortized per tombstone given up (OldestTombstones). */
export class Displacement {
  /** The catalog's hosts (its live map, read when a cut-off rises). */
  readonly #servers: ReadonlyMap<string, ServerEntry>
  /** Keys of tombstones given up (DISPLACED_KEYS_KEPT), oldest first: their host and Updated. */
  readonly #displaced = new Map<string, Given>()

  constructor (servers: ReadonlyMap<string, ServerEntry>) {
    this.#servers = servers
  }

  /**
   * True iff svc, of a key not held (server: its host's entry, if any), is not newer than a
   * tombstone of that key given up, or than its host's cut-off for those no longer remembered.
   */
  superseded (svc: Service, server: ServerEntry | undefined): boolean {
    if (server?.displacedUpTo !== undefined && !svc.Updated.isAfter(server.displacedUpTo)) return true
    if (this.#displaced.size === 0) return false
    const given = this.#displaced.get(recordKey(svc))
    return given !== undefined && !svc.Updated.isAfter(given.updated)
  }

  /**
   * The host's oldest tombstone, to be forgotten by the caller to make room for a new record of
   * the host, its key remembered from now on; undefined when the host holds none.
   */
  giveUp (server: ServerEntry): Service | undefined {
    if (server.tombstones === 0) return undefined
    server.oldest ??= new OldestTombstones(server.services)
    const oldest = server.oldest.take()
    if (oldest === undefined) return undefined
    const key = recordKey(oldest)
    this.#displaced.delete(key) // kept in the order given up
    this.#displaced.set(key, { host: server.name, updated: oldest.Updated })
    if (this.#displaced.size > DISPLACED_KEYS_KEPT) {
      const [first, { host, updated }] = this.#displaced.entries().next().value as [string, Given]
      this.#displaced.delete(first)
      // a host gone since held only tombstones past their lifespan: what they superseded is stale anyway
      const entry = this.#servers.get(host)
      if (entry !== undefined) entry.displacedUpTo = entry.displacedUpTo === undefined ? updated : Time.max(entry.displacedUpTo, updated)
    }
    return oldest
  }
}
