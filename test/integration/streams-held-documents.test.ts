// Stream clients that stop reading, each connected after a change of the catalog, on a real
// daemon (127.0.69.11, port 7777) with 600 services of 150 ports each: a snapshot of about
// 5.7 MB, more than the kernel's buffers of a loopback connection take. Clients of one catalog
// version share one document (streams-stalled-clients.test.ts); a client of another version
// held its own. A client without the token drains and undrains an instance to change the
// version, then connects and reads nothing, again and again: before, 24 such clients held
// every one of their versions (+119 MB of Buffers on /api/events, +134 MB on /watch; 512
// clients would hold 2.5-3 GB); now the documents held stay within 32 MiB together (5 of these)
// and the clients holding older ones are dropped. The same daemon serves answers too large for the
// kernel's buffers, behind which HEAD requests for a stream are pipelined (the last test).
import anyTest, { type TestFn } from 'ava'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { startDaemon, type DaemonProcess } from '../helpers/daemon.ts'
import { SseReader } from '../helpers/streams.ts'
import { sleep, waitFor } from '../helpers/wait.ts'

const IP = '127.0.69.11'
const SERVICES = 600
const PORTS = 150
const CLIENTS = 24

const test = anyTest as TestFn<{ d: DaemonProcess }>
const cleanup: Array<() => Promise<void> | void> = []

test.before(async t => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-held-documents-'))
  cleanup.push(async () => { await rm(dir, { recursive: true, force: true }) })
  const file = path.join(dir, 'static.json')
  await writeFile(file, JSON.stringify(Array.from({ length: SERVICES }, (_, i) => ({
    Service: { ID: `svc${i}`, Name: `service-with-a-rather-long-name-${i}`, Image: `registry.example.com/team/image-${i}:1.2.3`, Ports: Array.from({ length: PORTS }, (_, p) => ({ Type: 'tcp', Port: 10_000 + p, ServicePort: 0 })) },
    Check: { Type: 'AlwaysSuccessful' },
  }))))
  const d = await startDaemon({ ip: IP, hostname: 'held-documents', cwd: dir, args: ['-d', 'static'], inspector: true, env: { STATIC_CONFIG_FILE: file, SIDECAR_LOGGING_LEVEL: 'info', PROXY_ENABLED: 'false', HEALTH_INTERVAL: '30s' } })
  cleanup.unshift(() => { d.kill() })
  await waitFor(async () => (await d.json<{ Services: Record<string, unknown[]> }>('/services.json')).Services[`service-with-a-rather-long-name-${SERVICES - 1}`] !== undefined, { timeoutMs: 60_000, message: 'every service listed' })
  t.context = { d }
})

test.after.always(async () => { for (const f of cleanup) await f() })

async function metric (d: DaemonProcess, line: RegExp): Promise<number> {
  const m = line.exec(await (await fetch(d.url('/metrics'), { signal: AbortSignal.timeout(10_000) })).text())
  return m === null ? Number.NaN : Number(m[1])
}

/** MB of Buffers the daemon holds after a full collection (what lives, not what awaits the collector). */
async function externalMb (d: DaemonProcess): Promise<number> {
  await d.collectGarbage()
  return await metric(d, /^sidecar_nodejs_external_memory_bytes (\S+)$/m) / 2 ** 20
}

/** A new catalog version: drain or undrain svc0 (no token: a client that is no browser may). */
async function change (d: DaemonProcess, drain: boolean): Promise<void> {
  const res = await fetch(d.url(`/api/services/svc0/${drain ? 'drain' : 'undrain'}`), { method: 'POST' })
  if (res.status !== 202) throw new Error(`${drain ? 'drain' : 'undrain'} answered ${res.status}`)
}

for (const [p, kind, accept] of [['/api/events', 'sse', 'text/event-stream'], ['/watch', 'watch', 'application/json']] as const) {
  test.serial(`${p}: clients that stop reading, each after a change, hold 32 MiB of documents at most; a reading client keeps its stream`, async t => {
    t.timeout(240_000)
    const { d } = t.context
    const reader = kind === 'sse' ? new SseReader(d.url('/api/events')) : undefined
    t.teardown(() => { reader?.close() })
    if (reader !== undefined) await reader.waitFor(r => r.events.find(e => e.event === 'snapshot'), 'the reading client\'s snapshot', 30_000)
    const droppedBefore = await metric(d, /^sidecar_stream_clients_dropped_total (\d+)$/m)
    const before = await externalMb(d)

    const stalled: net.Socket[] = []
    t.teardown(() => { for (const s of stalled) s.destroy() })
    for (let i = 0; i < CLIENTS; i++) {
      await change(d, i % 2 === 0)
      const s = net.connect({ host: IP, port: d.apiPort })
      s.on('error', () => {})
      s.pause() // reads nothing: what the daemon writes stays in its buffers and the kernel's
      s.write(`GET ${p} HTTP/1.1\r\nHost: ${IP}\r\nAccept: ${accept}\r\n\r\n`)
      stalled.push(s)
      // its document is built and written before the next change
      await waitFor(async () => await metric(d, new RegExp(`^sidecar_stream_clients\\{kind="${kind}"\\} (\\d+)$`, 'm')) >= Math.min(i + 1, 4) + (reader === undefined ? 0 : 1) || undefined, { timeoutMs: 30_000, message: `stalled client ${i + 1} connected` })
      await sleep(500)
    }
    const grown = await externalMb(d) - before
    const dropped = await metric(d, /^sidecar_stream_clients_dropped_total (\d+)$/m) - droppedBefore
    t.log(`${p}: Buffers ${before.toFixed(0)} MB before, +${grown.toFixed(0)} MB with ${CLIENTS} stalled clients of ${CLIENTS} versions; ${dropped} dropped`)
    t.true(grown < 48, `${CLIENTS} stalled clients of distinct versions hold ${grown.toFixed(0)} MB of Buffers, under 48 MB (32 MiB of documents, 5 of about 5.7 MB, and what the sockets hold beside)`)
    t.true(dropped >= CLIENTS - 6, `the clients holding older documents are dropped (${dropped})`)
    if (reader !== undefined) {
      // the reader took every document as it came: it is still live and sees the next change
      const seen = reader.events.length
      await change(d, true)
      await change(d, false)
      await reader.waitFor(r => r.events.slice(seen).filter(e => e.event === 'service-changed').length >= 2 || undefined, 'the reading client\'s next changes', 10_000)
      t.false(reader.events.some(e => e.event === 'dropped'), 'the reading client is not dropped')
    }
    t.is((await fetch(d.url('/health'), { signal: AbortSignal.timeout(3000) })).status, 200)
  })
}

test.serial('HEAD requests for a stream, pipelined behind answers the client does not read, take no stream place', async t => {
  // Before, each such HEAD held a place until its answer was sent: 600 on one connection, behind
  // three /state.json of about 6 MB that it never read, took all 512, and every client got 503.
  const { d } = t.context
  const s = net.connect({ host: IP, port: d.apiPort })
  t.teardown(() => { s.destroy() })
  s.on('error', () => {})
  s.pause()
  s.write(`GET /state.json HTTP/1.1\r\nHost: ${IP}\r\n\r\n`.repeat(3) + `HEAD /api/events HTTP/1.1\r\nHost: ${IP}\r\n\r\n`.repeat(600))
  await sleep(2000)
  const reader = new SseReader(d.url('/api/events'))
  t.teardown(() => { reader.close() })
  await reader.waitFor(r => r.status !== 0 || undefined, 'an answer to a new stream client', 10_000)
  t.is(reader.status, 200, 'a new client still gets a stream')
})
