// A full Daemon in this process (static discovery, health checks, gossip, proxy, API,
// a webhook listener) on 127.0.10.2-3, started and stopped: afterwards no timer, socket
// or other handle it made is left (process.getActiveResourcesInfo(), bounded wait).
// A second daemon on 127.0.10.3 seeds from the first, so gossip connections, anti-entropy,
// probes and the leave tombstones all run.
import test from 'ava'
import http from 'node:http'
import net from 'node:net'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { parseCliArgs } from '../../src/cli/args.ts'
import { loadConfig } from '../../src/config/index.ts'
import { Daemon } from '../../src/daemon/daemon.ts'
import { silentLogger } from '../../src/lib/logger.ts'
import { ServiceStatus } from '../../src/service/status.ts'
import { waitFor } from '../helpers/wait.ts'

const IPS = ['127.0.10.2', '127.0.10.3']

/** Active resources by type ('Timeout', 'TCPSocketWrap', ...), counted. */
function resources (): Map<string, number> {
  const counts = new Map<string, number>()
  for (const r of process.getActiveResourcesInfo()) counts.set(r, (counts.get(r) ?? 0) + 1)
  return counts
}

/** The resource types with more entries now than in `before`. */
function leftOver (before: Map<string, number>): string[] {
  return [...resources()].filter(([type, n]) => n > (before.get(type) ?? 0)).map(([type, n]) => `${type} ${before.get(type) ?? 0} -> ${n}`)
}

async function listen (server: http.Server, ip = '127.0.0.1'): Promise<number> {
  await new Promise<void>(resolve => server.listen(0, ip, resolve))
  return (server.address() as net.AddressInfo).port
}

async function daemon (dir: string, ip: string, hostname: string, seeds: string[], webhook: string, backendPort: number): Promise<Daemon> {
  const file = path.join(dir, `${hostname}.json`)
  await writeFile(file, JSON.stringify([
    // Backends on the host's own address: peers refuse another host's records that point at loopback.
    { Service: { Name: 'web', Image: 'web:1', Ports: [{ Type: 'tcp', Port: backendPort, ServicePort: 10180, IP: ip }] }, Check: { Type: 'HttpGet', Args: `http://${ip}:${backendPort}/` } },
    { Service: { Name: `tcp-${hostname}`, Image: 'tcp:1', Ports: [{ Type: 'tcp', Port: backendPort, ServicePort: 0, IP: ip }] }, Check: { Type: 'TcpConnect', Args: `${ip}:${backendPort}` } },
    { Service: { Name: `always-${hostname}`, Image: 'a:1' }, Check: { Type: 'AlwaysSuccessful' }, ListenPort: backendPort },
  ]))
  const args = parseCliArgs(['--hostname', hostname, '--bind-ip', ip, '--advertise-ip', ip, '--discover', 'static', ...seeds.flatMap(s => ['-c', s])])
  const { config } = loadConfig({
    configFile: '',
    env: { STATIC_CONFIG_FILE: file, SIDECAR_DATA_DIR: path.join(dir, hostname), HEALTH_INTERVAL: '200ms', HEALTH_TIMEOUT: '150ms', LISTENERS_URLS: webhook, SIDECAR_DEPARTURE_GRACE: '500ms' },
    overrides: args.overrides,
    cwd: dir,
  })
  return new Daemon(config, { logger: silentLogger() })
}

test('daemon: an in-process start and stop (gossip with a peer, proxy, API, checks, webhooks) leaves no timer, socket or handle', async t => {
  t.timeout(120_000)
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-lifecycle-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const backends = IPS.map(() => http.createServer((_req, res) => { res.end('ok') }))
  const backendPorts = await Promise.all(backends.map(async (b, i) => await listen(b, IPS[i])))
  let posts = 0
  const receiver = http.createServer((req, res) => { posts++; req.resume(); req.on('end', () => { res.end() }) })
  const receiverPort = await listen(receiver)
  t.teardown(() => { for (const b of backends) { b.close(); b.closeAllConnections() } receiver.close(); receiver.closeAllConnections() })

  // Give background machinery of earlier tests and of this file's imports a moment, then count.
  await new Promise(resolve => setTimeout(resolve, 200))
  const before = resources()

  const a = await daemon(dir, IPS[0], 'life-a', [], `http://127.0.0.1:${receiverPort}/hook`, backendPorts[0])
  const b = await daemon(dir, IPS[1], 'life-b', [IPS[0]], `http://127.0.0.1:${receiverPort}/hook`, backendPorts[1])
  let running: Daemon[] = []
  t.teardown(async () => { for (const d of running) await d.stop() })
  await a.start()
  running = [a]
  await b.start()
  running = [a, b]
  const aliveOn = (d: Daemon, host: string): number => d.catalog.services().filter(s => s.Hostname === host && s.Status === ServiceStatus.ALIVE).length
  await waitFor(() => aliveOn(a, 'life-a') === 3 && aliveOn(a, 'life-b') === 3 && aliveOn(b, 'life-a') === 3 && aliveOn(b, 'life-b') === 3, { timeoutMs: 60_000, message: 'both hosts\' services ALIVE on both daemons' })
  await waitFor(() => posts > 0, { timeoutMs: 30_000, message: 'a webhook POST' })
  let answer = ''
  await waitFor(async () => (answer = await fetch(`http://${IPS[0]}:10180/`).then(async r => await r.text(), (err: unknown) => String((err as Error).cause ?? err))) === 'ok', { timeoutMs: 30_000, message: () => `the proxy on ${IPS[0]}:10180 answers, not ${answer}: ${JSON.stringify(a.proxy?.report())}` })
  t.true(leftOver(before).length > 0, 'the running daemons hold resources (so the check below can fail)')

  // Graceful leave: b's tombstones reach a before b's node goes down.
  await b.stop()
  running = [a]
  await waitFor(() => a.catalog.services().filter(s => s.Hostname === 'life-b').every(s => s.Status === ServiceStatus.TOMBSTONE), { timeoutMs: 10_000, message: 'life-b tombstoned on life-a by its leave' })
  await a.stop()
  running = []
  await a.stop() // idempotent

  let left: string[] = []
  await waitFor(() => (left = leftOver(before)).length === 0, { timeoutMs: 10_000, message: () => `resources left after stop: ${left.join(', ')}` })
  t.deepEqual(left, [])
})

/** Whether a TCP connection to ip:port is accepted. */
async function accepts (ip: string, port: number): Promise<boolean> {
  return await new Promise(resolve => {
    const s = net.connect({ host: ip, port })
    s.once('connect', () => { s.destroy(); resolve(true) })
    s.once('error', () => { resolve(false) })
  })
}

test('daemon: /health answers 503 "joining" from the moment the gossip port listens until the join is over: while no seed answers, then 200 once it gives up waiting', async t => {
  t.timeout(60_000)
  const ip = '127.0.70.1'
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-join-phase-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const backend = http.createServer((_req, res) => { res.end('ok') })
  const backendPort = await listen(backend, ip)
  t.teardown(() => { backend.close(); backend.closeAllConnections() })
  // the seed's address has nothing listening: the join waits its timeout (5 s), then the node runs alone
  const d = await daemon(dir, ip, 'join-phase', ['127.0.70.2:7946'], 'http://127.0.0.1:9/hook', backendPort)
  t.teardown(async () => { await d.stop() })
  const health = async (): Promise<{ code: number, status: string } | undefined> => {
    const res = await fetch(`http://${ip}:${d.config.api.port}/health`, { signal: AbortSignal.timeout(5000) }).catch(() => undefined)
    return res === undefined ? undefined : { code: res.status, status: (await res.json() as { status: string }).status }
  }
  const t0 = performance.now()
  const started = d.start()
  await waitFor(async () => await accepts(ip, d.config.sidecar.bind_port), { timeoutMs: 30_000, message: 'the gossip port listens' })
  const listenedMs = performance.now() - t0
  t.deepEqual(await health(), { code: 503, status: 'joining' }, 'listening, but not in the cluster: no seed answered yet')
  await started
  const upMs = performance.now() - t0
  t.deepEqual(await health(), { code: 200, status: 'ok' })
  t.true(upMs - listenedMs >= 4000, `joining for the join timeout after the port listened (${Math.round(upMs - listenedMs)} ms)`)
})

test('daemon: /health answers 503 "starting" until the gossip port listens and 503 "stopping" from the start of a stop on', async t => {
  t.timeout(60_000)
  const ip = '127.0.10.4'
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-phase-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const backend = http.createServer((_req, res) => { res.end('ok') })
  const backendPort = await listen(backend, ip)
  t.teardown(() => { backend.close(); backend.closeAllConnections() })
  const d = await daemon(dir, ip, 'phase-a', [], 'http://127.0.0.1:9/hook', backendPort)
  const gossipGo = Promise.withResolvers<void>()
  const stopGo = Promise.withResolvers<void>()
  t.teardown(async () => { gossipGo.resolve(); stopGo.resolve(); await d.stop() })
  const gossipPort = d.config.sidecar.bind_port
  const health = async (): Promise<{ code: number, status: string }> => {
    const res = await fetch(`http://${ip}:${d.config.api.port}/health`, { signal: AbortSignal.timeout(5000) })
    return { code: res.status, status: (await res.json() as { status: string }).status }
  }

  // Hold gossip's start (the key, the node, its listen) until the API has been asked.
  const gossipStart = d.gossip.start.bind(d.gossip)
  d.gossip.start = async () => { await gossipGo.promise; await gossipStart() }
  const started = d.start()
  let first: { code: number, status: string } | undefined
  await waitFor(async () => (first = await health().catch(() => undefined)) !== undefined, { timeoutMs: 30_000, message: 'the API answers' })
  t.deepEqual(first, { code: 503, status: 'starting' })
  t.false(await accepts(ip, gossipPort), 'the gossip port is not open yet')
  gossipGo.resolve()
  await started
  t.true(await accepts(ip, gossipPort), 'the gossip port is open once start() returned')
  t.deepEqual(await health(), { code: 200, status: 'ok' })

  // Hold gossip's stop (it runs after the local services are tombstoned): the API still answers, as stopping.
  const gossipStop = d.gossip.stop.bind(d.gossip)
  d.gossip.stop = async () => { await stopGo.promise; await gossipStop() }
  const stopped = d.stop()
  t.deepEqual(await health(), { code: 503, status: 'stopping' })
  stopGo.resolve()
  await stopped
  t.false(await accepts(ip, d.config.api.port), 'the API is closed after stop()')
})
