// The idle timeout of the proxy's connections (idle_timeout: a client or backend connection
// that moved no bytes for that long is closed), kept by one sweep per listener instead of a
// Node timer per socket. A socket's own timeout (socket.setTimeout) made a timer per
// connection and moved it to the end of its list on every read and every write: in perf
// profiles of the proxy (2026-12-03), about a tenth of its main thread's user time with a new
// connection per request, and 1-2 % with keep-alive.
//
// Each entry keeps the time of its last activity, stamped with the time of the last sweep (a
// field write, no clock read per read). The sweep runs every periodMs while any entry is
// registered; an entry is idle once a sweep finds its stamp idleMs + periodMs old. As the stamp
// is at most periodMs older than the activity, a connection is never cut before idleMs of
// silence, and at most 2 periodMs after it.

/** What the sweep watches: a connection (or a pair of sockets) with its last activity. */
export interface IdleEntry {
  /** IdleSweep.now at its last activity. */
  lastActive: number
  /** Called once, when the entry is found idle (it is no longer watched then). */
  onIdle: () => void
}

/** Longest period between sweeps: 1 s. */
export const MAX_SWEEP_PERIOD_MS = 1000

export class IdleSweep {
  readonly idleMs: number
  readonly periodMs: number
  /** The time (performance.now()) of the last sweep, or of the first entry after a pause: what activity is stamped with. */
  now = performance.now()
  readonly #entries = new Set<IdleEntry>()
  #timer: NodeJS.Timeout | undefined

  /** idleMs: silence after which an entry is idle (> 0). */
  constructor (idleMs: number) {
    this.idleMs = idleMs
    // an eighth of the timeout: a 60 s timeout is swept every second, a 200 ms one every 25 ms
    this.periodMs = Math.max(5, Math.min(MAX_SWEEP_PERIOD_MS, Math.floor(idleMs / 8)))
  }

  /** Watches e from now. */
  add (e: IdleEntry): void {
    if (this.#timer === undefined) {
      this.now = performance.now()
      this.#timer = setInterval(() => { this.#sweep() }, this.periodMs).unref()
    }
    e.lastActive = this.now
    this.#entries.add(e)
  }

  /** No longer watched (its connection closed). */
  delete (e: IdleEntry): void {
    this.#entries.delete(e)
    if (this.#entries.size === 0) this.#stop()
  }

  #sweep (): void {
    const now = this.now = performance.now()
    const limit = this.idleMs + this.periodMs
    for (const e of this.#entries) {
      if (now - e.lastActive < limit) continue
      this.#entries.delete(e)
      try {
        e.onIdle()
      } catch {
        // an entry's failure must not stop the sweep of the others (onIdle only destroys sockets)
      }
    }
    if (this.#entries.size === 0) this.#stop()
  }

  #stop (): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }
}
