// Turns V8's --optimize-for-size off while the heap grows fast, and on again once it settles.
//
// bin/sidecar.js starts Node with --optimize-for-size, which keeps an idle daemon's heap small.
// But under that flag V8 grows the old generation by its least factor and runs every full
// collection as a memory-reducing one, so a heap that grows fast is marked over and over: a late
// joiner pulling 100,000 records (heap 30 -> 140 MB in 10 s) ran 42 full collections, one every
// 250 ms, with pauses of 10-100 ms, and its GC threads used as much CPU as its main thread.
// Measured on the 2-core machine: the join took 11.5-13.7 s with the flag and 7.9-8.7 s without,
// longest event-loop delay 213-229 ms against 73-80 ms.
//
// V8 reads the flag at each collection, so it can change at run time (node:v8's
// setFlagsFromString): this component watches full collections (perf_hooks' gc entries) and,
// when BURST_COLLECTIONS of them come within BURST_WINDOW_MS while the heap in use grew by
// GROWTH_BYTES or more, turns the flag off; once QUIET_MS pass without a full collection, it
// turns it on again, and the next ones reduce memory as before. Growth is the condition, not
// the collections alone: without the flag V8 lets garbage pile up between collections, and a
// flood of hostile gossip (collections come fast, little of it lives) peaked at 236 MB of heap
// in use instead of 74 MB, RSS 409 MB instead of 183. It acts only where the process started
// with the flag (bin/sidecar.js's default): flags a user gave are left alone.
//
// What lives is read from V8's GC profiler (node:v8 GCProfiler: the heap in use right after each
// full collection), not when the collection's perf entry arrives: that came 10-150 ms late
// under a flood, after that much more allocation, so two single readings differed by tens of MB
// with nothing more alive, and the gossip fuzz ran in the large-heap mode about one run in ten
// (its RSS then stayed 19 % up afterwards). Even right after a collection, what lives swings
// under a flood with the batches in flight (7-28 MB measured from one collection to the next),
// so growth is measured from floor to floor: the least of the last readings against the least
// of the first ones rises only when what stays alive rises.
import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks'
import { GCProfiler, setFlagsFromString } from 'node:v8'
import type { Logger } from './logger.ts'
import type { Metrics } from './metrics.ts'
import type { Startable } from './startable.ts'

/** Full collections within BURST_WINDOW_MS that mean the heap grows fast (an idle daemon runs one now and then; a join one every 250 ms). */
export const BURST_COLLECTIONS = 6
export const BURST_WINDOW_MS = 5000
/** Readings at each end of those collections whose least is that end's floor. */
const FLOOR_OF = 3
/** Growth from floor to floor that means live data is being added (a join adds 3 MB a collection). */
export const GROWTH_BYTES = 8 * 1024 * 1024

/** Batches of gc entries (scavenges only) after which the profile is ended anyway, so it never grows long. */
const ROTATE_EVERY = 64
/** Growth of what lives from one full collection to the next below which a burst is over (a join adds 10 MB or more between them). */
export const STILL_GROWING_BYTES = 2 * 1024 * 1024

/**
 * Growth of what lives over a run of readings of the heap in use (one per full collection, oldest
 * first): the least of the last FLOOR_OF readings minus the least of the first FLOOR_OF.
 */
export function floorGrowth (used: readonly number[]): number {
  if (used.length < 2 * FLOOR_OF) return 0
  return Math.min(...used.slice(-FLOOR_OF)) - Math.min(...used.slice(0, FLOOR_OF))
}
/** Time without a full collection after which the heap has settled: the flag is turned on again. */
export const QUIET_MS = 30_000

export type HeapModeName = 'small' | 'throughput'

export interface HeapModeComponents {
  logger: Logger
  metrics: Metrics
}

export interface HeapModeInit {
  /** Whether to act: true where the process started with --optimize-for-size. */
  managed: boolean
  /** Injected for tests; default QUIET_MS. */
  quietMs?: number
}

export class HeapMode implements Startable {
  readonly #c: HeapModeComponents
  readonly #init: HeapModeInit
  readonly #quietMs: number
  readonly #bursts
  readonly #gauge
  #observer: PerformanceObserver | undefined
  /** Records the heap figures of each collection since the last full one that was looked at. */
  #profiler: GCProfiler | undefined
  /** Time and heap in use at the last full collections (at most BURST_COLLECTIONS). */
  readonly #recent: Array<{ at: number, used: number }> = []
  #mode: HeapModeName = 'small'
  /** In 'throughput' mode: the heap in use after the last full collection. */
  #live = 0
  /** Batches of gc entries without a full collection since the profile was last ended. */
  #batches = 0
  #quiet: NodeJS.Timeout | undefined

  constructor (components: HeapModeComponents, init: HeapModeInit) {
    this.#c = components
    this.#init = init
    this.#quietMs = init.quietMs ?? QUIET_MS
    this.#bursts = components.metrics.counter('sidecar_heap_bursts_total', 'times V8\'s optimize-for-size was turned off because full collections came fast while the heap in use grew')
    this.#gauge = components.metrics.gauge('sidecar_heap_optimize_for_size', '1 while V8\'s optimize-for-size is on (the default: a small heap), 0 while a burst has it off')
  }

  /** 'throughput' while the flag is off. */
  get mode (): HeapModeName { return this.#mode }

  /** Idempotent. */
  async start (): Promise<void> {
    this.#gauge.set(this.#init.managed ? 1 : 0)
    if (!this.#init.managed || this.#observer !== undefined) return
    const observer = this.#observer = new PerformanceObserver(list => { this.#collected(list.getEntries()) })
    observer.observe({ entryTypes: ['gc'] })
    this.#profile(true)
  }

  /** Starts a new profile (on) or ends the current one (off); returns the heap in use after each full collection of the one ended. */
  #profile (on: boolean): number[] {
    const ended = this.#profiler?.stop()
    this.#profiler = undefined
    if (on) {
      this.#profiler = new GCProfiler()
      this.#profiler.start()
    }
    return (ended?.statistics ?? []).filter(s => s.gcType === 'MarkSweepCompact').map(s => s.afterGC.heapStatistics.usedHeapSize)
  }

  /** Turns the flag on again if a burst had it off. */
  async stop (): Promise<void> {
    this.#observer?.disconnect()
    this.#observer = undefined
    this.#profile(false)
    clearTimeout(this.#quiet)
    this.#quiet = undefined
    if (this.#mode === 'throughput') this.#set('small', 'the daemon stops')
  }

  /**
   * At a batch of gc entries with a full collection (or every ROTATE_EVERY batches, so the profile of
   * the scavenges in between stays short): the profile so far is ended and looked at.
   */
  #collected (entries: readonly PerformanceEntry[]): void {
    const full = entries.some(e => (e as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR)
    if (!full && ++this.#batches < ROTATE_EVERY) return
    this.#batches = 0
    const lived = this.#profile(true) // every full collection up to now (some may have no entry here yet)
    if (lived.length === 0) return
    if (this.#mode === 'throughput') {
      // a burst lasts while what lives keeps growing: a flood's batches in flight can look like growth once
      for (const used of lived) {
        if (used - this.#live < STILL_GROWING_BYTES) {
          this.#set('small', `what lives after a full collection grew ${((used - this.#live) / 1048576).toFixed(1)} MB since the one before`)
          clearTimeout(this.#quiet)
          this.#quiet = undefined
          return
        }
        this.#live = used
      }
      this.#settleAfter()
      return
    }
    const at = performance.now() // each collection of the profile is taken as of now
    for (const used of lived) {
      this.#recent.push({ at, used })
      if (this.#recent.length > BURST_COLLECTIONS) this.#recent.shift()
    }
    const first = this.#recent[0]
    const growth = floorGrowth(this.#recent.map(r => r.used))
    if (this.#recent.length === BURST_COLLECTIONS && at - first.at <= BURST_WINDOW_MS && growth >= GROWTH_BYTES) {
      this.#bursts.inc()
      this.#set('throughput', `${BURST_COLLECTIONS} full collections in ${((at - first.at) / 1000).toFixed(1)} s while what lives after them grew ${(growth / 1048576).toFixed(0)} MB`)
      this.#live = this.#recent[this.#recent.length - 1].used
      this.#recent.length = 0
      this.#settleAfter()
    }
  }

  /** (Re)arms the return to the small heap: #quietMs from now unless another full collection comes first. */
  #settleAfter (): void {
    const ms = this.#quietMs
    clearTimeout(this.#quiet)
    this.#quiet = setTimeout(() => {
      this.#quiet = undefined
      this.#set('small', `${(ms / 1000).toFixed(0)} s without a full collection`)
    }, ms)
    this.#quiet.unref()
  }

  #set (mode: HeapModeName, why: string): void {
    if (mode === this.#mode) return
    setFlagsFromString(mode === 'small' ? '--optimize-for-size' : '--no-optimize-for-size')
    this.#mode = mode
    this.#gauge.set(mode === 'small' ? 1 : 0)
    this.#c.logger.debug(mode === 'small' ? `${why}: V8's optimize-for-size is on again` : `${why}: V8's optimize-for-size is off until the heap settles`)
  }
}
