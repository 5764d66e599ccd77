// A cluster member in the test process that originates many records: the daemon's own
// gossip component (libp2p node, membership, anti-entropy, announcer) over a catalog
// filled with records of its own hostname, as its local writer would hold them. Used to
// give real daemons a large state without running tens of thousands of health checks.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { Catalog } from '../../src/catalog/index.ts'
import { Gossip } from '../../src/gossip/gossip.ts'
import { systemClock } from '../../src/service/clock.ts'
import { silentLogger } from '../../src/lib/logger.ts'
import { Metrics } from '../../src/lib/metrics.ts'
import { makeService, ServiceStatus, type Service } from '../../src/service/index.ts'

export interface BulkPeerOptions {
  ip: string
  hostname: string
  records: number
  seeds?: string[]
  clusterName?: string
  pushPullIntervalMs?: number
  /** Service ports the records take in turn (record i gets servicePorts[i % length]); none: 0, no proxy listener. */
  servicePorts?: readonly number[]
}

/** n records of one host, about 330 bytes each as JSON (a realistic size), stamped now. */
export function bulkRecords (hostname: string, n: number, ip: string, servicePorts: readonly number[] = []): Service[] {
  const now = systemClock.now()
  return Array.from({ length: n }, (_, i) => makeService({
    ID: `${hostname.slice(0, 8)}${String(i).padStart(8, '0')}`,
    Name: `svc-${i % (servicePorts.length === 0 ? 500 : servicePorts.length)}`, // one name per service port
    Image: `registry.example.com/team/svc-${i % 500}:1.${i % 7}.0`,
    Created: now,
    Hostname: hostname,
    // no service port (the default): no proxy listener on the daemons
    Ports: [{ Type: 'tcp', Port: 20000 + (i % 40000), ServicePort: servicePorts.length === 0 ? 0 : servicePorts[i % servicePorts.length], IP: ip }],
    Updated: now,
    ProxyMode: 'http',
    Status: ServiceStatus.ALIVE,
  }))
}

export class BulkPeer {
  readonly catalog: Catalog
  readonly gossip: Gossip
  readonly metrics = new Metrics({ defaultMetrics: false })
  readonly #dir: string

  private constructor (opts: BulkPeerOptions, dir: string) {
    this.#dir = dir
    // Its records are never re-sent: it keeps them the same 10 min the tests and bench give the daemons.
    this.catalog = new Catalog({ clock: systemClock }, { hostname: opts.hostname, clusterName: opts.clusterName ?? 'default', aliveLifespanMs: 600_000, drainingLifespanMs: 600_000, tombstoneLifespanMs: 10_800_000 })
    for (const r of bulkRecords(opts.hostname, opts.records, opts.ip, opts.servicePorts)) this.catalog.merge(r)
    this.gossip = new Gossip({ catalog: this.catalog, clock: systemClock, logger: silentLogger(), metrics: this.metrics, local: { owned: () => [], isOwned: () => false, restamp: () => undefined } }, {
      hostname: opts.hostname,
      clusterName: opts.clusterName ?? 'default',
      bindIp: opts.ip,
      bindPort: 7946,
      advertiseIp: opts.ip,
      seeds: opts.seeds ?? [],
      clusterKey: '',
      dataDir: dir,
      pushPullIntervalMs: opts.pushPullIntervalMs ?? 20_000,
      departureGraceMs: 10_000,
      quic: false,
      version: '0.0.0',
      maxRecordsPerHost: 100_000,
      maxRecords: 200_000,
      backendCidrs: [],
    })
  }

  static async start (opts: BulkPeerOptions): Promise<BulkPeer> {
    const peer = new BulkPeer(opts, await mkdtemp(path.join(os.tmpdir(), 'sidecar-bulk-')))
    await peer.gossip.start()
    return peer
  }

  async stop (): Promise<void> {
    await this.gossip.stop()
    await rm(this.#dir, { recursive: true, force: true })
  }
}

/** A BulkPeer in a child process; killed on stop() (and with the test worker). */
export class BulkPeerProcess {
  readonly child: ChildProcess
  output = ''

  protected constructor (child: ChildProcess) {
    this.child = child
    const keep = (chunk: Buffer): void => { this.output = (this.output + chunk.toString()).slice(-20_000) }
    child.stdout?.on('data', keep)
    child.stderr?.on('data', keep)
    process.once('exit', () => { child.kill('SIGKILL') })
  }

  static async start (opts: BulkPeerOptions, timeoutMs = 60_000): Promise<BulkPeerProcess> {
    const child = await spawnReady('bulk-peer-main.ts', [opts.ip, opts.hostname, String(opts.records), ...(opts.seeds ?? [])], `bulk peer ${opts.hostname}`, timeoutMs)
    return new BulkPeerProcess(child)
  }

  /** Records its catalog held at its last report (every 500 ms). */
  get size (): number {
    const m = /size (\d+)\n(?![\s\S]*size \d+\n)/.exec(this.output)
    return m === null ? 0 : Number(m[1])
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

/**
 * Spawns a helper main (next to this file) with an IPC channel and waits until it prints
 * "ready"; at niceness `nice` (coreutils `nice -n`) when given, so that on a shared machine it
 * stands for another host. Its output so far is in the error when it does not start.
 */
export async function spawnReady (main: string, args: readonly string[], what: string, timeoutMs: number, nice?: number): Promise<ChildProcess> {
  const argv = [path.join(path.dirname(new URL(import.meta.url).pathname), main), ...args]
  const [cmd, cmdArgs] = nice === undefined ? [process.execPath, argv] : ['nice', ['-n', String(nice), process.execPath, ...argv]]
  const child = spawn(cmd, cmdArgs, { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] })
  let output = ''
  const keep = (chunk: Buffer): void => { output = (output + chunk.toString()).slice(-20_000) }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  const t0 = Date.now()
  while (!output.includes('ready')) {
    if (child.exitCode !== null || Date.now() - t0 > timeoutMs) { child.kill('SIGKILL'); throw new Error(`${what} did not start: ${output}`) }
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  child.stdout?.off('data', keep)
  child.stderr?.off('data', keep)
  return child
}
