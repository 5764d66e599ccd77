// SSE clients that connect and never read, on a real daemon (127.0.63.11, port 7777) with 600
// services of 150 ports each: a snapshot of about 6 MB, more than the kernel's buffers of a
// loopback connection take (about 4 MB), as a remote client's small window would. Anyone who
// reaches port 7777 may open up to [api] max_stream_clients (512) of them. Before (main at
// c5511c7) each client's snapshot was a string of its own, held with a copy of its unsent bytes
// until the socket took them: 3.1 GB of resident memory for 500 such clients at 8,000 services
// (measured), /health not answering within 3 s meanwhile; here, +653 MB for 60 clients. Now
// every client's snapshot is the same Buffers, written by reference: +0 MB.
import test from 'ava'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { startDaemon, type DaemonProcess } from '../helpers/daemon.ts'
import { rssKb } from '../helpers/proc.ts'
import { SseReader } from '../helpers/streams.ts'
import { sleep, waitFor } from '../helpers/wait.ts'

const IP = '127.0.63.11'
const SERVICES = 600
const PORTS = 150
const CLIENTS = 60

async function metric (d: DaemonProcess, line: RegExp): Promise<number> {
  const m = line.exec(await (await fetch(d.url('/metrics'), { signal: AbortSignal.timeout(10_000) })).text())
  return m === null ? Number.NaN : Number(m[1])
}

test('60 SSE clients that never read cost the daemon little memory, and a reading client still gets the whole snapshot', async t => {
  t.timeout(180_000)
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-stalled-sse-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const file = path.join(dir, 'static.json')
  const entries = Array.from({ length: SERVICES }, (_, i) => ({
    Service: { ID: `svc${i}`, Name: `service-with-a-rather-long-name-${i}`, Image: `registry.example.com/team/image-${i}:1.2.3`, Ports: Array.from({ length: PORTS }, (_, p) => ({ Type: 'tcp', Port: 10_000 + p, ServicePort: 0 })) },
    Check: { Type: 'AlwaysSuccessful' },
  }))
  await writeFile(file, JSON.stringify(entries))
  const d = await startDaemon({ ip: IP, hostname: 'stalled-sse', cwd: dir, args: ['-d', 'static'], env: { STATIC_CONFIG_FILE: file, SIDECAR_LOGGING_LEVEL: 'info', PROXY_ENABLED: 'false' } })
  t.teardown(() => { d.kill() })
  await waitFor(async () => (await d.json<{ Services: Record<string, unknown[]> }>('/services.json')).Services[`service-with-a-rather-long-name-${SERVICES - 1}`] !== undefined, { timeoutMs: 60_000, message: 'every service listed' })

  // A reading client first: its snapshot is built, then kept for the others (one catalog version).
  const reader = new SseReader(d.url('/api/events'))
  t.teardown(() => { reader.close() })
  const snapshot = await reader.waitFor(r => r.events.find(e => e.event === 'snapshot'), 'the reading client\'s snapshot', 30_000)
  const services = (snapshot.json as { Services: Record<string, unknown[]> }).Services
  t.is(Object.keys(services).length, SERVICES, 'the snapshot holds every service, whole')
  t.true(snapshot.data.length > 5_000_000, `the snapshot is large (${snapshot.data.length} bytes)`)
  await sleep(2000)
  const before = rssKb(d.child.pid)

  const stalled: net.Socket[] = []
  t.teardown(() => { for (const s of stalled) s.destroy() })
  for (let i = 0; i < CLIENTS; i++) {
    const s = net.connect({ host: IP, port: d.apiPort })
    s.on('error', () => {})
    s.pause() // reads nothing: what the daemon writes stays in its buffers and the kernel's
    s.write(`GET /api/events HTTP/1.1\r\nHost: ${IP}\r\nAccept: text/event-stream\r\n\r\n`)
    stalled.push(s)
  }
  await waitFor(async () => await metric(d, /^sidecar_stream_clients\{kind="sse"\} (\d+)$/m) === CLIENTS + 1, { timeoutMs: 60_000, message: `${CLIENTS} stalled clients connected` })
  let peak = before
  for (let i = 0; i < 50; i++) {
    peak = Math.max(peak, rssKb(d.child.pid))
    await sleep(100)
  }
  const grownMb = (peak - before) / 1024
  t.log(`daemon RSS ${(before / 1024).toFixed(0)} MB before, peak ${(peak / 1024).toFixed(0)} MB with ${CLIENTS} stalled clients (+${grownMb.toFixed(0)} MB)`)
  t.true(grownMb < 100, `${CLIENTS} stalled clients cost the daemon ${grownMb.toFixed(0)} MB, under 100 MB (before: more than the snapshot each)`)
  const health = await fetch(d.url('/health'), { signal: AbortSignal.timeout(3000) })
  t.is(health.status, 200, '/health answers')
})
