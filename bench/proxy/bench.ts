// bench/proxy: one run on loopback measuring a backend called directly, through sidecar's
// http and tcp modes, through HAProxy (http and tcp, one thread, keep-alive reuse) and,
// for reference, through a stock http-proxy-3 server. wrk drives each at concurrency 1 and
// 64, and with a new connection per request ("Connection: close", concurrency 8: clients that
// keep no connection open, as scripts and many health checkers), for BENCH_SECONDS (default
// 4), in BENCH_ROUNDS interleaved rounds (default 3), and each
// figure (req/s, p50, p99) is the median of its rounds; then curl downloads BENCH_DOWNLOAD_MB
// (100) and uploads BENCH_UPLOAD_MB (50) through each, in as many interleaved rounds of their own. Prints
// requests/s, p50, p99, MB/s and the ratios as Markdown tables. Every process it starts is
// stopped at the end, and every wrk/curl run has a time limit. Run with bench/proxy/run.sh
// (installs wrk/haproxy).
// Before the rounds, every target gets 1 s at concurrency 64, and the daemon more at concurrency 1
// until it has run SETTLE_MS: its first ~11 s are its start-up, not the proxy's steady state.
// BENCH_CPU_PROF=1 runs the daemon with --cpu-prof (profile written to bench/proxy/profiles/);
// BENCH_SIDECAR_NODE_OPTIONS sets NODE_OPTIONS for the daemon only (e.g. --max-semi-space-size=8),
// BENCH_SIDECAR_LOG its log level (default warn; debug shows the heap mode's changes).
// Each round's line on stderr also gives the proxy process's CPU per request (user + system, from
// /proc/<pid>/stat) for sidecar and HAProxy: a rate that falls while that rises is the proxy's own cost.
// The processes' output goes to <name>.log files in a scratch folder, which is removed after a run
// that succeeded unless BENCH_KEEP=1 (kept, and named, after a failure).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { closeSync, mkdtempSync, mkdirSync, openSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { procCpuTicks, stopChildren } from '../daemons.ts'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const REPO = path.resolve(HERE, '../..')
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4)
/** Rounds over all targets; each figure is the median of its rounds, so a burst of load elsewhere on the machine hits every target alike. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const DOWNLOAD_MB = Number(process.env.BENCH_DOWNLOAD_MB ?? 100)
const UPLOAD_MB = Number(process.env.BENCH_UPLOAD_MB ?? 50)
/**
 * Age the daemon reaches before the measured rounds. Measured (2026-12-03, 3 s windows at
 * concurrency 1 from its start): p99 4.0, 2.5 and 6.3 ms until 11 s (JIT warming up; the full
 * collections of its start-up at 9.7 and 10.3 s), then 0.26-0.46 ms for the next 65 s.
 */
const SETTLE_MS = 20_000
const IPS = { backend: '127.0.13.60', sidecar: '127.0.13.61', haproxy: '127.0.13.62', hp3: '127.0.13.63' }
const PORTS = { sidecarHttp: 18601, sidecarTcp: 18602, haproxyHttp: 18603, haproxyTcp: 18604, hp3: 18605 }
const children: ChildProcess[] = []
const tmp = mkdtempSync(path.join(os.tmpdir(), 'sidecar-bench-proxy-'))

/**
 * Starts a process whose output goes to `<tmp>/<name>.log`: a pipe nobody reads fills at 64 KiB,
 * and then a child writing to it blocks (Node writes to pipes synchronously on Linux) or loses
 * lines. stdout stays a pipe where its first line is read (the port a backend took).
 */
function start (name: string, cmd: string, args: string[], env: Record<string, string> = {}, readFirstLine = false): ChildProcess {
  const log = openSync(path.join(tmp, `${name}.log`), 'a')
  const c = spawn(cmd, args, { cwd: tmp, env: { ...process.env, ...env }, stdio: ['ignore', readFirstLine ? 'pipe' : log, log] })
  closeSync(log)
  children.push(c)
  return c
}

async function firstLine (c: ChildProcess): Promise<string> {
  return await new Promise((resolve, reject) => {
    let buf = ''
    c.stdout?.on('data', (d: Buffer) => {
      if (buf.includes('\n')) return // read on (a pipe left unread fills), kept no more
      buf += d.toString()
      const i = buf.indexOf('\n')
      if (i >= 0) resolve(buf.slice(0, i).trim())
    })
    c.once('exit', (code) => { reject(new Error(`process exited (${code}) before it was ready`)) })
  })
}

async function until (what: string, fn: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    try { if (await fn()) return } catch { /* not yet */ }
    await new Promise(resolve => setTimeout(resolve, 200))
  }
  throw new Error(`timed out waiting for ${what}`)
}

interface Result { rps: number, p50: number, p99: number }

/** A process's CPU time so far in µs (user, system); undefined without a pid or where there is no /proc. */
function cpuMicros (pid: number | undefined): [number, number] | undefined {
  if (pid === undefined) return undefined
  try {
    const t = procCpuTicks(pid)
    const tick = 1e6 / 100 // USER_HZ
    return [t.user * tick, t.system * tick]
  } catch { return undefined }
}

function toMs (v: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(v.trim())
  if (m === null) return NaN
  return Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 's' ? 1000 : 1)
}

/** Concurrency of the rounds with a new connection per request. */
const CLOSE_CONCURRENCY = 8

/** close: every request on a new connection (the request says "Connection: close"). */
function wrk (url: string, connections: number, seconds: number, close = false): Result {
  const r = spawnSync('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', ...(close ? ['-H', 'Connection: close'] : []), url], { encoding: 'utf8', timeout: (seconds + 30) * 1000 })
  const out = r.stdout ?? ''
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN)
  const p50 = toMs(/\s50%\s+(\S+)/.exec(out)?.[1] ?? '')
  const p99 = toMs(/\s99%\s+(\S+)/.exec(out)?.[1] ?? '')
  if (/Non-2xx|Socket errors/.test(out)) process.stderr.write(`note: ${url} c=${connections}: ${out.split('\n').filter(l => /Non-2xx|Socket errors/.test(l)).join('; ')}\n`)
  return { rps, p50, p99 }
}

/** One curl transfer: MB/s (1e6 bytes), NaN when it failed or took over a minute. */
function curl (url: string, upload: string | undefined): number {
  const args = ['-s', '-o', '/dev/null', '--max-time', '60', '-w', upload === undefined ? '%{speed_download} %{size_download}' : '%{speed_upload} %{size_upload}']
  if (upload !== undefined) args.push('-H', 'content-type: application/octet-stream', '--data-binary', `@${upload}`)
  const r = spawnSync('curl', [...args, url], { encoding: 'utf8', timeout: 90_000 })
  const [speed, size] = (r.stdout ?? '').trim().split(' ').map(Number)
  const want = (upload === undefined ? DOWNLOAD_MB : UPLOAD_MB) * (1 << 20)
  if (r.status !== 0 || size !== want) {
    process.stderr.write(`note: ${url}: curl exit ${r.status}, ${size} of ${want} bytes\n`)
    return NaN
  }
  return speed / 1e6
}

/** CPU ticks (user + system, 1/100 s) of a process; NaN when it cannot be read. */
function ticksOf (pid: number | undefined): number {
  if (pid === undefined) return 0
  try {
    const t = procCpuTicks(pid)
    return t.user + t.system
  } catch { return NaN }
}

/** CPU ticks of this process's children that were waited for (each curl, once spawnSync returned). */
function childTicks (): number {
  return procCpuTicks(process.pid).children
}

function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

async function main (): Promise<void> {
  const loadStart = os.loadavg()[0]
  const node = process.execPath
  const backend = start('backend', node, [path.join(HERE, 'backend.ts'), IPS.backend, '0'], {}, true)
  const backendPort = Number(await firstLine(backend))

  const staticFile = path.join(tmp, 'static.json')
  const ports = (sp: number): unknown => [{ Type: 'tcp', Port: backendPort, ServicePort: sp, IP: IPS.backend }]
  writeFileSync(staticFile, JSON.stringify([
    { Service: { Name: 'bench-http', Ports: ports(PORTS.sidecarHttp), ProxyMode: 'http' }, Check: { Type: 'HttpGet', Args: `http://${IPS.backend}:${backendPort}/` } },
    { Service: { Name: 'bench-tcp', Ports: ports(PORTS.sidecarTcp), ProxyMode: 'tcp' }, Check: { Type: 'HttpGet', Args: `http://${IPS.backend}:${backendPort}/` } },
  ]))
  const profDir = path.join(HERE, 'profiles')
  const prof = process.env.BENCH_CPU_PROF === '1'
  if (prof) mkdirSync(profDir, { recursive: true })
  const daemonStarted = Date.now()
  const sidecar = start('sidecar', node, [...(prof ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : []), path.join(REPO, 'bin/sidecar.js'),
    '--hostname', 'bench', '--bind-ip', IPS.sidecar, '--advertise-ip', IPS.sidecar, '--http-port', '7777', '-d', 'static'],
  { STATIC_CONFIG_FILE: staticFile, SIDECAR_LOGGING_LEVEL: process.env.BENCH_SIDECAR_LOG ?? 'warn', HOME: tmp, SIDECAR_FROM_SOURCE: '1', ...(process.env.BENCH_SIDECAR_NODE_OPTIONS !== undefined ? { NODE_OPTIONS: process.env.BENCH_SIDECAR_NODE_OPTIONS } : {}) })
  await until('sidecar proxy listeners with an active backend', async () => {
    const p = await (await fetch(`http://${IPS.sidecar}:7777/api/proxy.json`)).json() as { listeners: Array<{ backends: Array<{ state: string }> }> }
    return p.listeners.length === 2 && p.listeners.every(l => l.backends[0]?.state === 'active')
  })

  const cfg = path.join(tmp, 'haproxy.cfg')
  writeFileSync(cfg, [
    'global', '  nbthread 1', '  maxconn 4096',
    'defaults', '  timeout connect 1s', '  timeout client 1m', '  timeout server 1m', '  retries 2', '  option redispatch',
    'frontend web', '  mode http', `  bind ${IPS.haproxy}:${PORTS.haproxyHttp}`, '  option forwardfor', '  default_backend web',
    'backend web', '  mode http', '  http-reuse always', `  server s1 ${IPS.backend}:${backendPort}`,
    'frontend raw', '  mode tcp', `  bind ${IPS.haproxy}:${PORTS.haproxyTcp}`, '  default_backend raw',
    'backend raw', '  mode tcp', `  server s1 ${IPS.backend}:${backendPort}`, '',
  ].join('\n'))
  const haproxy = start('haproxy', 'haproxy', ['-db', '-f', cfg])
  const hp3 = start('http-proxy-3', node, [path.join(HERE, 'http-proxy-3.ts'), IPS.hp3, String(PORTS.hp3), `http://${IPS.backend}:${backendPort}`], {}, true)
  await firstLine(hp3)
  await until('haproxy', async () => (await fetch(`http://${IPS.haproxy}:${PORTS.haproxyHttp}/`)).ok)

  const targets: Array<[string, string]> = [
    ['direct', `http://${IPS.backend}:${backendPort}/`],
    ['sidecar http', `http://${IPS.sidecar}:${PORTS.sidecarHttp}/`],
    ['sidecar tcp', `http://${IPS.sidecar}:${PORTS.sidecarTcp}/`],
    ['HAProxy http', `http://${IPS.haproxy}:${PORTS.haproxyHttp}/`],
    ['HAProxy tcp', `http://${IPS.haproxy}:${PORTS.haproxyTcp}/`],
    ['http-proxy-3 (reference)', `http://${IPS.hp3}:${PORTS.hp3}/`],
  ]
  /** The process whose CPU a target's line reports. */
  const proxyPid = (name: string): number | undefined => name.startsWith('sidecar') ? sidecar.pid : name.startsWith('HAProxy') ? haproxy.pid : undefined
  /** wrk against a target, and the proxy's CPU per request meanwhile ('' for targets without one). */
  const measure = (name: string, url: string, c: number, close = false): [Result, string] => {
    const pid = proxyPid(name)
    const t0 = cpuMicros(pid)
    const r = wrk(url, c, SECONDS, close)
    const t1 = cpuMicros(pid)
    const n = r.rps * SECONDS
    return [r, t0 === undefined || t1 === undefined || !(n > 0) ? '' : `  proxy CPU ${((t1[0] - t0[0]) / n).toFixed(1)} + ${((t1[1] - t0[1]) / n).toFixed(1)} µs/req (user + sys)`]
  }
  const rounds = new Map<string, Result[]>()
  const transfers = new Map<string, { down: number[], up: number[] }>()
  /** CPU ticks spent during each target's downloads, summed over the rounds: backend, proxy (none for direct), curl. */
  const downloadCpu = new Map<string, { backend: number, proxy: number, curl: number }>()
  const transferPid = (name: string): number | undefined => name.startsWith('http-proxy-3') ? hp3.pid : proxyPid(name)
  const uploadFile = path.join(tmp, 'upload.bin')
  writeFileSync(uploadFile, Buffer.alloc(UPLOAD_MB << 20, 'u'))
  for (const [, url] of targets) wrk(url, 64, 1) // warm-up: JIT, connection pools
  const daemonTargets = targets.filter(([name]) => name.startsWith('sidecar'))
  while (Date.now() - daemonStarted < SETTLE_MS) for (const [, url] of daemonTargets) wrk(url, 1, 1)
  // Request rates first, transfers after them in rounds of their own: for about 4 s after a
  // round of 100 MiB and 50 MiB transfers, every target's p99 at concurrency 1 was 2-6x its
  // usual (the backend and the kernel settling, HAProxy as well), and with the transfers at the
  // start of each round that window fell on whichever target came first (sidecar http).
  for (let round = 1; round <= ROUNDS; round++) {
    for (const c of [1, 64]) {
      for (const [name, url] of targets) {
        const [r, cpu] = measure(name, url, c)
        const key = `${name}@${c}`
        rounds.set(key, [...(rounds.get(key) ?? []), r])
        process.stderr.write(`round ${round} ${name.padEnd(26)} c=${String(c).padEnd(3)} ${r.rps.toFixed(0).padStart(7)} req/s  p50 ${r.p50.toFixed(3)} ms  p99 ${r.p99.toFixed(3)} ms${cpu}\n`)
      }
    }
  }
  // a new connection per request in rounds of their own, after the keep-alive ones: they leave
  // the daemon garbage to collect (connections' objects that lived through a young-generation
  // collection), and the next rounds' p99 at concurrency 1 was 0.6-1.9 ms where it was 0.3-0.4
  // in the round before any of them
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [name, url] of targets) {
      const [r, cpu] = measure(name, url, CLOSE_CONCURRENCY, true)
      const key = `${name}@close`
      rounds.set(key, [...(rounds.get(key) ?? []), r])
      process.stderr.write(`round ${round} ${name.padEnd(26)} close   ${r.rps.toFixed(0).padStart(7)} req/s  p50 ${r.p50.toFixed(3)} ms  p99 ${r.p99.toFixed(3)} ms${cpu}\n`)
    }
  }
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [name, url] of targets) {
      const t = transfers.get(name) ?? { down: [], up: [] }
      const c = downloadCpu.get(name) ?? { backend: 0, proxy: 0, curl: 0 }
      const [b0, p0, c0] = [ticksOf(backend.pid), ticksOf(transferPid(name)), childTicks()]
      t.down.push(curl(`${url}big?mb=${DOWNLOAD_MB}`, undefined))
      c.backend += ticksOf(backend.pid) - b0
      c.proxy += ticksOf(transferPid(name)) - p0
      c.curl += childTicks() - c0
      downloadCpu.set(name, c)
      t.up.push(curl(`${url}upload`, uploadFile))
      transfers.set(name, t)
      process.stderr.write(`round ${round} ${name.padEnd(26)} download ${t.down[t.down.length - 1].toFixed(0)} MB/s  upload ${t.up[t.up.length - 1].toFixed(0)} MB/s\n`)
    }
  }
  const results = new Map<string, Result>()
  // each figure on its own: the round of median rate can hold another round's p99 (one with a
  // full collection in it, say), which then stood for the target's tail
  for (const [key, rs] of rounds) results.set(key, { rps: median(rs.map(r => r.rps)), p50: median(rs.map(r => r.p50)), p99: median(rs.map(r => r.p99)) })
  const cpus = os.cpus()
  const lines = [
    `wrk -t1, median of ${ROUNDS} interleaved rounds of ${SECONDS} s per row; load average (1 min) ${loadStart.toFixed(1)} at the start, ${os.loadavg()[0].toFixed(1)} at the end; ${cpus.length} × ${cpus[0]?.model ?? 'cpu'} shared by wrk, proxy and backend (and whatever else runs); Node ${process.version}; ${spawnSync('haproxy', ['-v'], { encoding: 'utf8' }).stdout.split('\n')[0].replace(/ - https.*/, '')}, 1 thread.`,
    '',
    '| target | conc. | req/s | p50 ms | p99 ms | vs direct | vs HAProxy http | vs HAProxy (same mode) |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ]
  for (const c of [1, 64]) {
    const direct = results.get(`direct@${c}`) as Result
    const hh = results.get(`HAProxy http@${c}`) as Result
    const ht = results.get(`HAProxy tcp@${c}`) as Result
    for (const [name] of targets) {
      const r = results.get(`${name}@${c}`) as Result
      const same = name.endsWith('tcp') ? ht : hh
      lines.push(`| ${name} | ${c} | ${r.rps.toFixed(0)} | ${r.p50.toFixed(3)} | ${r.p99.toFixed(3)} | ${(r.rps / direct.rps).toFixed(2)} | ${(r.rps / hh.rps).toFixed(2)} | ${name === 'direct' ? '' : (r.rps / same.rps).toFixed(2)} |`)
    }
  }
  lines.push('', `A new connection per request ("Connection: close", concurrency ${CLOSE_CONCURRENCY}, median of ${ROUNDS} interleaved rounds of their own): the cost of accepting and closing a client connection, which keep-alive clients pay once.`, '',
    '| target | req/s | p50 ms | p99 ms | vs direct | vs HAProxy http | vs HAProxy (same mode) |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: |')
  {
    const direct = results.get('direct@close') as Result
    const hh = results.get('HAProxy http@close') as Result
    const ht = results.get('HAProxy tcp@close') as Result
    for (const [name] of targets) {
      const r = results.get(`${name}@close`) as Result
      const same = name.endsWith('tcp') ? ht : hh
      lines.push(`| ${name} | ${r.rps.toFixed(0)} | ${r.p50.toFixed(3)} | ${r.p99.toFixed(3)} | ${(r.rps / direct.rps).toFixed(2)} | ${(r.rps / hh.rps).toFixed(2)} | ${name === 'direct' ? '' : (r.rps / same.rps).toFixed(2)} |`)
    }
  }
  const d1 = results.get('direct@1') as Result
  lines.push('', `Added p50 latency at concurrency 1: sidecar http ${((results.get('sidecar http@1') as Result).p50 - d1.p50).toFixed(3)} ms, sidecar tcp ${((results.get('sidecar tcp@1') as Result).p50 - d1.p50).toFixed(3)} ms, HAProxy http ${((results.get('HAProxy http@1') as Result).p50 - d1.p50).toFixed(3)} ms.`)
  const dd = median((transfers.get('direct') as { down: number[] }).down)
  const du = median((transfers.get('direct') as { up: number[] }).up)
  lines.push('', `Transfers (curl, one connection, median of ${ROUNDS}): a ${DOWNLOAD_MB} MiB download and a ${UPLOAD_MB} MiB upload (POST, Content-Length, Expect: 100-continue).`, '',
    '| target | download MB/s | vs direct | upload MB/s | vs direct | download CPU ms per GiB: backend / proxy / curl |', '| --- | ---: | ---: | ---: | ---: | ---: |')
  const perGiB = (ticks: number): string => Number.isNaN(ticks) ? '?' : (ticks * 10 * 1024 / (ROUNDS * DOWNLOAD_MB)).toFixed(0)
  for (const [name] of targets) {
    const t = transfers.get(name) as { down: number[], up: number[] }
    const d = median(t.down)
    const u = median(t.up)
    const c = downloadCpu.get(name) as { backend: number, proxy: number, curl: number }
    lines.push(`| ${name} | ${d.toFixed(0)} | ${(d / dd).toFixed(2)} | ${u.toFixed(0)} | ${(u / du).toFixed(2)} | ${perGiB(c.backend)} / ${name === 'direct' ? '-' : perGiB(c.proxy)} / ${perGiB(c.curl)} |`)
  }
  lines.push('', `The CPU columns (from /proc, in ticks of 10 ms summed over the ${ROUNDS} downloads, so about ±${(10 * 1024 / (ROUNDS * DOWNLOAD_MB)).toFixed(0)} ms per GiB) show what bounds the download on a machine with few cores: through a proxy every byte is copied into and out of the proxy as well, so the proxy alone needs about as much CPU as the backend and curl together; once that fills a core, or the three processes fill every core, the download cannot go faster.`)
  const perRound = (key: string): string => (rounds.get(key) ?? []).map(r => r.p99.toFixed(2)).join(', ')
  const ratio = (a: string, b: string, c: number, f: (r: Result) => number = r => r.rps): string => (f(results.get(`${a}@${c}`) as Result) / f(results.get(`${b}@${c}`) as Result)).toFixed(2)
  lines.push('', 'Targets of issue 12: ' + [
    `sidecar http / HAProxy http req/s: c=1 ${ratio('sidecar http', 'HAProxy http', 1)} (>= 0.8), c=64 ${ratio('sidecar http', 'HAProxy http', 64)} (>= 0.8)`,
    `p99 c=1 sidecar http / HAProxy http ${ratio('sidecar http', 'HAProxy http', 1, r => r.p99)} (<= 2; rounds: sidecar ${perRound('sidecar http@1')} ms, HAProxy ${perRound('HAProxy http@1')} ms)`,
    `download sidecar http / direct ${(median((transfers.get('sidecar http') as { down: number[] }).down) / dd).toFixed(2)} (>= 0.6)`,
    `sidecar tcp / HAProxy tcp c=1 ${ratio('sidecar tcp', 'HAProxy tcp', 1)}, c=64 ${ratio('sidecar tcp', 'HAProxy tcp', 64)} (>= 0.9)`,
  ].join('; ') + '.')
  process.stdout.write(lines.join('\n') + '\n')
}

// The scratch folder (the upload's 50 MB file, the daemon's data, the processes' output) is removed
// after a run that succeeded, unless BENCH_KEEP=1; after a failure it is kept, for its logs.
let ok = false
try {
  await main()
  ok = true
} finally {
  await stopChildren(children)
  if (ok && process.env.BENCH_KEEP !== '1') rmSync(tmp, { recursive: true, force: true })
  else process.stderr.write(`the output of the processes it started: ${tmp}/*.log\n`)
}
