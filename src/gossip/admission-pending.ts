// What the admission gate admitted and is not merged yet, for the caps (admission.ts #bound):
// gossipsub validates the messages of an RPC without waiting for the merges of those before, and
// an anti-entropy page is merged in slices, so the catalog alone does not say what is coming.

/**
 * New keys admitted and not merged yet (settle() not called): those that will add a record, by
 * hostname, in all and of unpinned hostnames; those that will take the place of a tombstone, by
 * hostname; and of all those, the tombstones, by hostname (a later new key may take the place
 * of one once it is merged). One for the gate (every batch in flight) and one per batch (what
 * its settle() gives back).
 */
export class Pending {
  readonly adding = new Map<string, number>()
  readonly displacing = new Map<string, number>()
  readonly tombstones = new Map<string, number>()
  all = 0
  unpinned = 0

  /** One new key of host: it will add a record (of an unpinned hostname or not), or take a tombstone's place. */
  add (host: string, how: 'adding' | 'adding-unpinned' | 'displacing', tombstone: boolean): void {
    const map = how === 'displacing' ? this.displacing : this.adding
    map.set(host, (map.get(host) ?? 0) + 1)
    if (tombstone) this.tombstones.set(host, (this.tombstones.get(host) ?? 0) + 1)
    if (how === 'displacing') return
    this.all++
    if (how === 'adding-unpinned') this.unpinned++
  }

  /** Takes away what `batch` (a part of this) holds. */
  release (batch: Pending): void {
    for (const [map, of] of [[this.adding, batch.adding], [this.displacing, batch.displacing], [this.tombstones, batch.tombstones]] as const) {
      for (const [host, n] of of) {
        const left = (map.get(host) ?? 0) - n
        if (left > 0) map.set(host, left)
        else map.delete(host)
      }
    }
    this.all -= batch.all
    this.unpinned -= batch.unpinned
  }
}
