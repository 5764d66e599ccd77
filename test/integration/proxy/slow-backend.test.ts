// Client sockets read into the proxy's buffers like backend sockets do (src/proxy/read-buffer.ts's
// adopt()), and what a client sends is written to the backend as a view of that buffer. These
// tests make the backend slow, so that views stay queued in the proxy's backend socket, and
// check every byte with sha256: a read that overwrote a queued view would corrupt an upload.
// A backend that stops reading must stop the client too: the proxy holds what is queued, no
// more. And a head that arrives in pieces must survive other sockets' reads into the shared
// buffer in between.
import test, { type ExecutionContext } from 'ava'
import { createHash } from 'node:crypto'
import http from 'node:http'
import net from 'node:net'
import { waitFor } from '../../helpers/wait.ts'
import { MIB, patternSha, piece } from './pattern.ts'
import { harness, instance, proxyConfig, waitListening } from './setup.ts'

const IP = '127.0.13.73'
const BACKEND_IP = '127.0.13.74'

/** Reads a stream, stopping for pauseMs after every everyBytes; resolves with the byte count and sha256. */
async function slowRead (s: NodeJS.ReadableStream & { pause: () => void, resume: () => void }, everyBytes: number, pauseMs: number): Promise<{ bytes: number, sha: string }> {
  return await new Promise((resolve, reject) => {
    const h = createHash('sha256')
    let bytes = 0
    let since = 0
    s.on('data', (c: Buffer) => {
      h.update(c)
      bytes += c.length
      since += c.length
      if (since >= everyBytes) {
        since = 0
        s.pause()
        setTimeout(() => { s.resume() }, pauseMs)
      }
    })
    s.on('end', () => { resolve({ bytes, sha: h.digest('hex') }) })
    s.on('error', reject)
  })
}

interface Backend { port: number, stalled: http.IncomingMessage[] }

/**
 * GET /echo: the request's URL and header fields as JSON. POST /slow: reads the body slowly (15 ms pause every 512 KiB) and answers its length and
 * sha256. POST /stall: does not read the body until the test resumes it (b.stalled), then
 * answers the same. GET /small: a short body. An upgrade request gets a 101, then the
 * backend reads the tunnel slowly until the client half-closes, and answers the sha256.
 */
async function slowBackend (t: ExecutionContext): Promise<Backend> {
  const b: Backend = { port: 0, stalled: [] }
  const server = http.createServer((req, res) => {
    const answer = (r: { bytes: number, sha: string }): void => { res.end(JSON.stringify(r)) }
    if (req.url === '/small') { res.end('{"small":true}'); return }
    if (req.url?.startsWith('/echo') === true) { res.end(JSON.stringify({ url: req.url, headers: req.headers })); return }
    if (req.url === '/stall') {
      req.pause()
      b.stalled.push(req)
      void slowRead(req, Infinity, 0).then(answer)
      return
    }
    void slowRead(req, 512 * 1024, 15).then(answer)
  })
  server.on('upgrade', (_req: http.IncomingMessage, socket: net.Socket) => {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n')
    void slowRead(socket, 512 * 1024, 15).then((r) => { socket.end(JSON.stringify(r)) })
  })
  await new Promise<void>(resolve => server.listen(0, BACKEND_IP, resolve))
  t.teardown(async () => { await new Promise<void>(resolve => { server.close(() => { resolve() }); server.closeAllConnections() }) })
  b.port = (server.address() as net.AddressInfo).port
  return b
}

async function setup (t: ExecutionContext, sp: number, mode: 'http' | 'tcp' = 'http'): Promise<Backend> {
  const b = await slowBackend(t)
  const h = await harness(t, { proxy: proxyConfig(IP) })
  h.put(instance('slowb', 'host-a', BACKEND_IP, b.port, sp, { ProxyMode: mode }))
  await h.settle()
  await waitListening(h, sp)
  return b
}

/** Writes n bytes of the pattern to w in 256 KiB pieces, with backpressure; counts what was handed over in sent. */
async function sendPattern (w: NodeJS.WritableStream, n: number, seed: number, sent?: { bytes: number }): Promise<void> {
  for (let o = 0; o < n; o += 256 * 1024) {
    const p = piece(o, Math.min(256 * 1024, n - o), seed)
    if (sent !== undefined) sent.bytes += p.length
    if (!w.write(p)) await new Promise(resolve => w.once('drain', resolve))
  }
}

/** POSTs n bytes of the pattern (chunked when chunked, else with Content-Length) and parses the JSON answer. */
async function upload (sp: number, path: string, n: number, seed: number, agent: http.Agent | false, chunked: boolean, sent?: { bytes: number }): Promise<{ bytes: number, sha: string }> {
  const headers: Record<string, string | number> = chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': n }
  const req = http.request({ host: IP, port: sp, path, method: 'POST', agent, headers })
  const answer = new Promise<{ bytes: number, sha: string }>((resolve, reject) => {
    req.on('response', (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { body += c })
      res.on('end', () => { try { resolve(JSON.parse(body) as { bytes: number, sha: string }) } catch (err) { reject(new Error(`${res.statusCode ?? 0}: ${body} (${String(err)})`)) } })
    })
    req.on('error', reject)
  })
  req.setTimeout(60_000, () => { req.destroy(new Error(`no answer to ${path} within 60 s`)) })
  await sendPattern(req, n, seed, sent)
  req.end()
  return await answer
}

test('a slow backend: 16 MiB length-framed and chunked uploads on one keep-alive connection arrive intact', async (t) => {
  const SP = 18801
  await setup(t, SP)
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => { agent.destroy() })
  for (const [chunked, seed] of [[false, 0x1a2b3c4d], [true, 0x0ddba11], [false, 0x7e57ab1e]] as const) {
    const r = await upload(SP, '/slow', 16 * MIB, seed, agent, chunked)
    t.is(r.bytes, 16 * MIB, chunked ? 'chunked' : 'length')
    t.is(r.sha, patternSha(16 * MIB, seed), `${chunked ? 'chunked' : 'length'} seed ${seed}`)
  }
})

test('a request pipelined right behind an upload\'s last bytes is answered after it, and the upload is intact', async (t) => {
  const SP = 18802
  await setup(t, SP)
  const n = 6 * MIB
  const seed = 0x51de
  const s = net.connect({ host: IP, port: SP })
  t.teardown(() => { s.destroy() })
  let got = ''
  s.setEncoding('latin1')
  s.on('data', (c: string) => { got += c })
  const closed = new Promise(resolve => s.on('close', resolve))
  s.write(`POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: ${n}\r\n\r\n`)
  await sendPattern(s, n - 100, seed)
  // the body's last 100 bytes, the next request and the end of the connection in one write
  s.end(Buffer.concat([piece(n - 100, 100, seed).subarray(0, 100), Buffer.from('GET /small HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')]))
  await closed
  const bodies = got.split('\r\n\r\n')
  t.regex(got, /^HTTP\/1\.1 200 /)
  t.deepEqual(JSON.parse(bodies[1].replace(/HTTP\/1\.1[\s\S]*$/, '')), { bytes: n, sha: patternSha(n, seed) })
  t.is(bodies[2], '{"small":true}')
})

test('a backend that stops reading an upload stops the client: the proxy holds a bounded amount, then every byte arrives', async (t) => {
  const SP = 18803
  const b = await setup(t, SP)
  const n = 96 * MIB
  const seed = 0x5ca1ab1e
  const sent = { bytes: 0 }
  const result = upload(SP, '/stall', n, seed, false, false, sent)
  await waitFor(() => b.stalled.length === 1, { timeoutMs: 10_000, message: 'the backend got the request' })
  // the client is stopped once the socket buffers on the way are full (a few MiB each on
  // loopback) and the proxy holds its one read buffer: far less than the whole upload
  let last = -1
  await waitFor(() => {
    const stuck = sent.bytes === last
    last = sent.bytes
    return stuck
  }, { timeoutMs: 20_000, intervalMs: 1000, message: 'the client stalls' })
  t.log(`client stalled after ${(sent.bytes / MIB).toFixed(1)} MiB`)
  t.true(sent.bytes < 24 * MIB, `the client handed over ${(sent.bytes / MIB).toFixed(1)} MiB while the backend read nothing`)
  b.stalled[0].resume()
  const r = await result
  t.is(r.bytes, n)
  t.is(r.sha, patternSha(n, seed))
})

test('an upload through an upgraded connection (tunnel) to a slow backend arrives intact', async (t) => {
  const SP = 18804
  await setup(t, SP)
  const n = 8 * MIB
  const seed = 0x7a11e1
  const s = net.connect({ host: IP, port: SP, allowHalfOpen: true })
  t.teardown(() => { s.destroy() })
  s.write('GET /up HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n')
  let got = ''
  s.setEncoding('latin1')
  const ended = new Promise(resolve => s.on('end', resolve))
  s.on('data', (c: string) => { got += c })
  await waitFor(() => got.includes('\r\n\r\n'), { timeoutMs: 5000, message: '101' })
  t.regex(got, /^HTTP\/1\.1 101 /)
  await sendPattern(s, n, seed)
  s.end()
  await ended
  t.deepEqual(JSON.parse(got.split('\r\n\r\n')[1]), { bytes: n, sha: patternSha(n, seed) })
})

test('tcp mode, a slow backend: a 16 MiB upload arrives intact and the half-close is carried through', async (t) => {
  const SP = 18805
  // a raw backend: reads slowly until the client's half-close, then answers and closes
  const raw = net.createServer({ allowHalfOpen: true }, (sock) => {
    sock.on('error', () => {})
    void slowRead(sock, 512 * 1024, 15).then((r) => { sock.end(JSON.stringify(r)) })
  })
  await new Promise<void>(resolve => raw.listen(0, BACKEND_IP, resolve))
  t.teardown(() => { raw.close() })
  const h = await harness(t, { proxy: proxyConfig(IP) })
  h.put(instance('slowtcp', 'host-a', BACKEND_IP, (raw.address() as net.AddressInfo).port, SP, { ProxyMode: 'tcp' }))
  await h.settle()
  await waitListening(h, SP)
  const n = 16 * MIB
  const seed = 0x7c9
  const s = net.connect({ host: IP, port: SP, allowHalfOpen: true })
  t.teardown(() => { s.destroy() })
  let got = ''
  s.setEncoding('latin1')
  s.on('data', (c: string) => { got += c })
  const ended = new Promise(resolve => s.on('end', resolve))
  await sendPattern(s, n, seed)
  s.end()
  await ended
  t.deepEqual(JSON.parse(got), { bytes: n, sha: patternSha(n, seed) })
})

test('a request head that arrives in pieces, with other connections read into the shared buffer in between, reaches the backend intact', async (t) => {
  const SP = 18806
  await setup(t, SP)
  const url = `/echo?q=${'a'.repeat(200)}`
  const [long1, long2] = ['v'.repeat(3000), 'w'.repeat(3000)]
  const s = net.connect({ host: IP, port: SP })
  t.teardown(() => { s.destroy() })
  let got = ''
  s.setEncoding('latin1')
  s.on('data', (c: string) => { got += c })
  s.write(`GET ${url} HTTP/1.1\r\nHost: x\r\nX-Long: ${long1}`)
  await new Promise(resolve => setTimeout(resolve, 100))
  // twenty other requests and their answers go through the shared buffer meanwhile
  for (let i = 0; i < 20; i++) {
    const res = await fetch(`http://${IP}:${SP}/echo?other=${i}`, { headers: { 'x-other': String(i).repeat(500) } })
    t.is(((await res.json()) as { url: string }).url, `/echo?other=${i}`)
  }
  s.write(`${long2}\r\nX-Tail: t\r\nConnection: close\r\n\r\n`)
  await new Promise(resolve => s.on('close', resolve))
  t.regex(got, /^HTTP\/1\.1 200 /)
  const echoed = JSON.parse(got.slice(got.indexOf('\r\n\r\n') + 4)) as { url: string, headers: Record<string, string> }
  t.is(echoed.url, url)
  t.is(echoed.headers['x-long'], long1 + long2)
  t.is(echoed.headers['x-tail'], 't')
})
