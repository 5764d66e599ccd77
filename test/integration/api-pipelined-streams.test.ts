// Streams asked for again and again on one connection (HTTP/1.1 pipelining), on a real daemon
// (127.0.69.10, port 7777, [api] max_stream_clients 16). A stream never ends, so what is
// pipelined behind it on the same connection can never be answered; before, each of those
// requests still took a stream place: one connection that pipelined 40 requests for
// /api/events held all 16 places (every other client got 503) while it was open, and for
// 20-30 s after it closed, with a MaxListenersExceededWarning in the daemon's output.
import anyTest, { type TestFn } from 'ava'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { startDaemon, type DaemonProcess } from '../helpers/daemon.ts'
import { waitFor } from '../helpers/wait.ts'

const IP = '127.0.69.10'
const CAP = 16

const test = anyTest as TestFn<{ d: DaemonProcess }>
const cleanup: Array<() => Promise<void> | void> = []

test.before(async t => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-pipelined-'))
  cleanup.push(async () => { await rm(dir, { recursive: true, force: true }) })
  const file = path.join(dir, 'static.json')
  await writeFile(file, JSON.stringify([{ Service: { Name: 'web', Image: 'web:1', Ports: [{ Type: 'tcp', Port: 9001, ServicePort: 0 }] }, Check: { Type: 'AlwaysSuccessful' } }]))
  const d = await startDaemon({ ip: IP, hostname: 'pipelined', cwd: dir, args: ['-d', 'static'], env: { STATIC_CONFIG_FILE: file, PROXY_ENABLED: 'false', API_MAX_STREAM_CLIENTS: String(CAP), SIDECAR_LOGGING_LEVEL: 'info' } })
  t.context.d = d
  cleanup.unshift(() => { d.kill() })
})

test.after.always(async () => { for (const f of cleanup) await f() })

/** A raw connection that sent `text` at once; `received` grows as the daemon answers. */
async function pipelined (text: string): Promise<{ received: () => string, close: () => void }> {
  const s = net.connect(7777, IP)
  let received = ''
  s.on('data', c => { received += c.toString() })
  s.on('error', () => {})
  await new Promise<void>(resolve => s.once('connect', resolve))
  s.write(text)
  return { received: () => received, close: () => { s.destroy() } }
}

async function gauge (d: DaemonProcess, kind: string): Promise<number> {
  const m = new RegExp(`^sidecar_stream_clients\\{kind="${kind}"\\} (\\d+)$`, 'm').exec(await (await fetch(d.url('/metrics'))).text())
  return Number(m?.[1])
}

/** Whether a new client gets a stream now (its status), the stream closed again at once. */
async function newStream (d: DaemonProcess, p: string): Promise<number> {
  const ac = new AbortController()
  const res = await fetch(d.url(p), { signal: ac.signal })
  ac.abort()
  return res.status
}

const get = (p: string): string => `GET ${p} HTTP/1.1\r\nHost: ${IP}\r\n\r\n`

test.serial('a connection that pipelines 40 stream requests takes one stream place, not all of them; the places are free again when it closes', async t => {
  const { d } = t.context
  for (const [p, kind, first] of [['/api/events', 'sse', 'event: snapshot'], ['/watch', 'watch', '"web":[']] as const) {
    const conn = await pipelined(get(p).repeat(40))
    t.teardown(conn.close)
    await waitFor(() => conn.received().includes(first) || undefined, { timeoutMs: 10_000, message: `the connection's first ${p} answer` })
    t.is(await gauge(d, kind), 1, `${p}: the connection holds one place`)
    t.is(await newStream(d, p), 200, `${p}: another client still gets a stream`)
    t.is(conn.received().match(/HTTP\/1\.1 /g)?.length, 1, `${p}: the connection got its one stream; nothing follows it`)
    conn.close()
    await waitFor(async () => await gauge(d, kind) === 0 || undefined, { timeoutMs: 5000, message: `${p}: no place held once the connection closed` })
  }
  t.notRegex(d.output, /MaxListenersExceededWarning/)
})

test.serial('a stream pipelined behind other answers is served after them, as before', async t => {
  const { d } = t.context
  const conn = await pipelined(get('/health') + `HEAD /api/events HTTP/1.1\r\nHost: ${IP}\r\n\r\n` + get('/api/events'))
  t.teardown(conn.close)
  await waitFor(() => conn.received().includes('event: snapshot') || undefined, { timeoutMs: 10_000, message: 'the stream after /health and a HEAD' })
  t.deepEqual(conn.received().match(/HTTP\/1\.1 \d+/g), ['HTTP/1.1 200', 'HTTP/1.1 200', 'HTTP/1.1 200'])
  t.is(await gauge(d, 'sse'), 1)
})
