// Gives the V8 heap's empty pages back to the system after a burst. V8 keeps the old-generation
// pages a burst made it commit: its memory reducer runs two collections after a burst and then
// re-arms only once the committed heap grows 10 % past its size at that run, so memory that
// dies later (gossipsub's 2-minute cache of message ids, once a flood has stopped) is collected
// but its pages stay committed, scattered with the few objects that live on. Measured after
// 100,000 hostile gossip messages and anti-entropy frames: 70.8 MB committed for 48 MB in use,
// still 2 minutes later (RSS 18 % above its warmed-up level), and 36.9 MB committed with RSS
// back at that level after one full, compacting collection (the one this component runs).
// It runs one only when the heap holds much more than it uses, so a daemon whose live data
// grew, or one under a flood, is left alone; and at most once a minute, less often when the
// last one gave back little. The collection is V8's low-memory one ('last-resort': full,
// compacting, and it unmaps the freed pages): a regular full collection gave back 13.5 MB of
// committed heap in the same run but kept the pages mapped (RSS still 15.5 % above). Its
// pause, measured on the loaded 2-core machine: 138-420 ms, once after the flood.
//
// Nor while the heap is meant to grow (the heap mode has optimize-for-size off: a burst, or the
// proxy carrying load, components.growing). Under proxy load the heap swings between what lives
// and 30 % more, with the pages of that headroom committed, which reads as slack: the reclaimer
// ran its collection once a minute in every proxy benchmark (60-70 ms pauses, 8-9 MB given back
// and committed again within a second).
import { getHeapStatistics, setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import type { Logger } from './logger.ts'
import type { Metrics } from './metrics.ts'
import type { Startable } from './startable.ts'
import { Ticker } from './ticker.ts'

const MiB = 1024 * 1024
/** Empty committed heap below which a collection is not worth its pause (140-420 ms for a 45-70 MB heap on a loaded 2-core machine). */
export const MIN_SLACK_BYTES = 8 * MiB
/**
 * Committed over used at and above which the heap holds pages it no longer needs (with at least
 * MIN_SLACK_BYTES of them): measured 1.07 under a flood, 1.26-1.47 once the flood's caches were
 * collected. A settled daemon measures 1.10-1.16, but MIN_SLACK_BYTES keeps a small heap from
 * collecting (its slack is 4-6 MB); this ratio spares a larger one its normal headroom. Not
 * higher: RSS would stay 12 % up on a 45 MB heap before a collection came.
 */
export const SLACK_RATIO = 1.15
/**
 * Heap in use above which no collection is run: the pause grows with the heap (140-420 ms measured
 * for 45 MB), so a larger one would stall the event loop (proxy, API, probes) for a second or more.
 */
export const MAX_USED_BYTES = 128 * MiB
/** Time between collections at least: the pause is paid once a minute at most. */
export const MIN_INTERVAL_MS = 60_000
/** Longest wait after collections that gave back little (a live set that grew is not collected every minute). */
export const MAX_INTERVAL_MS = 16 * 60_000
/** How often the heap figures are read (a cheap call). */
const CHECK_EVERY_MS = 10_000

export interface HeapFigures {
  /** Bytes the V8 heap has committed (getHeapStatistics().total_heap_size). */
  committed: number
  /** Bytes in use by objects, live or not yet collected (used_heap_size). */
  used: number
}

/** True when the heap holds enough empty committed memory that a compacting collection can give it back. */
export function worthReclaiming (h: HeapFigures): boolean {
  const slack = h.committed - h.used
  return slack >= MIN_SLACK_BYTES && h.committed >= h.used * SLACK_RATIO && h.used <= MAX_USED_BYTES
}

/**
 * The wait before the next collection: the shortest when the last one gave back at least
 * half of the slack it saw, otherwise twice the last wait (up to MAX_INTERVAL_MS).
 */
export function nextInterval (lastIntervalMs: number, before: HeapFigures, after: HeapFigures): number {
  const freed = before.committed - after.committed
  if (freed * 2 >= before.committed - before.used) return MIN_INTERVAL_MS
  return Math.min(MAX_INTERVAL_MS, Math.max(MIN_INTERVAL_MS, lastIntervalMs * 2))
}

type GcFunction = (options?: { type?: 'major' | 'minor', execution?: 'sync' | 'async', flavor?: 'regular' | 'last-resort' }) => void

/**
 * V8's gc() function, without exposing it on the global object: the flag is set for the one
 * context created here only. undefined where the runtime refuses (never throws).
 */
export function v8Gc (): GcFunction | undefined {
  const global = (globalThis as { gc?: unknown }).gc
  if (typeof global === 'function') return global as GcFunction
  try {
    setFlagsFromString('--expose-gc')
    const fn: unknown = runInNewContext('gc')
    setFlagsFromString('--no-expose-gc')
    return typeof fn === 'function' ? fn as GcFunction : undefined
  } catch {
    return undefined
  }
}

/**
 * A full, synchronous V8 collection of the given flavor ('regular'; 'last-resort': compacting,
 * and it unmaps the freed pages), or undefined where the runtime gives no gc() (v8Gc()).
 */
export function fullCollection (flavor: 'regular' | 'last-resort'): (() => void) | undefined {
  const gc = v8Gc()
  return gc === undefined ? undefined : () => { gc({ type: 'major', execution: 'sync', flavor }) }
}

function v8Figures (): HeapFigures {
  const s = getHeapStatistics()
  return { committed: s.total_heap_size, used: s.used_heap_size }
}

export interface HeapReclaimerComponents {
  logger: Logger
  metrics: Metrics
  /** Injected for tests; default V8's own. */
  figures?: () => HeapFigures
  /** Injected for tests; default v8Gc(), run as a full, compacting ('last-resort') collection. */
  collect?: () => void
  nowMs?: () => number
  /** True while the heap is meant to grow (HeapMode has optimize-for-size off): no collection then. */
  growing?: () => boolean
}

export class HeapReclaimer implements Startable {
  readonly #c: HeapReclaimerComponents
  readonly #ticker: Ticker
  readonly #reclaims
  readonly #reclaimed
  #collect: (() => void) | undefined
  #notBefore = 0
  #interval = MIN_INTERVAL_MS

  constructor (components: HeapReclaimerComponents) {
    this.#c = components
    this.#ticker = new Ticker(() => { this.check() }, { intervalMs: CHECK_EVERY_MS, firstDelayMs: CHECK_EVERY_MS, name: 'heap reclaim', logger: components.logger })
    this.#reclaims = components.metrics.counter('sidecar_heap_reclaims_total', 'full, compacting V8 collections run because the heap had committed much more than it used')
    this.#reclaimed = components.metrics.counter('sidecar_heap_reclaimed_bytes_total', 'committed V8 heap given back by those collections')
  }

  /** Idempotent. */
  async start (): Promise<void> {
    if (this.#ticker.started) return
    if (this.#collect === undefined) {
      this.#collect = this.#c.collect ?? fullCollection('last-resort')
      if (this.#collect === undefined) this.#c.logger.debug('heap reclaim off: this runtime does not expose V8\'s gc()')
    }
    this.#notBefore = this.#now() + MIN_INTERVAL_MS
    if (this.#collect !== undefined) this.#ticker.start()
  }

  async stop (): Promise<void> {
    await this.#ticker.stop()
  }

  /** One look at the heap (the ticker calls it); collects when worth it and allowed. Returns whether it collected. */
  check (): boolean {
    const collect = this.#collect
    const now = this.#now()
    if (collect === undefined || now < this.#notBefore || this.#c.growing?.() === true) return false
    const figures = this.#c.figures ?? v8Figures
    const before = figures()
    if (!worthReclaiming(before)) return false
    const t0 = performance.now()
    collect()
    const ms = performance.now() - t0
    const after = figures()
    this.#interval = nextInterval(this.#interval, before, after)
    this.#notBefore = now + this.#interval
    const freed = Math.max(0, before.committed - after.committed)
    this.#reclaims.inc()
    this.#reclaimed.inc(freed)
    const mb = (n: number): string => (n / MiB).toFixed(1)
    this.#c.logger.info(`gave back ${mb(freed)} MB of V8 heap in a ${ms.toFixed(0)} ms collection (committed ${mb(before.committed)} -> ${mb(after.committed)} MB, in use ${mb(before.used)} -> ${mb(after.used)} MB); next one in ${this.#interval / 1000} s at the earliest`)
    return true
  }

  #now (): number { return (this.#c.nowMs ?? Date.now)() }
}
