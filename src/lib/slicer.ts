// Long work in the daemon (a static file's checks, a reconcile of 10,000 services, a leave,
// check verdicts arriving in a burst) runs in slices bounded by time, not by count, and the
// slices of every job share the event loop one per turn (an iteration of the loop: due
// timers, I/O callbacks, then setImmediate callbacks).
// - By time: a count tuned on a quiet machine (128 records, 1,000 entries) took 20-40 ms a
//   slice on a loaded one, and several such slices in one turn stalled the API and gossip
//   probes for 100 ms and more. A slice here ends once SLICE_MS have passed, whatever the host.
// - One per turn: yielding with setImmediate alone lets every job that yielded in one turn run
//   its next slice in the same check phase of the next, back to back. nextTurn() queues the
//   caller behind every slice already waiting and releases one per turn, so between any two
//   slices the loop polls for I/O and runs due timers. A lone job runs as fast as before.
// - Bursts (TurnBudget): work that arrives as events, not as a loop (check verdicts landing
//   together in one poll phase), is done at once until this turn's budget is spent; the rest
//   waits for a later turn, in order.

/** Work per slice, in ms: a turn with one slice and its I/O stays well under 50 ms. */
export const SLICE_MS = 8

const waiting: Array<() => void> = []
let armed = false

function release (): void {
  armed = false
  const next = waiting.shift()
  if (waiting.length > 0) { // this is the check phase: one setImmediate is the next iteration's
    armed = true
    setImmediate(release)
  }
  next?.()
}

/** Arms the release from wherever nextTurn() was called (any phase): two hops, see laterIteration. */
function arm (): void {
  if (armed) return
  armed = true
  setImmediate(laterIteration, release)
}

/**
 * Runs fn in the check phase of a later iteration of the event loop than this one. One
 * setImmediate is not enough: called from a poll-phase callback (I/O: a discovery event, a
 * check's socket), it runs in this same iteration's check phase, so two slices (or a slice
 * and a burst) would run with no timers in between. The hop costs an iteration that does
 * nothing else when the loop is idle: microseconds.
 */
function laterIteration (fn: () => void): void {
  setImmediate(fn)
}

/** Resolves in a later iteration of the event loop than this one, after every slice that asked before it. */
export async function nextTurn (): Promise<void> {
  await new Promise<void>(resolve => {
    waiting.push(resolve)
    arm()
  })
}

/** Slices waiting for their turn (tests). */
export function waitingSlices (): number {
  return waiting.length
}

/**
 * The clock of one sliced loop: `if (s.due()) await s.next()` before each step. The first
 * slice starts when the Slicer is made, so a small job finishes at once, in the caller's turn.
 */
export class Slicer {
  readonly #budgetMs: number
  #start = performance.now()

  constructor (budgetMs = SLICE_MS) {
    this.#budgetMs = budgetMs
  }

  /** True once this slice has had its time. */
  due (): boolean {
    return performance.now() - this.#start >= this.#budgetMs
  }

  /** Waits for this job's next turn and starts a new slice. */
  async next (): Promise<void> {
    await nextTurn()
    this.#start = performance.now()
  }
}

/**
 * Time one consumer of events may spend per turn of the event loop. run() times what it is
 * given; once a turn's total reaches the budget, `exhausted` is true until the next turn.
 */
export class TurnBudget {
  readonly #budgetMs: number
  #spent = 0
  /** A reset of #spent is queued for a later iteration's check phase (see laterIteration). */
  #resetting = false

  constructor (budgetMs = SLICE_MS) {
    this.#budgetMs = budgetMs
  }

  get exhausted (): boolean {
    return this.#spent >= this.#budgetMs
  }

  run (fn: () => void): void {
    const t0 = performance.now()
    try {
      fn()
    } finally {
      this.#spent += performance.now() - t0
      if (!this.#resetting) {
        this.#resetting = true
        setImmediate(laterIteration, () => { this.#resetting = false; this.#spent = 0 })
      }
    }
  }
}

/**
 * Tasks that arrive in bursts (hundreds of webhook senders woken by one body), run at once
 * while this turn's budget lasts (TurnBudget), the rest in later turns, in order, as many per
 * turn as the budget allows. What a task does synchronously is timed; what it leaves to
 * process.nextTick or to promises is not.
 */
export class TurnQueue {
  readonly #budget: TurnBudget
  readonly #waiting: Array<() => void> = []
  #draining = false

  constructor (budgetMs = SLICE_MS) {
    this.#budget = new TurnBudget(budgetMs)
  }

  /** Tasks waiting for a later turn (tests). */
  get waiting (): number { return this.#waiting.length }

  /** fn's result, fn run now or in a later turn; rejects with what fn throws. */
  async run<T> (fn: () => T): Promise<Awaited<T>> {
    const { promise, resolve, reject } = Promise.withResolvers<Awaited<T>>()
    const task = (): void => { this.#budget.run(() => { try { resolve(fn() as Awaited<T>) } catch (err) { reject(err) } }) }
    if (this.#waiting.length === 0 && !this.#budget.exhausted) task()
    else {
      this.#waiting.push(task)
      if (!this.#draining) void this.#drain()
    }
    return await promise
  }

  async #drain (): Promise<void> {
    this.#draining = true
    try {
      while (this.#waiting.length > 0) {
        await nextTurn()
        while (this.#waiting.length > 0 && !this.#budget.exhausted) (this.#waiting.shift() as () => void)()
      }
    } finally {
      this.#draining = false
    }
  }
}
