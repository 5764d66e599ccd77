// One host's tombstones by age, for catalog.merge(..., 'displace'): a new
// record of a host at a cap takes the place of that host's oldest tombstone (admission.ts).
import { MinHeap } from '../lib/min-heap.ts'
import { ServiceStatus, type Service } from '../service/index.ts'

interface Entry {
  readonly svc: Service
  /** svc.Updated in ns as a double (off by at most 256 ns): the order, read once. */
  readonly at: number
}

/** Queued versions no longer held that the queue keeps before it is made again: twice the tombstones held, and this many more. */
const SLACK = 64

/**
 * The tombstones of one host, oldest Updated first. Made from the host's records the first time
 * the host must give one up, then told of each tombstone stored for it (add). Replaced and
 * forgotten versions are skipped when met (take) and dropped in one pass once they outnumber the
 * tombstones held (twice, plus 64), so the queue holds O(the host's tombstones) entries and each
 * add and take is O(log n) amortized.
 */
export class OldestTombstones {
  readonly #services: ReadonlyMap<string, Service>
  #heap = new MinHeap<Entry>(e => e.at)

  /** services: the host's records (the catalog's live map, read when needed). */
  constructor (services: ReadonlyMap<string, Service>) {
    this.#services = services
    this.#fill()
  }

  /** A tombstone just stored for the host; held: how many tombstones the host holds now. */
  add (svc: Service, held: number): void {
    this.#heap.push({ svc, at: Number(svc.Updated.ns) })
    if (this.#heap.size > 2 * held + SLACK) this.#fill()
  }

  /** The host's oldest tombstone held now (the stored version), taken off the queue; undefined when it holds none. */
  take (): Service | undefined {
    for (let e = this.#heap.pop(); e !== undefined; e = this.#heap.pop()) {
      if (this.#services.get(e.svc.ID) === e.svc) return e.svc
    }
    return undefined
  }

  #fill (): void {
    this.#heap = new MinHeap<Entry>(e => e.at)
    for (const svc of this.#services.values()) if (svc.Status === ServiceStatus.TOMBSTONE) this.#heap.push({ svc, at: Number(svc.Updated.ns) })
  }
}
