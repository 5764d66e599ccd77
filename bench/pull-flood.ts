// bench/pull-flood: what one authenticated member that keeps asking a daemon for its whole
// state costs that daemon (docs/security-gossip.md, "a member that pulls without pause"), on
// 127.0.66.x (BENCH_IP_PREFIX changes it). A real daemon (the target) holds RECORDS records of
// an origin member (test/helpers/bulk-peer.ts); a second real daemon (the observer) probes it;
// a rogue member (test/helpers/rogue.ts) then runs CONCURRENCY loops of exchanges claiming to
// hold nothing, reading the target's records pages as bytes (the cheapest pull there is).
// Windows of WINDOW_S seconds: quiet, a flood of full pulls, a flood of empty exchanges (a
// scope naming no host), and (MODES=...,versions) a flood of real exchanges in which the rogue
// claims one record of the origin, so the target compares every bucket of its 100,000 and sends
// their versions (a cost the record budget does not count). Each prints the target's CPU (% of one core), /health latency
// p50/p99/max (one request every 100 ms, from a worker thread: helpers/health-prober.ts), its longest event-loop delay (its gauge, scraped
// every 2 s), bytes its served exchanges sent per minute, and suspicion lines in the
// observer's log. Not a test: prints figures, never fails on them; bounded in time and count.
//   RECORDS=20000 CONCURRENCY=8 WINDOW_S=30 node bench/pull-flood.ts
import { readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import type { ExecutionContext } from 'ava'
import { BulkPeerProcess, bulkRecords } from '../test/helpers/bulk-peer.ts'
import { startHealthProber } from '../test/helpers/health-prober.ts'
import { DaemonProcess } from '../test/helpers/daemon.ts'
import { metric, startRogue, untilMember } from '../test/helpers/rogue.ts'
import { waitFor } from '../test/helpers/wait.ts'

const RECORDS = Number(process.env.RECORDS ?? 20_000)
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 8)
const WINDOW_MS = Number(process.env.WINDOW_S ?? 30) * 1000
const PREFIX = process.env.BENCH_IP_PREFIX ?? '127.0.66'
const ip = (i: number): string => `${PREFIX}.${i}`

const teardowns: Array<() => Promise<void> | void> = []
const t = { teardown: (fn: () => Promise<void> | void) => { teardowns.push(fn) } } as unknown as ExecutionContext

function cpuSeconds (pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').slice(readFileSync(`/proc/${pid}/stat`, 'utf8').lastIndexOf(')') + 2).split(' ')
  return (Number(f[11]) + Number(f[12])) / 100 // utime + stime, in clock ticks of 1/100 s
}

const pct = (xs: number[], q: number): number => xs.length === 0 ? NaN : [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]

const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-bench-pullflood-'))
let origin: BulkPeerProcess | undefined
const daemons: DaemonProcess[] = []
try {
  console.log(`load average before: ${readFileSync('/proc/loadavg', 'utf8').trim()}; ${os.cpus().length} cores`)
  origin = await BulkPeerProcess.start({ ip: ip(10), hostname: 'origin', records: RECORDS }, 120_000)
  await writeFile(path.join(dir, 'static.json'), '[]')
  const env = { STATIC_CONFIG_FILE: path.join(dir, 'static.json'), SIDECAR_ALIVE_LIFESPAN: '10m', SIDECAR_MAX_RECORDS_PER_HOST: String(RECORDS + 1000), SIDECAR_MAX_RECORDS: String(RECORDS + 10_000) }
  const target = new DaemonProcess({ ip: ip(11), hostname: 'target', cwd: dir, args: ['-d', 'static', '--cluster-ip', ip(10)], env: { ...env, SIDECAR_LOGGING_LEVEL: 'info' } })
  daemons.push(target)
  await target.ready()
  const alive = async (d: DaemonProcess): Promise<number> => metric(await (await fetch(d.url('/metrics'), { signal: AbortSignal.timeout(10_000) })).text(), 'sidecar_services', 'status="alive"')
  await waitFor(async () => await alive(target) >= RECORDS, { timeoutMs: 120_000, message: 'target holds every record' })
  const observer = new DaemonProcess({ ip: ip(12), hostname: 'observer', cwd: dir, args: ['-d', 'static', '--cluster-ip', ip(11)], env: { ...env, SIDECAR_LOGGING_LEVEL: 'info' } })
  daemons.push(observer)
  await observer.ready()
  await waitFor(async () => await alive(observer) >= RECORDS, { timeoutMs: 120_000, message: 'observer holds every record' })
  const rogue = await startRogue(t, { ip: ip(13), hostname: 'rogue', clusterName: 'default' })
  const peer = await rogue.join(ip(11))
  await untilMember(target, 'rogue')
  const first = await rogue.pull(peer)
  console.log(`one full pull: ${first.bytes} bytes, ${first.pages} records pages${first.error !== undefined ? `, error ${first.error}` : ''}`)
  const pid = target.child.pid as number

  // one record of the origin's, with a newer Updated and no proof: its digest differs from the target's in every bucket
  const claim = bulkRecords('origin', 1, ip(10))
  const window = async (label: string, scope?: readonly string[] | 'none', loops = CONCURRENCY, versions = false): Promise<void> => {
    const m0 = await (await fetch(target.url('/metrics'))).text()
    const sent0 = metric(m0, 'sidecar_anti_entropy_exchange_bytes_sum', 'direction="in",way="sent"')
    const lines0 = observer.output.length
    const cpu0 = cpuSeconds(pid)
    const wait0 = metric(m0, 'sidecar_event_loop_cpu_wait_seconds_total')
    const own0 = process.cpuUsage()
    const t0 = Date.now()
    const end = t0 + WINDOW_MS
    let maxDelay = 0
    let pulls = 0
    let pullErrors = 0
    let pulled = 0
    const firstErrors: string[] = []
    const prober = startHealthProber(target.url('/health'))
    const scrape = (async () => {
      while (Date.now() < end) {
        try { maxDelay = Math.max(maxDelay, metric(await (await fetch(target.url('/metrics'), { signal: AbortSignal.timeout(10_000) })).text(), 'sidecar_event_loop_delay_max_seconds')) } catch { /* counted as no figure */ }
        await new Promise(resolve => setTimeout(resolve, 2000))
      }
    })()
    const flood = scope === 'none'
      ? []
      : Array.from({ length: loops }, async () => {
        while (Date.now() < end && pulls < 20_000) {
          pulls++
          const r = versions
            ? await rogue.exchange(peer, claim).then(o => ({ bytes: o.result?.bytesReceived ?? 0, error: o.error }))
            : await rogue.pull(peer, scope)
          pulled += r.bytes
          if (r.error !== undefined) { pullErrors++; if (firstErrors.length < 3) firstErrors.push(r.error) }
        }
      })
    await Promise.all([scrape, ...flood])
    const { times: lat, failures } = await prober.stop()
    const healthErrors = failures.length
    const s = (Date.now() - t0) / 1000
    const cpu = (cpuSeconds(pid) - cpu0) / s * 100
    const m1 = await (await fetch(target.url('/metrics'))).text()
    const wait = metric(m1, 'sidecar_event_loop_cpu_wait_seconds_total') - wait0
    const own = process.cpuUsage(own0)
    const sent = metric(m1, 'sidecar_anti_entropy_exchange_bytes_sum', 'direction="in",way="sent"') - sent0
    const suspicion = observer.output.slice(lines0).split('\n').filter(l => /answered no ping|departed|target.*(suspect|grace)/.test(l))
    console.log(`${label}: target CPU ${cpu.toFixed(0)} % of a core (its main thread waited ${(wait / s * 100).toFixed(0)} % of the time for a core; the rogue used ${((own.user + own.system) / 1e4 / s).toFixed(0)} %); /health ${lat.length} requests, p50 ${pct(lat, 0.5).toFixed(1)} ms, p99 ${pct(lat, 0.99).toFixed(1)} ms, max ${Math.max(...lat).toFixed(0)} ms, ${healthErrors} errors; longest event-loop delay ${(maxDelay * 1000).toFixed(0)} ms; served exchanges sent ${(sent / 1e6 / s * 60).toFixed(1)} MB/min (metrics), the rogue read ${(pulled / 1e6 / s * 60).toFixed(1)} MB/min in ${pulls} exchanges (${pullErrors} failed${firstErrors.length > 0 ? `: ${firstErrors.join('; ')}` : ''}); observer suspicion lines: ${suspicion.length}${suspicion.length > 0 ? `\n  ${suspicion.slice(0, 4).join('\n  ')}` : ''}; load ${readFileSync('/proc/loadavg', 'utf8').trim()}`)
  }
  const modes = (process.env.MODES ?? 'quiet,full,empty,quiet').split(',')
  for (const mode of modes) {
    if (mode === 'quiet') await window('quiet', 'none')
    if (mode === 'full') await window(`${CONCURRENCY} loops of full pulls`)
    if (mode === 'full1') await window('1 loop of full pulls', undefined, 1)
    if (mode === 'empty') await window(`${CONCURRENCY} loops of empty exchanges`, ['no-such-host'])
    if (mode === 'versions') await window(`${CONCURRENCY} loops of exchanges claiming one record of the origin`, undefined, CONCURRENCY, true)
  }
  console.log(`target: ${(await (await fetch(target.url('/metrics'))).text()).split('\n').filter(l => /^sidecar_anti_entropy_(exchanges|records_held_back|versions_refused)_total/.test(l)).join(', ')}`)
} finally {
  for (const fn of teardowns.reverse()) await fn()
  for (const d of daemons) await d.stop()
  await origin?.stop()
  await rm(dir, { recursive: true, force: true })
}
