// The origin refutes what peers wrongly hold of its own records. A peer that hands us an older
// version of one of our records with another status (our live service as a tombstone it made
// while it could not reach us, or our removed service as ALIVE) may have passed it on to others:
// we send ours again, newer than what it holds: live records through the announcer (re-stamped),
// a tombstone bumped by 1 ns (the same bytes again would be dropped by gossipsub as a duplicate).
import type { Catalog } from '../catalog/index.ts'
import type { Logger } from '../lib/logger.ts'
import { ServiceStatus, statusString, Time, withFields, type Service } from '../service/index.ts'
import type { SealedRecord } from './proof.ts'
import { encodeRecords } from './wire.ts'

/** One refutation of the same record per this long, however often peers repeat the old version. */
export const REFUTE_EVERY_MS = 2000
/** Records whose last refutation time is kept; past it the map starts again (a flood costs at most one extra refutation each). */
const MAX_TRACKED = 10_000

export interface RefuterComponents {
  catalog: Catalog
  logger: Logger
  /** Re-announces every live local record on the next rounds (GossipAnnouncer.reannounce). */
  reannounce: () => void
  publish: (data: Uint8Array) => Promise<void>
  /** Signs records for the wire (Admission.seal). */
  seal: (records: readonly Service[]) => SealedRecord[]
  nowMs?: () => number
}

export class Refuter {
  readonly #c: RefuterComponents
  readonly #last = new Map<string, number>()
  #on = false

  constructor (components: RefuterComponents) {
    this.#c = components
  }

  start (): void {
    if (this.#on) return
    this.#on = true
    this.#c.catalog.on('contradicted', this.#onContradicted)
  }

  stop (): void {
    this.#on = false
    this.#c.catalog.off('contradicted', this.#onContradicted)
    this.#last.clear()
  }

  /**
   * A version of one of our records a peer handed us (the admission gate passes every
   * authentic one: it is never merged, so the catalog cannot notice): refuted when its status
   * is not ours, whether it is older or newer than what we hold.
   */
  consider (incoming: Service, from: string): void {
    if (!this.#on) return
    const stored = this.#c.catalog.get(incoming.Hostname, incoming.ID)
    if (stored === undefined || stored.Status === incoming.Status) return
    this.#onContradicted(stored, incoming, from)
  }

  readonly #onContradicted = (stored: Service, incoming: Service, from: string): void => {
    const key = `${stored.Hostname}\u0000${stored.ID}`
    const now = (this.#c.nowMs ?? Date.now)()
    if (now - (this.#last.get(key) ?? -Infinity) < REFUTE_EVERY_MS) return
    if (this.#last.size >= MAX_TRACKED) this.#last.clear()
    this.#last.set(key, now)
    this.#c.logger.debug(`${from} holds our ${incoming.Name} (${incoming.ID}) as ${statusString(incoming.Status)}, we hold ${statusString(stored.Status)}: announcing ours again`)
    if (stored.Status !== ServiceStatus.TOMBSTONE) { this.#c.reannounce(); return }
    // Newer than both what we hold and what the peer holds: the origin always wins.
    const bumped = withFields(stored, { Updated: Time.max(stored.Updated, incoming.Updated).plusNanos(1n) })
    this.#c.catalog.merge(bumped)
    for (const msg of encodeRecords(this.#c.seal([bumped]))) void this.#c.publish(msg).catch(() => {})
  }
}
