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

  /** Keeps only the items keep() accepts, in O(n) (drops stale entries a lazy-deletion user left behind). */
  filter (keep: (item: T) => boolean): void {
    this.#h = this.#h.filter(keep)
    for (let i = (this.#h.length >> 1) - 1; i >= 0; i--) this.#down(i)
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
