// 10,000 malformed and hostile requests (seeded, raw sockets) through a real daemon's proxy
// to a logging backend: the daemon never crashes, no request reaches the backend unframed
// (its own strict parser never complains and it never sees the embedded /smuggled request),
// and the daemon's RSS and fds come back after the run. Bounded in count and in time.
import test from 'ava'
import { readdirSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { startDaemon } from '../../helpers/daemon.ts'
import { rssKb } from '../../helpers/proc.ts'
import { waitFor } from '../../helpers/wait.ts'
import { fuzzCase, rng } from './fuzz-cases.ts'
import { loggingBackend, raw, statuses } from './raw.ts'

const IP = '127.0.13.50'
const BACKEND_IP = '127.0.13.51'
const SP = 18781
const CASES = Number(process.env.PROXY_FUZZ_CASES ?? 10_000)
const WARMUP = 3_000
const SEED = 0x5eed_0012
const PARALLEL = 50
/** The whole run stops by itself after this, whatever happens. */
const DEADLINE_MS = 150_000

const fds = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length

test('fuzz: 10,000 malformed proxy requests: no crash, nothing unframed reaches the backend, RSS and fds come back', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-proxy-fuzz-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const b = await loggingBackend(BACKEND_IP)
  t.teardown(async () => { await b.close() })
  const file = path.join(dir, 'static.json')
  await writeFile(file, JSON.stringify([{ Service: { Name: 'fuzz', Hostname: 'fuzz-host', Ports: [{ Type: 'tcp', Port: b.port, ServicePort: SP, IP: BACKEND_IP }], ProxyMode: 'http' }, Check: { Type: 'TcpConnect', Args: `${BACKEND_IP}:${b.port}` } }]))
  const d = await startDaemon({ ip: IP, hostname: 'fuzz-host', cwd: dir, args: ['-d', 'static'], env: { STATIC_CONFIG_FILE: file, PROXY_HEADER_TIMEOUT: '1s', SIDECAR_LOGGING_LEVEL: 'info' } })
  t.teardown(() => { d.kill() })
  const pid = d.child.pid as number
  await waitFor(async () => statuses(await raw(IP, SP, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).includes(200), { timeoutMs: 30_000, message: () => `proxy serving\n${d.output.slice(-3000)}` })

  const deadline = Date.now() + DEADLINE_MS
  const byStatus: Record<string, number> = {}
  const run = async (seed: number, n: number): Promise<number> => {
    const r = rng(seed)
    const all = Array.from({ length: n }, (_, i) => fuzzCase(r, i))
    let next = 0
    let done = 0
    const worker = async (): Promise<void> => {
      while (next < all.length && Date.now() < deadline) {
        const c = all[next++]
        const answer = await raw(IP, SP, c.bytes, { timeoutMs: 1500, end: c.end })
        const s = statuses(answer)[0]
        const key = s === undefined ? 'closed' : String(s)
        byStatus[key] = (byStatus[key] ?? 0) + 1
        done++
      }
    }
    await Promise.all(Array.from({ length: PARALLEL }, worker))
    return done
  }
  await run(SEED ^ 0xffff, WARMUP)
  if (!d.running) {
    await d.exited
    t.fail(`the daemon exited during the warm-up (${d.child.exitCode ?? d.child.signalCode}); its output:\n${d.output.slice(-6000)}`)
    return
  }
  await new Promise(resolve => setTimeout(resolve, 2000))
  const rss0 = rssKb(pid)
  const fds0 = fds(pid)
  for (const k of Object.keys(byStatus)) byStatus[k] = 0
  const seenBefore = b.seen.length
  const t0 = Date.now()
  const done = await run(SEED, CASES)
  const ms = Date.now() - t0
  t.is(done, CASES, `all ${CASES} sent within the deadline`)
  t.true(d.running, `the daemon is alive\n${d.output.slice(-3000)}`)
  t.notRegex(d.output, /uncaught|unhandled|FATAL/i)
  t.deepEqual(b.clientErrors, [], 'the backend never got bytes it could not frame')
  // an embedded request after a correctly framed body is plain pipelining: the proxy parses it
  // too and rewrites it. A smuggled one would reach the backend without the proxy's headers.
  t.deepEqual(b.seen.filter(s => s.headers['x-forwarded-for'] === undefined).map(s => `${s.method} ${s.url}`), [], 'every request the backend saw went through the proxy\'s parser and rewriting')
  const pipelined = b.seen.filter(s => s.url === '/smuggled').length
  // connections of the run close (the slowest: cut heads after header_timeout)
  await waitFor(() => fds(pid) <= fds0 + 5, { timeoutMs: 10_000, message: () => `daemon fds back to ${fds0} (now ${fds(pid)})` })
  await new Promise(resolve => setTimeout(resolve, 2000))
  const rss1 = rssKb(pid)
  t.log(`${done} cases in ${(ms / 1000).toFixed(1)} s; answers ${JSON.stringify(byStatus)}; backend saw ${b.seen.length - seenBefore} requests (${pipelined} embedded ones after a framed body, parsed and rewritten by the proxy); daemon RSS ${(rss0 / 1024).toFixed(1)} -> ${(rss1 / 1024).toFixed(1)} MiB; load ${os.loadavg()[0].toFixed(1)}`)
  t.true(rss1 <= rss0 * 1.1, `RSS back within 10 %: ${rss0} kB -> ${rss1} kB`)
  t.deepEqual(statuses(await raw(IP, SP, 'GET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')), [200], 'still serving')
  const metrics = await (await fetch(d.url('/metrics'))).text()
  t.regex(metrics, /sidecar_proxy_rejections_total\{service="fuzz",port="18781",reason="bad request"\} \d{3,}/)
})
