// A binary min-heap of items ordered by a number (a due time), for timers kept per item
// without scanning every item on each tick: push and pop are O(log n), peek is O(1).
export class MinHeap<T> {
  readonly #at: (item: T) => number
  #h: T[] = []

  /** at: the number an item is ordered by (read when the item is pushed and moved; it must not change meanwhile). */
  constructor (at: (item: T) => number) {
    this.#at = at
  }

  get size (): number { return this.#h.length }

  peek (): T | undefined { return this.#h[0] }

  push (item: T): void {
    const h = this.#h
    h.push(item)
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (this.#at(h[p]) <= this.#at(h[i])) break
      ;[h[p], h[i]] = [h[i], h[p]]
      i = p
    }
  }

  pop (): T | undefined {
    const h = this.#h
    const top = h[0]
    const last = h.pop()
    if (h.length > 0 && last !== undefined) {
      h[0] = last
      this.#down(0)
    }
    return top
  }

  #down (i: number): void {
    const h = this.#h
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let m = i
      if (l < h.length && this.#at(h[l]) < this.#at(h[m])) m = l
      if (r < h.length && this.#at(h[r]) < this.#at(h[m])) m = r
      if (m === i) return
      ;[h[m], h[i]] = [h[i], h[m]]
      i = m
    }
  }
}

/**
 * A binary min-heap with one entry per key: set() inserts a key or moves it to its new number
 * in place, and delete() removes it, both O(log n). Nothing stale is left behind, so there is
 * never an O(n) clean-up (a heap with lazy deletion of 10,000 heartbeats re-set each minute
 * rebuilt itself in one 20-35 ms step every 10,000 sets). Each entry knows its own index, so a
 * move writes a field per level and looks the key up once.
 */
export class KeyedMinHeap<K> {
  #h: Array<HeapEntry<K>> = []
  readonly #byKey = new Map<K, HeapEntry<K>>()

  get size (): number { return this.#h.length }

  has (key: K): boolean { return this.#byKey.has(key) }

  /** The key's number, if it is in the heap. */
  get (key: K): number | undefined {
    return this.#byKey.get(key)?.at
  }

  /** The entry with the least number (read only: change it with set()). */
  peek (): Readonly<{ key: K, at: number }> | undefined {
    return this.#h[0]
  }

  set (key: K, at: number): void {
    const e = this.#byKey.get(key)
    if (e === undefined) {
      const added = { key, at, i: this.#h.length }
      this.#h.push(added)
      this.#byKey.set(key, added)
      this.#up(added)
      return
    }
    const before = e.at
    e.at = at
    if (at < before) this.#up(e)
    else this.#down(e)
  }

  pop (): Readonly<{ key: K, at: number }> | undefined {
    const top = this.#h[0]
    if (top !== undefined) this.#remove(top)
    return top
  }

  delete (key: K): boolean {
    const e = this.#byKey.get(key)
    if (e === undefined) return false
    this.#remove(e)
    return true
  }

  clear (): void {
    this.#h = []
    this.#byKey.clear()
  }

  #remove (e: HeapEntry<K>): void {
    this.#byKey.delete(e.key)
    const last = this.#h.pop() as HeapEntry<K>
    if (last === e) return
    this.#h[e.i] = last
    last.i = e.i
    this.#up(last)
    this.#down(last)
  }

  #up (e: HeapEntry<K>): void {
    const h = this.#h
    let i = e.i
    while (i > 0) {
      const p = (i - 1) >> 1
      const parent = h[p]
      if (parent.at <= e.at) break
      h[i] = parent
      parent.i = i
      i = p
    }
    h[i] = e
    e.i = i
  }

  #down (e: HeapEntry<K>): void {
    const h = this.#h
    const n = h.length
    let i = e.i
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      const c = r < n && h[r].at < h[l].at ? r : l
      const child = h[c]
      if (child.at >= e.at) break
      h[i] = child
      child.i = i
      i = c
    }
    h[i] = e
    e.i = i
  }
}

interface HeapEntry<K> { readonly key: K, at: number, i: number }
