// Backends that answer wrongly, by accident or on purpose (any cluster member can advertise
// one): ambiguous or broken framing, bytes past the end of an answer, answers to requests not
// sent yet, bad field bytes, floods. What each client gets must be its own answer or the
// proxy's 502, never bytes of another exchange, and a backend connection whose state is in
// doubt must never serve a next request. Several clients share the pooled backend sockets.
import test, { type ExecutionContext } from 'ava'
import net from 'node:net'
import { waitFor } from '../../helpers/wait.ts'
import { raw, statuses } from './raw.ts'
import { harness, instance, proxyConfig, proxyTo, waitListening } from './setup.ts'

const IP = '127.0.39.10'
const BACKEND_IP = '127.0.39.11'
const BAD_IP = '127.0.39.12'

/** What a backend would answer to another client: it must never reach the wrong one. */
const STOLEN = 'HTTP/1.1 200 OK\r\nContent-Length: 18\r\n\r\n{"path":"/stolen"}'

interface Req { method: string, path: string, head: string, body: string, conn: number }
interface Scripted {
  port: number
  requests: Req[]
  /** Per connection: the paths it was asked, and whether the proxy closed it. */
  conns: Array<{ paths: string[], closed: boolean }>
}

/**
 * A raw backend: each request head (and its Content-Length body, unless ignoreBody says the
 * backend does not read it: the bytes after the head are then read as the next request) goes
 * to answer, which writes what it likes; the default answer is {"path":...} with its length.
 */
async function scripted (t: ExecutionContext, ip: string, answer: (r: Req, s: net.Socket) => boolean, ignoreBody: (path: string) => boolean = () => false): Promise<Scripted> {
  const b: Scripted = { port: 0, requests: [], conns: [] }
  const server = net.createServer((s) => {
    const conn = b.conns.length
    const c = { paths: [] as string[], closed: false }
    b.conns.push(c)
    let buf = Buffer.alloc(0)
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d])
      for (;;) {
        const end = buf.indexOf('\r\n\r\n')
        if (end < 0) return
        const head = buf.subarray(0, end).toString('latin1')
        const [method, path] = head.split(' ')
        const length = ignoreBody(path) ? 0 : Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0)
        if (buf.length < end + 4 + length) return
        const r: Req = { method, path, head, body: buf.subarray(end + 4, end + 4 + length).toString('latin1'), conn }
        buf = buf.subarray(end + 4 + length)
        b.requests.push(r)
        c.paths.push(path)
        if (!answer(r, s)) {
          const out = JSON.stringify({ path })
          s.write(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${out.length}\r\n\r\n${out}`)
        }
      }
    })
    s.on('end', () => { c.closed = true; s.end() })
    s.on('close', () => { c.closed = true })
    s.on('error', () => {})
  })
  await new Promise<void>(resolve => server.listen(0, ip, resolve))
  t.teardown(() => { server.close() })
  b.port = (server.address() as net.AddressInfo).port
  return b
}

test('a backend that answers before the request body was sent, then reads the body as a new request: its connection is not reused, the next client gets its own answer', async (t) => {
  const SP = 18391
  // /upload is answered at once (a 401 whose body follows 300 ms later) and its body is never
  // read: the bytes after its head are the backend's next request
  const b = await scripted(t, BACKEND_IP, (r, s) => {
    if (r.path === '/upload') {
      s.write('HTTP/1.1 401 Unauthorized\r\nContent-Length: 4\r\n\r\n')
      setTimeout(() => { s.write('nope') }, 300)
      return true
    }
    if (r.path === '/capture') {
      const out = JSON.stringify({ path: '/capture', captured: r.body })
      s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${out.length}\r\n\r\n${out}`)
      return true
    }
    return false
  }, path => path === '/upload')
  await proxyTo(t, { ip: IP, name: 'early', backendIp: BACKEND_IP, backendPort: b.port, sp: SP })

  // client A: its body is a request head that asks the backend to take the next 48 bytes as its body
  const smuggled = 'POST /capture HTTP/1.1\r\nHost: x\r\nContent-Length: 48\r\n\r\n'
  const a = net.connect({ host: IP, port: SP })
  t.teardown(() => { a.destroy() })
  let got = ''
  a.on('data', (d: Buffer) => { got += d.toString('latin1') })
  a.write(`POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: ${smuggled.length}\r\n\r\n`)
  await waitFor(() => got.includes('401'), { message: 'the early 401 head' })
  a.write(smuggled)
  await waitFor(() => got.endsWith('nope'), { message: 'the 401 body' })

  // client B, on a connection of its own
  const answer = await raw(IP, SP, 'GET /mine HTTP/1.1\r\nHost: x\r\nCookie: session=victim\r\nConnection: close\r\n\r\n', { until: s => s.includes('}') })
  t.deepEqual(statuses(answer), [200])
  t.regex(answer, /"path":"\/mine"/, 'B got its own answer, not the one to the request smuggled in A\'s body')
  t.deepEqual(b.requests.filter(r => r.path === '/capture').map(r => r.body), [], 'B\'s request never became the body of A\'s smuggled one')
})

for (const [i, [kind, bad]] of ([
  ['a malformed head (Content-Length with Transfer-Encoding)', (s: net.Socket) => { s.write(`HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n${STOLEN.length.toString(16)}\r\n${STOLEN}\r\n0\r\n\r\n`) }],
  ['a bad chunk size after the head', (s: net.Socket) => { s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n') }],
  ['a body cut short (FIN before Content-Length)', (s: net.Socket) => { s.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhello') }],
] as const).entries()) {
  test(`passive health: a backend that answers with ${kind} is ejected at its first such answer`, async (t) => {
    const SP = 18392 + i
    const good = await scripted(t, BACKEND_IP, () => false)
    const broken = await scripted(t, BAD_IP, (_r, s) => { bad(s); return true })
    const h = await harness(t, { proxy: proxyConfig(IP) })
    h.put(instance('flaky', 'host-a', BACKEND_IP, good.port, SP))
    h.put(instance('flaky', 'host-b', BAD_IP, broken.port, SP))
    await h.settle()
    await waitListening(h, SP)
    const seen: number[][] = []
    for (let j = 0; j < 8; j++) seen.push(statuses(await raw(IP, SP, `GET /r${j} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, { timeoutMs: 5000 })))
    t.log(kind, JSON.stringify(seen))
    t.is(broken.requests.length, 1, `the broken backend got ${broken.requests.length} of 8 requests`)
    t.is(good.requests.length, 7)
    const report = h.proxy.report().listeners[0]
    t.is(report.backends.find(x => x.address.startsWith(BAD_IP))?.state, 'ejected')
    t.is(report.totals.ejections, 1)
  })
}
