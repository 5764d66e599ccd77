// Daemons for fault tests: in a NetLab's namespaces (partitions) or on loopback (kills,
// freezes, clock skew), each with its own static file of always-healthy services; and the
// comparisons the fault tests make: a state without its timestamps, the records a node holds.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { BIN } from './daemon.ts'
import type { StateJson } from './cluster.ts'
import { getJson, type NetLab } from './netns.ts'
import { waitFor } from './wait.ts'

/** libfaketime from Debian's faketime package: moves the process's wall clock (not its monotonic one). */
export const FAKETIME_LIB = ['x86_64', 'aarch64'].map(a => `/usr/lib/${a}-linux-gnu/faketime/libfaketime.so.1`).find(p => existsSync(p)) ?? '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1'

/** Environment that runs a daemon with its wall clock off by offsetS seconds (libfaketime). */
export function skewEnv (offsetS: number): Record<string, string> {
  return { LD_PRELOAD: FAKETIME_LIB, FAKETIME: `${offsetS >= 0 ? '+' : ''}${offsetS}s`, FAKETIME_DONT_FAKE_MONOTONIC: '1', FAKETIME_NO_CACHE: '1' }
}

/** A daemon in node i's namespace of a NetLab. */
export class NsNode {
  readonly lab: NetLab
  readonly i: number
  readonly hostname: string
  readonly dir: string
  services: string[]
  child: ChildProcess | undefined
  output = ''
  readonly #args: string[]
  readonly #env: Record<string, string>

  constructor (lab: NetLab, i: number, root: string, opts: { args: string[], env: Record<string, string> }) {
    this.lab = lab
    this.i = i
    this.hostname = `f${i}`
    this.dir = path.join(root, this.hostname)
    this.services = [`svc-${this.hostname}`]
    this.#args = opts.args
    this.#env = opts.env
  }

  get ip (): string { return this.lab.addr(this.i) }
  get staticFile (): string { return path.join(this.dir, 'static.json') }

  async setServices (names: string[]): Promise<void> {
    this.services = names
    await mkdir(this.dir, { recursive: true })
    await writeFile(this.staticFile, JSON.stringify(names.map((name, k) => ({
      Service: { Name: name, Image: `${name}:1`, Ports: [{ Type: 'tcp', Port: 20000 + k, ServicePort: 0, IP: this.ip }] },
      Check: { Type: 'AlwaysSuccessful', Args: '' },
    }))))
  }

  spawn (): void {
    const argv = this.lab.wrap(this.i, [process.execPath, BIN, '--hostname', this.hostname, '--bind-ip', this.ip, '--advertise-ip', this.ip, '--http-port', '7777', '-d', 'static', ...this.#args])
    this.child = spawn(argv[0], argv.slice(1), {
      cwd: this.dir,
      env: { PATH: process.env.PATH ?? '', HOME: this.dir, SIDECAR_FROM_SOURCE: '1', SIDECAR_LOGGING_LEVEL: 'info', STATIC_CONFIG_FILE: this.staticFile, ...this.#env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const keep = (chunk: Buffer): void => { this.output = (this.output + chunk.toString()).slice(-100_000) }
    this.child.stdout?.on('data', keep)
    this.child.stderr?.on('data', keep)
  }

  async json<T> (p: string): Promise<T> { return await getJson<T>(this.lab.sock(this.ip), p) }
  async state (): Promise<StateJson> { return await this.json<StateJson>('/state.json') }

  async ready (timeoutMs = 60_000): Promise<void> {
    await waitFor(async () => await this.json('/health').then(() => true), { timeoutMs, message: () => `${this.hostname} API; output:\n${this.output.slice(-3000)}` })
  }

  async kill (): Promise<void> {
    const c = this.child
    if (c === undefined || c.exitCode !== null || c.signalCode !== null) return
    c.kill('SIGKILL')
    await once(c, 'exit')
  }
}

/**
 * A state document as every node should agree on it: without the answering node's name and
 * without timestamps (each node stamps its own refreshes), records keyed host/ID.
 */
export function comparable (s: StateJson): string {
  const out: Record<string, unknown> = {}
  for (const host of Object.keys(s.Servers).sort()) {
    for (const [id, rec] of Object.entries(s.Servers[host].Services).sort(([a], [b]) => a < b ? -1 : 1)) {
      const { Updated: _u, Created: _c, ...rest } = rec as unknown as Record<string, unknown>
      out[`${host}/${id}`] = rest
    }
  }
  return JSON.stringify(out)
}

/** name -> status of every record of every host, "host/name". */
export function statuses (s: StateJson): Map<string, number> {
  const out = new Map<string, number>()
  for (const [host, srv] of Object.entries(s.Servers)) for (const r of Object.values(srv.Services)) out.set(`${host}/${r.Name}`, r.Status)
  return out
}

/** Nearest-rank percentile of a sorted copy. */
export function percentile (values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p / 100 * sorted.length) - 1))]
}
