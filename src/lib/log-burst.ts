// One kind of per-service log line that can come by the thousand (a start with 10,000
// services, a host whose records all expire): the first lines of each window go out as
// usual, the rest at debug only, and one line then says how many there were. Small setups
// log exactly as before; a large one logs a readable summary instead of 20,000 text lines,
// whose formatting alone took 0.46 s of the event loop.
import type { Logger } from './logger.ts'

export interface BurstLogInit {
  /** What the lines are about, for the summary: "health checks added". */
  what: string
  /** Lines logged as usual per window (default 20). */
  perWindow?: number
  /** The window (default 1 s). */
  windowMs?: number
}

type Level = 'info' | 'warn'

export class BurstLog {
  readonly #logger: Logger
  readonly #what: string
  readonly #perWindow: number
  readonly #windowMs: number
  #seen = 0
  #held = 0
  #level: Level = 'info'
  #timer: NodeJS.Timeout | undefined

  constructor (logger: Logger, init: BurstLogInit) {
    this.#logger = logger
    this.#what = init.what
    this.#perWindow = init.perWindow ?? 20
    this.#windowMs = init.windowMs ?? 1000
  }

  /** Logs one line at level, or at debug once this window had its share (counted for the summary). */
  line (level: Level, obj: object, msg: string): void {
    this.#timer ??= setTimeout(() => { this.flush() }, this.#windowMs).unref()
    if (this.#seen++ < this.#perWindow) {
      this.#logger[level](obj, msg)
      return
    }
    this.#held++
    if (level === 'warn') this.#level = 'warn'
    this.#logger.debug(obj, msg)
  }

  /** Ends the window: the summary line if lines were held back (stop() of the owner calls it too). */
  flush (): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    if (this.#held > 0) this.#logger[this.#level](`... and ${this.#held} more ${this.#what} within ${this.#windowMs / 1000} s (each one at debug level)`)
    this.#seen = 0
    this.#held = 0
    this.#level = 'info'
  }
}
