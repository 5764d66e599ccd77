// One real daemon with thousands of static services, for the scale test and bench/health:
// half AlwaysSuccessful, half TcpConnect checks against a few TCP servers this helper runs
// on the daemon's loopback address. measureToHealthy() polls /metrics (cheap whatever the
// catalog size) and times /health meanwhile. Every loop is bounded in count and time.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { DaemonProcess } from './daemon.ts'
import type { StallMeter, Stalls } from './stall-meter.ts'
import { sleep } from './wait.ts'

/** A /health request slower than this counts as a failure: generous, since the machine may be shared (the goal is 100 ms). */
export const PROBE_TIMEOUT_MS = 10_000

export interface ManyServices {
  d: DaemonProcess
  /** Spawned at (performance.now()). */
  spawnedAt: number
  close: () => Promise<void>
}

export async function startManyServices (opts: { ip: string, hostname: string, n: number, tcpServers: number, intervalMs: number, apiPort?: number, env?: Record<string, string> }): Promise<ManyServices> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-many-'))
  const servers: net.Server[] = []
  const ports: number[] = []
  for (let i = 0; i < opts.tcpServers; i++) {
    const s = net.createServer(socket => { socket.destroy() })
    await new Promise<void>(resolve => s.listen(0, opts.ip, resolve))
    servers.push(s)
    ports.push((s.address() as net.AddressInfo).port)
  }
  const entries = Array.from({ length: opts.n }, (_, i) => {
    const port = ports[i % ports.length]
    return {
      Service: { ID: `s${i}`, Name: `svc${i % 100}`, Image: 'img:1', Ports: [{ Type: 'tcp', Port: port, ServicePort: 0, IP: opts.ip }] },
      Check: i % 2 === 0 ? { Type: 'AlwaysSuccessful' } : { Type: 'TcpConnect', Args: `${opts.ip}:${port}` },
    }
  })
  const file = path.join(dir, 'static.json')
  await writeFile(file, JSON.stringify(entries))
  const spawnedAt = performance.now()
  const d = new DaemonProcess({
    ip: opts.ip,
    hostname: opts.hostname,
    cwd: dir,
    ...(opts.apiPort !== undefined ? { apiPort: opts.apiPort } : {}),
    args: ['-d', 'static'],
    env: { STATIC_CONFIG_FILE: file, SIDECAR_LOGGING_LEVEL: 'warn', HEALTH_INTERVAL: `${opts.intervalMs}ms`, PROXY_ENABLED: 'false', ...opts.env },
  })
  const close = async (): Promise<void> => {
    await d.stop('SIGTERM', 20_000)
    for (const s of servers) s.close()
    await rm(dir, { recursive: true, force: true })
  }
  return { d, spawnedAt, close }
}

export interface HealthFigures {
  /** Spawn -> every local service ALIVE (ms); undefined when the limit passed first. */
  allHealthyMs?: number
  alive: number
  /** /health round trips while waiting (ms). */
  apiMs: number[]
  /** Requests that failed or took longer than PROBE_TIMEOUT_MS, once the API had answered a first time. */
  apiFailures: number
  /** Largest sidecar_nodejs_eventloop_lag_max_seconds the daemon reported (ms), each scrape covering the time since the last (10 ms sampling: a stall plus up to 10 ms). */
  maxLoopDelayMs: number
  /** With a stall meter: the event loop's stalls from the API's first answer on (1 ms sampling), the longest split by where it went. */
  stall?: Stalls
  /** Times the daemon's heap mode turned V8's optimize-for-size off for growth (sidecar_heap_bursts_total) by the last scrape. */
  heapBursts: number
}

function gauge (text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find(l => l.startsWith(`${name}${labels} `) || (labels === '' && l.startsWith(`${name} `)))
  return line === undefined ? undefined : Number(line.split(' ')[1])
}

export function percentile (values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN
}

/**
 * Polls until all n services are ALIVE or limitMs after spawn passed; probes /health every 100 ms
 * meanwhile. A stall meter (its env() given to the daemon) is started at the API's first answer
 * and read at the end.
 */
export async function measureToHealthy (m: ManyServices, n: number, limitMs: number, meter?: StallMeter): Promise<HealthFigures> {
  const f: HealthFigures = { alive: 0, apiMs: [], apiFailures: 0, maxLoopDelayMs: 0, heapBursts: 0 }
  let done = false
  let metered = false
  const probe = (async () => {
    while (!done && performance.now() - m.spawnedAt < limitMs) {
      const t0 = performance.now()
      try {
        const res = await fetch(m.d.url('/health'), { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) })
        const body = await res.text()
        // 503 "starting" (its gossip port not open yet) or "joining" (pulling the state) is an answer in time, not a failure
        if (res.ok || (res.status === 503 && (body.includes('"starting"') || body.includes('"joining"')))) f.apiMs.push(performance.now() - t0)
        else f.apiFailures++
        if (meter !== undefined && !metered && m.d.child.pid !== undefined) {
          meter.start(m.d.child.pid)
          metered = true
        }
      } catch {
        if (f.apiMs.length > 0) f.apiFailures++ // before the API first answered (the process still loading) is not a failure
      }
      await sleep(100)
    }
  })()
  while (performance.now() - m.spawnedAt < limitMs) {
    try {
      const text = await (await fetch(m.d.url('/metrics'), { signal: AbortSignal.timeout(5000) })).text()
      f.alive = gauge(text, 'sidecar_local_services', '{status="alive"}') ?? 0
      const lag = gauge(text, 'sidecar_nodejs_eventloop_lag_max_seconds')
      if (lag !== undefined && Number.isFinite(lag)) f.maxLoopDelayMs = Math.max(f.maxLoopDelayMs, lag * 1000)
      f.heapBursts = gauge(text, 'sidecar_heap_bursts_total') ?? f.heapBursts
      if (f.alive === n) { f.allHealthyMs = performance.now() - m.spawnedAt; break }
    } catch { /* not up yet */ }
    await sleep(250)
  }
  done = true
  await probe
  if (metered) f.stall = await meter?.read()
  return f
}

export interface PeerView {
  /** The peer holds the many-services daemon as a cluster member. */
  member: boolean
  /** ALIVE records the peer holds (it has none of its own: all are the daemon's). */
  alive: number
  /** Lines in which the peer suspected or dropped the daemon (gossip/membership.ts). */
  suspicions: string[]
}

export interface WatchingPeer {
  /** Waits (at most 15 s) until the peer holds the daemon as a member, then watchMs more, and reports its view; undefined if it never started. */
  view: (watchMs: number) => Promise<PeerView | undefined>
  close: () => Promise<void>
}

/**
 * A second daemon with no services on `ip` that joins m (seeded with m's address) once m's
 * API answers, so a test or benchmark can tell whether a peer ever suspects a busy daemon.
 */
export async function startWatchingPeer (m: ManyServices, opts: { ip: string, hostname: string, limitMs: number, nice?: number }): Promise<WatchingPeer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-peer-'))
  await writeFile(path.join(dir, 'static.json'), '[]')
  let peer: DaemonProcess | undefined
  let closed = false
  const started = m.d.ready(opts.limitMs).then(() => {
    if (closed) return
    peer = new DaemonProcess({ ip: opts.ip, hostname: opts.hostname, cwd: dir, args: ['-d', 'static', '-c', m.d.ip], env: { STATIC_CONFIG_FILE: path.join(dir, 'static.json'), SIDECAR_LOGGING_LEVEL: 'info', PROXY_ENABLED: 'false' }, ...(opts.nice !== undefined ? { nice: opts.nice } : {}) })
  }, () => {})
  const target = m.d.hostname
  const suspicion = new RegExp(`${target}.*(answered no ping|departed|lost every connection)`)
  const member = async (p: DaemonProcess): Promise<boolean> => target in ((await p.json<{ ClusterMembers?: Record<string, unknown> }>('/api/services.json').catch(() => undefined))?.ClusterMembers ?? {})
  return {
    view: async (watchMs) => {
      await started
      const p = peer
      if (p === undefined) return undefined
      for (let i = 0; i < 30 && !(await member(p)); i++) await sleep(500)
      await sleep(watchMs)
      const metrics = await fetch(p.url('/metrics'), { signal: AbortSignal.timeout(5000) }).then(async r => await r.text(), () => '')
      return {
        member: await member(p),
        alive: Number(/^sidecar_services\{status="alive"\} (\d+)/m.exec(metrics)?.[1] ?? NaN),
        suspicions: p.output.split('\n').filter(l => suspicion.test(l)),
      }
    },
    close: async () => {
      closed = true
      await peer?.stop('SIGTERM', 10_000)
      await rm(dir, { recursive: true, force: true })
    },
  }
}
