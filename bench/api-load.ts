// The API under readers in a loop: one real daemon (127.0.12.47) with N static services, 90 %
// of them instances of one service ("big", on one ServicePort, so the proxy carries them), the
// rest over 100 names, each on a ServicePort of its own (until 2026-12-05 they shared big's, a
// port conflict, which made the proxy plan big's port whole at each change). For each route, eight clients read it in a loop for 5 s while /health
// is asked every 100 ms (from a worker thread); prints the answers served, /health's median and longest time, and the
// daemon's longest event-loop stall meanwhile (at 1 ms resolution, test/helpers/stall-meter.ts, and its own 10 ms gauge). Bounded: 5 s per route, every request with a
// time limit. Stream routes (/watch, /api/watch?by_service=false): eight watchers while one
// client drains instances one after another, each drain a change and so a document to every
// watcher. Prints figures, asserts nothing.
//   node bench/api-load.ts [services] [routes, comma-separated]      (default: 10000, the routes below)
//   BENCH_ACCEPT_ENCODING=identity node bench/api-load.ts           (uncompressed answers, as before the API compressed)
import { readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { startDaemon } from '../test/helpers/daemon.ts'
import { startHealthProber } from '../test/helpers/health-prober.ts'
import { describeStall, StallMeter } from '../test/helpers/stall-meter.ts'
import { waitFor } from '../test/helpers/wait.ts'

const n = Math.min(10_000, Math.max(100, Number(process.argv[2] ?? 10_000)))
const routes = (process.argv[3] ?? '/servers,/api/services/big.json,/api/proxy.json,/services.json,/api/state.json,/api/services/big/explain.json').split(',')
const READERS = 8
/**
 * The readers' Accept-Encoding: fetch's own (`gzip, deflate, br`: the documents come gzipped,
 * and the readers, in this process, spend CPU inflating them) unless BENCH_ACCEPT_ENCODING
 * sets one (`identity`: the figures of before the API compressed).
 */
const READ_HEADERS: Record<string, string> = process.env.BENCH_ACCEPT_ENCODING === undefined ? {} : { 'Accept-Encoding': process.env.BENCH_ACCEPT_ENCODING }
const READ_MS = 5000
const load = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')

const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-bench-api-'))
const file = path.join(dir, 'static.json')
await writeFile(file, JSON.stringify(Array.from({ length: n }, (_, i) => ({
  Service: { ID: `s${i}`, Name: i < n * 0.9 ? 'big' : `svc${i % 100}`, Image: 'img:1', Ports: [{ Type: 'tcp', Port: 20000 + (i % 20000), ServicePort: i < n * 0.9 ? 18080 : 18081 + (i % 100) }] },
  Check: { Type: 'AlwaysSuccessful' },
}))))
console.log(`node ${process.version}, ${os.cpus().length} cores, load average ${load()} (before); ${n} services, ${READERS} readers per route for ${READ_MS} ms, Accept-Encoding: ${READ_HEADERS['Accept-Encoding'] ?? 'fetch\'s own (gzip, deflate, br)'}`)
// The longest stall at 1 ms resolution as well as the daemon's gauge (10 ms sampling: the stall plus up to 10 ms).
const meter = new StallMeter('bench-api')
const d = await startDaemon({ ip: '127.0.12.47', hostname: 'bench-api', cwd: dir, args: ['-d', 'static'], env: { STATIC_CONFIG_FILE: file, HEALTH_INTERVAL: '3s', SIDECAR_LOGGING_LEVEL: 'warn', ...meter.env(process.env.BENCH_NODE_OPTIONS) } })
const lagMs = async (): Promise<number> => 1000 * Number(/^sidecar_nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(await (await fetch(d.url('/metrics'), { signal: AbortSignal.timeout(30_000) })).text())?.[1] ?? NaN)
try {
  await waitFor(async () => /^sidecar_local_services\{status="alive"\} (\d+)$/m.exec(await (await fetch(d.url('/metrics'))).text())?.[1] === String(n) || undefined, { timeoutMs: 90_000, message: `${n} services ALIVE` })
  let drained = 0
  meter.start(d.child.pid as number)
  console.log('route | answers | /health answers | /health median / max (ms) | longest event-loop stall, 1 ms sampling, and where the longest gap went | the daemon\'s gauge, 10 ms sampling (ms)')
  for (const route of routes) {
    await lagMs() // starts the delay's window (each scrape reports the time since the last)
    await meter.read() // and the meter's
    let stop = false
    let answers = 0
    const streamed = route.includes('watch')
    const watching = new AbortController()
    let streamedBytes = 0
    const readers = streamed
      // A stream route (/watch): eight watchers read the documents it sends after each change,
      // while one client drains instances one after another (each drain a change); "answers"
      // counts the drains.
      ? [...Array.from({ length: READERS }, async () => {
          try {
            const res = await fetch(d.url(route), { signal: watching.signal })
            for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) streamedBytes += chunk.length
          } catch {
            // aborted at the end of the phase
          }
        }),
        (async () => {
          while (!stop && drained < n * 0.9) {
            const res = await fetch(d.url(`/api/services/s${drained++}/drain`), { method: 'POST', signal: AbortSignal.timeout(30_000) })
            await res.arrayBuffer()
            answers++
          }
        })()]
      : Array.from({ length: READERS }, async () => {
        while (!stop) {
          await (await fetch(d.url(route), { headers: READ_HEADERS, signal: AbortSignal.timeout(30_000) })).arrayBuffer()
          answers++
        }
      })
    // From a worker thread: the readers' answers (megabytes each) are received in this
    // process, whose own delays a prober here would count against the daemon.
    const prober = startHealthProber(d.url('/health'), { intervalMs: 100, timeoutMs: 30_000 })
    await new Promise(resolve => setTimeout(resolve, READ_MS))
    stop = true
    const { times: health, failures } = await prober.stop()
    watching.abort()
    await Promise.all(readers)
    if (failures.length > 0) console.log(`${route}: /health failed: ${failures.join('; ')}`)
    health.sort((a, b) => a - b)
    console.log(`${route}${streamed ? ` (${answers} drains, ${(streamedBytes / 1e6).toFixed(0)} MB streamed)` : ''} | ${answers} | ${health.length} | ${health[Math.floor(health.length / 2)].toFixed(0)} / ${(health.at(-1) ?? NaN).toFixed(0)} | ${describeStall(await meter.read())} | ${(await lagMs()).toFixed(0)}`)
  }
} finally {
  d.kill()
  await rm(dir, { recursive: true, force: true })
  await meter.close()
  console.log(`load average ${load()} (after)`)
}
