// Real daemons for benchmarks: the built dist/ (as deployed, with the V8 flags bin/sidecar.js
// applies), JSON logs at debug level so arrival times can be read from them, /proc for RSS and CPU.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs'
import path from 'node:path'
import { memoryPartsKb } from '../test/helpers/proc.ts'

export interface StateRecord { ID: string, Name: string, Hostname: string, Status: number }
export interface StateJson { Servers: Record<string, { Services: Record<string, StateRecord> }> }

export async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}

/**
 * A process's CPU time so far from /proc/<pid>/stat, in clock ticks (100 per second): user and
 * system, and children's (user + system of the children it waited for). Throws where there is
 * no such process.
 */
export function procCpuTicks (pid: number): { user: number, system: number, children: number } {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return { user: Number(f[11]), system: Number(f[12]), children: Number(f[13]) + Number(f[14]) }
}

/** Nearest-rank percentile; NaN for no data. */
export function percentile (xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]
}

/** Stops each child still running: SIGTERM, then SIGKILL after 5 s; resolves when all have exited. */
export async function stopChildren (children: readonly ChildProcess[]): Promise<void> {
  await Promise.all(children.map(async c => {
    if (c.exitCode !== null || c.signalCode !== null) return
    const exited = new Promise(resolve => c.once('exit', resolve))
    c.kill('SIGTERM')
    const t = setTimeout(() => c.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(t)
  }))
}

/** Starts cmd in dir with its output in dir/NAME.log, and adds it to children. */
export function startLogged (children: ChildProcess[], dir: string, name: string, cmd: string, args: string[], env: Record<string, string> = {}): ChildProcess {
  const log = openSync(path.join(dir, `${name}.log`), 'a')
  const c = spawn(cmd, args, { cwd: dir, env: { ...process.env, ...env }, stdio: ['ignore', log, log] })
  closeSync(log)
  children.push(c)
  return c
}

/**
 * Runs a differential tool's main, prints why it stopped if it threw, stops the children and
 * removes dir (kept, with its logs named, after a failure or with DIFF_KEEP=1), then exits 0:
 * the tools print, they never fail.
 */
export async function runDifferential (main: () => Promise<void>, children: readonly ChildProcess[], dir: string): Promise<never> {
  let good = false
  try {
    await main()
    good = true
  } catch (err) {
    process.stdout.write(`differential run stopped: ${(err as Error).message}\n`)
  } finally {
    await stopChildren(children)
    if (good && process.env.DIFF_KEEP !== '1') rmSync(dir, { recursive: true, force: true })
    else process.stderr.write(`the output of the processes it started: ${dir}/*.log\n`)
  }
  process.exit(0)
}

/** Polls fn every 50 ms until true; returns the elapsed ms; throws after timeoutMs. */
export async function waitUntil (fn: () => Promise<boolean>, timeoutMs: number, what: string): Promise<number> {
  const t0 = Date.now()
  for (;;) {
    try {
      if (await fn()) return Date.now() - t0
    } catch {
      // not up yet
    }
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms: ${what}`)
    await sleep(50)
  }
}

export class BenchDaemon {
  readonly repo: string
  readonly dir: string
  readonly ip: string
  readonly hostname: string
  readonly seed: string
  /** Services added by the benchmark, beyond svc-<hostname>. */
  readonly extra: string[] = []
  child: ChildProcess | undefined
  output = ''

  constructor (o: { repo: string, dir: string, ip: string, hostname: string, seed: string }) {
    this.repo = o.repo
    this.dir = o.dir
    this.ip = o.ip
    this.hostname = o.hostname
    this.seed = o.seed
  }

  spawn (): void {
    this.child = spawn(process.execPath, [path.join(this.repo, 'bin/sidecar.js'), '--hostname', this.hostname, '--bind-ip', this.ip, '--advertise-ip', this.ip, '-c', this.seed, '-d', 'static'], {
      cwd: this.dir,
      env: { PATH: process.env.PATH ?? '', HOME: this.dir, STATIC_CONFIG_FILE: path.join(this.dir, 'static.json'), SIDECAR_LOGGING_LEVEL: 'debug', SIDECAR_LOGGING_FORMAT: 'json' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const keep = (c: Buffer): void => { this.output = (this.output + c.toString()).slice(-4_000_000) }
    this.child.stdout?.on('data', keep)
    this.child.stderr?.on('data', keep)
  }

  get pid (): number {
    if (this.child?.pid === undefined) throw new Error(`${this.hostname} not started`)
    return this.child.pid
  }

  async ready (timeoutMs: number): Promise<void> {
    await waitUntil(async () => (await fetch(`http://${this.ip}:7777/health`, { signal: AbortSignal.timeout(2000) })).ok, timeoutMs, `${this.hostname} API`)
  }

  async state (): Promise<StateJson> {
    const res = await fetch(`http://${this.ip}:7777/state.json`, { signal: AbortSignal.timeout(5000) })
    return await res.json() as StateJson
  }

  /** How long after its origin stamped it the first version of record `name` arrived here (from the debug log). */
  arrivalDelay (name: string): number | undefined {
    const re = new RegExp(`"msg":"gossip: ${name} \\(\\w+\\) on \\S+ is now \\w+ \\(added via [^,]+, (-?[\\d.]+) ms after`)
    const m = re.exec(this.output)
    return m === null ? undefined : Number(m[1])
  }

  /**
   * When (wall clock ms, from the JSON log) this daemon first held host's records as
   * tombstones after `after`: its own departure verdict or a tombstone gossiped to it.
   */
  tombstonedAt (host: string, after: number): number | undefined {
    let best: number | undefined
    for (const line of this.output.split('\n')) {
      if (!line.includes(`on ${host} is now Tombstone`) && !line.includes(`"msg":"${host} departed: tombstoned`)) continue
      const time = /"time":"([^"]+)"/.exec(line)
      const at = time === null ? NaN : Date.parse(time[1])
      if (at >= after && (best === undefined || at < best)) best = at
    }
    return best
  }

  /** Resident memory in parts (memoryPartsKb), MB; NaN each when /proc cannot tell. */
  memoryMb (): { rss: number, anon: number, pss: number } {
    const m = memoryPartsKb(this.pid)
    return m === undefined ? { rss: NaN, anon: NaN, pss: NaN } : { rss: m.rss / 1024, anon: m.anon / 1024, pss: m.pss / 1024 }
  }

  /** CPU used so far, in clock ticks (100 per second): utime + stime. */
  async cpuTicks (): Promise<number> {
    const t = procCpuTicks(this.pid)
    return t.user + t.system
  }

  /** CPU used over the next ms milliseconds, in percent of one core. */
  async cpuPercent (ms: number): Promise<number> {
    const a = await this.cpuTicks()
    await sleep(ms)
    return (await this.cpuTicks() - a) / (ms / 1000)
  }

  signal (sig: NodeJS.Signals): void {
    this.child?.kill(sig)
  }

  async stop (): Promise<void> {
    const child = this.child
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGCONT')
    child.kill('SIGTERM')
    const timer = setTimeout(() => { child.kill('SIGKILL') }, 5000)
    await once(child, 'exit')
    clearTimeout(timer)
  }
}
