// A backend that aborts its connection (a reset: a crashing process) in the middle of what it
// sends, through a real daemon's proxy: the client gets every byte the backend sent, then a reset
// of its own connection, never a clean end (a FIN), which read as complete: a download cut
// short in tcp mode, a WebSocket tunnel, and an HTTP answer delimited by the connection's close.
// Before, the proxy closed the client's side with a FIN, and dropped what was still queued for
// the client (a slow reader of 16 MiB got a few MiB less, and a clean end).
//
// Each backend resets only once its kernel has had every byte it wrote acknowledged (a reset
// throws away what is not: such bytes were never sent).
import test from 'ava'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { tableKey } from '../../../src/proxy/reset-after-flush.ts'
import { startDaemon, type DaemonProcess } from '../../helpers/daemon.ts'
import { waitFor } from '../../helpers/wait.ts'

const IP = '127.0.53.1'
const BACKEND_IP = '127.0.53.10'
const IDLE_MS = 4000
const SMALL = 300 * 1024
const MEDIUM = 1024 * 1024
const LARGE = 16 * 1024 * 1024

type Script = 'tcp' | 'ws' | 'http-close' | 'http-length' | 'http-chunked'
/**
 * resetAfterMs: resets that long after the connection came, whatever was acknowledged (a crash).
 * race: resets a random time up to it after it began to send (a tcp backend once the client's
 * first byte came through the proxy), whatever was acknowledged.
 */
interface Case { sp: number, mode: 'tcp' | 'http', script: Script, bytes: number, resetAfterMs?: number, race?: boolean }
const CASES = {
  tcp: { sp: 19531, mode: 'tcp', script: 'tcp', bytes: SMALL },
  tcpLarge: { sp: 19532, mode: 'tcp', script: 'tcp', bytes: LARGE },
  tcpStuck: { sp: 19533, mode: 'tcp', script: 'tcp', bytes: MEDIUM },
  tcpStuckCrash: { sp: 19539, mode: 'tcp', script: 'tcp', bytes: LARGE, resetAfterMs: 500 },
  tcpRace: { sp: 19540, mode: 'tcp', script: 'tcp', bytes: SMALL, resetAfterMs: 30, race: true },
  wsRace: { sp: 19541, mode: 'http', script: 'ws', bytes: SMALL, resetAfterMs: 30, race: true },
  ws: { sp: 19534, mode: 'http', script: 'ws', bytes: SMALL },
  wsLarge: { sp: 19535, mode: 'http', script: 'ws', bytes: LARGE },
  httpClose: { sp: 19536, mode: 'http', script: 'http-close', bytes: SMALL },
  httpLength: { sp: 19537, mode: 'http', script: 'http-length', bytes: SMALL },
  httpChunked: { sp: 19538, mode: 'http', script: 'http-chunked', bytes: SMALL },
} satisfies Record<string, Case>

const UPGRADE = 'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n'
const GET = 'GET /file HTTP/1.1\r\nHost: x\r\n\r\n'
const payloads = new Map([SMALL, MEDIUM, LARGE].map(n => [n, randomBytes(n)]))
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

/** Until the kernel has every byte written to s acknowledged by its peer (its tx_queue is 0). */
async function acknowledged (s: net.Socket): Promise<void> {
  const k = tableKey(s)
  if (k === undefined) throw new Error('socket not connected')
  const file = k.v6 ? '/proc/self/net/tcp6' : '/proc/self/net/tcp'
  await waitFor(async () => {
    const text = await readFile(file, 'latin1')
    const line = text.split('\n').find(l => l.includes(k.key))
    return line === undefined || line.trim().split(/\s+/)[4].startsWith('00000000:')
  }, { timeoutMs: 30_000, intervalMs: 10, message: 'the backend\'s bytes acknowledged' })
}

/** A raw backend: on each connection (after the request head, but for tcp) writes what its script says and the payload, then resets. */
async function backend (c: Case): Promise<number> {
  const payload = payloads.get(c.bytes) as Buffer
  const head: Record<Script, string> = {
    tcp: '',
    ws: 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
    'http-close': 'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n',
    'http-length': `HTTP/1.1 200 OK\r\nContent-Length: ${2 * c.bytes}\r\n\r\n`,
    'http-chunked': `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${c.bytes.toString(16)}\r\n`,
  }
  const server = net.createServer((s) => {
    s.on('error', () => {})
    const race = c.race === true
    if (c.resetAfterMs !== undefined && !race) setTimeout(() => { s.resetAndDestroy() }, c.resetAfterMs)
    const send = (): void => {
      s.write(head[c.script])
      s.write(payload, () => {
        if (c.resetAfterMs === undefined) void acknowledged(s).then(() => { s.resetAndDestroy() }, () => { s.destroy() })
      })
      if (race) setTimeout(() => { s.resetAndDestroy() }, Math.random() * (c.resetAfterMs ?? 0))
    }
    if (c.script === 'tcp' && !race) { send(); return }
    let got = ''
    const onData = (d: Buffer): void => {
      got += d.toString('latin1')
      if (c.script !== 'tcp' && !got.includes('\r\n\r\n')) return
      s.off('data', onData)
      send()
    }
    s.on('data', onData)
  })
  await new Promise<void>(resolve => server.listen(0, BACKEND_IP, resolve))
  cleanups.push(() => { server.close() })
  return (server.address() as net.AddressInfo).port
}

interface Received { bytes: Buffer, how: string }

/**
 * Connects, sends `send`, reads everything (with `onread`: nothing waits in a stream's buffer,
 * which a socket's error would drop), `pauseMs` between reads of at most 64 KiB; `stallMs`:
 * reads nothing for that long first; resetAfterMs: resets it that long after its first bytes came
 * unless it ended. Ends with how
 * the connection ended: 'FIN', an error code, 'reset by the client', or 'open' after 30 s.
 */
async function receive (sp: number, send: string, o: { pauseMs?: number, stallMs?: number, resetAfterMs?: number } = {}): Promise<Received> {
  let first = true
  const chunks: Buffer[] = []
  const buf = Buffer.alloc(64 * 1024)
  return await new Promise<Received>((resolve) => {
    const s: net.Socket = net.connect({
      host: IP,
      port: sp,
      onread: {
        buffer: buf,
        callback: (n: number) => {
          chunks.push(Buffer.from(buf.subarray(0, n)))
          if (first && o.resetAfterMs !== undefined) setTimeout(() => { if (!s.destroyed) { s.resetAndDestroy(); done('reset by the client') } }, o.resetAfterMs)
          first = false
          if (o.pauseMs === undefined) return true
          setTimeout(() => { s.resume() }, o.pauseMs)
          return false
        },
      },
    })
    if (o.stallMs !== undefined) { s.pause(); setTimeout(() => { s.resume() }, o.stallMs) }
    const done = (how: string): void => { clearTimeout(timer); s.destroy(); resolve({ bytes: Buffer.concat(chunks), how }) }
    const timer = setTimeout(() => { done('open') }, 30_000)
    s.on('connect', () => { if (send !== '') s.write(send) })
    s.on('end', () => { done('FIN') })
    s.on('error', (e: NodeJS.ErrnoException) => { done(e.code ?? 'error') })
  })
}

/** The bytes after the head (an answer's or the 101's). */
function afterHead (b: Buffer): Buffer {
  const i = b.indexOf('\r\n\r\n')
  return i < 0 ? Buffer.alloc(0) : b.subarray(i + 4)
}

let daemon: DaemonProcess | undefined
const cleanups: Array<() => unknown> = []
test.after.always(async () => { for (const c of cleanups.reverse()) await c() })

test.before(async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-backend-reset-'))
  cleanups.push(async () => { await rm(dir, { recursive: true, force: true }) })
  const entries = []
  for (const [name, c] of Object.entries(CASES)) {
    const port = await backend(c)
    entries.push({ Service: { Name: name.toLowerCase(), Hostname: 'reset-host', Ports: [{ Type: 'tcp', Port: port, ServicePort: c.sp, IP: BACKEND_IP }], ProxyMode: c.mode }, Check: { Type: 'AlwaysSuccessful' } })
  }
  const file = path.join(dir, 'static.json')
  await writeFile(file, JSON.stringify(entries))
  const d = await startDaemon({ ip: IP, hostname: 'reset-host', cwd: dir, args: ['-d', 'static'], env: { STATIC_CONFIG_FILE: file, PROXY_IDLE_TIMEOUT: `${IDLE_MS}ms`, PROXY_ACCESS_LOG: 'text', SIDECAR_LOGGING_LEVEL: 'info' } })
  daemon = d
  cleanups.push(() => { d.kill() })
  for (const c of Object.values(CASES)) {
    await waitFor(async () => {
      const listeners = (await d.json<{ listeners: Array<{ port: number, state: string, backends: unknown[] }> }>('/api/proxy.json')).listeners
      return listeners.some(l => l.port === c.sp && l.state === 'listening' && l.backends.length > 0)
    }, { timeoutMs: 30_000, message: () => `proxy listening on ${c.sp}\n${d.output.slice(-3000)}` })
  }
})

test('tcp mode: a backend that resets after 300 KiB: the client gets the 300 KiB, then a reset, not a clean end; the access log has the connection', async (t) => {
  const r = await receive(CASES.tcp.sp, '')
  t.is(r.bytes.length, SMALL)
  t.is(sha(r.bytes), sha(payloads.get(SMALL) as Buffer))
  t.is(r.how, 'ECONNRESET')
  const d = daemon as DaemonProcess
  const logged = Number((await d.waitForOutput(/tcp:19531 \S+ -> \S+ "TCP -" - (\d+)B/))[1])
  t.true(logged >= SMALL, `the access log counts the bytes relayed (${logged})`)
})

test('tcp mode: a client reading 16 MiB slowly, its backend resetting once it sent them all: every byte arrives, then the reset', async (t) => {
  const r = await receive(CASES.tcpLarge.sp, '', { pauseMs: 1, stallMs: 300 })
  t.is(r.bytes.length, LARGE, `got ${r.bytes.length} of ${LARGE}`)
  t.is(sha(r.bytes), sha(payloads.get(LARGE) as Buffer))
  t.is(r.how, 'ECONNRESET')
})

for (const [name, c] of [['1 MiB, once the proxy has it all', CASES.tcpStuck], ['16 MiB, 500 ms in (a crash; the proxy, not reading it while the client takes nothing, does not see that)', CASES.tcpStuckCrash]] as const) {
  test(`tcp mode: a client that does not read while its backend resets after ${name}: reset within idle_timeout, and the proxy lets the connection go`, async (t) => {
    const d = daemon as DaemonProcess
    const t0 = Date.now()
    // stalled past idle_timeout: the proxy gives up waiting for it to take the rest
    const r = await receive(c.sp, '', { stallMs: IDLE_MS + 2000 })
    t.is(r.how, 'ECONNRESET')
    t.true(r.bytes.length < c.bytes, `the client did not read in time: it got part (${r.bytes.length} bytes)`)
    t.true(Date.now() - t0 < IDLE_MS + 8000)
    const open = async (): Promise<number> => (await d.json<{ listeners: Array<{ port: number, connections: number }> }>('/api/proxy.json')).listeners.find(l => l.port === c.sp)?.connections ?? -1
    await waitFor(async () => await open() === 0, { timeoutMs: 5000, message: 'no connection left on the listener' })
    t.pass()
  })
}

for (const [name, c] of [['300 KiB', CASES.ws], ['16 MiB read slowly', CASES.wsLarge]] as const) {
  test(`a WebSocket tunnel whose backend resets after ${name}: every byte, then a reset`, async (t) => {
    const r = await receive(c.sp, UPGRADE, c.bytes === LARGE ? { pauseMs: 1, stallMs: 300 } : {})
    t.true(r.bytes.toString('latin1').startsWith('HTTP/1.1 101'))
    const body = afterHead(r.bytes)
    t.is(body.length, c.bytes)
    t.is(sha(body), sha(payloads.get(c.bytes) as Buffer))
    t.is(r.how, 'ECONNRESET')
  })
}

test('http: an answer delimited by the connection\'s close that the backend resets: every byte, then a reset (a FIN would mean complete)', async (t) => {
  const r = await receive(CASES.httpClose.sp, GET)
  t.regex(r.bytes.subarray(0, 200).toString('latin1'), /^HTTP\/1\.1 200/)
  t.notRegex(r.bytes.subarray(0, 200).toString('latin1'), /content-length|transfer-encoding/i)
  const body = afterHead(r.bytes)
  t.is(body.length, SMALL)
  t.is(sha(body), sha(payloads.get(SMALL) as Buffer))
  t.is(r.how, 'ECONNRESET')
})

test('http: answers framed by Content-Length or chunks that the backend resets: what was sent, unfinished, then a reset', async (t) => {
  const byLength = await receive(CASES.httpLength.sp, GET)
  t.regex(byLength.bytes.subarray(0, 200).toString('latin1'), new RegExp(`content-length: ${2 * SMALL}`, 'i'))
  t.is(afterHead(byLength.bytes).length, SMALL, 'half of the announced length: unfinished')
  t.is(byLength.how, 'ECONNRESET')

  const chunked = await receive(CASES.httpChunked.sp, GET)
  const body = afterHead(chunked.bytes)
  const size = `${SMALL.toString(16)}\r\n`
  t.is(body.subarray(0, size.length).toString('latin1'), size)
  t.is(sha(body.subarray(size.length)), sha(payloads.get(SMALL) as Buffer), 'the chunk as sent, and no last chunk')
  t.is(chunked.how, 'ECONNRESET')
})

for (const c of [CASES.tcpRace, CASES.wsRace]) {
  const ws = c.script === 'ws'
  test(`${ws ? 'a WebSocket tunnel' : 'tcp mode'}: 100 clients resetting as their backends reset (0-500 ms after the first bytes, and 0-30 after sending): none sees a clean end, nothing crashes, no connection stays`, async (t) => {
    const d = daemon as DaemonProcess
    const ends = new Map<string, number>()
    for (let round = 0; round < 5; round++) {
      const rs = await Promise.all(Array.from({ length: 20 }, async () => await receive(c.sp, ws ? UPGRADE : 'x', { resetAfterMs: Math.random() * 500 })))
      // a backend that resets before its 101 gets the client a 502, then the close
      for (const r of rs) {
        const how = r.how === 'FIN' && ws && r.bytes.toString('latin1').startsWith('HTTP/1.1 502') ? '502, then FIN' : r.how
        ends.set(how, (ends.get(how) ?? 0) + 1)
      }
    }
    t.log(Object.fromEntries(ends))
    t.deepEqual([...ends.keys()].filter(how => !['ECONNRESET', 'reset by the client', '502, then FIN'].includes(how)), [], 'a reset on either side, never a bare FIN')
    t.true(d.running)
    t.notRegex(d.output, /uncaught|unhandled|FATAL/i)
    const open = async (): Promise<number> => (await d.json<{ listeners: Array<{ port: number, connections: number }> }>('/api/proxy.json')).listeners.find(l => l.port === c.sp)?.connections ?? -1
    await waitFor(async () => await open() === 0, { timeoutMs: 5000, message: 'no connection left on the listener' })
  })
}
