// bench/convergence: starts N real daemons (the built dist/, as deployed) on 127.0.1.2.. for
// N = 5, 10, 20 and prints, for each N:
//   - propagation: arrival of a new record at each node minus the origin's Updated (every
//     node shares this machine's clock), p50/p99 over every delivery, and the time for each
//     record to reach EVERY node (p50/p99 over records), and the whole cluster's CPU meanwhile
//     (in cores: near the machine's count, the figures measure queueing for the CPU), and this
//     process's own CPU (it reads every daemon's debug log);
//   - SIGKILL -> the victim's services tombstoned on every node, and how each node found out
//     (connections closed, a probe at once, another's report, or 3 s of silence);
//   - SIGSTOP -> the same (then SIGCONT -> ALIVE again everywhere);
//   - a late joiner: spawn -> it holds the full state;
//   - idle RSS and CPU per daemon; of the RSS, the private (anonymous) memory and the proportional
//     share (PSS): the node executable's code pages, about half of an idle daemon's RSS, are shared
//     by every Node process on the host.
// Not a test: it prints figures and never fails on them. Bounded: a fixed number of records,
// every wait has a deadline, every process is stopped at the end.
//   node bench/convergence.ts [N ...]       (default 5 10 20)
import { execFileSync } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { BenchDaemon, percentile, sleep, waitUntil, type StateJson } from './daemons.ts'

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const RECORDS = 40 // new records published per N, one every RECORD_GAP_MS, origins rotating
const RECORD_GAP_MS = 250

const sizes = process.argv.slice(2).map(Number).filter(n => n >= 2 && n <= 40)
const Ns = sizes.length > 0 ? sizes : [5, 10, 20]

interface Row { n: number, startMs: number, p50: number, p99: number, allP50: number, allP99: number, busyCores: number, benchCores: number, kill: number, killHow: string, stop: number, stopHow: string, cont: number, late: number, lateAe: string, rssMb: number[], anonMb: number[], pssMb: number[], cpu: number[] }

function statusOf (s: StateJson, host: string, name: string): number | undefined {
  return Object.values(s.Servers[host]?.Services ?? {}).find(r => r.Name === name)?.Status
}

async function staticFile (file: string, ip: string, names: string[]): Promise<void> {
  await writeFile(file, JSON.stringify(names.map((name, i) => ({
    Service: { Name: name, Image: `${name}:1`, Ports: [{ Type: 'tcp', Port: 20000 + i, ServicePort: 0, IP: ip }] },
    Check: { Type: 'AlwaysSuccessful', Args: '' },
  }))))
}

async function allHold (nodes: BenchDaemon[], pred: (s: StateJson) => boolean, timeoutMs: number, what: string): Promise<number> {
  return await waitUntil(async () => (await Promise.all(nodes.map(async d => pred(await d.state())))).every(Boolean), timeoutMs, what)
}

async function run (n: number, root: string): Promise<Row> {
  const dir = path.join(root, `n${n}`)
  const nodes: BenchDaemon[] = []
  const mk = async (i: number): Promise<BenchDaemon> => {
    const ip = `127.0.1.${2 + i}`
    const hostname = `bench${i}`
    const d = path.join(dir, hostname)
    await mkdir(d, { recursive: true })
    await staticFile(path.join(d, 'static.json'), ip, [`svc-${hostname}`])
    return new BenchDaemon({ repo: REPO, dir: d, ip, hostname, seed: '127.0.1.2' })
  }
  try {
    for (let i = 0; i < n; i++) nodes.push(await mk(i))
    const t0 = Date.now()
    for (const d of nodes) d.spawn()
    await Promise.all(nodes.map(async d => { await d.ready(120_000) }))
    await allHold(nodes, s => nodes.every(d => statusOf(s, d.hostname, `svc-${d.hostname}`) === 0), 180_000, `N=${n} initial convergence`)
    const startMs = Date.now() - t0

    // Idle: let start-up settle, then measure.
    await sleep(10_000)
    const cpu = await Promise.all(nodes.map(async d => await d.cpuPercent(10_000)))
    const memory = nodes.map(d => d.memoryMb())
    const rssMb = memory.map(m => m.rss)

    // Propagation of new records; the whole cluster's CPU meanwhile, in cores (2 here): near 2, the figures measure queueing.
    const ticks = async (): Promise<number> => (await Promise.all(nodes.map(async d => await d.cpuTicks()))).reduce((a, b) => a + b, 0)
    const tick0 = await ticks()
    const wall0 = Date.now()
    const bench0 = process.cpuUsage()
    const names: string[] = []
    for (let k = 0; k < RECORDS; k++) {
      const origin = nodes[k % n]
      const name = `p${k}`
      names.push(name)
      origin.extra.push(name)
      await staticFile(path.join(origin.dir, 'static.json'), origin.ip, [`svc-${origin.hostname}`, ...origin.extra])
      await sleep(RECORD_GAP_MS)
    }
    await allHold(nodes, s => nodes.every(d => d.extra.every(x => statusOf(s, d.hostname, x) !== undefined)), 60_000, `N=${n} new records everywhere`)
    const used = await ticks() - tick0
    const benchUsed = process.cpuUsage(bench0) // this process (writing the static files, reading 20 logs) competes for the same cores
    const wallMs = Date.now() - wall0
    const busyCores = used / 100 / (wallMs / 1000)
    const benchCores = (benchUsed.user + benchUsed.system) / 1000 / wallMs
    const delays: number[] = []
    const reachAll: number[] = []
    for (const name of names) {
      const per = nodes.map(d => d.arrivalDelay(name)).filter((x): x is number => x !== undefined)
      delays.push(...per)
      if (per.length === n - 1) reachAll.push(Math.max(...per))
    }

    // SIGKILL the last node, SIGSTOP the one before it.
    const victim = nodes[n - 1]
    const others = nodes.slice(0, n - 1)
    const tKill = Date.now()
    victim.signal('SIGKILL')
    const killPolled = await allHold(others, s => statusOf(s, victim.hostname, `svc-${victim.hostname}`) === 1, 30_000, 'SIGKILL tombstones')
    const frozen = nodes[n - 2]
    const rest = nodes.slice(0, n - 2)
    const kill = lastTombstone(others, victim.hostname, tKill) ?? killPolled
    const tStop = Date.now()
    frozen.signal('SIGSTOP')
    const stopPolled = await allHold(rest, s => statusOf(s, frozen.hostname, `svc-${frozen.hostname}`) === 1, 30_000, 'SIGSTOP tombstones')
    const stop = lastTombstone(rest, frozen.hostname, tStop) ?? stopPolled
    const killHow = howFound(others, victim.hostname, tKill)
    const stopHow = howFound(rest, frozen.hostname, tStop)
    frozen.signal('SIGCONT')
    const cont = await allHold([...rest, frozen], s => statusOf(s, frozen.hostname, `svc-${frozen.hostname}`) === 0, 30_000, 'SIGCONT back ALIVE')

    // A late joiner must end up with exactly what the first node holds.
    const late = await mk(n)
    nodes.push(late)
    const want = shape(await nodes[0].state())
    late.spawn()
    const lateMs = await waitUntil(async () => {
      const have = new Set(shape(await late.state()))
      return want.every(r => have.has(r))
    }, 60_000, 'late joiner full state')
    // Its first exchange is the join pull (anti-entropy.ts logs each exchange at debug).
    const lateAe = /anti-entropy with \S+ \(asked by us\): [^;\n]*?(\d+) records received[^;\n]*;[^\n]*? ([\d.]+) ms/.exec(late.output)
    if (lateAe === null) console.log(late.output.split('\n').filter(l => /anti-entropy|joined|seed/.test(l)).slice(0, 8).join('\n'))
    return { n, startMs, p50: percentile(delays, 50), p99: percentile(delays, 99), allP50: percentile(reachAll, 50), allP99: percentile(reachAll, 99), busyCores, benchCores, kill, killHow, stop, stopHow, cont, late: lateMs, lateAe: lateAe === null ? '?' : `${lateAe[1]} records in ${Number(lateAe[2]).toFixed(0)} ms`, rssMb, anonMb: memory.map(m => m.anon), pssMb: memory.map(m => m.pss), cpu }
  } finally {
    await Promise.all(nodes.map(async d => { await d.stop() }))
  }
}

/** ms from `after` until the last of `nodes` held host's records as tombstones, from their logs. */
function lastTombstone (nodes: BenchDaemon[], host: string, after: number): number | undefined {
  const times = nodes.map(d => d.tombstonedAt(host, after))
  return times.every((x): x is number => x !== undefined) ? Math.max(...times) - after : undefined
}

/**
 * How each node first learned that host was gone, from its log after `after`: all its
 * connections closed (then the grace), one closed beside another and a probe at once, another
 * member's report (its departure tombstones) and a probe at once, or 3 s of silence. A node
 * that found it by silence held a connection that outlived the process (QUIC over UDP).
 */
function howFound (nodes: BenchDaemon[], host: string, after: number): string {
  const ways: Array<[string, RegExp]> = [
    ['closed', new RegExp(`lost every connection to member ${host} `)],
    ['closed beside another', new RegExp(`a connection to member ${host} \\(\\S+\\) closed while another stays open`)],
    ['report', new RegExp(`reports that member ${host} `)],
    ['silence', new RegExp(`member ${host} \\(\\S+\\) answered no ping`)],
  ]
  const counts = new Map<string, number>()
  for (const d of nodes) {
    let first: { at: number, way: string } | undefined
    for (const line of d.output.split('\n')) {
      const way = ways.find(([, re]) => re.test(line))?.[0]
      if (way === undefined) continue
      const at = Date.parse(/"time":"([^"]+)"/.exec(line)?.[1] ?? '')
      if (at >= after && (first === undefined || at < first.at)) first = { at, way }
    }
    const way = first?.way ?? 'not seen'
    counts.set(way, (counts.get(way) ?? 0) + 1)
  }
  return [...counts].map(([way, n]) => `${way} ${n}`).join(', ')
}

/** Every record as host/name=status (Updated moves with every refresh). */
function shape (s: StateJson): string[] {
  return Object.values(s.Servers).flatMap(srv => Object.values(srv.Services).map(r => `${r.Hostname}/${r.Name}=${r.Status}`)).sort()
}

const fmt = (x: number): string => Number.isFinite(x) ? x.toFixed(x < 10 ? 1 : 0) : '-'
const range = (xs: number[]): string => `${fmt(Math.min(...xs))}-${fmt(Math.max(...xs))} (median ${fmt(percentile(xs, 50))})`

console.log('building dist/ ...')
execFileSync(path.join(REPO, 'node_modules/.bin/tsc'), ['-p', path.join(REPO, 'tsconfig.build.json')], { stdio: 'inherit' })
console.log(`node ${process.version}, ${os.cpus().length} cores, load average ${os.loadavg().map(x => x.toFixed(1)).join(' ')}`)
const root = await mkdtemp(path.join(os.tmpdir(), 'sidecar-bench-'))
const rows: Row[] = []
try {
  for (const n of Ns) {
    console.log(`\n== N = ${n}`)
    const row = await run(n, root)
    rows.push(row)
    console.log(JSON.stringify(row))
  }
} finally {
  await rm(root, { recursive: true, force: true })
}
console.log('\n| N | all up and converged | propagation p50 / p99 (each delivery) | new record on every node p50 / p99 | cluster CPU meanwhile (cores; in brackets, the benchmark process) | SIGKILL -> tombstoned everywhere | SIGSTOP -> tombstoned everywhere | SIGCONT -> ALIVE again | late joiner holds full state | idle RSS per daemon (MB) | of it private (anonymous) / proportional share (PSS), MB | idle CPU per daemon (%) |')
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |')
for (const r of rows) {
  console.log(`| ${r.n} | ${(r.startMs / 1000).toFixed(1)} s | ${fmt(r.p50)} / ${fmt(r.p99)} ms | ${fmt(r.allP50)} / ${fmt(r.allP99)} ms | ${r.busyCores.toFixed(2)} (${r.benchCores.toFixed(2)}) | ${fmt(r.kill)} ms (${r.killHow}) | ${fmt(r.stop)} ms (${r.stopHow}) | ${fmt(r.cont)} ms | ${fmt(r.late)} ms after spawn (join pull: ${r.lateAe}) | ${range(r.rssMb)} | ${range(r.anonMb)} / ${range(r.pssMb)} | ${range(r.cpu)} |`)
}
