// Shapes the catalog shares with its readers (api, proxy, listeners, gossip).
import type { Service, ServiceStatus, Time } from '../service/index.ts'

/** Lifespans and identity of this daemon's catalog; defaults live in config/. */
export interface CatalogOptions {
  /** This daemon's hostname (the original's state.Hostname). */
  hostname: string
  clusterName: string
  /** ALIVE, UNHEALTHY and UNKNOWN records not refreshed this long are tombstoned. */
  aliveLifespanMs: number
  /** DRAINING records not refreshed this long are tombstoned. */
  drainingLifespanMs: number
  /**
   * Incoming records older than this + 1 min (STALE_FUDGE_MS) are dropped; tombstones are
   * deleted once that old too (tombstoneKeptMs), so no version a tombstone superseded comes back.
   */
  tombstoneLifespanMs: number
}

/**
 * One record that was added or changed (any field but Updated: isRefresh). `service` is
 * the record as stored, `time` its Updated (the original's ChangeEvent.Time). New records have previousStatus
 * UNKNOWN, as in the original.
 */
export interface ChangeEvent {
  readonly service: Service
  readonly previousStatus: ServiceStatus
  readonly time: Time
}

/**
 * What merge() did with a record:
 * - added: first record for its (Hostname, ID)
 * - changed: strictly newer and the stored status changed
 * - refreshed: strictly newer, same stored status (no event)
 * - ignored: older or equal Updated
 * - stale: older than the tombstone lifespan + 1 min, or a live version past its own lifespan
 *   for a key not held or held as a tombstone (dead on arrival); dropped, nothing stored touched
 */
export type MergeResult = 'added' | 'changed' | 'refreshed' | 'ignored' | 'stale'

/**
 * Whether merge() may add a record for a key it does not hold (gossip's admission gate says,
 * per record, what place it kept for it under the caps):
 * - any: yes (a place was kept for it, or no cap applies: this host's own records)
 * - displace: only by forgetting the oldest tombstone of the same host, so the host's count
 *   does not grow; dropped ('stale') when the host holds none
 * - held: no, it was admitted as a new version of a held record: if that record is gone
 *   meanwhile (a tombstone given up to make room), it is dropped ('stale')
 */
export type MergeRoom = 'any' | 'displace' | 'held'

/** One host's records, as the original's Server JSON. Services is keyed by ID. */
export interface ServerSnapshot {
  readonly Name: string
  readonly Services: Readonly<Record<string, Service>>
  readonly LastUpdated: Time
  readonly LastChanged: Time
}

/** The whole catalog, as the original's ServicesState JSON. Servers is keyed by hostname. */
export interface StateSnapshot {
  readonly Servers: Readonly<Record<string, ServerSnapshot>>
  readonly LastChanged: Time
  readonly ClusterName: string
  readonly Hostname: string
}

/** Records per block of a StateHost (the last block of a host may hold fewer). */
export const STATE_BLOCK_RECORDS = 128

/** One host of a state document: its name, its records sorted by ID (compareGoStrings) and its times. */
export interface StateHost {
  readonly name: string
  /**
   * The records in order, cut into frozen blocks of STATE_BLOCK_RECORDS by position. A block
   * whose records did not change since the last stateLists() is the same array, so a state
   * after one change costs one block and the list of blocks, not a copy of every record, and
   * an encoder can tell the unchanged blocks at a glance (StateMemo).
   */
  readonly blocks: ReadonlyArray<readonly Service[]>
  /** The records in order, the blocks joined: made on first use. */
  readonly records: readonly Service[]
  readonly lastUpdated: Time
  readonly lastChanged: Time
}

/**
 * The state as catalog.stateLists() gives it: what a state document encodes (encodeHostsParts),
 * hosts sorted by name, without the frozen objects of a StateSnapshot. Must not be changed.
 */
export interface StateLists {
  readonly hosts: readonly StateHost[]
  readonly lastChanged: Time
  readonly clusterName: string
  readonly hostname: string
}

/** One host of the cluster as /services.json lists it: its name, newest record time and record count. */
export interface ClusterMember {
  readonly Name: string
  readonly LastUpdated: Time
  readonly ServiceCount: number
}
