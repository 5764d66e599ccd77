// A dockerd of a test's own, which the test may stop and restart at will without
// disturbing the shared test Docker. No network (--bridge=none): its containers run with
// NetworkMode none. --live-restore keeps them running while dockerd is down, as on a
// production host that restarts Docker.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import Docker from 'dockerode'
import { waitFor } from './wait.ts'

/** Why a private dockerd cannot run here, or undefined when it can. */
export function privateDockerdMissing (): string | undefined {
  if (process.getuid?.() !== 0) return 'starting a dockerd of its own needs root'
  if (spawnSync('dockerd', ['--version']).status !== 0) return 'no dockerd binary (Debian package docker.io)'
  return undefined
}

export class PrivateDockerd {
  readonly socket: string
  readonly docker: Docker
  readonly #root: string
  readonly #data: string
  #child: ChildProcess | undefined
  log = ''

  private constructor (root: string, data: string) {
    this.#root = root
    this.#data = data
    this.socket = path.join(root, 'docker.sock')
    this.docker = new Docker({ socketPath: this.socket })
  }

  /** exec-root and socket live under /run (short paths: containerd's sockets must fit in 108 bytes). */
  static async create (): Promise<PrivateDockerd> {
    await mkdir('/run', { recursive: true })
    const root = await mkdtemp('/run/sctest-')
    const data = await mkdtemp(path.join(os.tmpdir(), 'sidecar-dockerd-data-'))
    const d = new PrivateDockerd(root, data)
    await d.start()
    return d
  }

  get running (): boolean { return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null }

  async start (): Promise<void> {
    this.#child = spawn('dockerd', [
      '--host', `unix://${this.socket}`, '--data-root', this.#data, '--exec-root', path.join(this.#root, 'exec'),
      '--pidfile', path.join(this.#root, 'dockerd.pid'), '--bridge', 'none', '--iptables=false', '--ip6tables=false',
      '--ip-masq=false', '--ip-forward=false', '--storage-driver=vfs', '--live-restore', '--log-level=warn',
    ], { stdio: ['ignore', 'pipe', 'pipe'] })
    const keep = (c: Buffer): void => { this.log = (this.log + c.toString()).slice(-20_000) }
    this.#child.stdout?.on('data', keep)
    this.#child.stderr?.on('data', keep)
    await waitFor(async () => existsSync(this.socket) && (await this.docker.ping(), true), {
      timeoutMs: 60_000, intervalMs: 200, message: () => `private dockerd answering at ${this.socket}; log:\n${this.log.slice(-2000)}`,
    })
  }

  /** SIGTERM and wait; with --live-restore the containers keep running. */
  async stop (): Promise<void> {
    const child = this.#child
    if (child === undefined || !this.running) return
    const exited = once(child, 'exit')
    child.kill('SIGTERM')
    const timer = setTimeout(() => { child.kill('SIGKILL') }, 20_000)
    await exited
    clearTimeout(timer)
  }

  /** Removes every container, stops dockerd, deletes its state. Never throws. */
  async destroy (): Promise<void> {
    try {
      if (!this.running) await this.start()
      for (const c of await this.docker.listContainers({ all: true })) await this.docker.getContainer(c.Id).remove({ force: true }).catch(() => {})
    } catch { /* best effort: stop it anyway */ }
    await this.stop()
    spawnSync('umount', ['-l', this.#data]) // dockerd bind-mounts its data root onto itself and leaves it mounted
    await rm(this.#data, { recursive: true, force: true }).catch(() => {})
    await rm(this.#root, { recursive: true, force: true }).catch(() => {})
  }
}
