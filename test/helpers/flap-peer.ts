// A cluster member in a child process whose records flap on command (flap-peer-main.ts):
// thousands of status changes, each signed by the member itself, for storm tests.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import path from 'node:path'
import type { BulkPeerOptions } from './bulk-peer.ts'

/** alive / unhealthy: every record; mixed: every third record (by ID order) UNHEALTHY, the rest ALIVE. */
export type FlapPattern = 'alive' | 'unhealthy' | 'mixed'

export class FlapPeerProcess {
  readonly child: ChildProcess
  output = ''

  private constructor (child: ChildProcess) {
    this.child = child
    const keep = (chunk: Buffer): void => { this.output = (this.output + chunk.toString()).slice(-20_000) }
    child.stdout?.on('data', keep)
    child.stderr?.on('data', keep)
    process.once('exit', () => { child.kill('SIGKILL') })
  }

  /** nice: its CPU niceness (coreutils `nice -n`), so that on a shared machine it stands for another host. */
  static async start (opts: BulkPeerOptions & { nice?: number }, timeoutMs = 60_000): Promise<FlapPeerProcess> {
    const main = path.join(path.dirname(new URL(import.meta.url).pathname), 'flap-peer-main.ts')
    const argv = [main, JSON.stringify(opts)]
    const [cmd, args] = opts.nice === undefined ? [process.execPath, argv] : ['nice', ['-n', String(opts.nice), process.execPath, ...argv]]
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] })
    const p = new FlapPeerProcess(child)
    const t0 = Date.now()
    while (!p.output.includes('ready')) {
      if (child.exitCode !== null || Date.now() - t0 > timeoutMs) { child.kill('SIGKILL'); throw new Error(`flap peer ${opts.hostname} did not start: ${p.output}`) }
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    return p
  }

  /** Sets every record's status by the pattern (each change a new signed version); how many changed. */
  async set (pattern: FlapPattern, timeoutMs = 10_000): Promise<number> {
    const answer = once(this.child, 'message', { signal: AbortSignal.timeout(timeoutMs) })
    this.child.send({ op: 'set', pattern })
    const [m] = await answer as [{ op: string, changed: number }]
    return m.changed
  }

  async stop (): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    const exited = once(this.child, 'exit')
    this.child.kill('SIGTERM')
    const timer = setTimeout(() => { this.child.kill('SIGKILL') }, 5000)
    await exited
    clearTimeout(timer)
  }
}
