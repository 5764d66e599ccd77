// Turns V8's --optimize-for-size off while the heap grows fast or the proxy carries load, and on
// again once the heap settles and the proxy is idle.
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
// setFlagsFromString): this component watches full collections (watchFullCollections below) and,
// when BURST_COLLECTIONS of them come within BURST_WINDOW_MS while the heap in use grew by
// GROWTH_BYTES or more, turns the flag off; once QUIET_MS pass without a full collection, it
// turns it on again, and the next ones reduce memory as before. Growth is the condition, not
// the collections alone: without the flag V8 lets garbage pile up between collections, and a
// flood of hostile gossip (collections come fast, little of it lives) peaked at 236 MB of heap
// in use instead of 74 MB, RSS 409 MB instead of 183. It acts only where the process started
// with the flag (bin/sidecar.js's default): flags a user gave are left alone.
//
// A burst ends as soon as a full collection finds the heap in use grown by less than
// STILL_GROWING_BYTES since the one before, as well as after QUIET_MS without one. Growth is read
// when the news of a collection arrives, 10-150 ms late under a flood, after that much more
// allocation, and even right after a collection what lives swings with the batches in flight (7-28
// MB in a synthetic flood), so two readings can differ by 8 MB with nothing more alive. Before that
// rule, such a swing turned the flag off for the whole flood (4.5-7.7 s of an 8 s synthetic one),
// and the gossip fuzz ran in the large-heap mode about one run in ten, its RSS then 19 % above its
// warmed-up level afterwards; now the next full collection ends it. A join, whose live data grows
// 10 MB or more between full collections without the flag, stays in the mode until it is done.
//
// Full collections are seen through a FinalizationRegistry, not perf_hooks' gc entries. While any
// observer of gc entries is connected, Node builds an entry for every collection, the scavenges
// (about 40 a second under proxy load) included, each with deprecated accessors (DEP0152), about
// 5 KB that outlives the young generation: three quarters of what the daemon promoted under load,
// enough for a full collection every 20-40 s whose concurrent marking took the second core from
// the proxy (its p99 at concurrency 1 went from about 0.6 ms to 1.5-3 ms in the seconds around one).
//
// While the embedded proxy carries load, V8's growing factor is also set (--heap-growing-percent).
// Under --optimize-for-size the old generation may grow only 10 % past what lived at the last full
// collection before the next one: about 3 MB of a 29 MB heap, which a few seconds of proxy load at
// concurrency 64 promote (each open connection's state outlives the young generation). So a full
// collection came every 50-75 s of the proxy benchmark, each as load resumed after an idle
// stretch, and its concurrent marking took the second core: the proxy's p99 at concurrency 1 went
// from about 0.4 ms to 0.8-2.3 ms in the benchmark's rounds that held one. With 30 % there was no
// full collection in 200 s of that load, for about 5 MB more heap. Not for an idle daemon: started
// with 30 %, the garbage a gossip flood leaves once gossipsub's caches of message ids expire
// stayed uncollected (heap in use 80 MB against 40 before the flood, RSS 19-21 % above its
// warmed-up level 150 s later), because an idle daemon allocates too slowly to reach a limit that
// high. So it is on while the proxy carries load (SERVING_MIN_RATE requests a second, or
// SERVING_MIN_IN_FLIGHT open at once: a trickle of probes promotes nothing) and until
// SERVING_IDLE_MS pass without it, and never during a burst, where it would fix the factor that V8
// raises up to 4x without optimize-for-size. When it goes back to 0, V8 keeps the limit it set at
// the last full collection until the next one, which an idle daemon may not reach for a long time.
// What a gossip flood during the load left is then garbage held under that limit, so if the heap
// in use is more than IDLE_GARBAGE_BYTES above what the serving percent allows over the least the
// full collections of the serving period left, one full collection runs there and then (40-62 ms
// for 88 MB in use, 32 MB of it live, on the 2-core machine), once, and the limit comes from V8's
// own factor again; not above the heap reclaimer's MAX_USED_BYTES, whose pause would stall the
// daemon for most of a second. The end of ordinary load stays within that allowance and collects
// nothing.
//
// The API's load counts as the proxy's does (api/activity.ts: its requests, and the changes
// delivered to /watch and SSE clients): eight clients reading the large documents of 10,000
// services in a loop, or watching them change, made 20-40 memory-reducing full collections of
// 15-100 ms in 5 s under the flag, and 1-6 of 15-25 ms without it (2026-12-05). So do the
// webhook listeners' POST bodies, counted by the bytes encoded for them (LISTENER_BYTES_PER_REQUEST).
//
// While the proxy carries load, optimize-for-size is off as well (the percent still bounds the
// growth). Under the flag every full collection is a memory-reducing one, which costs more, and
// clients that open a connection per request reach the 30 % limit about twice a second (at 6,000
// connections a second each one leaves about 3 KB that outlives the young generation; a bare
// Node server leaves about 1 KB). Measured with a new connection per request (concurrency 8,
// interleaved rounds, 2026-12-04): 12-31 % more connections a second and about a fifth less CPU
// per connection with the flag off; keep-alive load shows no difference either way.
import { performance } from 'node:perf_hooks'
import { getHeapStatistics, setFlagsFromString } from 'node:v8'
import { fullCollection, MAX_USED_BYTES } from './heap-reclaim.ts'
import type { Logger } from './logger.ts'
import type { Metrics } from './metrics.ts'
import type { Startable } from './startable.ts'

/** Full collections within BURST_WINDOW_MS that mean the heap grows fast (an idle daemon runs one now and then). */
export const BURST_COLLECTIONS = 3
export const BURST_WINDOW_MS = 3000
/** Growth of the heap in use over those collections that means live data is being added (a join adds 3 MB a collection). */
export const GROWTH_BYTES = 8 * 1024 * 1024
/** Growth of the heap in use from one full collection to the next below which a burst is over (a join adds 10 MB or more between them). */
export const STILL_GROWING_BYTES = 2 * 1024 * 1024
/** Time without a full collection after which the heap has settled: the flag is turned on again. */
export const QUIET_MS = 30_000

/** V8's --heap-growing-percent while the proxy carries load (0, V8's own factor, otherwise). */
export const SERVING_GROWING_PERCENT = 30
/** Requests a second (over one reading of the counts) from which the proxy carries load. */
export const SERVING_MIN_RATE = 100
/** Requests or tcp connections in progress at once from which the proxy carries load. */
export const SERVING_MIN_IN_FLIGHT = 8
/** Time without load after which the proxy no longer serves (longer than the benchmark's idle stretches between rounds). */
export const SERVING_IDLE_MS = 120_000
/** How often the proxy's counts are read. */
export const SERVING_POLL_MS = 2000
/** Heap in use beyond what the serving percent allows over the serving period's least live size from which its end runs a full collection. */
export const IDLE_GARBAGE_BYTES = 8 * 1024 * 1024

export type HeapModeName = 'small' | 'throughput'

/** What the proxy has done, read every SERVING_POLL_MS: requests (and tcp connections) finished so far, and those in progress. */
export interface ProxyActivity { finished: number, inFlight: number }

/**
 * The webhook listeners' POST bodies count as load by their size: one request per this many
 * bytes, so bodies of 6.4 MB a second (SERVING_MIN_RATE of them) or more are load. At 10,000
 * services every body holds the whole state, 2.7 MB, and a start posts several a second: under
 * optimize-for-size the memory-reducing full collections of that garbage paused the daemon for
 * 50-86 ms each (bench/health.ts --listener, 2026-12-05).
 */
export const LISTENER_BYTES_PER_REQUEST = 64 * 1024

/** One kind of load the heap mode reads, with the words for it. */
interface LoadSource {
  /** 'the proxy', 'the API', 'the webhook listeners' */
  readonly name: string
  /** 'carries' or 'carry', as the name takes */
  readonly verb: string
  readonly read: () => ProxyActivity
  /** What the load is, in words, at `rate` a second. */
  readonly busy: (rate: number, a: ProxyActivity) => string
}

/** A source that counts requests (the proxy, the API). */
function requestSource (name: string, read: () => ProxyActivity): LoadSource {
  return { name, verb: 'carries', read, busy: (rate, a) => `${name} serves ${rate.toFixed(0)} requests a second, ${a.inFlight} in progress` }
}

/** The webhook listeners, from the bytes encoded for their bodies: one request per LISTENER_BYTES_PER_REQUEST. */
function bodySource (bytes: () => number): LoadSource {
  return {
    name: 'the webhook listeners',
    verb: 'carry',
    read: () => ({ finished: Math.floor(bytes() / LISTENER_BYTES_PER_REQUEST), inFlight: 0 }),
    busy: rate => `the webhook listeners encode ${(rate * LISTENER_BYTES_PER_REQUEST / 1e6).toFixed(1)} MB a second`,
  }
}

/** True where --heap-growing-percent was given to node (then it is the user's, and left alone). */
export function growingPercentGiven (execArgv: readonly string[] = process.execArgv): boolean {
  return execArgv.some(a => /^--heap[-_]growing[-_]percent(=|$)/.test(a))
}

/**
 * Calls onFull after each full collection (mark-compact) of this isolate, for nothing per
 * scavenge: one unreachable object at a time is registered with a FinalizationRegistry. V8's
 * scavenges keep the targets of weak cells alive (a test checks it), so only a full collection
 * frees it and queues the registry's callback, which registers the next one. The callback runs as
 * a task of its own after the collection, a few ms later on a busy event loop; two full
 * collections before it runs count as one. stop() ends it.
 */
export function watchFullCollections (onFull: () => void): { stop: () => void } {
  const token = {}
  let on = true
  const registry = new FinalizationRegistry<undefined>(() => {
    if (!on) return
    arm()
    onFull()
  })
  const arm = (): void => { registry.register({}, undefined, token) }
  arm()
  return {
    stop () {
      on = false
      registry.unregister(token)
    },
  }
}

export interface HeapModeComponents {
  logger: Logger
  metrics: Metrics
  /** The proxy's counts; without it (and the API's) the growing factor is left alone. */
  proxy?: () => ProxyActivity
  /** The API's counts (api/activity.ts): requests, and changes delivered to stream clients. Read as the proxy's are. */
  api?: () => ProxyActivity
  /** Bytes encoded for the webhook listeners' POST bodies so far (Listeners.bodyBytes), read as requests of LISTENER_BYTES_PER_REQUEST each. */
  listeners?: () => number
  /** Injected for tests; default a full, regular collection by V8's gc() (fullCollection('regular')), where the runtime gives it. */
  collect?: () => void
  /** Injected for tests; default V8's heap in use (used_heap_size). */
  heapUsed?: () => number
}

function v8HeapUsed (): number {
  return getHeapStatistics().used_heap_size
}

export interface HeapModeInit {
  /** Whether to act: true where the process started with --optimize-for-size. */
  managed: boolean
  /** Injected for tests; default QUIET_MS. */
  quietMs?: number
  /** Injected for tests; default SERVING_IDLE_MS. */
  servingIdleMs?: number
  /** Injected for tests; default SERVING_POLL_MS. */
  servingPollMs?: number
}

export class HeapMode implements Startable {
  readonly #c: HeapModeComponents
  readonly #init: HeapModeInit
  readonly #quietMs: number
  readonly #bursts
  readonly #gauge
  #watch: { stop: () => void } | undefined
  /** Time and heap in use at the last full collections (at most BURST_COLLECTIONS). */
  readonly #recent: Array<{ at: number, used: number }> = []
  #mode: HeapModeName = 'small'
  /** In 'throughput' mode: the heap in use read at the last full collection. */
  #live = 0
  #quiet: NodeJS.Timeout | undefined
  readonly #percentGauge
  #poll: NodeJS.Timeout | undefined
  /** Whether the proxy carried load within the last SERVING_IDLE_MS. */
  #serving = false
  /** The proxy, the API and the listeners, where given: each one's counts at the last reading. */
  #sources: Array<LoadSource & { finished: number }> = []
  /** The one whose load began the serving period ('the proxy', 'the API', 'the webhook listeners'). */
  #servedBy: Pick<LoadSource, 'name' | 'verb'> = { name: 'the proxy', verb: 'carries' }
  #lastLookAt = 0
  #lastServedAt = -Infinity
  /** While serving: the least heap in use read after a full collection since serving began (what lived, and a little more). */
  #floor = 0
  #collect: (() => void) | undefined
  readonly #heapUsed: () => number
  /** The --heap-growing-percent set (0: V8's own factor). */
  #percent = 0
  /** Whether V8's optimize-for-size is on (the process started with it). */
  #sizeFlagOn = true

  constructor (components: HeapModeComponents, init: HeapModeInit) {
    this.#c = components
    this.#init = init
    this.#quietMs = init.quietMs ?? QUIET_MS
    this.#heapUsed = components.heapUsed ?? v8HeapUsed
    this.#percentGauge = components.metrics.gauge('sidecar_heap_growing_percent', `V8's --heap-growing-percent: ${SERVING_GROWING_PERCENT} while the proxy carries load (the old generation grows that much between full collections), 0 (V8's own factor) otherwise (the API's load and the webhook listeners' bodies count too)`)
    this.#bursts = components.metrics.counter('sidecar_heap_bursts_total', 'times V8\'s optimize-for-size was turned off because full collections came fast while the heap in use grew')
    this.#gauge = components.metrics.gauge('sidecar_heap_optimize_for_size', '1 while V8\'s optimize-for-size is on (the default: a small heap), 0 while a burst or the load of the proxy, the API or the webhook listeners has it off')
  }

  /** 'throughput' during a burst (the flag is off then). */
  get mode (): HeapModeName { return this.#mode }

  /** Whether V8's optimize-for-size is on now: off during a burst and while the proxy carries load. */
  get optimizeForSize (): boolean { return this.#sizeFlagOn }

  /** The --heap-growing-percent now set by this component (0: V8's own factor). */
  get growingPercent (): number { return this.#percent }

  /** Idempotent. */
  async start (): Promise<void> {
    this.#gauge.set(this.#init.managed ? 1 : 0)
    this.#percentGauge.set(0)
    if (!this.#init.managed || this.#watch !== undefined) return
    this.#watch = watchFullCollections(() => { this.#collected(performance.now()) })
    const { proxy, api, listeners } = this.#c
    this.#sources = [
      proxy === undefined ? undefined : requestSource('the proxy', proxy),
      api === undefined ? undefined : requestSource('the API', api),
      listeners === undefined ? undefined : bodySource(listeners),
    ].flatMap(src => src === undefined ? [] : [{ ...src, finished: src.read().finished }])
    if (this.#sources.length === 0) return
    this.#collect = this.#c.collect ?? fullCollection('regular')
    this.#lastLookAt = performance.now()
    this.#poll = setInterval(() => { this.#look(performance.now()) }, this.#init.servingPollMs ?? SERVING_POLL_MS)
    this.#poll.unref()
  }

  /** Turns the flag on again if a burst had it off, and gives V8 its own growing factor back. */
  async stop (): Promise<void> {
    this.#watch?.stop()
    this.#watch = undefined
    clearInterval(this.#poll)
    this.#poll = undefined
    clearTimeout(this.#quiet)
    this.#quiet = undefined
    this.#serving = false
    if (this.#mode === 'throughput') this.#set('small', 'the daemon stops')
    this.#apply('the daemon stops')
  }

  /** One reading of the counts at `at` (performance.now()). */
  #look (at: number): void {
    const elapsed = Math.max(1, at - this.#lastLookAt)
    this.#lastLookAt = at
    let busy: string | undefined
    for (const src of this.#sources) {
      const a = src.read()
      const rate = (a.finished - src.finished) * 1000 / elapsed
      src.finished = a.finished
      if (busy === undefined && (rate >= SERVING_MIN_RATE || a.inFlight >= SERVING_MIN_IN_FLIGHT)) {
        busy = src.busy(rate, a)
        if (!this.#serving) this.#servedBy = src
      }
    }
    if (busy !== undefined) this.#lastServedAt = at
    const idleMs = this.#init.servingIdleMs ?? SERVING_IDLE_MS
    const serving = at - this.#lastServedAt < idleMs
    if (serving === this.#serving) return
    this.#serving = serving
    if (serving) this.#floor = this.#heapUsed()
    this.#apply(busy ?? `${this.#names()} carried no load for ${idleMs / 1000} s`)
    if (!serving) this.#collectHeld()
  }

  /** 'the proxy', 'the proxy and the API', 'the proxy, the API and the webhook listeners': what is read. */
  #names (): string {
    const names = this.#sources.map(src => src.name)
    return names.length <= 2 ? names.join(' and ') : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`
  }

  /** 'the proxy is idle', 'the proxy and the API are idle'. */
  #idle (): string {
    return `${this.#names()} ${this.#sources.length > 1 ? 'are' : 'is'} idle`
  }

  /** The growing percent is back to V8's own: one full collection if the heap holds much more than serving explains, so the limit follows. */
  #collectHeld (): void {
    const collect = this.#collect
    const before = this.#heapUsed()
    if (collect === undefined || before - this.#floor * (1 + SERVING_GROWING_PERCENT / 100) < IDLE_GARBAGE_BYTES) return
    if (before > MAX_USED_BYTES) {
      // the pause grows with the heap (the reclaimer's rule): a second's stall is worse than the memory
      this.#c.logger.debug(`${this.#idle()}; the heap in use (${(before / 1048576).toFixed(0)} MB) is too large for a collection now`)
      return
    }
    const t0 = performance.now()
    collect()
    const ms = performance.now() - t0
    const after = this.#heapUsed()
    const mb = (n: number): string => (n / 1048576).toFixed(1)
    this.#c.logger.info(`${this.#idle()}: a ${ms.toFixed(0)} ms full collection took the heap in use from ${mb(before)} to ${mb(after)} MB, so V8's own growing factor applies from there`)
  }

  /**
   * Sets V8's flags to what this state calls for: optimize-for-size on only while no burst is on
   * and the proxy carries no load; the growing percent SERVING_GROWING_PERCENT while the proxy
   * carries load and no burst is on, else 0 (V8's own factor).
   */
  #apply (why: string): void {
    const flagOn = this.#mode === 'small' && !this.#serving
    const percent = this.#serving && this.#mode === 'small' ? SERVING_GROWING_PERCENT : 0
    const said: string[] = []
    if (flagOn !== this.#sizeFlagOn) {
      setFlagsFromString(flagOn ? '--optimize-for-size' : '--no-optimize-for-size')
      this.#sizeFlagOn = flagOn
      this.#gauge.set(flagOn ? 1 : 0)
      said.push(flagOn ? 'V8\'s optimize-for-size is on again' : `V8's optimize-for-size is off ${this.#mode === 'small' ? `while ${this.#servedBy.name} ${this.#servedBy.verb} load` : 'until the heap settles'}`)
    }
    if (percent !== this.#percent) {
      setFlagsFromString(`--heap-growing-percent=${percent}`)
      this.#percent = percent
      this.#percentGauge.set(percent)
      said.push(percent > 0 ? `the old generation may grow ${percent} % between full collections` : 'V8\'s own growing factor again')
    }
    if (said.length > 0) this.#c.logger.debug(`${why}: ${said.join(', and ')}`)
  }

  /** A full collection ended, seen at `at` (performance.now()). */
  #collected (at: number): void {
    const used = this.#heapUsed() // read after the collections: what lives, plus what was allocated since
    if (this.#serving) this.#floor = Math.min(this.#floor, used)
    if (this.#mode === 'throughput') {
      // the burst lasts while what lives keeps growing: a flood's batches in flight can look like growth once
      const grew = used - this.#live
      this.#live = used
      if (grew >= STILL_GROWING_BYTES) {
        this.#settleAfter()
        return
      }
      clearTimeout(this.#quiet)
      this.#quiet = undefined
      this.#set('small', `the heap in use grew ${(grew / 1048576).toFixed(1)} MB since the last full collection`)
      return
    }
    this.#recent.push({ at, used })
    if (this.#recent.length > BURST_COLLECTIONS) this.#recent.shift()
    const first = this.#recent[0]
    if (this.#recent.length === BURST_COLLECTIONS && at - first.at <= BURST_WINDOW_MS && used - first.used >= GROWTH_BYTES) {
      this.#bursts.inc()
      this.#set('throughput', `${BURST_COLLECTIONS} full collections in ${((at - first.at) / 1000).toFixed(1)} s while the heap in use grew ${((used - first.used) / 1048576).toFixed(0)} MB`)
      this.#live = used
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
    this.#mode = mode
    this.#apply(why)
  }
}
