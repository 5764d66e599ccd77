// /metrics passes Prometheus's own linter: a real daemon on 127.0.20.30 with a static service
// health checked every 200 ms (so the health histograms and counters have samples), its
// /metrics fed to `promtool check metrics` (Debian's prometheus package; .ci/run installs it).
import http from 'node:http'
import type net from 'node:net'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import test from 'ava'
import { startDaemon } from '../helpers/daemon.ts'
import { HAVE_PROMTOOL, promtool } from '../helpers/promtool.ts'
import { waitFor } from '../helpers/wait.ts'

const IP = '127.0.20.30'
if (!HAVE_PROMTOOL) console.log('promtool test skipped: promtool is missing (Debian: apt-get install prometheus; .ci/run does)')
const ptest = HAVE_PROMTOOL ? test : test.skip


ptest('metrics: promtool check metrics finds no problem in a running daemon\'s /metrics', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-promtool-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const backend = http.createServer((_req, res) => { res.end('ok') })
  await new Promise<void>(resolve => backend.listen(0, IP, resolve))
  t.teardown(() => { backend.close() })
  const port = (backend.address() as net.AddressInfo).port
  await writeFile(path.join(dir, 'static.json'), JSON.stringify([{
    Service: { Name: 'web', Image: 'web:1', Ports: [{ Type: 'tcp', Port: port, ServicePort: 0, IP }] },
    Check: { Type: 'HttpGet', Args: `http://${IP}:${port}/` },
  }]))
  const d = await startDaemon({ ip: IP, hostname: 'promtool-a', cwd: dir, args: ['-d', 'static'], env: { HEALTH_INTERVAL: '200ms', SIDECAR_QUIC: 'false' } })
  t.teardown(() => { d.kill() })

  const text = await waitFor(async () => {
    const res = await fetch(d.url('/metrics'), { signal: AbortSignal.timeout(5000) })
    const body = await res.text()
    return /^sidecar_health_checks_total\{[^}]*\} [1-9]/m.test(body) && body
  }, { timeoutMs: 15_000, message: () => `health checks counted in /metrics\n${d.output.slice(-3000)}` })
  t.true(text.includes('# TYPE sidecar_process_cpu_seconds_total counter'), 'the default process metrics are there')
  t.true(text.includes('# TYPE sidecar_nodejs_active_handles gauge'), 'the per-type gauges stay')
  t.false(/_total (gauge|untyped)$/m.test(text), 'no gauge is named *_total')
  t.false(text.includes('nodejs_gc_duration_seconds'), 'no gc histogram unless [api] gc_metrics')

  const r = await promtool(text)
  t.is(r.output.trim(), '', r.output)
  t.is(r.code, 0)
})

ptest('metrics: with [api] gc_metrics the gc histogram is in /metrics, with samples, and promtool still finds no problem', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-promtool-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  await writeFile(path.join(dir, 'static.json'), '[]')
  const d = await startDaemon({ ip: '127.0.20.31', hostname: 'promtool-b', cwd: dir, args: ['-d', 'static'], env: { API_GC_METRICS: 'true', SIDECAR_QUIC: 'false' } })
  t.teardown(() => { d.kill() })
  const text = await waitFor(async () => {
    const body = await (await fetch(d.url('/metrics'), { signal: AbortSignal.timeout(5000) })).text()
    return /^sidecar_nodejs_gc_duration_seconds_count\{kind="minor"\} [1-9]/m.test(body) && body
  }, { timeoutMs: 30_000, message: () => `scavenges counted in sidecar_nodejs_gc_duration_seconds\n${d.output.slice(-3000)}` })
  const r = await promtool(text)
  t.is(r.output.trim(), '', r.output)
  t.is(r.code, 0)
})

ptest('metrics: promtool reports a gauge named *_total (the check can fail)', async (t) => {
  const r = await promtool('# HELP x_total a gauge\n# TYPE x_total gauge\nx_total 1\n')
  t.not(r.code, 0)
  t.regex(r.output, /x_total non-counter metrics should not have "_total" suffix/)
})
