// Processes an External check leaves behind outside its process group (Linux). A command
// that daemonizes (setsid, setsid -f, a double fork with setsid, start-stop-daemon) puts its
// child in a new session, where the check's group kill cannot reach it: with a 3 s interval
// that is 1,200 more processes an hour, until the host runs out of PIDs. Each run therefore
// gets a marker in its environment, which every descendant inherits; once a run has ended,
// a sweep finds the processes that still carry its marker in /proc/<pid>/environ, sends
// them SIGTERM and, after a short grace, SIGKILL, and says once per service that its check
// does this. Not covered: a descendant that execs with a new environment (env -i) or
// changes user; only a cgroup (systemd KillMode=control-group) contains those.
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { errorMessage } from '../lib/errors.ts'
import type { Logger } from '../lib/logger.ts'
import { Slicer } from '../lib/slicer.ts'

/** The environment variable that marks a check run's processes. */
export const CHECK_RUN_ENV = 'SIDECAR_CHECK_RUN'

/** Sweeps start at least this far apart (and 10 times the last sweep's length): the scan costs the same however many checks ended. */
const SWEEP_GAP_MS = 1000
/** Time a stray gets between SIGTERM and SIGKILL. */
export const STRAY_GRACE_MS = 500
/** Event-loop time a sweep takes at a stretch before it lets other work run. */
const SLICE_MS = 2
/** Ended runs remembered (to name a late stray's service), and services warned about; past this the oldest are forgotten. */
const MAX_REMEMBERED = 10_000
/** Rounds of the final sweep at stop: a stray forking while it is killed leaves a child carrying the marker. */
const FINAL_ROUNDS = 3

interface Run {
  /** The service whose check this run is. */
  readonly label: string
  /** The shell's pid, which is also its process group's id (the group kill ends those). */
  pgid?: number
  timedOut: boolean
}

/** The value of key ("NAME=") in one process's environment (NUL-separated), if it has one. */
function markerOf (environ: Buffer, key: Buffer): string | undefined {
  let from = 0
  for (;;) {
    const at = environ.indexOf(key, from)
    if (at < 0) return undefined
    if (at === 0 || environ[at - 1] === 0) {
      const end = environ.indexOf(0, at)
      return environ.toString('latin1', at + key.length, end < 0 ? environ.length : end)
    }
    from = at + 1
  }
}

export interface RunHandle {
  /** Environment entries to give the run's process. */
  readonly env: Readonly<Record<string, string>>
  /** The run's process started, in its own process group led by pid. */
  spawned: (pid: number) => void
  /** The run ended (timedOut: killed at its timeout); what it left running is swept soon. */
  end: (timedOut: boolean) => void
}

export class StrayReaper {
  readonly #logger: Logger
  /** Markers of this daemon start with it: another daemon's checks are never touched. */
  readonly #prefix = `${process.pid}.${randomBytes(8).toString('hex')}.`
  readonly #key = Buffer.from(`${CHECK_RUN_ENV}=`)
  #next = 0
  readonly #active = new Map<string, Run>()
  readonly #ended = new Map<string, Run>()
  readonly #warned = new Set<string>()
  #timer: NodeJS.Timeout | undefined
  #sweeping: Promise<void> | undefined
  #lastStart = -Infinity
  /** How long the last scan of /proc took. */
  #lastMs = 0
  /** Set when /proc cannot be read (not Linux): no more sweeps. */
  #off = false
  #stopped = false

  constructor (components: { logger: Logger }) {
    this.#logger = components.logger
  }

  /** Marks a new run of label's check. */
  begin (label: string): RunHandle {
    const marker = `${this.#prefix}${this.#next++}`
    const run: Run = { label, timedOut: false }
    this.#active.set(marker, run)
    return {
      env: { [CHECK_RUN_ENV]: marker },
      spawned: (pid) => { run.pgid = pid },
      end: (timedOut) => {
        if (this.#active.get(marker) !== run) return
        run.timedOut = timedOut
        this.#active.delete(marker)
        if (this.#ended.size >= MAX_REMEMBERED) this.#ended.delete(this.#ended.keys().next().value as string)
        this.#ended.set(marker, run)
        this.#schedule()
      },
    }
  }

  /** Ends every stray still running (a few sweeps), and sweeps no more. Never throws. */
  async stop (): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#timer)
    this.#timer = undefined
    await this.#sweeping
    for (let i = 0; i < FINAL_ROUNDS && !this.#off; i++) {
      if (await this.#sweepOnce() === 0) break
    }
    this.#stopped = false // a restarted monitor's runs are swept again
  }

  #schedule (): void {
    if (this.#off || this.#stopped || this.#timer !== undefined) return
    const wait = Math.max(0, this.#lastStart + Math.max(SWEEP_GAP_MS, 10 * this.#lastMs) - performance.now())
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      if (this.#sweeping !== undefined) { this.#schedule(); return }
      this.#sweeping = this.#sweepOnce().then(() => undefined).finally(() => { this.#sweeping = undefined })
    }, wait)
    this.#timer.unref()
  }

  /** One sweep; returns how many strays it found. */
  async #sweepOnce (): Promise<number> {
    const t0 = performance.now()
    this.#lastStart = t0
    try {
      const strays = await this.#find()
      this.#lastMs = performance.now() - t0 // the scan's cost, not the grace below
      if (strays.size === 0) return 0
      for (const pid of strays.keys()) try { process.kill(pid, 'SIGTERM') } catch { /* gone */ }
      await new Promise(resolve => setTimeout(resolve, STRAY_GRACE_MS))
      await Promise.all([...strays].map(async ([pid, marker]) => {
        // still the same process (pids are reused): it still carries the marker
        const environ = await readFile(`/proc/${pid}/environ`).catch(() => undefined)
        if (environ !== undefined && markerOf(environ, this.#key) === marker) try { process.kill(pid, 'SIGKILL') } catch { /* gone */ }
      }))
      this.#report(strays)
      return strays.size
    } catch (err) {
      this.#off = true
      this.#logger.warn({ err: errorMessage(err) }, `processes that External health checks leave running cannot be found (no Linux /proc?): ${errorMessage(err)}; a check command that daemonizes will leave one process per run`)
      return 0
    }
  }

  /**
   * Processes carrying the marker of an ended run of this daemon, by pid. The files are read
   * synchronously (a third of the cost of async reads, which take four thread-pool trips
   * each), in slices of SLICE_MS with the event loop served between them.
   */
  async #find (): Promise<Map<number, string>> {
    const pids = (await readdir('/proc')).filter(n => n.charCodeAt(0) >= 48 && n.charCodeAt(0) <= 57).map(Number).filter(p => p !== process.pid)
    const found = new Map<number, string>()
    const slicer = new Slicer(SLICE_MS)
    for (const pid of pids) {
      if (slicer.due()) await slicer.next()
      try {
        // another user's environ cannot be opened (EACCES): only processes it may signal are read
        const marker = markerOf(readFileSync(`/proc/${pid}/environ`), this.#key)
        if (marker === undefined || !marker.startsWith(this.#prefix) || this.#active.has(marker)) continue
        const run = this.#ended.get(marker)
        // a member of the run's own group was killed with it: not a stray, merely not reaped yet
        if (run?.pgid !== undefined && pgidOf(readFileSync(`/proc/${pid}/stat`, 'latin1')) === run.pgid) continue
        found.set(pid, marker)
      } catch { /* gone, or not ours */ }
    }
    return found
  }

  #report (strays: Map<number, string>): void {
    const byLabel = new Map<string, { count: number, timedOut: boolean }>()
    for (const marker of strays.values()) {
      const run = this.#ended.get(marker)
      const label = run?.label ?? 'an earlier check'
      const e = byLabel.get(label) ?? { count: 0, timedOut: false }
      e.count++
      e.timedOut ||= run?.timedOut ?? false
      byLabel.set(label, e)
    }
    for (const [label, { count, timedOut }] of byLabel) {
      const what = `killed ${count} ${count === 1 ? 'process' : 'processes'} left running by the health check of ${label}`
      if (this.#warned.has(label)) {
        this.#logger.debug({ id: label, killed: count }, what)
        continue
      }
      if (this.#warned.size >= MAX_REMEMBERED) this.#warned.clear()
      this.#warned.add(label)
      this.#logger.warn({ id: label, killed: count },
        `${what}: its command starts processes that leave its process group (setsid, a daemon)${timedOut ? ', and it timed out' : ''}, so they would pile up, one more set per interval; ` +
        'they are killed after each run (said once per service). Make the command wait for what it starts')
    }
  }
}

/** The process group id field of /proc/<pid>/stat (after the parenthesised name, which may hold anything). */
function pgidOf (stat: string): number {
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return Number(rest[2]) // state, ppid, pgrp
}
