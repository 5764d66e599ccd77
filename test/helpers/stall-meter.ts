// The longest event-loop stall of a daemon process over a window, at 1 ms resolution, for
// benchmarks whose target is "no stall over 50 ms". The daemon's own gauge
// (sidecar_event_loop_delay_max_seconds, and prom-client's sidecar_nodejs_eventloop_lag_max_seconds)
// samples every 10 ms and records the time between two samples: a 45 ms stall reads as 45 to
// 55 ms there. The meter is a preload (stall-meter-preload.ts) started and read by signals;
// its two 1 ms timers (the delay histogram, and one that reads the scheduler counters) cost
// the daemon about 2,000 wake-ups a second, so it runs only where a bench asks for it.
import { readFile, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { sleep } from './wait.ts'

const PRELOAD = fileURLToPath(new URL('./stall-meter-preload.ts', import.meta.url))

export interface Stalls {
  /** Longest event-loop delay in the window (ms, 1 ms resolution: the stall plus at most 1 ms). */
  maxMs: number
  p99Ms: number
  /** Samples taken (about one per ms when the loop is free). */
  samples: number
  /**
   * The longest gap between two turns of a 1 ms timer (about maxMs) and where it went: the main
   * thread on a CPU, waiting for a core (runnable while other work had both), and the rest
   * blocked. Zeros for cpuMs and waitMs where /proc has no schedstat.
   */
  longest: Gap
  /** The gap with the most time on a CPU: the longest piece of the process's own work (collections included). */
  busiest: Gap
}

export interface Gap { ms: number, cpuMs: number, waitMs: number }

/** "74 ms (the longest gap 74 ms: 38 on a CPU, 33 waiting for a core, 3 blocked; the most work in one gap 41 ms on a CPU of 52)". */
export function describeStall (s: Stalls): string {
  const l = s.longest
  const blocked = Math.max(0, l.ms - l.cpuMs - l.waitMs)
  return `${s.maxMs.toFixed(0)} ms (the longest gap ${l.ms.toFixed(0)} ms: ${l.cpuMs.toFixed(0)} on a CPU, ${l.waitMs.toFixed(0)} waiting for a core, ${blocked.toFixed(0)} blocked; the most work in one gap ${s.busiest.cpuMs.toFixed(0)} ms on a CPU of ${s.busiest.ms.toFixed(0)})`
}

export class StallMeter {
  readonly file: string
  #seq = 0
  #pid: number | undefined

  constructor (name: string) {
    this.file = path.join(os.tmpdir(), `sidecar-stalls-${name}-${process.pid}-${Date.now()}.json`)
  }

  /** Environment for the daemon: NODE_OPTIONS (added to `nodeOptions`, if any) and the file. */
  env (nodeOptions = ''): Record<string, string> {
    return { NODE_OPTIONS: `${nodeOptions} --import ${PRELOAD}`.trim(), SIDECAR_STALL_FILE: this.file }
  }

  /** Starts a window in the daemon with this pid (the first call starts the meter). */
  start (pid: number): void {
    this.#pid = pid
    process.kill(pid, 'SIGUSR2')
  }

  /** Ends the current window and starts the next; what the window saw. */
  async read (timeoutMs = 10_000): Promise<Stalls> {
    if (this.#pid === undefined) throw new Error('StallMeter.read() before start()')
    const want = ++this.#seq
    process.kill(this.#pid, 'SIGUSR2')
    const until = performance.now() + timeoutMs
    while (performance.now() < until) {
      const text = await readFile(this.file, 'utf8').catch(() => '')
      if (text.endsWith('\n')) {
        const r = JSON.parse(text) as Stalls & { seq: number }
        if (r.seq === want) return { maxMs: r.maxMs, p99Ms: r.p99Ms, samples: r.samples, longest: r.longest, busiest: r.busiest }
      }
      await sleep(20)
    }
    throw new Error(`the stall meter of process ${this.#pid} wrote no window ${want} to ${this.file} within ${timeoutMs} ms`)
  }

  async close (): Promise<void> {
    await rm(this.file, { force: true })
  }
}
