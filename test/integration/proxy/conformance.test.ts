// HTTP/1.1 through the proxy's raw-socket path against a real backend: framing (chunked
// both ways with trailers, HEAD, 204, 304), pipelining, Range, 100-continue and an early
// 413 from the backend, big heads within and over the documented limit, big bodies.
import test, { type ExecutionContext } from 'ava'
import { createHash } from 'node:crypto'
import http from 'node:http'
import { MAX_HEAD_BYTES, MAX_HEADER_FIELDS } from '../../../src/proxy/h1/parser.ts'
import { proxyToLoggingBackend, type Harness } from './setup.ts'
import { raw, statuses, type LoggingBackend } from './raw.ts'

const IP = '127.0.13.20'
const BACKEND_IP = '127.0.13.21'

async function setup (t: ExecutionContext, sp: number): Promise<{ h: Harness, b: LoggingBackend }> {
  return await proxyToLoggingBackend(t, { ip: IP, name: 'conf', backendIp: BACKEND_IP, sp })
}

async function request (opts: http.RequestOptions, write?: (req: http.ClientRequest) => void): Promise<{ res: http.IncomingMessage, body: Buffer }> {
  return await new Promise((resolve, reject) => {
    const req = http.request({ agent: false, ...opts }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => { resolve({ res, body: Buffer.concat(chunks) }) })
      res.on('error', reject)
    })
    req.on('error', reject)
    if (write !== undefined) write(req)
    else req.end()
  })
}

test('chunked up and down with trailers: the body and both trailers arrive intact', async (t) => {
  const SP = 18701
  const { b } = await setup(t, SP)
  const payload = Buffer.from('a'.repeat(70_000) + 'end')
  const { res, body } = await request({ host: IP, port: SP, method: 'POST', path: '/echo', headers: { trailer: 'x-check' } }, (req) => {
    req.write(payload.subarray(0, 1000))
    req.write(payload.subarray(1000))
    req.addTrailers({ 'x-check': 'sum-42' })
    req.end()
  })
  t.is(res.statusCode, 200)
  t.is(res.headers['transfer-encoding'], 'chunked')
  t.true(body.equals(payload))
  t.is(res.trailers['x-check'], 'sum-42', 'the request trailer reached the backend, its answer trailer came back')
  t.is(b.seen.length, 1)
  t.is(b.seen[0].headers['transfer-encoding'], 'chunked')
})

test('pipelining: three requests in one write get three responses in order, then the connection closes', async (t) => {
  const SP = 18702
  const { b } = await setup(t, SP)
  const answer = await raw(IP, SP, 'GET /one HTTP/1.1\r\nHost: x\r\n\r\nPOST /two HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /three HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
  t.deepEqual(statuses(answer), [200, 200, 200])
  const urls = [...answer.matchAll(/"url":"([^"]+)"/g)].map(m => m[1])
  t.deepEqual(urls, ['/one', '/two', '/three'])
  t.deepEqual(b.seen.map(s => [s.method, s.url, s.body.length]), [['GET', '/one', 0], ['POST', '/two', 5], ['GET', '/three', 0]])
  t.regex(answer, /Connection: close\r\n/)
})

test('HEAD, 204 and 304 carry no body: the next response on the connection is read correctly', async (t) => {
  const SP = 18703
  await setup(t, SP)
  const answer = await raw(IP, SP, [
    'HEAD /head-len HTTP/1.1\r\nHost: x\r\n\r\n',
    'GET /s/204 HTTP/1.1\r\nHost: x\r\n\r\n',
    'GET /s/304 HTTP/1.1\r\nHost: x\r\nIf-None-Match: "v1"\r\n\r\n',
    'GET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
  ])
  t.deepEqual(statuses(answer), [200, 204, 304, 200])
  t.regex(answer, /content-length: 1000\r\n/i, 'HEAD keeps the length of the body it does not send')
  t.false(answer.includes('hhhh'), 'no body after HEAD')
  t.regex(answer, /"url":"\/after"/)
})

test('Range: a 206 with Content-Range passes through', async (t) => {
  const SP = 18704
  await setup(t, SP)
  const r = await fetch(`http://${IP}:${SP}/range`, { headers: { range: 'bytes=2-5' } })
  t.is(r.status, 206)
  t.is(r.headers.get('content-range'), 'bytes 2-5/10')
  t.is(await r.text(), '2345')
})

test('100-continue comes from the backend: relayed before the body; a 413 before the body ends the exchange without it', async (t) => {
  const SP = 18705
  const { b } = await setup(t, SP)
  const full = await rawWithContinue(SP, 'POST /up2 HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n', 'body')
  t.deepEqual(statuses(full), [100, 200])
  t.regex(full, /"bodyBytes":4/)
  // a backend that refuses the upload before its body: the client sees 413 and never had to send it
  const refused = await raw(IP, SP, 'POST /expect413 HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n')
  t.deepEqual(statuses(refused), [413])
  t.regex(refused, /Connection: close\r\n/i, 'the proxy closes: the unsent body would otherwise be read as the next request')
  t.is(b.refusedEarly, 1)
  t.deepEqual(b.seen.filter(s => s.url === '/expect413').map(s => s.body.length), [0])
})

/** Sends a head, waits for the 100, then sends the body. */
async function rawWithContinue (port: number, head: string, body: string): Promise<string> {
  const net = await import('node:net')
  return await new Promise((resolve) => {
    const s = net.connect({ host: IP, port })
    let got = ''
    let sent = false
    const timer = setTimeout(() => { s.destroy(); resolve(got) }, 15_000)
    s.on('connect', () => { s.write(head) })
    s.on('data', (c: Buffer) => {
      got += c.toString('latin1')
      if (!sent && got.includes('100 Continue\r\n\r\n')) { sent = true; s.write(body) }
    })
    s.on('close', () => { clearTimeout(timer); resolve(got) })
  })
}

test(`a 20 KB header passes (limit ${MAX_HEAD_BYTES} bytes); a head over the limit gets 431, counted and logged`, async (t) => {
  const SP = 18706
  const { h, b } = await setup(t, SP)
  const big = 'v'.repeat(20_000)
  const ok = await request({ host: IP, port: SP, path: '/big-header', headers: { 'x-big': big } })
  t.is(ok.res.statusCode, 200)
  t.is(b.seen[0].headers['x-big'], big)
  const over = await raw(IP, SP, `GET /too-big HTTP/1.1\r\nHost: x\r\nX-Big: ${'w'.repeat(MAX_HEAD_BYTES)}\r\n\r\n`)
  t.deepEqual(statuses(over), [431])
  t.regex(over, /"reason":"head too large"/)
  t.is(b.seen.length, 1, 'the oversize head never reached the backend')
  t.regex(await h.metrics.text(), /sidecar_proxy_rejections_total\{service="conf",port="18706",reason="head too large"\} 1/)
})

test('big bodies: 64 MiB up and down arrive intact (sha256) through one connection', async (t) => {
  const SP = 18707
  await setup(t, SP)
  const payload = Buffer.alloc(64 << 20)
  for (let i = 0; i < payload.length; i += 4096) payload.writeUInt32LE(i, i)
  const want = createHash('sha256').update(payload).digest('hex')
  const { res, body } = await request({ host: IP, port: SP, method: 'POST', path: '/echo', headers: { 'content-length': payload.length } }, (req) => { req.end(payload) })
  t.is(res.statusCode, 200)
  t.is(createHash('sha256').update(body).digest('hex'), want)
})

test('HTTP/1.0 clients: answered without chunking, the connection closes', async (t) => {
  const SP = 18708
  await setup(t, SP)
  const answer = await raw(IP, SP, 'GET /old HTTP/1.0\r\n\r\n')
  t.deepEqual(statuses(answer), [200])
  t.regex(answer, /"url":"\/old"/)
  t.false(/transfer-encoding/i.test(answer))
})

test(`more than ${MAX_HEADER_FIELDS} header fields get 431; ${MAX_HEADER_FIELDS} pass`, async (t) => {
  const SP = 18709
  const { b } = await setup(t, SP)
  const fields = (n: number): string => Array.from({ length: n }, (_, i) => `X-F${i}: ${i}\r\n`).join('')
  t.deepEqual(statuses(await raw(IP, SP, `GET /many HTTP/1.1\r\nHost: x\r\n${fields(MAX_HEADER_FIELDS - 2)}Connection: close\r\n\r\n`)), [200])
  t.deepEqual(statuses(await raw(IP, SP, `GET /too-many HTTP/1.1\r\nHost: x\r\n${fields(MAX_HEADER_FIELDS + 1)}\r\n`)), [431])
  t.deepEqual(b.seen.map(s => s.url), ['/many'])
})
