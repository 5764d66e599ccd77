// One queue for every health check of this host, instead of a timer per check: a job runs
// when it is due and a slot is free, at most `concurrency` at a time, never overlapping
// itself. A new job is due at once (a new service gets its first verdict promptly); after
// a run it is due again one interval (±JITTER) after that run ended, so a burst of new
// services spreads out over the following intervals instead of checking in lockstep.
// The cost per run is O(log jobs) (a binary heap), whatever the number of services.
import type { Logger } from '../lib/logger.ts'
import type { Startable } from '../lib/startable.ts'
import { MinHeap } from '../lib/min-heap.ts'

/** Each re-check lands within ±10 % of the interval: a burst of additions dissolves in a few rounds. */
export const JITTER = 0.1

/**
 * Runs started per turn of the event loop at most. A quick check (AlwaysSuccessful, a
 * supplied result) ends in a microtask, and its end starts the next due job: without a bound,
 * 5,000 such checks due at once ran back to back in one turn, and 256 TCP connects took their
 * syscalls in one go, 100-280 ms with no API answer or gossip probe in between. The rest
 * start in the following turns.
 */
export const STARTS_PER_TURN = 64

export interface SchedulerInit {
  intervalMs: number
  /** Checks in flight at most; the rest wait their turn in due order. */
  concurrency: number
  /** The jitter's source; injectable so tests are deterministic. */
  random?: () => number
  /** A monotonic clock in ms (default performance.now); injectable with the timers in tests. */
  now?: () => number
  /** Default STARTS_PER_TURN. */
  startsPerTurn?: number
}

export type JobTask = (signal: AbortSignal) => Promise<void>

export interface Job {
  readonly name: string
  readonly task: JobTask
  /** Bumped whenever the job is rescheduled or removed: older heap entries are skipped. */
  seq: number
  removed: boolean
  /** The run in flight, and its abort. */
  running?: { done: Promise<void>, abort: AbortController }
  /** trigger() during a run: run again as soon as this one ends. */
  wake: boolean
}

interface Slot { at: number, seq: number, job: Job }

/** An entry left behind by a reschedule or a removal (lazy deletion: skipped when it comes up). */
function stale (s: Slot): boolean { return s.seq !== s.job.seq || s.job.removed }

export class CheckScheduler implements Startable {
  readonly #init: SchedulerInit
  readonly #logger: Logger
  #heap = new MinHeap<Slot>(s => s.at)
  readonly #inflight = new Set<Job>()
  readonly #jobs = new Set<Job>()
  #timer: NodeJS.Timeout | undefined
  #timerAt = Infinity
  #started = false
  readonly #now: () => number
  /** Runs started in this turn of the event loop; #turnEnd sets it back to 0 in the next turn's check phase. */
  #starts = 0
  #turnEnd: NodeJS.Immediate | undefined
  /** This turn's starts ran out with due jobs left: #turnEnd pumps again. */
  #deferred = false

  constructor (components: { logger: Logger }, init: SchedulerInit) {
    this.#logger = components.logger
    this.#init = init
    this.#now = init.now ?? (() => performance.now())
  }

  /** Runs in flight now. */
  get inflight (): number { return this.#inflight.size }

  async start (): Promise<void> {
    if (this.#started) return
    this.#started = true
    const now = this.#now()
    this.#heap = new MinHeap<Slot>(s => s.at)
    for (const job of this.#jobs) this.#push(job, now) // (re)started: every check is due
    this.#pump()
  }

  /** Cancels the schedule and aborts every run in flight; resolves once they have settled. */
  async stop (): Promise<void> {
    this.#started = false
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#timerAt = Infinity
    clearImmediate(this.#turnEnd)
    this.#turnEnd = undefined
    this.#starts = 0
    this.#deferred = false
    const runs = [...this.#inflight].map(j => { j.running?.abort.abort(); return j.running?.done })
    await Promise.all(runs)
  }

  /** Adds a job, due at once. */
  add (name: string, task: JobTask): Job {
    const job: Job = { name, task, seq: 0, removed: false, wake: false }
    this.#jobs.add(job)
    this.#push(job, this.#now())
    this.#pump()
    return job
  }

  /** Removes a job and aborts its run in flight; resolves when that run has settled. */
  async remove (job: Job): Promise<void> {
    job.removed = true
    job.seq++
    this.#jobs.delete(job)
    job.running?.abort.abort()
    await job.running?.done
  }

  /** Runs the job as soon as a slot is free (after its current run, if one is in flight). */
  trigger (job: Job): void {
    if (job.removed) return
    if (job.running !== undefined) { job.wake = true; return }
    this.#push(job, this.#now())
    this.#pump()
  }

  #push (job: Job, at: number): void {
    this.#heap.push({ at, seq: ++job.seq, job })
  }

  /** Starts every due job a slot allows, then sleeps until the next one is due. */
  #pump (): void {
    if (!this.#started) return
    const now = this.#now()
    const heap = this.#heap
    const budget = this.#init.startsPerTurn ?? STARTS_PER_TURN
    while (heap.size > 0 && this.#inflight.size < this.#init.concurrency) {
      const top = heap.peek() as Slot
      if (stale(top)) { heap.pop(); continue }
      if (top.at > now) break
      if (this.#starts >= budget) { this.#deferred = true; return } // #turnEnd, set by the first start, pumps again
      heap.pop()
      this.#starts++
      this.#turnEnd ??= setImmediate(() => {
        this.#turnEnd = undefined
        this.#starts = 0
        if (this.#deferred) { this.#deferred = false; this.#pump() }
      })
      this.#run(top.job)
    }
    // Drop stale entries at the top so the timer aims at a live one.
    while (heap.size > 0 && stale(heap.peek() as Slot)) heap.pop()
    const next = heap.peek()
    if (next === undefined || this.#inflight.size >= this.#init.concurrency) return
    const at = next.at
    if (this.#timer !== undefined && this.#timerAt <= at) return
    clearTimeout(this.#timer)
    this.#timerAt = at
    this.#timer = setTimeout(() => { this.#timer = undefined; this.#timerAt = Infinity; this.#pump() }, Math.max(0, at - now))
  }

  #run (job: Job): void {
    const abort = new AbortController()
    this.#inflight.add(job)
    const done = (async () => {
      try {
        await job.task(abort.signal)
      } catch (err) {
        if (!abort.signal.aborted) this.#logger.error({ err }, `${job.name} failed`)
      }
    })().finally(() => {
      this.#inflight.delete(job)
      job.running = undefined
      if (!job.removed && !abort.signal.aborted) {
        const random = this.#init.random ?? Math.random
        const next = this.#now() + (job.wake ? 0 : this.#init.intervalMs * (1 - JITTER + 2 * JITTER * random()))
        job.wake = false
        this.#push(job, next)
      }
      this.#pump()
    })
    job.running = { done, abort }
  }
}
