import type { Logger } from './logger.ts'

export interface TickerOptions {
  /** Time between the end of one run and the start of the next (no overlapping runs). */
  intervalMs: number
  /** Delay before the first run; default a random stagger in [0, intervalMs). */
  firstDelayMs?: number
  /** Name used in the log line when a run fails. */
  name: string
  logger?: Logger
}

/**
 * Periodic work that never overlaps itself: the next run is scheduled after the current
 * one settles. A failed run is logged and the loop goes on. stop() aborts the signal the
 * task receives, so in-flight work (a health check, a webhook) is cancelled too.
 */
export class Ticker {
  readonly #task: (signal: AbortSignal) => Promise<void> | void
  readonly #opts: TickerOptions
  #timer: NodeJS.Timeout | undefined
  #abort: AbortController | undefined
  #running: Promise<void> | undefined
  #wake = false

  constructor (task: (signal: AbortSignal) => Promise<void> | void, opts: TickerOptions) {
    this.#task = task
    this.#opts = opts
  }

  get started (): boolean { return this.#abort !== undefined }

  start (): void {
    if (this.#abort !== undefined) return
    this.#abort = new AbortController()
    this.#schedule(this.#opts.firstDelayMs ?? Math.random() * this.#opts.intervalMs)
  }

  /** Runs the task as soon as possible (after the current run, if one is in flight). */
  trigger (): void {
    if (this.#abort === undefined) return
    if (this.#running !== undefined) { this.#wake = true; return }
    this.#schedule(0)
  }

  /** Cancels the schedule and aborts an in-flight run; resolves when that run has settled. */
  async stop (): Promise<void> {
    if (this.#abort === undefined) return
    this.#abort.abort()
    this.#abort = undefined
    clearTimeout(this.#timer)
    this.#timer = undefined
    await this.#running
  }

  #schedule (delayMs: number): void {
    clearTimeout(this.#timer)
    this.#timer = setTimeout(() => { this.#run() }, delayMs)
  }

  #run (): void {
    const abort = this.#abort
    if (abort === undefined) return
    this.#timer = undefined
    this.#running = (async () => {
      try {
        await this.#task(abort.signal)
      } catch (err) {
        if (!abort.signal.aborted) this.#opts.logger?.error({ err }, `${this.#opts.name} failed`)
      }
    })().finally(() => {
      this.#running = undefined
      if (this.#abort !== abort) return
      const wake = this.#wake
      this.#wake = false
      this.#schedule(wake ? 0 : this.#opts.intervalMs)
    })
  }
}
