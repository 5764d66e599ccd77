// The admission gate's caps on records held (admission.ts applies them after the proof, membership,
// clock and backend rules): max_records_per_host and max_records, the unpinned hostnames' shared
// budget, the room a new key beyond a cap gets by taking the place of its host's oldest tombstone,
// and the new keys admitted and not merged yet (admission-pending.ts), which count as held.
import type { Catalog, MergeRoom } from '../catalog/index.ts'
import { ServiceStatus, type Service } from '../service/index.ts'
import { Pending } from './admission-pending.ts'
import type { RefuseReason } from './admission-rules.ts'
import type { HostPins } from './pins.ts'

export interface CapsInit {
  /** This node's hostname: its own records are never refused for a cap, and never take a tombstone's place. */
  hostname: string
  maxRecordsPerHost: number
  maxRecords: number
}

/**
 * One batch's part in the caps: the room each of its new keys got, its new keys (what its settle
 * gives back), and the records held, counted once per batch (again after each yield) and only
 * when a new key needs them (most batches only update held keys).
 */
export class CapsBatch {
  readonly mine = new Pending()
  /** New keys; a record not in it was a held record's new version. */
  readonly places = new Map<Service, MergeRoom>()
  total = -1
  /** Of hostnames not pinned on this node. */
  unpinned = -1
  settled = false

  /** After a yield to the event loop: the catalog may have changed, the counts are taken again on need. */
  recount (): void {
    this.total = -1
    this.unpinned = -1
  }
}

export class Caps {
  readonly #c: { catalog: Catalog, pins: HostPins }
  readonly #init: CapsInit
  /** New keys of every batch admitted and not settled yet: the caps count them besides the catalog (gossipsub validates the messages of an RPC without waiting for the merges of those before). */
  readonly #pending = new Pending()

  constructor (components: { catalog: Catalog, pins: HostPins }, init: CapsInit) {
    this.#c = components
    this.#init = init
  }

  /**
   * Caps on records held: only a record for a key we do not hold yet can be refused. A pinned
   * host's record counts against max_records_per_host and against max_records. Records of
   * hostnames not pinned here (origin tombstones of hosts that left before we met them, observer
   * tombstones: any key can sign those for made-up hostnames) share one host's budget,
   * max_records_per_host for all of them together, and are also refused once the catalog holds
   * max_records; they are not counted against a pinned host's new record, so they can never
   * crowd members out (the catalog holds max_records + max_records_per_host at most).
   * New keys admitted and not merged yet (every batch in flight) count as held.
   * A new record beyond a cap is admitted still when its own host holds (or has in flight, as
   * new keys) a tombstone not already promised to another such record: merged in room
   * 'displace', it takes the oldest one's place, so no count grows (a host that starts and
   * removes instances faster than its tombstones expire is not locked out by them). Never for
   * this node's own records. `batch.places` gets the room of each new key admitted.
   * All O(1) per record, but for the two totals counted once per batch (CapsBatch).
   */
  bound (svc: Service, batch: CapsBatch): RefuseReason | undefined {
    const { catalog } = this.#c
    const host = svc.Hostname
    if (catalog.get(host, svc.ID) !== undefined) return undefined
    if (catalog.superseded(svc)) return 'superseded'
    const pending = this.#pending
    const unknown = this.#isUnpinned(host)
    const { maxRecords, maxRecordsPerHost } = this.#init
    let over: RefuseReason | undefined
    if (unknown) {
      if (this.#heldUnpinned(batch) + pending.unpinned >= maxRecordsPerHost) over = 'cap-unknown'
      else if (this.#heldTotal(batch) + pending.all >= maxRecords) over = 'cap-total'
    } else if (catalog.count(host) + (pending.adding.get(host) ?? 0) >= maxRecordsPerHost) {
      over = 'cap-host'
    } else if (this.#heldTotal(batch) + pending.all >= maxRecords && this.#heldTotal(batch) - this.#heldUnpinned(batch) + pending.all - pending.unpinned >= maxRecords) {
      // the unpinned hostnames' records are counted (a pass over the hostnames) only when they may make the difference
      over = 'cap-total'
    }
    let how: 'adding' | 'adding-unpinned' | 'displacing' = unknown ? 'adding-unpinned' : 'adding'
    if (over !== undefined) {
      if (host === this.#init.hostname || catalog.tombstoneCount(host) + (pending.tombstones.get(host) ?? 0) <= (pending.displacing.get(host) ?? 0)) return over
      how = 'displacing'
    }
    batch.places.set(svc, how === 'displacing' ? 'displace' : 'any')
    const tombstone = svc.Status === ServiceStatus.TOMBSTONE
    pending.add(host, how, tombstone)
    batch.mine.add(host, how, tombstone)
    return undefined
  }

  /** How catalog.merge may store svc, admitted in batch (AdmitResult.room). */
  room (svc: Service, batch: CapsBatch): MergeRoom {
    return batch.places.get(svc) ?? (svc.Hostname === this.#init.hostname ? 'any' : 'held')
  }

  /** Ends the batch's hold on the caps (AdmitResult.settle). Idempotent. */
  settle (batch: CapsBatch): void {
    if (batch.settled) return
    batch.settled = true
    this.#pending.release(batch.mine)
  }

  #heldTotal (batch: CapsBatch): number {
    return (batch.total = batch.total < 0 ? this.#c.catalog.count() : batch.total)
  }

  #heldUnpinned (batch: CapsBatch): number {
    return (batch.unpinned = batch.unpinned < 0 ? this.#unpinnedHeld() : batch.unpinned)
  }

  /** A hostname no peer has proved to this node (this node's own is always known). */
  #isUnpinned (hostname: string): boolean {
    return hostname !== this.#init.hostname && this.#c.pins.peerOf(hostname) === undefined
  }

  /** Records held for unpinned hostnames: O(hostnames held). */
  #unpinnedHeld (): number {
    const { catalog } = this.#c
    let n = 0
    for (const host of catalog.hostnames()) if (this.#isUnpinned(host)) n += catalog.count(host)
    return n
  }
}
