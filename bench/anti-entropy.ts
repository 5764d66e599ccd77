// bench/anti-entropy: anti-entropy and API figures at scale (issue 13), on 127.0.15.x
// (BENCH_IP_PREFIX=127.0.21 runs it on another /24).
//   - ORIGINS members originate RECORDS records between them. Each is the daemon's own gossip
//     component (libp2p node, membership, anti-entropy, announcer) in its own process, over a
//     catalog holding its records (test/helpers/bulk-peer.ts): 100,000 records from static
//     discovery would need 20,000 health-checked services per daemon (issue 13's other half).
//   - A real daemon joins late, seeded with one origin: time from its API answering to
//     holding every record (read from its /metrics), and its event-loop delay meanwhile.
//   - The next exchanges, once converged: bytes sent and received per exchange against the
//     state's size (the daemon's own metrics).
//   - The joiner's longest event-loop stall during the join and under the readers (its gauge, and
//     at 1 ms resolution with where that stall went: on a CPU, waiting for a core, blocked).
//   - READERS concurrent readers of /api/state.json on that daemon for 15 s (or 400 reads):
//     latency p50/p99, the daemon's longest event-loop delay, whether a peer suspected it.
// JOINER_NODE_OPTIONS sets the joiner's NODE_OPTIONS (a semispace size there makes bin/sidecar.js
// leave its heap flags alone); JOINER_LOG=FILE writes the joiner's output (its last 200 KB) there.
// Not a test: prints figures, never fails on them. Bounded: every wait has a deadline and
// every process is stopped at the end.
//   RECORDS=100000 ORIGINS=4 READERS=20 node bench/anti-entropy.ts
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { BulkPeerProcess } from '../test/helpers/bulk-peer.ts'
import { DaemonProcess } from '../test/helpers/daemon.ts'
import { describeStall, StallMeter } from '../test/helpers/stall-meter.ts'

const RECORDS = Number(process.env.RECORDS ?? 100_000)
const ORIGINS = Number(process.env.ORIGINS ?? 4)
const READERS = Number(process.env.READERS ?? 20)
const IP_PREFIX = process.env.BENCH_IP_PREFIX ?? '127.0.15'
const ip = (i: number): string => `${IP_PREFIX}.${10 + i}`

async function metrics (d: DaemonProcess): Promise<Map<string, number>> {
  const text = await (await fetch(d.url('/metrics'), { signal: AbortSignal.timeout(30_000) })).text()
  return new Map(text.split('\n').filter(l => l !== '' && !l.startsWith('#')).map(l => { const i = l.lastIndexOf(' '); return [l.slice(0, i), Number(l.slice(i + 1))] }))
}

async function until (what: string, timeoutMs: number, fn: () => Promise<boolean>): Promise<number> {
  const t0 = Date.now()
  for (;;) {
    try { if (await fn()) return Date.now() - t0 } catch { /* not yet */ }
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms: ${what}`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-bench-ae-'))
const origins: BulkPeerProcess[] = []
let joiner: DaemonProcess | undefined
// The joiner's stalls at 1 ms resolution, the longest split into time on a CPU, waiting for a core, blocked.
const meter = new StallMeter('bench-ae')
try {
  console.log(`load average before: ${(await import('node:fs')).readFileSync('/proc/loadavg', 'utf8').trim()}`)
  const t0 = Date.now()
  const per = Math.ceil(RECORDS / ORIGINS)
  for (let i = 0; i < ORIGINS; i++) origins.push(await BulkPeerProcess.start({ ip: ip(i), hostname: `origin-${i}`, records: per, seeds: i === 0 ? [] : [ip(0)] }, 120_000))
  const total = ORIGINS * per
  console.log(`${ORIGINS} origin members with ${per} records each up in ${Date.now() - t0} ms`)
  const convergeMs = await until('the origins hold every record', 300_000, async () => origins.every(o => o.size === total))
  console.log(`the origins held all ${total} records after ${convergeMs} ms more (anti-entropy among themselves every 20 s)`)

  await writeFile(path.join(dir, 'static.json'), '[]')
  joiner = new DaemonProcess({ ip: ip(ORIGINS), hostname: 'late-joiner', cwd: dir, args: ['-d', 'static', '--cluster-ip', ip(0)], env: { STATIC_CONFIG_FILE: path.join(dir, 'static.json'), SIDECAR_LOGGING_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info', SIDECAR_PUSH_PULL_INTERVAL: '5s', SIDECAR_ALIVE_LIFESPAN: '10m', SIDECAR_MAX_RECORDS_PER_HOST: String(Math.ceil(RECORDS / ORIGINS) + 1000), SIDECAR_MAX_RECORDS: String(RECORDS + 10_000), ...meter.env(process.env.JOINER_NODE_OPTIONS) } })
  const d = joiner
  await d.ready(60_000)
  await metrics(d) // new event-loop period
  meter.start(d.child.pid as number)
  let maxDelay = 0
  const joinMs = await until(`late joiner holds ${total} records`, 120_000, async () => {
    const m = await metrics(d) // every scrape starts a new event-loop period: keep the longest
    maxDelay = Math.max(maxDelay, m.get('sidecar_event_loop_delay_max_seconds') ?? 0)
    return m.get('sidecar_services{status="alive"}') === total
  })
  const m1 = await metrics(d)
  const joinStall = await meter.read()
  if (process.env.BENCH_LOG_LEVEL === 'debug') console.log(`${new Date().toISOString()} joiner holds all records`)
  console.log(`late joiner held all ${total} records ${joinMs} ms after its API answered; longest event-loop delay meanwhile ${(Math.max(maxDelay, m1.get('sidecar_event_loop_delay_max_seconds') ?? 0) * 1000).toFixed(0)} ms (its gauge, 10 ms sampling), ${describeStall(joinStall)} (1 ms sampling); times V8's optimize-for-size was turned off for heap growth (src/lib/heap-mode.ts): ${m1.get('sidecar_heap_bursts_total') ?? 0}`)

  const key = 'sidecar_anti_entropy_exchanges_total{direction="out",result="ok"}'
  const before = m1.get(key) ?? 0
  // three: the join pull (and a new member's two-host exchange) may still end after the joiner holds every record
  await until('three more exchanges', 60_000, async () => ((await metrics(d)).get(key) ?? 0) >= before + 3)
  const m2 = await metrics(d)
  if (process.env.BENCH_LOG_LEVEL === 'debug') console.log(`${new Date().toISOString()} three more exchanges done`)
  const sent = m2.get('sidecar_anti_entropy_last_exchange_bytes{way="sent"}') ?? NaN
  const received = m2.get('sidecar_anti_entropy_last_exchange_bytes{way="received"}') ?? NaN
  const state = m2.get('sidecar_anti_entropy_last_exchange_state_bytes') ?? NaN
  console.log(`converged exchange: ${sent} bytes sent, ${received} received; state ${(state / 1e6).toFixed(1)} MB: ${(100 * Math.max(sent, received) / state).toFixed(4)} % of the state`)
  let pulled = 0
  for (const [k, v] of m2) if (k.startsWith('sidecar_anti_entropy_exchange_bytes_sum{') && k.includes('way="received"')) pulled += v
  console.log(`the joiner received ${(pulled / 1e6).toFixed(1)} MB over all its exchanges: ${(pulled / state).toFixed(2)}x the state's JSON (records on the wire carry their proofs and this bench's records are small, so one copy alone is several times the JSON: compare with the join pull's bytes in the debug log)`)
  const refused = [...m2].filter(([k, v]) => k.startsWith('sidecar_gossip_records_refused_total') && v > 0).map(([k, v]) => `${k.slice(k.indexOf('{'))} ${v}`)
  console.log(`records the joiner refused: ${refused.length === 0 ? 'none' : refused.join(', ')}`)
  if (process.env.BENCH_LOG_LEVEL === 'debug') console.log(d.output.split('\n').filter(l => l.includes('anti-entropy with')).slice(-12).join('\n'))
  if (process.env.JOINER_LOG !== undefined) await writeFile(process.env.JOINER_LOG, d.output)

  if (READERS > 0) {
    // a scrape starts a new event-loop period; the count of cut-off answers before the readers
    const cutBefore = (await metrics(d)).get('sidecar_api_answers_cut_total') ?? 0
    await meter.read() // the readers' window starts
    const stop = Date.now() + 15_000
    const latencies: number[] = []
    let errors = 0
    const errorKinds = new Map<string, number>()
    const countKind = (kind: string): void => { errorKinds.set(kind, (errorKinds.get(kind) ?? 0) + 1) }
    let started = 0
    await Promise.all(Array.from({ length: READERS }, async () => {
      while (Date.now() < stop && started < 400) {
        started++
        const r0 = performance.now()
        try {
          const res = await fetch(d.url('/api/state.json'), { signal: AbortSignal.timeout(30_000) })
          await res.arrayBuffer()
          if (!res.ok) { errors++; countKind(`HTTP ${res.status}`) }
        } catch (err) {
          errors++
          const e = err as Error & { cause?: { code?: string, message?: string } }
          countKind(`${e.name}: ${e.message}${e.cause !== undefined ? ` (${e.cause.code ?? e.cause.message})` : ''}`)
        }
        latencies.push(performance.now() - r0)
      }
    }))
    latencies.sort((a, b) => a - b)
    const p = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]
    const m3 = await metrics(d)
    // answers the daemon cut off under its bound on documents held for clients (held-answers.ts)
    const cut = (m3.get('sidecar_api_answers_cut_total') ?? NaN) - cutBefore
    const suspected = d.output.split('\n').filter(l => /answered no ping|departed/.test(l)).length
    console.log(`${READERS} readers of /api/state.json: ${latencies.length} reads, ${errors} errors${errors > 0 ? ` (${[...errorKinds].map(([k, c]) => `${c}x ${k}`).join('; ')})` : ''}, ${cut} answers cut off by the daemon's bound on documents held for clients (sidecar_api_answers_cut_total), p50 ${p(0.5).toFixed(0)} ms, p99 ${p(0.99).toFixed(0)} ms; daemon's longest event-loop delay ${((m3.get('sidecar_event_loop_delay_max_seconds') ?? NaN) * 1000).toFixed(0)} ms (gauge), ${describeStall(await meter.read())} (1 ms sampling); suspicion/departure lines in its log: ${suspected}`)
  }
  console.log(`load average after: ${(await import('node:fs')).readFileSync('/proc/loadavg', 'utf8').trim()}`)
} finally {
  await joiner?.stop()
  await Promise.all(origins.map(async o => { await o.stop() }))
  await rm(dir, { recursive: true, force: true })
  await meter.close()
}
