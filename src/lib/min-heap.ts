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
 * rebuilt itself in one 20-35 ms step every 10,000 sets).
 */
export class KeyedMinHeap<K> {
  #keys: K[] = []
  #ats: number[] = []
  readonly #pos = new Map<K, number>()

  get size (): number { return this.#keys.length }

  has (key: K): boolean { return this.#pos.has(key) }

  /** The key's number, if it is in the heap. */
  get (key: K): number | undefined {
    const i = this.#pos.get(key)
    return i === undefined ? undefined : this.#ats[i]
  }

  /** The key with the least number, and that number. */
  peek (): [K, number] | undefined {
    return this.#keys.length === 0 ? undefined : [this.#keys[0], this.#ats[0]]
  }

  set (key: K, at: number): void {
    const i = this.#pos.get(key)
    if (i === undefined) {
      this.#keys.push(key)
      this.#ats.push(at)
      this.#pos.set(key, this.#keys.length - 1)
      this.#up(this.#keys.length - 1)
      return
    }
    const before = this.#ats[i]
    this.#ats[i] = at
    if (at < before) this.#up(i)
    else this.#down(i)
  }

  pop (): [K, number] | undefined {
    const top = this.peek()
    if (top !== undefined) this.#removeAt(0)
    return top
  }

  delete (key: K): boolean {
    const i = this.#pos.get(key)
    if (i === undefined) return false
    this.#removeAt(i)
    return true
  }

  clear (): void {
    this.#keys = []
    this.#ats = []
    this.#pos.clear()
  }

  #removeAt (i: number): void {
    const last = this.#keys.length - 1
    this.#pos.delete(this.#keys[i])
    if (i !== last) {
      this.#place(i, this.#keys[last], this.#ats[last])
      this.#keys.pop()
      this.#ats.pop()
      this.#up(i)
      this.#down(i)
    } else {
      this.#keys.pop()
      this.#ats.pop()
    }
  }

  #place (i: number, key: K, at: number): void {
    this.#keys[i] = key
    this.#ats[i] = at
    this.#pos.set(key, i)
  }

  #up (i: number): void {
    const key = this.#keys[i]
    const at = this.#ats[i]
    while (i > 0) {
      const p = (i - 1) >> 1
      if (this.#ats[p] <= at) break
      this.#place(i, this.#keys[p], this.#ats[p])
      i = p
    }
    this.#place(i, key, at)
  }

  #down (i: number): void {
    const n = this.#keys.length
    const key = this.#keys[i]
    const at = this.#ats[i]
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      const c = r < n && this.#ats[r] < this.#ats[l] ? r : l
      if (this.#ats[c] >= at) break
      this.#place(i, this.#keys[c], this.#ats[c])
      i = c
    }
    this.#place(i, key, at)
  }
}
