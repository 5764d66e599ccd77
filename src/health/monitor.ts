// Runs one check per discovered service and derives its status (reference §4 with the
// issue's fixes): UNKNOWN until the first result, then ALIVE/UNHEALTHY with rise/fall
// thresholds. Emits 'status' only when a service's status changes.
// Supplied check kinds (Docker's health state) are read instead of probed, and re-read as
// soon as their source reports a change.
import { EventEmitter } from 'node:events'
import type { CheckSpec, Discovered } from '../discovery/types.ts'
import type { Clock } from '../lib/clock.ts'
import { errorMessage } from '../lib/errors.ts'
import type { Logger } from '../lib/logger.ts'
import { redactCheckArgs, redactText } from '../lib/redact.ts'
import type { Metrics } from '../lib/metrics.ts'
import type { Startable } from '../lib/startable.ts'
import { Ticker } from '../lib/ticker.ts'
import { ServiceStatus } from '../service/status.ts'
import type { Service } from '../service/service.ts'
import type { Time } from '../service/time.ts'
import { fillEmptyHost, runnerFor, type CheckResult } from './checks.ts'
import type { SuppliedCheckSource } from './supplied.ts'
import { renderCheckArgs } from './template.ts'

/** A probe, or a supplied verdict; undefined = no verdict yet (the status stays). */
type Runner = (args: string, signal: AbortSignal) => Promise<CheckResult | undefined>

export interface HealthMonitorInit {
  intervalMs: number
  timeoutMs: number
  rise: number
  fall: number
  /** The advertise IP: {{ host }} and the host of default checks. */
  checkHost: string
  /** Path of the default HTTP check ("/version" in the original). */
  defaultCheckEndpoint: string
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
}

interface Entry {
  state: CheckState
  ticker?: Ticker
  key: string
}

/** The check of reference §4.4 when a discoverer gives none. */
export function defaultCheck (svc: Service, host: string, endpoint: string): CheckSpec {
  const port = svc.Ports?.find(p => p.Type === 'tcp')
  if (port === undefined) return { type: 'AlwaysSuccessful', args: '' }
  const ip = port.IP === '' ? host : port.IP
  const path = endpoint === '' ? '/' : endpoint.startsWith('/') ? endpoint : `/${endpoint}`
  return { type: 'HttpGet', args: `http://${ip.includes(':') ? `[${ip}]` : ip}:${port.Port}${path}` }
}

/** The next status given the current one and a result (pure; thresholds counted by the caller). */
export function nextStatus (current: ServiceStatus, ok: boolean, successes: number, failures: number, rise: number, fall: number): ServiceStatus {
  if (current === ServiceStatus.UNKNOWN) return ok ? ServiceStatus.ALIVE : ServiceStatus.UNHEALTHY
  if (ok) return current === ServiceStatus.ALIVE || successes >= rise ? ServiceStatus.ALIVE : current
  return current === ServiceStatus.UNHEALTHY || failures >= fall ? ServiceStatus.UNHEALTHY : current
}

export class HealthMonitor extends EventEmitter<{ status: [id: string, status: ServiceStatus] }> implements Startable {
  readonly #logger: Logger
  readonly #clock: Clock
  readonly #init: HealthMonitorInit
  readonly #entries = new Map<string, Entry>()
  readonly #supplied = new Map<string, SuppliedCheckSource>()
  /** The 'update' listener registered on each supplied source while started. */
  readonly #listeners = new Map<SuppliedCheckSource, (args: string) => void>()
  #started = false
  readonly #observe: (type: string, seconds: number, ok: boolean) => void

  /** supplied: check kinds answered by other components (Docker health), by their type. */
  constructor (components: { logger: Logger, clock: Clock, supplied?: readonly SuppliedCheckSource[], metrics?: Metrics }, init: HealthMonitorInit) {
    super()
    this.#logger = components.logger
    this.#clock = components.clock
    this.#init = init
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
    for (const e of this.#entries.values()) e.ticker?.start()
  }

  async stop (): Promise<void> {
    if (!this.#started) return
    this.#started = false
    for (const [source, listener] of this.#listeners) source.off('update', listener)
    this.#listeners.clear()
    await Promise.all([...this.#entries.values()].map(async e => await e.ticker?.stop()))
  }

  /** The status of a service's check; UNKNOWN when it has none (yet). */
  status (id: string): ServiceStatus {
    return this.#entries.get(id)?.state.status ?? ServiceStatus.UNKNOWN
  }

  check (id: string): CheckState | undefined {
    return this.#entries.get(id)?.state
  }

  /** Adds checks for new services, replaces changed ones, removes vanished ones. */
  sync (discovered: readonly Discovered[]): void {
    const seen = new Set<string>()
    for (const d of discovered) {
      const id = d.service.ID
      seen.add(id)
      const { type, args, error } = this.#resolve(d)
      const key = `${type}\u0000${args}\u0000${error ?? ''}`
      const existing = this.#entries.get(id)
      if (existing?.key === key) continue
      if (existing !== undefined) void existing.ticker?.stop()
      this.#add(id, type, args, key, error)
    }
    for (const [id, e] of this.#entries) {
      if (seen.has(id)) continue
      void e.ticker?.stop()
      this.#entries.delete(id)
    }
  }

  #resolve (d: Discovered): { type: string, args: string, error?: string } {
    const spec = d.check ?? defaultCheck(d.service, this.#init.checkHost, this.#init.defaultCheckEndpoint)
    try {
      const rendered = renderCheckArgs(spec.args, d.service, { host: this.#init.checkHost, container: d.container })
      const args = spec.type === 'HttpGet' ? fillEmptyHost(rendered, this.#init.checkHost) : rendered
      this.#runnerFor(spec.type) // validates the type
      return { type: spec.type, args }
    } catch (err) {
      return { type: spec.type, args: spec.args, error: errorMessage(err) }
    }
  }

  #add (id: string, type: string, args: string, key: string, error?: string): void {
    const state: CheckState = { id, type, args, status: ServiceStatus.UNKNOWN, consecutiveFailures: 0, consecutiveSuccesses: 0, ...(error !== undefined ? { lastResult: { ok: false, error } } : {}) }
    const entry: Entry = { state, key }
    this.#entries.set(id, entry)
    if (error !== undefined) {
      // A check that cannot be built leaves the service UNKNOWN, with the reason shown.
      this.#logger.warn({ id, type }, `health check for ${id} cannot run: ${error}`)
      return
    }
    const shown = redactCheckArgs(type, args) // logs get shipped: no passwords or command arguments
    this.#logger.info({ id, type, args: shown }, `adding health check ${type} for ${id}${shown === '' ? '' : `: ${shown}`}`)
    const runner = this.#runnerFor(type)
    entry.ticker = new Ticker(async (signal) => { await this.#runOnce(entry, runner, signal) }, {
      name: `health check ${id}`,
      intervalMs: this.#init.intervalMs,
      firstDelayMs: 0, // a new service gets its first result at once
      logger: this.#logger,
    })
    if (this.#started) entry.ticker.start()
  }

  /** Runs the checks of this type and args now, rather than at their next interval. */
  #recheck (type: string, args: string): void {
    for (const e of this.#entries.values()) if (e.state.type === type && e.state.args === args) e.ticker?.trigger()
  }

  #runnerFor (type: string): Runner {
    const source = this.#supplied.get(type)
    if (source?.probe !== undefined) return source.probe.bind(source)
    if (source !== undefined) return async (args) => source.result(args)
    return runnerFor(type)
  }

  async #runOnce (entry: Entry, runner: Runner, signal: AbortSignal): Promise<void> {
    const timeout = AbortSignal.timeout(this.#init.timeoutMs)
    const t0 = performance.now()
    let result: CheckResult | undefined
    try {
      result = await runner(entry.state.args, AbortSignal.any([signal, timeout]))
    } catch (err) {
      result = { ok: false, error: errorMessage(err) }
    }
    if (signal.aborted || this.#entries.get(entry.state.id) !== entry) return // stopped or replaced meanwhile
    if (result === undefined) return // no verdict yet
    this.#observe(entry.state.type, (performance.now() - t0) / 1000, result.ok)
    const prev = entry.state
    const successes = result.ok ? prev.consecutiveSuccesses + 1 : 0
    const failures = result.ok ? 0 : prev.consecutiveFailures + 1
    const status = nextStatus(prev.status, result.ok, successes, failures, this.#init.rise, this.#init.fall)
    entry.state = { ...prev, status, lastResult: result, lastCheckedAt: this.#clock.now(), consecutiveSuccesses: successes, consecutiveFailures: failures }
    if (status !== prev.status) {
      const level = status === ServiceStatus.ALIVE ? 'info' : 'warn'
      const error = result.error === undefined ? undefined : redactText(result.error)
      this.#logger[level]({ id: prev.id, error }, `service ${prev.id} is now ${status === ServiceStatus.ALIVE ? 'healthy' : `unhealthy: ${error ?? 'check failed'}`}`)
      this.emit('status', prev.id, status)
    }
  }
}
