// Runs one check per target and derives its status (reference §4 with the issue's fixes):
// UNKNOWN until the first result, then ALIVE/UNHEALTHY with rise/fall thresholds. Emits
// 'status' (record key, status) only when a status changes. Targets come and go one at a
// time (set/delete, O(1) each plus the queue's O(log n)); sync() reconciles a whole set.
// Checks share one queue (scheduler.ts): a concurrency cap, due order, no overlap.
// Supplied check kinds (Docker's health state) are read instead of probed, and re-read as
// soon as their source reports a change. The monitor knows nothing of discovery.
import { EventEmitter } from 'node:events'
import { clip } from '../lib/clip.ts'
import { errorMessage } from '../lib/errors.ts'
import { BurstLog } from '../lib/log-burst.ts'
import type { Logger } from '../lib/logger.ts'
import { redactCheckArgs, redactText } from '../lib/redact.ts'
import type { Metrics } from '../lib/metrics.ts'
import type { Startable } from '../lib/startable.ts'
import type { Clock } from '../service/clock.ts'
import { ServiceStatus } from '../service/status.ts'
import type { Time } from '../service/time.ts'
import { runnerFor, type CheckResult } from './checks.ts'
import { armCheckTimeout, settleAfterAbort } from './deadline.ts'
import { CheckScheduler, type Job } from './scheduler.ts'
import { StrayReaper } from './strays.ts'
import type { SuppliedCheckSource } from './supplied.ts'
import { sameCheck, type CheckTarget, type CheckTargets } from './target.ts'

export type { CheckTarget, CheckTargets } from './target.ts'

/**
 * Checks in flight at once. A check mostly waits on I/O and holds a socket (or a process
 * for External): 256 keeps well under the usual 1,024 open-file limit beside the proxy and
 * gossip, and still runs 10,000 quick local checks per 3 s interval with room to spare.
 * The cost: checks that all run into their timeout are slowed to 256 per timeout.
 */
export const CHECK_CONCURRENCY = 256

/** Time a check gets to end after its timeout (or stop) aborted it, before it counts as timed out regardless. */
export const SETTLE_GRACE_MS = 1000
/** The verdict of a check that did not end SETTLE_GRACE_MS after its abort. */
export const STUCK_ERROR = 'timed out: the check did not end within its timeout, nor when it was aborted'

/**
 * Characters of a check's error kept: it is held per service and shown in explain and the log,
 * and the checked server chooses much of it (a redirect's Location quoted in "HTTP 500 from
 * <url>" may be 16 KiB): 10,000 hostile containers held 160 MB of them.
 */
export const MAX_CHECK_ERROR_CHARS = 1024

/** result, its error clipped to MAX_CHECK_ERROR_CHARS with the length it had. */
export function clipResult (result: CheckResult): CheckResult {
  const { error } = result
  return error === undefined || error.length <= MAX_CHECK_ERROR_CHARS ? result : { ...result, error: clip(error, MAX_CHECK_ERROR_CHARS) }
}

/** A probe, or a supplied verdict; undefined = no verdict yet (the status stays). */
type Runner = (args: string, signal: AbortSignal, reach?: ReadonlySet<string>) => Promise<CheckResult | undefined>

export interface HealthMonitorInit {
  intervalMs: number
  timeoutMs: number
  rise: number
  fall: number
  /** Checks in flight at most; default CHECK_CONCURRENCY. */
  concurrency?: number
}

export interface CheckState {
  readonly id: string
  /** The check actually run, after defaults and templating. */
  readonly type: string
  readonly args: string
  readonly status: ServiceStatus
  readonly lastResult?: CheckResult
  readonly lastCheckedAt?: Time
  readonly consecutiveFailures: number
  readonly consecutiveSuccesses: number
  /** While a supplied check has no verdict yet: why (Docker's "starting"). */
  readonly waiting?: string
}

interface Entry {
  readonly target: CheckTarget
  /** target.reach as a set, made once. */
  readonly reach?: ReadonlySet<string>
  state: CheckState
  job?: Job
}

/** The next status given the current one and a result (pure; thresholds counted by the caller). */
export function nextStatus (current: ServiceStatus, ok: boolean, successes: number, failures: number, rise: number, fall: number): ServiceStatus {
  if (current === ServiceStatus.UNKNOWN) return ok ? ServiceStatus.ALIVE : ServiceStatus.UNHEALTHY
  if (ok) return current === ServiceStatus.ALIVE || successes >= rise ? ServiceStatus.ALIVE : current
  return current === ServiceStatus.UNHEALTHY || failures >= fall ? ServiceStatus.UNHEALTHY : current
}

export class HealthMonitor extends EventEmitter<{ status: [key: string, status: ServiceStatus] }> implements Startable, CheckTargets {
  readonly #logger: Logger
  /** Per-service lines come by the thousand at a large start: the first of each second as usual, then a count. */
  readonly #addedLog: BurstLog
  readonly #healthyLog: BurstLog
  readonly #unhealthyLog: BurstLog
  readonly #clock: Clock
  readonly #init: HealthMonitorInit
  readonly #entries = new Map<string, Entry>()
  readonly #supplied = new Map<string, SuppliedCheckSource>()
  /** Entries of supplied checks by `${type}\0${args}`, so an update finds its checks in O(1). */
  readonly #bySupplied = new Map<string, Set<Entry>>()
  /** The 'update' listener registered on each supplied source while started. */
  readonly #listeners = new Map<SuppliedCheckSource, (args: string) => void>()
  /** Runs of removed or replaced checks still settling; stop() awaits them. */
  readonly #removing = new Set<Promise<void>>()
  readonly #scheduler: CheckScheduler
  /** What External checks leave running outside their process group. */
  readonly #strays: StrayReaper
  #started = false
  readonly #observe: (type: string, seconds: number, ok: boolean) => void

  /** supplied: check kinds answered by other components (Docker health), by their type. */
  constructor (components: { logger: Logger, clock: Clock, supplied?: readonly SuppliedCheckSource[], metrics?: Metrics }, init: HealthMonitorInit) {
    super()
    this.#logger = components.logger
    this.#addedLog = new BurstLog(this.#logger, { what: 'health checks added' })
    this.#healthyLog = new BurstLog(this.#logger, { what: 'services now healthy' })
    this.#unhealthyLog = new BurstLog(this.#logger, { what: 'services now unhealthy' })
    this.#clock = components.clock
    this.#init = init
    this.#strays = new StrayReaper({ logger: components.logger })
    this.#scheduler = new CheckScheduler({ logger: components.logger }, { intervalMs: init.intervalMs, concurrency: init.concurrency ?? CHECK_CONCURRENCY })
    for (const source of components.supplied ?? []) this.#supplied.set(source.type, source)
    const m = components.metrics
    if (m === undefined) {
      this.#observe = () => {}
    } else {
      // Buckets from 5 ms (a local TCP connect) to the longest timeout worth waiting for.
      const duration = m.histogram('sidecar_health_check_duration_seconds', 'Time one health check took, by check type', [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], ['type'])
      const failures = m.counter('sidecar_health_check_failures_total', 'Health checks that failed (timeouts included), by check type', ['type'])
      const checks = m.counter('sidecar_health_checks_total', 'Health checks run, by check type', ['type'])
      this.#observe = (type, seconds, ok) => {
        duration.observe({ type }, seconds)
        checks.inc({ type })
        if (!ok) failures.inc({ type })
      }
    }
  }

  async start (): Promise<void> {
    if (this.#started) return
    this.#started = true
    for (const source of this.#supplied.values()) {
      const listener = (args: string): void => { this.#recheck(source.type, args) }
      this.#listeners.set(source, listener)
      source.on('update', listener)
    }
    await this.#scheduler.start()
  }

  /** Stops every check and waits for the ones in flight (aborted) to settle. */
  async stop (): Promise<void> {
    if (!this.#started) return
    this.#started = false
    for (const [source, listener] of this.#listeners) source.off('update', listener)
    this.#listeners.clear()
    await this.#scheduler.stop()
    await Promise.all([...this.#removing])
    await this.#strays.stop()
    for (const log of [this.#addedLog, this.#healthyLog, this.#unhealthyLog]) log.flush()
  }

  /** The status of a record's check; UNKNOWN when it has none (yet). */
  status (key: string): ServiceStatus {
    return this.#entries.get(key)?.state.status ?? ServiceStatus.UNKNOWN
  }

  statusAfterSet (target: CheckTarget): ServiceStatus {
    const existing = this.#entries.get(target.key)
    return existing !== undefined && sameCheck(existing.target, target) ? existing.state.status : ServiceStatus.UNKNOWN
  }

  check (key: string): CheckState | undefined {
    return this.#entries.get(key)?.state
  }

  /** Adds a check, or replaces it when it differs (its status starts again from UNKNOWN). */
  set (target: CheckTarget): void {
    const existing = this.#entries.get(target.key)
    if (existing !== undefined && sameCheck(existing.target, target)) return
    if (existing !== undefined) this.#drop(existing)
    this.#add(target)
  }

  /** Removes a record's check; its run in flight is aborted. */
  delete (key: string): void {
    const e = this.#entries.get(key)
    if (e !== undefined) this.#drop(e)
  }

  /** Adds checks for new targets, replaces changed ones, removes those not listed. */
  sync (targets: readonly CheckTarget[]): void {
    const seen = new Set<string>()
    for (const t of targets) { seen.add(t.key); this.set(t) }
    for (const key of [...this.#entries.keys()]) if (!seen.has(key)) this.delete(key)
  }

  #drop (e: Entry): void {
    this.#entries.delete(e.target.key)
    this.#bySupplied.get(`${e.target.type}\u0000${e.target.args}`)?.delete(e)
    if (e.job === undefined) return
    const removed = this.#scheduler.remove(e.job)
    this.#removing.add(removed)
    void removed.finally(() => { this.#removing.delete(removed) })
  }

  #add (target: CheckTarget): void {
    const { key, id, type, args } = target
    let error = target.error
    let runner: Runner | undefined
    if (error === undefined) {
      try { runner = this.#runnerFor(type, id) } catch (err) { error = errorMessage(err) }
    }
    const state: CheckState = { id, type, args, status: ServiceStatus.UNKNOWN, consecutiveFailures: 0, consecutiveSuccesses: 0, ...(error !== undefined ? { lastResult: { ok: false, error } } : {}) }
    const entry: Entry = { target, state, ...(target.reach !== undefined ? { reach: new Set(target.reach) } : {}) }
    this.#entries.set(key, entry)
    if (runner === undefined) {
      // A check that cannot be built leaves the service UNKNOWN, with the reason shown.
      this.#logger.warn({ id, type }, `health check for ${id} cannot run: ${error ?? 'unknown error'}`)
      return
    }
    const shown = redactCheckArgs(type, args) // logs get shipped: no passwords or command arguments
    this.#addedLog.line('info', { id, type, args: shown }, `adding health check ${type} for ${id}${shown === '' ? '' : `: ${shown}`}`)
    if (this.#supplied.has(type)) {
      const k = `${type}\u0000${args}`
      let set = this.#bySupplied.get(k)
      if (set === undefined) this.#bySupplied.set(k, set = new Set())
      set.add(entry)
    }
    const run = runner
    entry.job = this.#scheduler.add(`health check ${id}`, async (signal) => { await this.#runOnce(entry, run, signal) })
  }

  /** Runs the checks of this type and args now, rather than at their next interval. */
  #recheck (type: string, args: string): void {
    for (const e of this.#bySupplied.get(`${type}\u0000${args}`) ?? []) if (e.job !== undefined) this.#scheduler.trigger(e.job)
  }

  #runnerFor (type: string, id: string): Runner {
    const source = this.#supplied.get(type)
    if (source?.probe !== undefined) return source.probe.bind(source)
    if (source !== undefined) return async (args) => source.result(args)
    return runnerFor(type, { reaper: this.#strays, label: id })
  }

  async #runOnce (entry: Entry, runner: Runner, signal: AbortSignal): Promise<void> {
    // One controller for the timeout and the scheduler's abort, its timer cleared when the
    // run ends: AbortSignal.timeout()'s timer and AbortSignal.any()'s links lived on for the
    // whole timeout after each run, 10,000 of them promoted to the old generation per interval.
    const run = new AbortController()
    const onAbort = (): void => { run.abort(signal.reason) }
    signal.addEventListener('abort', onAbort, { once: true })
    if (signal.aborted) onAbort()
    const disarm = armCheckTimeout(this.#init.timeoutMs, () => { run.abort(new DOMException('The check timed out', 'TimeoutError')) })
    const t0 = performance.now()
    let result: CheckResult | undefined
    try {
      result = await settleAfterAbort(runner(entry.state.args, run.signal, entry.reach), run.signal, SETTLE_GRACE_MS, () => ({ ok: false, error: STUCK_ERROR }))
    } catch (err) {
      result = { ok: false, error: errorMessage(err) }
    } finally {
      disarm()
      signal.removeEventListener('abort', onAbort)
    }
    if (signal.aborted || this.#entries.get(entry.target.key) !== entry) return // stopped or replaced meanwhile
    if (result !== undefined) result = clipResult(result)
    if (result === undefined) { // no verdict yet: the status stays, the reason is shown
      const waiting = this.#supplied.get(entry.state.type)?.pending?.(entry.state.args)
      if (waiting !== entry.state.waiting) {
        const { waiting: _old, ...rest } = entry.state
        entry.state = waiting === undefined ? rest : { ...rest, waiting }
      }
      return
    }
    this.#observe(entry.state.type, (performance.now() - t0) / 1000, result.ok)
    const prev = entry.state
    const successes = result.ok ? prev.consecutiveSuccesses + 1 : 0
    const failures = result.ok ? 0 : prev.consecutiveFailures + 1
    const status = nextStatus(prev.status, result.ok, successes, failures, this.#init.rise, this.#init.fall)
    const { waiting: _waiting, ...settled } = prev
    entry.state = { ...settled, status, lastResult: result, lastCheckedAt: this.#clock.now(), consecutiveSuccesses: successes, consecutiveFailures: failures }
    if (status !== prev.status) {
      const error = result.error === undefined ? undefined : redactText(result.error)
      if (status === ServiceStatus.ALIVE) this.#healthyLog.line('info', { id: prev.id }, `service ${prev.id} is now healthy`)
      else this.#unhealthyLog.line('warn', { id: prev.id, error }, `service ${prev.id} is now unhealthy: ${error ?? 'check failed'}`)
      this.emit('status', entry.target.key, status)
    }
  }
}
