// A document that is costly to build (in time slices) and read by many clients at once: the
// last one built is kept for its key (a catalog version, a member list, a second), and at
// most one build runs at a time.
// - Readers who arrive during a build of the current key share it.
// - When the key moved on during a build, a new reader waits for that build to end and then
//   shares the next one, which begins after the reader arrived and so shows everything the
//   reader could have caused (a drain just answered, say).
// - Never two builds at once: on a busy host a sliced build can outlast its key (a second, a
//   version under churn), and starting one per key would run several side by side, each
//   slower for the others; in CI that left /servers 8 answers in 5 s for 8 readers.

export class SharedBuild<K, V> {
  readonly #same: (a: K, b: K) => boolean
  #kept: { key: K, seq: number, value: V } | undefined
  #building: { key: K, seq: number, value: Promise<V> } | undefined
  #started = 0

  /** same: whether two keys name the same document (default: ===). */
  constructor (same: (a: K, b: K) => boolean = (a, b) => a === b) {
    this.#same = same
  }

  /** The document for key() (read again after any wait), built by build(key) when it is not kept. */
  async get (key: () => K, build: (key: K) => Promise<V>): Promise<V> {
    const arrived = this.#started
    for (;;) {
      const k = key()
      const kept = this.#kept
      if (kept !== undefined && (this.#same(kept.key, k) || kept.seq > arrived)) return kept.value
      const running = this.#building
      if (running === undefined) return await this.#start(k, build)
      if (this.#same(running.key, k) || running.seq > arrived) return await running.value
      await running.value.catch(() => {}) // an older key's build: wait for it to end, then look again
    }
  }

  async #start (key: K, build: (key: K) => Promise<V>): Promise<V> {
    const seq = ++this.#started
    const value = build(key)
    const running = { key, seq, value }
    this.#building = running
    try {
      const v = await value
      this.#kept = { key, seq, value: v }
      return v
    } finally {
      if (this.#building === running) this.#building = undefined
    }
  }
}

/**
 * Builds shared only while they run, for documents of live counters and ages that no key
 * could keep (explain, the proxy report): a reader who asks for a key whose build is in
 * progress gets that build's result; once it ends, the next reader starts a new one.
 */
export class InFlight<K, V> {
  readonly #runs = new Map<K, Promise<V>>()

  async run (key: K, build: () => Promise<V>): Promise<V> {
    let run = this.#runs.get(key)
    if (run === undefined) {
      const started = build().finally(() => { if (this.#runs.get(key) === started) this.#runs.delete(key) })
      this.#runs.set(key, run = started)
    }
    return await run
  }
}
