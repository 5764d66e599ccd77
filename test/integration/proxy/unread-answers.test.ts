// A client that does not read its answers must not make the proxy hold them in memory. Two
// ways to try it: pipeline many small requests and never read (each answer is larger than its
// request), and a backend that sends interim (1xx) heads without end to such a client. The
// proxy must stop taking requests (and reading the backend) while the client's socket is full,
// and lose nothing once the client reads.
import test, { type ExecutionContext } from 'ava'
import net from 'node:net'
import { ServiceStatus } from '../../../src/service/index.ts'
import { waitFor } from '../../helpers/wait.ts'
import { harness, instance, proxyConfig, waitListening } from './setup.ts'

const IP = '127.0.13.90'
const BACKEND_IP = '127.0.13.91'
/** Each answer's body: about 1 KiB, 35 times the request (GET /<n>, one header). */
const BODY_BYTES = 1000

/** Polls count() until it has not moved for stableMs (or limitMs passed); returns its value. */
async function settled (count: () => number, stableMs: number, limitMs: number): Promise<number> {
  const deadline = Date.now() + limitMs
  let last = -1
  let since = Date.now()
  while (Date.now() < deadline) {
    const now = count()
    if (now !== last) { last = now; since = Date.now() } else if (Date.now() - since >= stableMs) break
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  return last
}

async function proxyTo (t: ExecutionContext, backendPort: number, sp: number): Promise<void> {
  const h = await harness(t, { proxy: proxyConfig(IP) })
  h.put(instance('unread', 'host-a', BACKEND_IP, backendPort, sp))
  await h.settle()
  await waitListening(h, sp)
}

/** A raw backend answering GET /<n> with a body that starts with n, each answer in one write (so that it reaches the proxy in one read, its common path); counts the requests. */
async function numberedBackend (t: ExecutionContext): Promise<{ port: number, served: number }> {
  const b = { port: 0, served: 0 }
  const server = net.createServer((sock) => {
    sock.on('error', () => {})
    let buf = ''
    sock.on('data', (c: Buffer) => {
      buf += c.toString('latin1')
      for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
        const n = buf.slice(5, buf.indexOf(' ', 5))
        buf = buf.slice(end + 4)
        b.served++
        sock.write(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${BODY_BYTES}\r\n\r\n${n.padEnd(BODY_BYTES, '.')}`)
      }
    })
  })
  await new Promise<void>(resolve => server.listen(0, BACKEND_IP, resolve))
  t.teardown(() => { server.close() })
  b.port = (server.address() as net.AddressInfo).port
  return b
}

/** Reads a stream of HTTP/1.1 answers with Content-Length: calls onAnswer(status, body) for each. */
function answers (onAnswer: (status: number, body: string) => void): (chunk: Buffer) => void {
  let buf = ''
  return (chunk) => {
    buf += chunk.toString('latin1')
    for (;;) {
      const end = buf.indexOf('\r\n\r\n')
      if (end < 0) return
      const head = buf.slice(0, end)
      const len = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1] ?? 0)
      if (buf.length < end + 4 + len) return
      onAnswer(Number(head.slice(9, 12)), buf.slice(end + 4, end + 4 + len))
      buf = buf.slice(end + 4 + len)
    }
  }
}

test('a client that pipelines 40,000 requests and does not read: the proxy stops taking them until it reads, then every answer arrives in order', async (t) => {
  const SP = 18900
  const b = await numberedBackend(t)
  await proxyTo(t, b.port, SP)

  const N = 40_000
  const s = net.connect({ host: IP, port: SP })
  t.teardown(() => { s.destroy() })
  s.pause() // reads nothing until told
  await new Promise<void>((resolve, reject) => { s.once('connect', resolve); s.once('error', reject) })
  // the requests in batches, as fast as the proxy takes them (with the client's own backpressure)
  let written = 0
  const pump = (): void => {
    while (written < N) {
      const batch: string[] = []
      for (let i = 0; i < 1000 && written < N; i++) batch.push(`GET /${written++} HTTP/1.1\r\nHost: x\r\n\r\n`)
      if (!s.write(batch.join(''))) { s.once('drain', pump); return }
    }
  }
  pump()

  // what the proxy serves while nobody reads is bounded by the sockets' kernel buffers and one
  // write buffer: a few MB of answers, not all 40 MB of them
  const stalled = await settled(() => b.served, 1500, 20_000)
  t.log(`served while the client read nothing: ${stalled} of ${N}`)
  t.true(stalled < N / 2, `the backend served ${stalled} of ${N} requests while the client read nothing`)

  let next = 0
  const wrong: string[] = []
  s.on('data', answers((status, body) => {
    const n = Number(body.slice(0, body.indexOf('.')))
    if ((status !== 200 || n !== next) && wrong.length < 5) wrong.push(`answer ${next}: ${status} for /${n}`)
    next++
  }))
  s.resume()
  await waitFor(() => next === N, { timeoutMs: 60_000, message: () => `all ${N} answers (${next} so far, ${written} requests written, ${b.served} served)` })
  t.deepEqual(wrong, [], 'every answer in order, each the one asked for')
  t.is(b.served, N)
})

test('a backend that sends 1xx heads without end to a client that does not read: the proxy stops reading that backend, and the client gets every head once it reads', async (t) => {
  const SP = 18901
  const EARLY = 'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n'
  const LIMIT_BYTES = 256 * 1024 * 1024
  let sent = 0
  let finish: (() => void) | undefined
  const server = net.createServer((sock) => {
    sock.on('error', () => {})
    sock.once('data', () => {
      const batch = EARLY.repeat(256)
      let done = false
      // 1xx heads with the backend's own backpressure, until told to finish (bounded: 256 MB)
      const pump = (): void => {
        while (!done && sent < LIMIT_BYTES) {
          sent += batch.length
          if (!sock.write(batch)) { sock.once('drain', pump); return }
        }
      }
      finish = () => { done = true; sock.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok') }
      pump()
    })
  })
  await new Promise<void>(resolve => server.listen(0, BACKEND_IP, resolve))
  t.teardown(() => { server.close() })
  await proxyTo(t, (server.address() as net.AddressInfo).port, SP)

  const s = net.connect({ host: IP, port: SP })
  t.teardown(() => { s.destroy() })
  s.pause()
  await new Promise<void>((resolve, reject) => { s.once('connect', resolve); s.once('error', reject) })
  s.write('GET /hints HTTP/1.1\r\nHost: x\r\n\r\n')
  const stalled = await settled(() => sent, 1500, 20_000)
  t.log(`1xx bytes the backend got out while the client read nothing: ${stalled}`)
  t.true(stalled < 64 * 1024 * 1024, `the backend got ${(stalled / 1e6).toFixed(1)} MB of 1xx heads out while the client read nothing`)

  let early = 0
  let final: [number, string] | undefined
  s.on('data', answers((status, body) => {
    if (status === 103) early++
    else final = [status, body]
  }))
  finish?.()
  s.resume()
  await waitFor(() => final !== undefined, { timeoutMs: 60_000, message: () => `the final answer (${early} 103s so far)` })
  t.deepEqual(final, [200, 'ok'])
  t.is(early, sent / EARLY.length, 'every 1xx head the backend sent reached the client')
})

test('a listener that closes while a client is still taking its pipelined answers: the client gets every answer within the grace period', async (t) => {
  const SP = 18902
  const b = await numberedBackend(t)
  const h = await harness(t, { proxy: proxyConfig(IP, { drain_grace: 20_000 }) })
  h.put(instance('closing', 'host-a', BACKEND_IP, b.port, SP))
  await h.settle()
  await waitListening(h, SP)
  const N = 8000
  const s = net.connect({ host: IP, port: SP })
  t.teardown(() => { s.destroy() })
  s.pause()
  await new Promise<void>((resolve, reject) => { s.once('connect', resolve); s.once('error', reject) })
  s.write(Array.from({ length: N }, (_, i) => `GET /${i} HTTP/1.1\r\nHost: x\r\n\r\n`).join(''))
  await settled(() => b.served, 1000, 20_000)
  // the service goes away: its listener drains, and the client reads slowly (256 KiB, then 50 ms off)
  h.put(instance('closing', 'host-a', BACKEND_IP, b.port, SP, { Status: ServiceStatus.TOMBSTONE }))
  await h.settle()
  t.is(h.proxy.report().listeners[0]?.state, 'draining')
  let next = 0
  let since = 0
  const wrong: string[] = []
  const parse = answers((status, body) => {
    const n = Number(body.slice(0, body.indexOf('.')))
    if ((status !== 200 || n !== next) && wrong.length < 5) wrong.push(`answer ${next}: ${status} for /${n}`)
    next++
  })
  let closed = false
  s.on('close', () => { closed = true })
  s.on('data', (c: Buffer) => {
    parse(c)
    since += c.length
    if (since >= 256 * 1024) {
      since = 0
      s.pause()
      setTimeout(() => { s.resume() }, 50)
    }
  })
  s.resume()
  await waitFor(() => next === N || closed, { timeoutMs: 30_000, message: () => `all ${N} answers (${next} so far)` })
  t.is(next, N, `the client got ${next} of ${N} answers before the proxy closed its connection`)
  t.deepEqual(wrong, [])
})
