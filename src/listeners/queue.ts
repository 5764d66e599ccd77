// A listener's bounded queue of events waiting to be sent. It never blocks and never
// grows past its capacity: when full, one waiting event is coalesced away (see
// victimIndex) before the new one is appended, so the newest event is always kept and the
// order of what remains is the order of the changes.

/** What the queue needs to know of an event: which record it is about. */
export interface Keyed {
  /** recordKey() of the changed record: (Hostname, ID). */
  readonly key: string
}

/**
 * Which event to drop when the queue is full: the oldest one about a record that a later
 * event also reports on (that later event carries a newer state of the same record), else
 * the oldest of all. Pure; keys in queue order, oldest first, the incoming event last.
 */
export function victimIndex (keys: readonly string[]): number {
  const later = new Set<string>()
  let victim = -1
  for (let i = keys.length - 1; i >= 0; i--) {
    if (later.has(keys[i])) victim = i
    later.add(keys[i])
  }
  return victim === -1 ? 0 : victim
}

export class EventQueue<T extends Keyed> {
  readonly capacity: number
  #items: T[] = []

  constructor (capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`queue capacity must be an integer of at least 1, got ${capacity}`)
    this.capacity = capacity
  }

  get length (): number { return this.#items.length }

  /** Appends e; when the queue was full, returns the waiting event dropped to make room. */
  push (e: T): T | undefined {
    let dropped: T | undefined
    if (this.#items.length >= this.capacity) {
      const i = victimIndex([...this.#items.map(x => x.key), e.key]) // never e itself: nothing comes after it
      dropped = this.#items.splice(i, 1)[0]
    }
    this.#items.push(e)
    return dropped
  }

  /** Takes the oldest waiting event. */
  shift (): T | undefined { return this.#items.shift() }

  /** Empties the queue; returns how many events were waiting. */
  clear (): number {
    const n = this.#items.length
    this.#items = []
    return n
  }
}
