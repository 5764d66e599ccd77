// What the rest of the daemon sees of this host's records: the local component (the only
// writer of them) offers these narrow views, so gossip and listeners need no closures
// into the daemon and no discoverer subscriptions.
import type { EventEmitter } from 'node:events'
import type { Service } from '../service/service.ts'

/** A webhook a local service asked for (static ListenPort, Docker SidecarListener). */
export interface ListenerTarget {
  /** The listener's name: listenerName(service). */
  readonly name: string
  readonly url: string
}

/** For gossip: which records this host originates, and fresh stamps of them. */
export interface OwnedRecords {
  /** The records this host announces right now, as stored in the catalog (tombstones after leave included). */
  owned (): Service[]
  /** True iff this host announces the record (O(1)). */
  isOwned (svc: Pick<Service, 'Hostname' | 'ID'>): boolean
  /**
   * Re-stamps an owned record (Updated = max(now, stored + 1 ns)), merges it and returns
   * it as stored; undefined when the record is neither owned nor under this host's name.
   */
  restamp (hostname: string, id: string): Service | undefined
}

/** For listeners: the webhooks local services ask for; 'change' after they may have changed. */
export interface ListenerSource extends EventEmitter<{ change: [] }> {
  listenerTargets (): readonly ListenerTarget[]
}
