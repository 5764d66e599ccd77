// Several real daemons on loopback addresses, each with its own static file (one service
// with an always-passing check) and its own working and data directory, for cluster tests.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import type { ExecutionContext } from 'ava'
import { DaemonProcess } from './daemon.ts'
import { waitFor } from './wait.ts'

export interface StateRecord { ID: string, Name: string, Hostname: string, Status: number, Updated: string }
export interface StateJson { Servers: Record<string, { Services: Record<string, StateRecord> }>, Hostname: string, ClusterName: string }
export interface ServicesJson { ClusterMembers?: Record<string, { Name: string, ServiceCount: number }>, ClusterName: string }

export const ALIVE = 0
export const TOMBSTONE = 1

export interface NodeSpec {
  ip: string
  hostname: string
  /** Service names in this node's static file; default [`svc-<hostname>`]. */
  services?: string[]
  args?: string[]
  env?: Record<string, string>
  /** Opens Node's inspector (DaemonProcess.collectGarbage). */
  inspector?: boolean
}

/** A daemon of a test cluster, with its static file. */
export class ClusterNode {
  readonly spec: NodeSpec
  readonly dir: string
  readonly staticFile: string
  daemon: DaemonProcess | undefined
  services: string[]

  constructor (spec: NodeSpec, dir: string) {
    this.spec = spec
    this.dir = dir
    this.staticFile = path.join(dir, 'static.json')
    this.services = spec.services ?? [`svc-${spec.hostname}`]
  }

  get d (): DaemonProcess {
    if (this.daemon === undefined) throw new Error(`${this.spec.hostname} is not running`)
    return this.daemon
  }

  get hostname (): string { return this.spec.hostname }

  /** Rewrites the static file with these service names (static discovery reloads it). */
  async setServices (names: string[]): Promise<void> {
    this.services = names
    const port = (i: number): number => 20000 + Number(this.spec.ip.split('.')[3]) * 10 + i
    await writeFile(this.staticFile, JSON.stringify(names.map((name, i) => ({
      Service: { Name: name, Image: `${name}:1`, Ports: [{ Type: 'tcp', Port: port(i), ServicePort: 0, IP: this.spec.ip }] },
      Check: { Type: 'AlwaysSuccessful', Args: '' },
    }))))
  }

  /** Spawns the daemon (does not wait for it). */
  spawn (): DaemonProcess {
    this.daemon = new DaemonProcess({
      ip: this.spec.ip,
      hostname: this.spec.hostname,
      cwd: this.dir,
      args: ['-d', 'static', ...(this.spec.args ?? [])],
      env: { STATIC_CONFIG_FILE: this.staticFile, ...this.spec.env },
      inspector: this.spec.inspector,
    })
    return this.daemon
  }

  async state (): Promise<StateJson> { return await this.d.json<StateJson>('/state.json') }
}

/** Status of the record named `name` of `host` in a state document, or undefined. */
export function statusIn (state: StateJson, host: string, name: string): number | undefined {
  const services = state.Servers[host]?.Services ?? {}
  return Object.values(services).find(s => s.Name === name)?.Status
}

/** Creates the nodes' directories and static files; every process is killed at teardown. */
export async function makeCluster (t: ExecutionContext, specs: NodeSpec[]): Promise<ClusterNode[]> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'sidecar-cluster-'))
  const nodes: ClusterNode[] = []
  for (const spec of specs) {
    const dir = path.join(root, spec.hostname)
    await mkdir(dir, { recursive: true })
    const node = new ClusterNode(spec, dir)
    await node.setServices(node.services)
    nodes.push(node)
  }
  t.teardown(async () => {
    for (const n of nodes) n.daemon?.kill()
    await Promise.all(nodes.map(async n => await n.daemon?.exited))
    // SIDECAR_TEST_LOGS=dir keeps every daemon's output (the last 200 kB) for a post-mortem.
    const keep = process.env.SIDECAR_TEST_LOGS
    if (keep !== undefined) for (const n of nodes) await writeFile(path.join(keep, `${n.hostname}.log`), n.daemon?.output ?? '')
    await rm(root, { recursive: true, force: true })
  })
  return nodes
}

/** Spawns all nodes at once and waits until every API answers. */
export async function startAll (nodes: readonly ClusterNode[], timeoutMs = 60_000): Promise<void> {
  for (const n of nodes) n.spawn()
  await Promise.all(nodes.map(async n => { await n.d.ready(timeoutMs) }))
}

/**
 * Waits until check(state) holds on every node in `on`; the failure message names the
 * nodes where it did not and shows what they held.
 */
export async function waitOnAll (on: readonly ClusterNode[], what: string, check: (s: StateJson, node: ClusterNode) => boolean, timeoutMs = 20_000): Promise<number> {
  const t0 = Date.now()
  const last = new Map<string, string>()
  await waitFor(async () => {
    const results = await Promise.all(on.map(async n => {
      try {
        const s = await n.state()
        const ok = check(s, n)
        if (!ok) last.set(n.hostname, summarize(s))
        else last.delete(n.hostname) // the message names only the nodes where it does not hold now
        return ok
      } catch (err) {
        last.set(n.hostname, `error: ${(err as Error).message}`)
        return false
      }
    }))
    return results.every(Boolean)
  }, {
    timeoutMs,
    intervalMs: 50,
    message: () => `${what}; not yet on:\n${[...last].map(([h, s]) => `  ${h}: ${s}`).join('\n')}\n${on.filter(n => last.has(n.hostname)).map(n => `--- ${n.hostname} log tail:\n${n.daemon?.output.split('\n').filter(l => !l.includes('DEBUG')).slice(-15).join('\n')}`).join('\n')}`,
  })
  return Date.now() - t0
}

/** host: name=status, ... for failure messages. */
function summarize (s: StateJson): string {
  return Object.entries(s.Servers).map(([h, srv]) => `${h}[${Object.values(srv.Services).map(r => `${r.Name}=${r.Status}`).join(',')}]`).join(' ')
}
