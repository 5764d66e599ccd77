// The catalog's expiry index: which stored versions expire() has to look at, by the second of
// their deadline, so a pass looks only at the seconds that have come (a pass over every record of
// a 100,000-record catalog took 12-135 ms every 2 s), and can be cut in slices and go on where it
// stopped. It holds which record is due, not the version: a version since replaced is not kept
// alive by it, and the catalog skips its entry (deadlineOf no longer matches).
import { MinHeap } from '../lib/min-heap.ts'
import type { Service } from '../service/index.ts'
import { expiryAfterMs } from './rules.ts'
import type { ServerEntry } from './server-entry.ts'
import type { CatalogOptions } from './types.ts'

/** One stored version of a record, due for expire() at `at` (ms). */
export interface DueEntry {
  readonly server: ServerEntry
  readonly id: string
  readonly at: number
}

/** How many entries a pass looks at between two asks of its slice. */
const SLICE_CHECK_EVERY = 32

/**
 * Due entries by second, the seconds in order in a heap. A pass is begin(), next() until it
 * gives undefined, then end(); entries added during a pass (the versions it stores) and those
 * put back by notYet() join the index once it is over, so a pass never sees its own.
 */
export class ExpiryIndex {
  readonly #opts: Pick<CatalogOptions, 'aliveLifespanMs' | 'drainingLifespanMs' | 'tombstoneLifespanMs'>
  readonly #due = new Map<number, DueEntry[]>()
  readonly #seconds = new MinHeap<number>(second => second)
  /** Where a pass cut by its slice stopped: the next one starts there. */
  #cut: { second: number, index: number } | undefined
  /** During a pass: entries to add once it is over. */
  #later: DueEntry[] | undefined
  /** The pass under way: the entries of its current second, where it started in them and where it is. */
  #entries: DueEntry[] | undefined
  #second = 0
  #from = 0
  #i = 0
  /** False once the pass under way was cut by its slice. */
  #done = true

  constructor (opts: Pick<CatalogOptions, 'aliveLifespanMs' | 'drainingLifespanMs' | 'tombstoneLifespanMs'>) {
    this.#opts = opts
  }

  /**
   * When expire() has work for svc, in whole milliseconds and early rather than late: the
   * nanoseconds as a double are off by at most 256 ns, well within the 1 ms taken off
   * (a BigInt division, Time.toMillis, cost 430 ns a record; this 50).
   */
  deadlineOf (svc: Service): number {
    return Math.floor(Number(svc.Updated.ns) / 1e6) - 1 + expiryAfterMs(svc, this.#opts)
  }

  /** svc was just stored in server: due at deadlineOf(svc). */
  add (server: ServerEntry, svc: Service): void {
    const due = { server, id: svc.ID, at: this.deadlineOf(svc) }
    if (this.#later !== undefined) this.#later.push(due)
    else this.#insert(due)
  }

  /** Starts a pass. */
  begin (): void {
    this.#later = []
    this.#entries = undefined
    this.#done = true
  }

  /**
   * The next entry of a second whose deadlines have come by nowMs (early by up to 1 ms, so the
   * rules decide), or undefined once there is none, or once slice.due() says stop (checked every
   * SLICE_CHECK_EVERY entries): the next pass starts where this one stopped.
   */
  next (nowMs: number, slice?: { due: () => boolean }): DueEntry | undefined {
    if (!this.#done) return undefined
    for (;;) {
      let entries = this.#entries
      if (entries === undefined) {
        const second = this.#seconds.peek()
        if (second === undefined || second * 1000 > nowMs + 1) return undefined
        entries = this.#entries = this.#due.get(second) as DueEntry[]
        this.#second = second
        this.#from = this.#i = this.#cut?.second === second ? this.#cut.index : 0
      }
      const i = this.#i
      if (i < entries.length) {
        if (slice !== undefined && i > this.#from && (i - this.#from) % SLICE_CHECK_EVERY === 0 && slice.due()) {
          this.#cut = { second: this.#second, index: i }
          this.#done = false
          this.#entries = undefined
          return undefined
        }
        this.#i = i + 1
        return entries[i]
      }
      this.#cut = undefined
      this.#seconds.pop()
      this.#due.delete(this.#second)
      this.#entries = undefined
    }
  }

  /** An entry the pass met that is not due yet (the clock stepped back): back in once the pass is over. */
  notYet (entry: DueEntry): void {
    this.#later?.push(entry)
  }

  /** Ends the pass; false when its slice cut it with due entries left. */
  end (): boolean {
    const later = this.#later ?? []
    this.#later = undefined
    this.#entries = undefined
    for (const entry of later) this.#insert(entry)
    return this.#done
  }

  #insert (entry: DueEntry): void {
    const second = Math.floor(entry.at / 1000)
    const list = this.#due.get(second)
    if (list !== undefined) {
      list.push(entry)
      return
    }
    this.#due.set(second, [entry])
    this.#seconds.push(second)
  }
}
