// The catalog's queries: what the API, the proxy, the watch streams, explain and gossip read.
// CatalogReads reads the state that Catalog (catalog.ts), its subclass and the only writer,
// stores into the one CatalogState they share; readers get frozen snapshots or fresh arrays,
// never the live maps.
import { EventEmitter } from 'node:events'
import type { Service, ServiceStatus, Time } from '../service/index.ts'
import type { Displacement } from './displacement.ts'
import { compareGoStrings } from './rules.ts'
import { frozenRecord, lastUpdatedOf, serverSnapshotOf, sortedIds, sortedKeys, stateHostOf, type ServerEntry } from './server-entry.ts'
import type { CatalogOptions, ChangeEvent, Report, ServerSnapshot, StateLists, StateSnapshot } from './types.ts'

/** What the catalog holds: written by Catalog alone, read by CatalogReads (but for the snapshot it caches). */
export interface CatalogState {
  readonly opts: CatalogOptions
  readonly servers: Map<string, ServerEntry>
  /** Records by status, every host (statusCounts). */
  readonly byStatus: Map<ServiceStatus, number>
  /** Tombstones given up to make room (merge's 'displace'), and what they keep out. */
  readonly displaced: Displacement
  /** Updated of the most recent added or changed record; never moves backwards. */
  lastChanged: Time
  /** Goes up whenever anything stored changes (a record stored or forgotten). */
  version: number
  /** snapshot(), cached by CatalogReads; Catalog drops it at every change, so a stale one is not kept alive. */
  snapshot: StateSnapshot | undefined
}

/** The events the catalog emits (see Catalog). */
export interface CatalogEvents {
  change: [ChangeEvent]
  contradicted: [Service, Service, string]
}

/** The read side of the catalog: synchronous queries of the state the subclass Catalog writes. */
export class CatalogReads extends EventEmitter<CatalogEvents> {
  readonly #state: CatalogState
  /** stateLists() of version. */
  #lists: { readonly version: number, readonly value: StateLists } | undefined

  protected constructor (state: CatalogState) {
    super()
    this.#state = state
  }

  get hostname (): string { return this.#state.opts.hostname }

  get clusterName (): string { return this.#state.opts.clusterName }

  /** Updated of the most recent added or changed record; never moves backwards. */
  get lastChanged (): Time { return this.#state.lastChanged }

  get (hostname: string, id: string): Service | undefined {
    return this.#state.servers.get(hostname)?.services.get(id)
  }

  /** Who handed us the stored version of a record (a peer, or this host), and when. */
  reportOf (hostname: string, id: string): Report | undefined {
    return this.#state.servers.get(hostname)?.reports.get(id)
  }

  /** A frozen view of the whole catalog; cached until the next change, so cheap to call often. */
  snapshot (): StateSnapshot {
    const state = this.#state
    state.snapshot ??= Object.freeze({
      Servers: frozenRecord(sortedKeys(state.servers.keys()).map(h => [h, serverSnapshotOf(state.servers.get(h) as ServerEntry)] as const)),
      LastChanged: state.lastChanged,
      ClusterName: state.opts.clusterName,
      Hostname: state.opts.hostname,
    })
    return state.snapshot
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
    const { servers, opts, version } = this.#state
    if (this.#lists?.version === version) return this.#lists.value
    const hosts = sortedKeys(servers.keys()).map(name => stateHostOf(servers.get(name) as ServerEntry))
    const value: StateLists = Object.freeze({ hosts: Object.freeze(hosts), lastChanged: this.#state.lastChanged, clusterName: opts.clusterName, hostname: opts.hostname })
    this.#lists = { version, value }
    return value
  }

  /** A frozen view of one host's records, or undefined when the host is unknown. */
  server (hostname: string): ServerSnapshot | undefined {
    const entry = this.#state.servers.get(hostname)
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
      const entry = this.#state.servers.get(h) as ServerEntry
      for (const id of sortedIds(entry)) out.push(entry.services.get(id) as Service)
    }
    return out
  }

  /** How many records (tombstones included) have each status, kept as records are stored: /metrics reads it without a pass over the catalog. */
  statusCounts (): ReadonlyMap<ServiceStatus, number> {
    return this.#state.byStatus
  }

  /** Goes up whenever anything stored changes (a cheaper identity than snapshot() for caches). */
  get version (): number { return this.#state.version }

  /** How many records (tombstones included) the catalog holds. */
  get size (): number {
    let n = 0
    for (const server of this.#state.servers.values()) n += server.services.size
    return n
  }

  /** How many records one host has and its LastUpdated, without building its snapshot; undefined for an unknown host. */
  serverSummary (hostname: string): { count: number, lastUpdated: Time, lastChanged: Time } | undefined {
    const server = this.#state.servers.get(hostname)
    return server === undefined ? undefined : { count: server.services.size, lastUpdated: lastUpdatedOf(server), lastChanged: server.lastChanged }
  }

  /** One host's records (tombstones included), unsorted: a fresh array, O(records of that host). */
  hostRecords (hostname: string): Service[] {
    const server = this.#state.servers.get(hostname)
    return server === undefined ? [] : [...server.services.values()]
  }

  /**
   * The catalog version at which one host's records last changed (a record stored or
   * forgotten); undefined for a host without records. The same number means the same records,
   * also across a host that left and came back (versions never repeat), so a cache of
   * anything computed from a host's records (anti-entropy digests) can key on it.
   */
  hostVersion (hostname: string): number | undefined {
    return this.#state.servers.get(hostname)?.version
  }

  /** Up to n of one host's records, in no particular order: O(n), not O(records of that host). */
  sampleRecords (hostname: string, n: number): Service[] {
    const out: Service[] = []
    const services = this.#state.servers.get(hostname)?.services
    if (services === undefined) return out
    for (const svc of services.values()) {
      if (out.length >= n) break
      out.push(svc)
    }
    return out
  }

  /** Tombstones one host has: O(1). */
  tombstoneCount (hostname: string): number {
    return this.#state.servers.get(hostname)?.tombstones ?? 0
  }

  /**
   * True iff svc, of a key not held, is not newer than a tombstone of that key given up to make
   * room (merge's 'displace'), or than its host's cut-off for those no longer remembered: merge()
   * drops it as stale. O(1).
   */
  superseded (svc: Service): boolean {
    return this.#state.displaced.superseded(svc, this.#state.servers.get(svc.Hostname))
  }

  /** Records held (tombstones included): of one host, or of all when hostname is undefined. */
  count (hostname?: string): number {
    return hostname === undefined ? this.size : this.#state.servers.get(hostname)?.services.size ?? 0
  }

  /** Hostnames that have at least one record (tombstones included), sorted. */
  hostnames (): string[] {
    return sortedKeys(this.#state.servers.keys())
  }
}
