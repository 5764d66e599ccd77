// Runs the real sidecar as a child process on a loopback address, for integration tests.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { waitFor } from './wait.ts'

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
export const BIN = path.join(REPO, 'bin/sidecar.js')

/** Every daemon still running, killed if the test worker exits without its teardown (an ava timeout). */
const live = new Set<DaemonProcess>()
process.once('exit', () => { for (const d of live) d.kill() })

export interface DaemonOptions {
  /** Loopback address the daemon binds and advertises (127.0.0.2, ...). */
  ip: string
  hostname: string
  args?: string[]
  env?: Record<string, string>
  cwd: string
  apiPort?: number
  /** Starts it under this open-file limit (`ulimit -n` in sh, soft and hard). */
  openFiles?: number
  /** Starts it at this CPU niceness (coreutils `nice -n`), every thread of it. */
  nice?: number
  /** Opens Node's inspector on the daemon's own address (a port of the system's choosing), for collectGarbage(). */
  inspector?: boolean
}

export class DaemonProcess {
  readonly child: ChildProcess
  readonly ip: string
  readonly apiPort: number
  readonly hostname: string
  output = ''
  /** How many characters were cut off the front of output (it keeps the last 200,000). */
  #dropped = 0
  /** The inspector's address, once it printed it (the `inspector` option). */
  #inspectorUrl: string | undefined
  /** When the process was spawned (Date.now()). */
  readonly spawnedAt = Date.now()
  /** When it exited (Date.now() at the 'exit' event). */
  #exitedAt: number | undefined
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>

  constructor (opts: DaemonOptions) {
    this.ip = opts.ip
    this.hostname = opts.hostname
    this.apiPort = opts.apiPort ?? 7777
    const argv = [BIN, '--hostname', opts.hostname, '--bind-ip', opts.ip, '--advertise-ip', opts.ip, '--http-port', String(this.apiPort), ...(opts.args ?? [])]
    // under an open-file limit: sh sets it, then becomes node
    const [node, nodeArgs] = opts.nice === undefined ? [process.execPath, argv] : ['nice', ['-n', String(opts.nice), process.execPath, ...argv]]
    const [cmd, args] = opts.openFiles === undefined ? [node, nodeArgs] : ['/bin/sh', ['-c', `ulimit -n ${opts.openFiles} && exec "$0" "$@"`, node, ...nodeArgs]]
    this.child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: { PATH: process.env.PATH ?? '', HOME: opts.cwd, SIDECAR_FROM_SOURCE: '1', SIDECAR_LOGGING_LEVEL: 'debug', ...(opts.inspector === true ? { NODE_OPTIONS: `--inspect=${opts.ip}:0` } : {}), ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const keep = (chunk: Buffer): void => {
      const text = chunk.toString()
      const all = this.output + text
      this.#dropped += Math.max(0, all.length - 200_000)
      this.output = all.slice(-200_000)
      if (opts.inspector !== true) return
      // kept apart from the output, whose start a verbose daemon soon pushes out
      const url = [...this.output.slice(-(text.length + 200)).matchAll(/Debugger listening on (ws:\/\/\S+)/g)].at(-1)?.[1]
      if (url !== undefined) this.#inspectorUrl = url
    }
    this.child.stdout?.on('data', keep)
    this.child.stderr?.on('data', keep)
    // 'exit' can come before this process has read the last of the output from the pipes: exited
    // waits for them to close as well (a few seconds at most: a process the daemon started and left
    // behind may hold them open), so the lines a daemon wrote before it exited are in output then
    const drained = Promise.all([this.child.stdout, this.child.stderr].map(async s => { if (s !== null) await new Promise(resolve => s.once('close', resolve)) }))
    this.exited = once(this.child, 'exit').then(async ([code, signal]) => {
      this.#exitedAt = Date.now()
      let timer: NodeJS.Timeout | undefined
      await Promise.race([drained, new Promise(resolve => { timer = setTimeout(resolve, 5000) })])
      clearTimeout(timer)
      return { code: code as number | null, signal: signal as NodeJS.Signals | null }
    })
    live.add(this)
    void this.exited.then(() => { live.delete(this) })
  }

  url (p: string): string { return `http://${this.ip}:${this.apiPort}${p}` }

  /**
   * GET p as JSON. The timeout is generous: tests check behaviour, not speed, and on a loaded
   * CI machine (load average 10 on 2 cores) a /api/proxy.json read took over 5 s once.
   */
  async json<T = unknown> (p: string): Promise<T> {
    const res = await fetch(this.url(p), { signal: AbortSignal.timeout(15_000) })
    if (!res.ok) throw new Error(`GET ${p}: HTTP ${res.status}`)
    return await res.json() as T
  }

  /**
   * Waits until the API answers and the gossip port listens (/health ok or joining). The default is generous: in CI a daemon can start beside a
   * 20-daemon cluster and an image build, and loading its sources then takes tens of seconds.
   */
  async ready (timeoutMs = 60_000): Promise<void> {
    // Another daemon on this address and port (two test files given the same address, run at
    // once) answers too: its answer is not this daemon's. Its own fails to bind and it exits.
    let other: string | undefined
    const r = await waitFor(async () => {
      if (!this.running) return 'exited'
      const res = await fetch(this.url('/health'), { signal: AbortSignal.timeout(2000) })
      const body = await res.json().catch(() => undefined) as { hostname?: unknown, status?: unknown } | null | undefined
      other = this.hostname !== '' && typeof body?.hostname === 'string' && body.hostname !== this.hostname ? body.hostname : undefined
      // "joining": its gossip port listens and it pulls the cluster's state (what tests and
      // benchmarks time from: a late joiner's pull); ok once that is over
      return other === undefined && (res.ok || body?.status === 'joining')
    }, {
      timeoutMs,
      message: () => `${this.hostname} API on ${this.ip}:${this.apiPort} (process running, spawned ${Date.now() - this.spawnedAt} ms ago, load average ${os.loadavg().map(l => l.toFixed(2)).join(' ')})${other === undefined ? '' : `: a daemon named ${other} answers there, another test's on the same address?`}; output:\n${this.output.slice(-4000)}`,
    })
    if (r === 'exited') {
      await this.exited // its last output is in
      throw new Error(`${this.hostname} exited (${this.child.exitCode ?? this.child.signalCode}) ${Date.now() - this.spawnedAt} ms after spawn, before its API on ${this.ip}:${this.apiPort} answered${other === undefined ? '' : ` (a daemon named ${other} answered there: another test's on the same address?)`}; output:\n${this.output.slice(-4000)}`)
    }
  }

  /**
   * A position in the output, for waitForOutput's `from` and outputSince(): counted from the first
   * character the daemon wrote, so it stays right once the front of output is cut off (output.length
   * does not: it stops growing at 200,000).
   */
  mark (): number { return this.#dropped + this.output.length }

  /** The output from a mark() on (what is still kept of it). */
  outputSince (mark: number): string { return this.output.slice(Math.max(0, mark - this.#dropped)) }

  /**
   * Waits until the output from `from` (a mark(); default: all of it) matches pattern, a string
   * or a RegExp, and returns the match; its index is a position as mark() counts. The daemon
   * writes its log through a pipe that this process reads when its event loop gets to it: on a
   * loaded machine (load average 10 on 2 cores) a line comes in after an HTTP answer, a closed
   * socket or a file that the daemon gave after writing the line. A test that saw such an effect
   * waits here for the line that goes with it, rather than reading output at once.
   */
  async waitForOutput (pattern: string | RegExp, opts: { from?: number, timeoutMs?: number } = {}): Promise<RegExpExecArray> {
    // without g or y: exec starts at 0 every time, not at a lastIndex left by a call before
    const re = typeof pattern === 'string' ? new RegExp(pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ''))
    const from = opts.from ?? 0
    return await waitFor(() => {
      const start = Math.max(from, this.#dropped)
      const m = re.exec(this.output.slice(start - this.#dropped))
      if (m === null) return undefined
      m.index += start
      return m
    }, {
      timeoutMs: opts.timeoutMs ?? 15_000,
      message: () => `${this.hostname}'s output${from > 0 ? ` after position ${from}` : ''} to match ${typeof pattern === 'string' ? JSON.stringify(pattern) : String(pattern)} (${this.running ? 'process running' : `process exited (${this.child.exitCode ?? this.child.signalCode})`}, load average ${os.loadavg().map(l => l.toFixed(2)).join(' ')}); output${from > 0 ? ' since then' : ''}:\n${this.outputSince(from).slice(-4000) || '(nothing)'}`,
    })
  }

  get running (): boolean { return this.child.exitCode === null && this.child.signalCode === null }

  /** Sends a signal and waits for the exit (and the last of the output); returns the exit and how long the process took to exit. */
  async stop (signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<{ code: number | null, signal: NodeJS.Signals | null, ms: number }> {
    const t0 = Date.now()
    if (!this.running) return { ...(await this.exited), ms: 0 }
    this.child.kill(signal)
    const timer = setTimeout(() => { this.child.kill('SIGKILL') }, timeoutMs)
    const r = await this.exited
    clearTimeout(timer)
    return { ...r, ms: (this.#exitedAt ?? Date.now()) - t0 }
  }

  kill (): void { if (this.running) this.child.kill('SIGKILL') }

  /**
   * Runs a full V8 collection in the daemon through its inspector (started with `inspector: true`),
   * so what its heap holds afterwards is what lives, not what the collector has yet to take.
   */
  async collectGarbage (timeoutMs = 30_000): Promise<void> {
    await this.#inspect('HeapProfiler.collectGarbage', {}, 'run a collection', timeoutMs)
  }

  /** Evaluates a JS expression in the daemon's main thread through its inspector: `busy(ms)` holds its event loop. */
  async evaluate (expression: string, timeoutMs = 30_000): Promise<void> {
    await this.#inspect('Runtime.evaluate', { expression }, 'evaluate an expression', timeoutMs)
  }

  async #inspect (method: string, params: object, what: string, timeoutMs: number): Promise<void> {
    // bin/sidecar.js re-executes itself with its V8 flags (same PID): the last listener is the daemon's
    const url = this.#inspectorUrl
    if (url === undefined) throw new Error(`${this.hostname} has no inspector (start it with inspector: true); output:\n${this.output.slice(-2000)}`)
    const ws = new WebSocket(url)
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => { reject(new Error(`${this.hostname}'s inspector did not ${what} within ${timeoutMs} ms`)) }, timeoutMs)
        ws.onerror = () => { clearTimeout(timer); reject(new Error(`${this.hostname}'s inspector at ${url} refused the connection`)) }
        ws.onopen = () => { ws.send(JSON.stringify({ id: 1, method, params })) }
        ws.onmessage = (e) => {
          const m = JSON.parse(String(e.data)) as { id?: number, error?: { message: string } }
          if (m.id !== 1) return
          clearTimeout(timer)
          if (m.error === undefined) resolve()
          else reject(new Error(`${this.hostname}'s inspector: ${m.error.message}`))
        }
      })
    } finally {
      ws.close()
    }
  }
}

/** Starts a daemon and waits for its API; the caller registers kill() as a teardown. */
export async function startDaemon (opts: DaemonOptions): Promise<DaemonProcess> {
  const d = new DaemonProcess(opts)
  try {
    await d.ready()
  } catch (err) {
    d.kill()
    throw err
  }
  return d
}
