// A client that does not read its answers must not make the proxy hold them in memory. Two
// ways to try it: pipeline many small requests and never read (each answer is larger than its
// request), and a backend that sends interim (1xx) heads without end to such a client. The
// proxy must stop taking requests (and reading the backend) while the client's socket is full,
// and lose nothing once the client reads.
import test, { type ExecutionContext } from 'ava'
import net from 'node:net'
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
  let served = 0
  // each answer in one write, so that it reaches the proxy in one read (its common path)
  const server = net.createServer((sock) => {
    sock.on('error', () => {})
    let buf = ''
    sock.on('data', (c: Buffer) => {
      buf += c.toString('latin1')
      for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
        const n = buf.slice(5, buf.indexOf(' ', 5))
        buf = buf.slice(end + 4)
        served++
        sock.write(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${BODY_BYTES}\r\n\r\n${n.padEnd(BODY_BYTES, '.')}`)
      }
    })
  })
  await new Promise<void>(resolve => server.listen(0, BACKEND_IP, resolve))
  t.teardown(() => { server.close() })
  await proxyTo(t, (server.address() as net.AddressInfo).port, SP)

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
  const stalled = await settled(() => served, 1500, 20_000)
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
  await waitFor(() => next === N, { timeoutMs: 60_000, message: () => `all ${N} answers (${next} so far, ${written} requests written, ${served} served)` })
  t.deepEqual(wrong, [], 'every answer in order, each the one asked for')
  t.is(served, N)
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
