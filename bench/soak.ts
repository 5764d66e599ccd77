// Soak: does a daemon under steady churn stay flat? Five real daemons (127.0.49.201-205, static
// discovery, SOAK_SERVICES services each, the first two as seeds) run for SOAK_MINUTES (default
// 10) while the bench
//   - rewrites each static file every 5 s (services removed, and added under new names, ports
//     changed among three values, a proxied service renamed, another moved between two
//     ServicePorts) and flips three HTTP checks per daemon between 500 and 200 every 10 s;
//   - restarts the fifth daemon every 60 s, SIGTERM and kill -9 in turn (its peers see it depart
//     and return), and every third time as a replaced machine (a new hostname and identity);
//   - keeps four webhook listeners on every daemon: fast (web-* and tcp-* only), slow (2.5 s,
//     under the 3 s timeout), failing (500) and refused (a closed port);
//   - runs /watch and SSE clients that connect, read (or stall) for 1-20 s and disconnect, two
//     API readers of the JSON documents and /metrics, and requests through the embedded proxy
//     (http at about 10 a second, tcp at about 3 a second, to the ports every daemon serves).
// Every SOAK_SAMPLE_SECONDS (30) it samples the four long-lived daemons after a full garbage
// collection (through the inspector): /proc (RSS, private memory, open fds, threads), /metrics
// (heap used, active handles and resources, series lines, per-host gauges), /api/proxy.json
// (listeners, backends) and the hostnames pinned in data_dir/host-pins.json. At the end it prints
// a Markdown table per daemon (first sample after the warm-up, middle, last, slope per 10
// minutes, first and last quarter's median) and marks a figure whose last quarter's median
// exceeds the first's by more than its margin (see MARGINS) while the third quarter's is not
// below the second's. Prints figures, asserts nothing.
// Bounded: every loop stops at the deadline, every request has a time limit.
//   SOAK_MINUTES=10 SOAK_SERVICES=250 SOAK_HEAPSNAPSHOT=1 node bench/soak.ts
// SOAK_HEAPSNAPSHOT=1 writes a heap snapshot of each long-lived daemon late in the warm-up and at
// the end (Node's --heapsnapshot-signal, into the daemon's directory, which is then kept). The
// first one raises RSS by about the heap's size for the rest of the run (V8 keeps the pages).
import { readdirSync, readFileSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { DaemonProcess } from '../test/helpers/daemon.ts'
import { memoryPartsKb } from '../test/helpers/proc.ts'
import { sleep, waitFor } from '../test/helpers/wait.ts'
import { prng } from '../test/helpers/prng.ts'

const MINUTES = Math.min(24 * 60, Math.max(1, Number(process.env.SOAK_MINUTES ?? 10)))
const SAMPLE_MS = 1000 * Math.max(5, Number(process.env.SOAK_SAMPLE_SECONDS ?? 30))
const SERVICES = Math.min(2000, Math.max(20, Number(process.env.SOAK_SERVICES ?? 250)))
const SNAPSHOTS = process.env.SOAK_HEAPSNAPSHOT === '1'
const IPS = ['127.0.49.201', '127.0.49.202', '127.0.49.203', '127.0.49.204', '127.0.49.205']
const RECEIVER_IP = '127.0.49.220'
/** Tombstones kept 2 minutes (this lifespan + the stale check's 1 min; default 3 h), so the catalog reaches its steady size within the warm-up. */
const TOMBSTONE_LIFESPAN = '1m'
const WARMUP_MS = Math.min(180_000, Math.max(60_000, MINUTES * 60_000 * 0.2))
const rand = prng(Number(process.env.SOAK_SEED ?? 7))
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]
const load = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')
const t0 = Date.now()
const deadline = t0 + MINUTES * 60_000
const running = (): boolean => Date.now() < deadline
const counts: Record<string, number> = {}
const count = (what: string): void => { counts[what] = (counts[what] ?? 0) + 1 }

// --- backends on each daemon's own address (peers admit a host's ports only on its own address)
interface Backends { http: number, tcp: number, failing: Set<number>, close: () => void }
async function startBackends (ip: string): Promise<Backends> {
  const failing = new Set<number>()
  const h = http.createServer((req, res) => {
    const flip = /^\/flip\/(\d+)/.exec(req.url ?? '')
    res.writeHead(flip !== null && failing.has(Number(flip[1])) ? 500 : 200, { 'content-type': 'text/plain' })
    res.end('soak\n')
  })
  const t = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => {})
    s.on('data', () => {})
    s.on('end', () => { s.end('ok\n') })
  })
  await new Promise<void>(resolve => h.listen(0, ip, resolve))
  await new Promise<void>(resolve => t.listen(0, ip, resolve))
  return {
    http: (h.address() as net.AddressInfo).port,
    tcp: (t.address() as net.AddressInfo).port,
    failing,
    close: () => { h.close(); h.closeAllConnections(); t.close() },
  }
}

// --- webhook receivers: fast, slow, failing, and a port nothing listens on
async function startReceivers (): Promise<{ urls: string[], close: () => void }> {
  const servers: http.Server[] = []
  const serve = async (answer: (res: http.ServerResponse) => void): Promise<number> => {
    const s = http.createServer((req, res) => {
      req.resume()
      req.on('end', () => { count('webhook POSTs received'); answer(res) })
    })
    servers.push(s)
    await new Promise<void>(resolve => s.listen(0, RECEIVER_IP, resolve))
    return (s.address() as net.AddressInfo).port
  }
  const fast = await serve(res => res.end())
  const slow = await serve(res => { setTimeout(() => res.end(), 2500) })
  const failing = await serve(res => { res.statusCode = 500; res.end() })
  const closed = net.createServer()
  await new Promise<void>(resolve => closed.listen(0, RECEIVER_IP, resolve))
  const refused = (closed.address() as net.AddressInfo).port
  await new Promise<void>(resolve => closed.close(() => { resolve() }))
  return {
    urls: [fast, slow, failing, refused].map(p => `http://${RECEIVER_IP}:${p}/hook`),
    close: () => { for (const s of servers) { s.close(); s.closeAllConnections() } },
  }
}

// --- the daemons and their static files
const WEB = 8 // proxied http services web-0..7 on ServicePorts 19000+j, on every daemon
const TCP = 4 // proxied tcp services tcp-0..3 on 19100+j
const FLIPPING = 3 // web-0..2's checks flip between 500 and 200
interface Node { ip: string, hostname: string, dir: string, backends: Backends, apps: Map<string, number>, next: number, moved: boolean, d: DaemonProcess | undefined, starts: number, hosts: number }
const nodes: Node[] = []

function staticFile (n: Node): string {
  const entries: object[] = []
  for (let j = 0; j < WEB; j++) {
    entries.push({
      Service: { Name: `web-${j}`, Image: 'web:1', Ports: [{ Type: 'tcp', Port: n.backends.http, ServicePort: j === WEB - 1 && n.moved ? 19017 : 19000 + j }], ProxyMode: 'http' },
      Check: { Type: 'HttpGet', Args: `http://{{ host }}:${n.backends.http}/flip/${j}` },
    })
  }
  for (let j = 0; j < TCP; j++) {
    entries.push({
      Service: { Name: `tcp-${j}`, Image: 'tcp:1', Ports: [{ Type: 'tcp', Port: n.backends.tcp, ServicePort: 19100 + j }], ProxyMode: 'tcp' },
      Check: { Type: 'TcpConnect', Args: `{{ host }}:${n.backends.tcp}` },
    })
  }
  // a proxied service under a new name each round, on one of ten ServicePorts: its listener and series come and go
  entries.push({
    Service: { Name: `gen-${n.next}`, Image: 'gen:1', Ports: [{ Type: 'tcp', Port: n.backends.http, ServicePort: 19300 + (n.next % 10) }], ProxyMode: 'http' },
    Check: { Type: 'AlwaysSuccessful' },
  })
  for (const [name, variant] of n.apps) {
    const k = Number(name.slice(4))
    entries.push({
      Service: { Name: name, Image: `${name}:1`, Ports: [{ Type: 'tcp', Port: 30000 + (k % 1000) * 3 + variant, ServicePort: 0 }] },
      Check: k % 10 === 0 ? { Type: 'HttpGet', Args: `http://{{ host }}:${n.backends.http}/ok` } : { Type: 'AlwaysSuccessful' },
    })
  }
  return JSON.stringify(entries)
}

/**
 * Each churn: 3 apps removed, 3 added under names never used before (so whatever is kept per
 * name and not let go adds up), 3 moved to another port, the gen- service renamed; web-7 moved
 * between two ServicePorts every fourth.
 */
async function churn (n: Node, round: number): Promise<void> {
  const present = [...n.apps.keys()]
  for (let i = 0; i < 3 && present.length > 0; i++) n.apps.delete(present.splice(Math.floor(rand() * present.length), 1)[0])
  for (let i = 0; i < 3; i++) n.apps.set(`app-${n.next++}`, 0)
  const keys = [...n.apps.keys()]
  for (let i = 0; i < 3; i++) n.apps.set(pick(keys), Math.floor(rand() * 3))
  if (round % 4 === 0) n.moved = !n.moved
  await writeFile(path.join(n.dir, 'static.json'), staticFile(n))
  count('static file rewrites')
}

function spawn (n: Node): DaemonProcess {
  n.starts++
  n.d = new DaemonProcess({
    ip: n.ip,
    hostname: n.hosts === 0 ? n.hostname : `${n.hostname}${n.hosts}`,
    cwd: n.dir,
    args: ['-f', path.join(n.dir, 'sidecar.toml'), '-c', `${IPS[0]},${IPS[1]}`],
    env: {
      SIDECAR_LOGGING_LEVEL: 'warn',
      SIDECAR_DATA_DIR: path.join(n.dir, `data${n.hosts}`),
      // the inspector (a full collection before each sample) and, on SOAK_HEAPSNAPSHOT, heap snapshots on SIGUSR2
      NODE_OPTIONS: `--inspect=${n.ip}:0${SNAPSHOTS ? ' --heapsnapshot-signal=SIGUSR2' : ''}`,
    },
    inspector: true,
  })
  return n.d
}

function configFile (n: Node, hookUrls: string[]): string {
  const [fast, slow, failing, refused] = hookUrls
  return [
    '[sidecar]', 'discovery = ["static"]', `tombstone_lifespan = "${TOMBSTONE_LIFESPAN}"`,
    '[static_discovery]', `config_file = "${path.join(n.dir, 'static.json')}"`,
    '[listeners]', 'timeout = "3s"', 'retries = 3',
    '[[listeners.webhook]]', `url = "${fast}"`, `services = [${[...Array.from({ length: WEB }, (_, j) => `"web-${j}"`), ...Array.from({ length: TCP }, (_, j) => `"tcp-${j}"`)].join(', ')}]`,
    '[[listeners.webhook]]', `url = "${slow}"`, 'status_changes_only = true',
    '[[listeners.webhook]]', `url = "${failing}"`, 'services = ["web-0", "web-1", "web-2", "tcp-0"]',
    '[[listeners.webhook]]', `url = "${refused}"`, 'status_changes_only = true',
    '',
  ].join('\n')
}

// --- clients
async function get (url: string, timeoutMs = 10_000): Promise<void> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) })
    await res.arrayBuffer()
    count(res.ok ? 'API answers' : `API ${res.status}`)
  } catch {
    count('API errors (daemon restarting, time-outs)')
  }
}

const ROUTES = ['/state.json', '/services.json', '/api/proxy.json', '/metrics', '/servers', '/api/listeners.json', '/api/services/web-0/explain.json']
async function apiReader (): Promise<void> {
  while (running()) {
    await get(`http://${pick(IPS)}:7777${pick(ROUTES)}`)
    await sleep(250)
  }
}

const STREAMS = ['/watch', '/api/watch?by_service=false', '/api/events']
async function streamClient (): Promise<void> {
  while (running()) {
    const ac = new AbortController()
    const holdMs = Math.min(1000 + rand() * 19_000, Math.max(0, deadline - Date.now()))
    const timer = setTimeout(() => { ac.abort() }, holdMs)
    const stall = rand() < 0.2 // one in five never reads after the head: a stalled client
    try {
      const res = await fetch(`http://${pick(IPS.slice(0, 4))}:7777${pick(STREAMS)}`, { signal: ac.signal })
      count(`stream opens (${res.status})`)
      if (stall) await new Promise(resolve => ac.signal.addEventListener('abort', resolve))
      else for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) void chunk
    } catch {
      // aborted when its time is up
    } finally {
      clearTimeout(timer)
    }
    await sleep(200 + rand() * 800)
  }
}

async function proxyHttp (): Promise<void> {
  while (running()) {
    const port = 19000 + Math.floor(rand() * WEB)
    try {
      const res = await fetch(`http://${pick(IPS.slice(0, 4))}:${port}/`, { signal: AbortSignal.timeout(5000) })
      await res.arrayBuffer()
      count(`proxy http ${res.status}`)
    } catch {
      count('proxy http errors')
    }
    await sleep(100)
  }
}

async function proxyTcp (): Promise<void> {
  while (running()) {
    await new Promise<void>((resolve) => {
      const s = net.connect({ host: pick(IPS.slice(0, 4)), port: 19100 + Math.floor(rand() * TCP), allowHalfOpen: true })
      let got = ''
      const done = (what: string): void => { count(what); s.destroy(); resolve() }
      s.setTimeout(5000, () => { done('proxy tcp time-outs') })
      s.on('error', () => { done('proxy tcp errors') })
      s.on('connect', () => { s.end('hello\n') })
      s.on('data', (c: Buffer) => { got += c.toString() })
      s.on('end', () => { done(got === 'ok\n' ? 'proxy tcp echoes' : 'proxy tcp short answers') })
    })
    await sleep(333)
  }
}

async function flipper (): Promise<void> {
  while (running()) {
    for (const n of nodes) for (let j = 0; j < FLIPPING; j++) if (rand() < 0.5) { if (n.backends.failing.has(j)) n.backends.failing.delete(j); else n.backends.failing.add(j) }
    count('check flips')
    await sleep(10_000)
  }
}

async function churner (): Promise<void> {
  for (let round = 1; running(); round++) {
    for (const n of nodes) { await churn(n, round); await sleep(1000) } // staggered: one daemon a second
  }
}

async function restarter (): Promise<void> {
  const n = nodes[4]
  for (let round = 0; ; round++) {
    await sleep(Math.min(60_000, Math.max(0, deadline - Date.now() - 20_000)))
    if (Date.now() > deadline - 20_000) return
    // SIGTERM, kill -9, then (every third) a replaced machine: a new hostname and identity, the old one gone for good
    const signal = round % 2 === 0 ? 'SIGTERM' : 'SIGKILL'
    await n.d?.stop(signal)
    count(`restarts (${signal})`)
    if (round % 3 === 2) { n.hosts++; count('hosts replaced (new hostname and identity)') }
    await sleep(5000)
    const d = spawn(n)
    try { await d.ready(60_000) } catch { count('restarts not ready in 60 s') }
  }
}

// --- samples
interface Sample { at: number, figures: Record<string, number> }
const GAUGES: Array<[string, RegExp]> = [
  ['heap used (MB)', /^sidecar_nodejs_heap_size_used_bytes (\S+)$/m],
  ['external (MB)', /^sidecar_nodejs_external_memory_bytes (\S+)$/m],
  ['cluster members', /^sidecar_cluster_members (\S+)$/m],
  ['catalog hosts', /^sidecar_catalog_hosts (\S+)$/m],
  ['stream clients', /^sidecar_stream_clients(?:\{[^}]*\})? (\S+)$/m],
  ['proxy client connections', /^sidecar_proxy_client_connections (\S+)$/m],
  ['refused by peers', /^sidecar_gossip_refused_by_peers (\S+)$/m],
]
const sum = (text: string, metric: string): number => [...text.matchAll(new RegExp(`^${metric}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))].reduce((a, m) => a + Number(m[1]), 0)

async function sample (n: Node): Promise<Record<string, number> | undefined> {
  const d = n.d
  if (d === undefined || !d.running) return undefined
  try {
    await d.collectGarbage()
    const pid = d.child.pid as number
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const mem = memoryPartsKb(pid)
    const text = await (await fetch(d.url('/metrics'), { signal: AbortSignal.timeout(10_000) })).text()
    const f: Record<string, number> = {
      'RSS (MB)': Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1]) / 1024,
      'private (MB)': (mem?.anon ?? NaN) / 1024,
      'open fds': readdirSync(`/proc/${pid}/fd`).length,
      threads: Number(/^Threads:\s+(\d+)/m.exec(status)?.[1]),
      'active handles': sum(text, 'sidecar_nodejs_active_handles'),
      'active resources': sum(text, 'sidecar_nodejs_active_resources'),
      'series lines': text.split('\n').filter(l => l !== '' && !l.startsWith('#')).length,
      records: sum(text, 'sidecar_services'),
      'listener backlog': sum(text, 'sidecar_listener_backlog'),
    }
    for (const [name, re] of GAUGES) f[name] = Number(re.exec(text)?.[1] ?? NaN) / (name.includes('MB') ? 1024 * 1024 : 1)
    // hostname pins kept on disk (data_dir/host-pins.json): one more per replaced machine, up to MAX_PINS
    try { f['pinned hosts'] = Object.keys((JSON.parse(readFileSync(path.join(n.dir, 'data0', 'host-pins.json'), 'utf8')) as { pins: object }).pins).length } catch { f['pinned hosts'] = NaN }
    const proxy = await (await fetch(d.url('/api/proxy.json'), { signal: AbortSignal.timeout(10_000) })).json() as { listeners: Array<{ backends: unknown[] }> }
    f['proxy listeners'] = proxy.listeners.length
    f['proxy backends'] = proxy.listeners.reduce((a, l) => a + l.backends.length, 0)
    return f
  } catch (err) {
    count(`samples failed (${(err as Error).message.slice(0, 40)})`)
    return undefined
  }
}

/** A growth beyond this, last quarter's median over the first's, is marked; below it, churn and collection noise. */
const MARGINS: Record<string, (first: number) => number> = {
  'RSS (MB)': v => Math.max(3, v * 0.05), // malloc arenas and V8's page pool move a few MB
  'private (MB)': v => Math.max(3, v * 0.05),
  'heap used (MB)': v => Math.max(1, v * 0.05), // after a full collection: a few hundred KB of noise
  'external (MB)': v => Math.max(1, v * 0.1),
  'open fds': () => 10, // watchers, webhooks and proxy connections come and go
  'active handles': () => 10,
  'active resources': () => 10,
  'series lines': () => 4,
}
const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s.length === 0 ? NaN : s[Math.floor((s.length - 1) / 2)] }
function slopePer10Min (xs: Sample[], key: string): number {
  const pts = xs.map(s => [s.at / 600_000, s.figures[key]]).filter(([, y]) => Number.isFinite(y))
  if (pts.length < 2) return NaN
  const mx = pts.reduce((a, [x]) => a + x, 0) / pts.length
  const my = pts.reduce((a, [, y]) => a + y, 0) / pts.length
  const den = pts.reduce((a, [x]) => a + (x - mx) ** 2, 0)
  return den === 0 ? NaN : pts.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0) / den
}
const fmt = (v: number): string => !Number.isFinite(v) ? '-' : Math.abs(v) >= 100 || Number.isInteger(v) ? v.toFixed(0) : v.toFixed(1)

function report (n: Node, all: Sample[]): void {
  const xs = all.filter(s => s.at >= WARMUP_MS)
  console.log(`\n### ${n.hostname} (${n.ip}), ${xs.length} samples after the ${WARMUP_MS / 1000} s warm-up\n`)
  if (xs.length === 0) return
  const q = Math.max(1, Math.floor(xs.length / 4))
  const quarters = [xs.slice(0, q), xs.slice(q, 2 * q), xs.slice(-2 * q, -q), xs.slice(-q)]
  console.log(`| figure | first (${fmt(xs[0].at / 60_000)} min) | middle | last (${fmt(xs.at(-1)!.at / 60_000)} min) | slope per 10 min | first quarter median | last quarter median | |`)
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |')
  for (const key of Object.keys(xs[0].figures)) {
    const qm = quarters.map(part => median(part.map(s => s.figures[key])))
    const margin = MARGINS[key]?.(qm[0])
    const grows = margin !== undefined && xs.length >= 8 && qm[3] - qm[0] > margin && qm[2] >= qm[1]
    console.log(`| ${key} | ${fmt(xs[0].figures[key])} | ${fmt(xs[Math.floor(xs.length / 2)].figures[key])} | ${fmt(xs.at(-1)!.figures[key])} | ${fmt(slopePer10Min(xs, key))} | ${fmt(qm[0])} | ${fmt(qm[3])} | ${grows ? `**grows** (margin ${fmt(margin)})` : ''} |`)
  }
}

// --- run
const root = await mkdtemp(path.join(os.tmpdir(), 'sidecar-soak-'))
console.log(`node ${process.version}, ${os.cpus().length} cores, load average ${load()} (before); ${IPS.length} daemons, ${SERVICES} services each, ${MINUTES} min, samples every ${SAMPLE_MS / 1000} s, warm-up ${WARMUP_MS / 1000} s; in ${root}`)
const receivers = await startReceivers()
const samples = new Map<string, Sample[]>()
try {
  for (const [i, ip] of IPS.entries()) {
    const dir = path.join(root, `n${i}`)
    await mkdir(dir, { recursive: true })
    const apps = new Map<string, number>()
    for (let k = 0; apps.size < SERVICES - WEB - TCP; k++) apps.set(`app-${k}`, 0)
    const n: Node = { ip, hostname: `soak-${'abcde'[i]}`, dir, backends: await startBackends(ip), apps, next: SERVICES, moved: false, d: undefined, starts: 0, hosts: 0 }
    nodes.push(n)
    await writeFile(path.join(dir, 'static.json'), staticFile(n))
    await writeFile(path.join(dir, 'sidecar.toml'), configFile(n, receivers.urls))
    samples.set(n.hostname, [])
  }
  for (const n of nodes) spawn(n)
  for (const n of nodes) await n.d!.ready(120_000)
  await waitFor(async () => (await nodes[0].d!.json<{ Servers: Record<string, unknown> }>('/state.json').then(s => Object.keys(s.Servers).length)) === IPS.length || undefined, { timeoutMs: 120_000, message: 'every host in the first daemon\'s state' })
  console.log(`cluster up in ${((Date.now() - t0) / 1000).toFixed(1)} s, load average ${load()}`)
  const loops = [
    churner(), restarter(), flipper(),
    apiReader(), apiReader(),
    ...Array.from({ length: 6 }, streamClient),
    proxyHttp(), proxyTcp(),
  ]
  const snap = (when: string): void => {
    if (!SNAPSHOTS) return
    for (const n of nodes.slice(0, 4)) n.d?.child.kill('SIGUSR2')
    console.log(`heap snapshots (${when}) requested in ${root}/n0-3`)
  }
  let snapped = false
  while (running()) {
    const at = Date.now() - t0
    for (const n of nodes.slice(0, 4)) {
      const f = await sample(n)
      if (f !== undefined) samples.get(n.hostname)!.push({ at, figures: f })
    }
    // within the warm-up: writing a snapshot takes RSS up by about the heap's size for good, so the samples compared all come after it
    if (!snapped && at >= WARMUP_MS * 0.6) { snap('in the warm-up'); snapped = true }
    process.stderr.write(`${(at / 60_000).toFixed(1)} min: load ${load()}; ${nodes.slice(0, 4).map(n => { const f = samples.get(n.hostname)!.at(-1)?.figures; return `${n.hostname} rss ${fmt(f?.['RSS (MB)'] ?? NaN)} heap ${fmt(f?.['heap used (MB)'] ?? NaN)} fds ${f?.['open fds'] ?? '-'}` }).join(', ')}\n`)
    await sleep(Math.max(0, Math.min(SAMPLE_MS - (Date.now() - t0 - at), deadline - Date.now())))
  }
  // one last sample at the deadline, then let the loops end
  const at = Date.now() - t0
  for (const n of nodes.slice(0, 4)) {
    const f = await sample(n)
    if (f !== undefined) samples.get(n.hostname)!.push({ at, figures: f })
  }
  snap('at the end')
  await Promise.all(loops)
  console.log(`\nsoak of ${MINUTES} min, load average ${load()} at the end; the fifth daemon (${nodes[4].hostname}) was started ${nodes[4].starts} times`)
  console.log(Object.entries(counts).sort().map(([k, v]) => `${k}: ${v}`).join('; '))
  for (const n of nodes.slice(0, 4)) report(n, samples.get(n.hostname)!)
  if (SNAPSHOTS) await sleep(10_000) // the snapshots written before the daemons stop
} finally {
  await Promise.all(nodes.map(async n => { await n.d?.stop('SIGTERM') }))
  for (const n of nodes) n.backends.close()
  receivers.close()
  if (!SNAPSHOTS) await rm(root, { recursive: true, force: true })
}
