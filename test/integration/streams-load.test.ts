// Streams under load, on real daemon processes: 200 SSE clients that all get every change,
// and a client that stops reading, which must be dropped before it costs the daemon more
// than a bounded amount of memory. Changes come from drain/undrain requests (each is one
// change event). Bounded loops only. Daemons on 127.0.4.6 and 127.0.4.7.
import test, { type ExecutionContext } from 'ava'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { startDaemon, type DaemonProcess } from '../helpers/daemon.ts'
import { rssKb } from '../helpers/proc.ts'
import { SseReader } from '../helpers/streams.ts'
import { waitFor } from '../helpers/wait.ts'

interface Instance { ID: string, Status: number }

async function daemonWith (t: ExecutionContext, ip: string, service: Record<string, unknown>, env: Record<string, string> = {}): Promise<{ d: DaemonProcess, id: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-load-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const file = path.join(dir, 'static.json')
  await writeFile(file, JSON.stringify([{ Service: service, Check: { Type: 'AlwaysSuccessful' } }]))
  const d = await startDaemon({ ip, hostname: `load-${ip.split('.')[3]}`, cwd: dir, args: ['-d', 'static'], env: { STATIC_CONFIG_FILE: file, SIDECAR_LOGGING_LEVEL: 'info', ...env } })
  t.teardown(() => { d.kill() })
  const name = service.Name as string
  const svc = await waitFor(async () => {
    const s = (await d.json<{ Services: Record<string, Instance[]> }>('/api/services.json')).Services[name]?.[0]
    return s?.Status === 0 && s
  }, { timeoutMs: 10_000, message: () => `${name} ALIVE\n${d.output.slice(-2000)}` })
  return { d, id: svc.ID }
}

/** One drain then one undrain: exactly two change events. */
async function toggle (d: DaemonProcess, id: string): Promise<void> {
  for (const action of ['drain', 'undrain']) {
    const res = await fetch(d.url(`/api/services/${id}/${action}`), { method: 'POST', signal: AbortSignal.timeout(10_000) })
    if (res.status !== 202) throw new Error(`${action}: HTTP ${res.status}`)
    await res.arrayBuffer()
  }
}

async function metric (d: DaemonProcess, line: RegExp): Promise<number> {
  const text = await (await fetch(d.url('/metrics'))).text()
  const m = line.exec(text)
  return m === null ? Number.NaN : Number(m[1])
}

/** The daemon process's resident memory in bytes, from the kernel (not from the daemon's own report); NaN once it has exited. */
function rssBytes (d: DaemonProcess): number {
  return rssKb(d.child.pid) * 1024
}

test('200 concurrent SSE clients each receive every change, in order', async t => {
  const { d, id } = await daemonWith(t, '127.0.4.6', { Name: 'web', Ports: [{ Port: 9000, ServicePort: 8000 }] })
  const clients = Array.from({ length: 200 }, () => new SseReader(d.url('/api/events')))
  t.teardown(() => { for (const c of clients) c.close() })
  await waitFor(() => clients.every(c => c.events[0]?.event === 'snapshot'), { timeoutMs: 30_000, message: () => `200 snapshots (${clients.filter(c => c.events.length > 0).length} so far)` })
  t.is(await metric(d, /^sidecar_stream_clients\{kind="sse"\} (\d+)$/m), 200)

  const TOGGLES = 25
  for (let i = 0; i < TOGGLES; i++) await toggle(d, id)
  const sent = Date.now()
  await waitFor(() => clients.every(c => c.of('service-changed').length >= 2 * TOGGLES), { timeoutMs: 30_000, message: () => `every client got ${2 * TOGGLES} events (slowest: ${Math.min(...clients.map(c => c.of('service-changed').length))})` })
  t.log(`200 clients had all ${2 * TOGGLES} events ${Date.now() - sent} ms after the last change was made`)

  const reference = clients[0].of('service-changed')
  const first = Number(clients[0].events[0].id)
  t.deepEqual(reference.map(e => Number(e.id)), reference.map((_, i) => first + 1 + i), 'ids follow the snapshot\'s, one by one')
  t.deepEqual(reference.map(e => (e.json as { Service: Instance }).Service.Status), reference.map((_, i) => i % 2 === 0 ? 4 : 0), 'drain, undrain, drain, ...')
  for (const c of clients) t.deepEqual(c.of('service-changed').map(e => e.data), reference.map(e => e.data))
  t.is(clients.filter(c => c.of('dropped').length > 0).length, 0, 'nobody dropped')

  for (const c of clients) c.close()
  await waitFor(async () => await metric(d, /^sidecar_stream_clients\{kind="sse"\} (\d+)$/m) === 0, { timeoutMs: 10_000, message: 'the daemon let go of every closed client' })
})

test('a client that stops reading is dropped with a final event, and the daemon\'s memory stays bounded', async t => {
  t.timeout(300_000) // 6,300 or more bounded toggles: 1m15-2m10 in CI runs, beside the other files
  // A record of about 13 KB (200 ports), so that a few thousand events are tens of MB. A
  // small resume ring, so that the ring does not dominate the daemon's memory.
  const ports = Array.from({ length: 200 }, (_, i) => ({ Port: 20_000 + i, ServicePort: 10_000 + i, IP: '127.0.4.7' }))
  const QUEUE = 262_144
  const TOGGLES = 2800 // with the stalled client; each is two events
  const { d, id } = await daemonWith(t, '127.0.4.7', { Name: 'fat', Image: 'fat:1', Ports: ports }, { API_STREAM_QUEUE_BYTES: String(QUEUE), API_EVENT_BUFFER: '50' })
  const reader = new SseReader(d.url('/api/events'))
  t.teardown(() => { reader.close() })
  await reader.waitFor(r => r.events[0]?.event === 'snapshot', 'the reading client\'s snapshot')

  let peak = 0
  const sampler = setInterval(() => { peak = Math.max(peak, rssBytes(d)) }, 25)
  t.teardown(() => { clearInterval(sampler) })
  const phase = async (toggles: number): Promise<number> => {
    peak = rssBytes(d)
    for (let i = 0; i < toggles; i++) await toggle(d, id)
    return Math.max(peak, rssBytes(d))
  }

  // Phase 1, the control: the same load with only the reading client, in rounds until the
  // daemon's RSS has stopped growing, so that what phase 2 adds is the stalled client's
  // doing. V8 grows its heap in steps under a new load and keeps the pages; here the last
  // step came between 2000 and 3000 toggles, so at least 3500, then two quiet rounds.
  let steady = rssBytes(d)
  const rounds: number[] = []
  for (let round = 0; round < 14; round++) {
    const before = steady
    steady = Math.max(steady, await phase(500))
    rounds.push(steady - before)
    if (rounds.length >= 7 && rounds.slice(-2).every(g => g < 2 * 2 ** 20)) break
  }
  t.log(`control: ${rounds.length} rounds of 500 toggles, RSS growth per round (MiB): ${rounds.map(g => (g / 2 ** 20).toFixed(1)).join(' ')}`)

  // Phase 2: a client that sends its request and never reads a byte.
  const slow = net.connect({ host: '127.0.4.7', port: d.apiPort })
  t.teardown(() => { slow.destroy() })
  await new Promise<void>(resolve => slow.once('connect', resolve))
  slow.pause()
  slow.write('GET /api/events HTTP/1.1\r\nHost: 127.0.4.7\r\nAccept: text/event-stream\r\n\r\n')
  await waitFor(async () => await metric(d, /^sidecar_stream_clients\{kind="sse"\} (\d+)$/m) === 2, { message: 'the stalled client is connected' })
  // Once dropped, it reads again (it gets the daemon's grace time to read the final event).
  let text = ''
  slow.setEncoding('utf8')
  slow.on('data', (chunk: string) => { text += chunk })
  const droppedSeen = waitFor(async () => await metric(d, /^sidecar_stream_clients_dropped_total (\d+)$/m) === 1, { timeoutMs: 90_000, intervalMs: 200, message: 'the stalled client is dropped' })
    .then(() => { slow.resume() })
  const withSlow = await phase(TOGGLES)
  await droppedSeen
  clearInterval(sampler)
  const eventBytes = reader.of('service-changed').at(-1)?.data.length ?? 0
  const pushed = 2 * TOGGLES * eventBytes
  const mib = (n: number): string => (n / 2 ** 20).toFixed(1)
  t.log(`events of ${eventBytes} B, ${mib(pushed)} MiB pushed at the stalled client; daemon RSS peak ${mib(steady)} MiB under the load alone, ${mib(withSlow)} MiB with the stalled client (+${mib(withSlow - steady)} MiB)`)

  t.is(await metric(d, /^sidecar_stream_clients_dropped_total (\d+)$/m), 1, 'one client dropped')
  t.is(await metric(d, /^sidecar_stream_clients\{kind="sse"\} (\d+)$/m), 1, 'the reading client is still there')
  t.is(await metric(d, /^sidecar_stream_queued_bytes (\d+)$/m), 0, 'nothing waits for the dropped client')
  // The bound: the queue limit plus what the socket took, with room for measurement noise;
  // far below what an unbounded queue would have held (everything pushed, minus the kernel's share).
  const BOUND = 32 * 2 ** 20
  t.true(pushed > 2 * BOUND, 'the load is large enough that an unbounded queue would break the bound')
  t.true(withSlow - steady < BOUND, `the stalled client cost ${mib(withSlow - steady)} MiB of RSS, bound ${mib(BOUND)} MiB`)

  // What the socket held, then the final event saying why, then the end.
  await waitFor(() => slow.readableEnded || slow.destroyed, { timeoutMs: 15_000, message: () => `the stalled client's stream ends (read ${text.length} chars)` })
  // (HTTP/1.1 chunked: the final event is the last chunk before the terminating 0-chunk.)
  const final = /\r\n[0-9a-f]+\r\nevent: dropped\ndata: (\{.*\})\n\n\r\n0\r\n\r\n$/.exec(text)
  t.truthy(final, `the stream ends with a dropped event: ${JSON.stringify(text.slice(-300))}`)
  t.regex((JSON.parse(final?.[1] ?? '{}') as { reason?: string }).reason ?? '', /^too slow: \d+ bytes of events were waiting for this client, more than the 262144 allowed/)

  // The reading client was never held back: it has every event, in order.
  await reader.waitFor(r => r.of('service-changed').length >= 2 * TOGGLES + 1000 * rounds.length, 'every event at the reading client', 60_000)
  const ids = reader.of('service-changed').map(e => Number(e.id))
  t.true(ids.every((v, i) => i === 0 || v === ids[i - 1] + 1), 'consecutive ids')
})
