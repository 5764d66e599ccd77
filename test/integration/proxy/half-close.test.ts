// A client that half-closes (shuts its sending side) while the proxy still has something for
// it: the rest of an answer queued in the proxy, or a backend about to accept an upgrade. Raw
// `net` clients and backends, every byte checked: the client must get the whole answer, then a
// FIN, and a FIN from the client must reach the backend of a tunnel.
import test, { type ExecutionContext } from 'ava'
import { createHash } from 'node:crypto'
import net from 'node:net'
import { MIB, patternSha, piece } from './pattern.ts'
import { harness, instance, proxyConfig, waitListening, type Harness } from './setup.ts'

const IP = '127.0.88.1'
const BACKEND_IP = '127.0.88.2'

/** A raw backend: onConn gets each connection the proxy opens. */
async function rawBackend (t: ExecutionContext, onConn: (s: net.Socket) => void): Promise<number> {
  const conns = new Set<net.Socket>()
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    conns.add(s)
    s.on('close', () => conns.delete(s))
    s.on('error', () => {})
    onConn(s)
  })
  await new Promise<void>(resolve => server.listen(0, BACKEND_IP, resolve))
  t.teardown(async () => {
    for (const s of conns) s.destroy()
    await new Promise<void>(resolve => { server.close(() => { resolve() }) })
  })
  return (server.address() as net.AddressInfo).port
}

async function proxyTo (t: ExecutionContext, sp: number, backendPort: number): Promise<Harness> {
  const h = await harness(t, { proxy: proxyConfig(IP, { access_log: 'json' }) })
  h.put(instance('halfclose', 'host-a', BACKEND_IP, backendPort, sp))
  await h.settle()
  await waitListening(h, sp)
  return h
}

/** Calls onHead with each request head the connection sends (bodies are not expected). */
function onHeads (s: net.Socket, onHead: (head: string) => void): void {
  let buf = ''
  s.on('data', (c: Buffer) => {
    buf += c.toString('latin1')
    for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
      const head = buf.slice(0, end)
      buf = buf.slice(end + 4)
      onHead(head)
    }
  })
}

/** Splits raw answers framed by Content-Length (no other framing here). */
function answers (all: Buffer): Buffer[] {
  const out: Buffer[] = []
  let o = 0
  while (o < all.length) {
    const end = all.indexOf('\r\n\r\n', o)
    if (end < 0) break
    const n = Number(/content-length: (\d+)/i.exec(all.subarray(o, end).toString('latin1'))?.[1] ?? 0)
    out.push(all.subarray(end + 4, Math.min(all.length, end + 4 + n)))
    o = end + 4 + n
  }
  return out
}

const BIG = 16 * MIB
const SMALL = 60_000 // under the client socket's high-water mark (64 KiB): the proxy does not wait for it to drain
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

for (const [i, close] of [false, true].entries()) {
  const what = close ? 'a 16 MiB answer with Connection: close is' : 'a 16 MiB answer and a small one pipelined behind it are'
  test(`a client that half-closes once ${what} whole in the proxy but partly queued there gets every byte, then a FIN`, async (t) => {
    const SP = 18801 + i
    const seeds = { '/big': 0x4a11c105 + i, '/small': 0x5a11c105 + i }
    const port = await rawBackend(t, (s) => {
      onHeads(s, (head) => {
        const path = head.split(' ')[1] as '/big' | '/small'
        const n = path === '/big' ? BIG : SMALL
        // one write: the proxy reads the answer long before the slow client has it
        s.write(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${n}\r\n\r\n`), piece(0, n, seeds[path])]))
      })
    })
    const h = await proxyTo(t, SP, port)
    const c = net.connect({ host: IP, port: SP, allowHalfOpen: true })
    t.teardown(() => { c.destroy() })
    const chunks: Buffer[] = []
    let got = 0
    let since = 0
    let slow = true
    c.on('data', (d: Buffer) => {
      chunks.push(d)
      got += d.length
      since += d.length
      // slower than the proxy writes (6 MB/s in small steps): the proxy's socket stays full
      if (slow && since >= 16 * 1024) {
        since = 0
        c.pause()
        setTimeout(() => { c.resume() }, 2.5)
      }
    })
    const ended = new Promise<string>((resolve) => {
      c.on('end', () => { resolve('FIN') })
      c.on('error', (err) => { resolve(`error ${err.message}`) })
      c.on('close', () => { resolve('closed') })
    })
    // an access log line is written when the proxy has read a whole answer (in this process):
    // after the last, the client stops reading right then, so that answer's tail stays queued
    const count = close ? 1 : 2
    const whole = new Promise<void>((resolve) => {
      const push = h.access.push.bind(h.access)
      h.access.push = (...lines: string[]): number => {
        const r = push(...lines)
        if (r === count) {
          slow = false
          c.pause()
          resolve()
        }
        return r
      }
    })
    c.write(close ? 'GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' : 'GET /big HTTP/1.1\r\nHost: x\r\n\r\nGET /small HTTP/1.1\r\nHost: x\r\n\r\n')
    await Promise.race([whole, new Promise((resolve, reject) => setTimeout(() => { reject(new Error('the proxy did not read the answers within 30 s')) }, 30_000))])
    const atHalfClose = got
    c.end()
    // the proxy has the FIN before the client reads on
    await new Promise(resolve => setTimeout(resolve, 300))
    c.resume()
    const how = await Promise.race([ended, new Promise<string>(resolve => setTimeout(() => { resolve('no end within 20 s') }, 20_000))])
    const all = Buffer.concat(chunks)
    t.true(atHalfClose < all.length, `the client half-closed before it had every answer (at ${atHalfClose} of ${all.length} bytes)`)
    const bodies = answers(all)
    t.deepEqual(bodies.map(b => b.length), close ? [BIG] : [BIG, SMALL], `half-closed at ${atHalfClose}`)
    t.is(sha(bodies[0]), patternSha(BIG, seeds['/big']))
    if (!close) t.is(sha(bodies[1] ?? Buffer.alloc(0)), patternSha(SMALL, seeds['/small']))
    t.is(how, 'FIN')
  })
}

test('a client that half-closes owed nothing (every answer read, or only part of a head sent) is closed at once', async (t) => {
  const SP = 18803
  const port = await rawBackend(t, (s) => {
    onHeads(s, () => { s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok') })
  })
  await proxyTo(t, SP, port)
  for (const [name, first, partial] of [['after its answer', 'GET /a HTTP/1.1\r\nHost: x\r\n\r\n', ''], ['in a head', 'GET /a HTTP/1.1\r\nHost: x\r\n\r\n', 'GET /b HT']] as const) {
    const c = net.connect({ host: IP, port: SP, allowHalfOpen: true })
    t.teardown(() => { c.destroy() })
    let got = ''
    const t0 = Date.now()
    const ended = new Promise<string>((resolve) => {
      c.on('end', () => { resolve('FIN') })
      c.on('error', (err) => { resolve(`error ${err.message}`) })
      setTimeout(() => { resolve('no end within 5 s') }, 5000)
    })
    c.on('data', (d: Buffer) => {
      got += d.toString('latin1')
      if (got.endsWith('ok')) c.end(partial)
    })
    c.write(first)
    t.is(await ended, 'FIN', name)
    t.true(Date.now() - t0 < 5000)
    t.regex(got, /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nok$/, name)
  }
})

for (const [i, early] of ['', 'hello'].entries()) {
  test(`an upgrade: a client FIN sent before the backend's 101${early === '' ? '' : ' (behind bytes of its own)'} reaches the backend after it, and the backend's last bytes reach the client, then a FIN`, async (t) => {
    const SP = 18805 + i
    let backendGot = ''
    let backendEnded = false
    const port = await rawBackend(t, (s) => {
      let head = true
      s.on('data', (c: Buffer) => {
        if (head) {
          head = false
          const text = c.toString('latin1')
          backendGot = text.slice(text.indexOf('\r\n\r\n') + 4)
          // the answer comes after the client's FIN reached the proxy
          setTimeout(() => { s.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\nfirst ') }, 300)
          return
        }
        backendGot += c.toString('latin1')
      })
      s.on('end', () => {
        backendEnded = true
        s.end(`last (got "${backendGot}")`)
      })
    })
    await proxyTo(t, SP, port)
    const c = net.connect({ host: IP, port: SP, allowHalfOpen: true })
    t.teardown(() => { c.destroy() })
    let got = ''
    c.on('data', (d: Buffer) => { got += d.toString('latin1') })
    const ended = new Promise<string>((resolve) => {
      c.on('end', () => { resolve('FIN') })
      c.on('error', (err) => { resolve(`error ${err.message}`) })
      setTimeout(() => { resolve('no end within 10 s') }, 10_000)
    })
    c.end(`GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n${early}`)
    t.is(await ended, 'FIN')
    t.true(backendEnded, 'the backend got the FIN')
    t.regex(got, /^HTTP\/1\.1 101 Switching Protocols\r\n/)
    t.is(got.slice(got.indexOf('\r\n\r\n') + 4), `first last (got "${early}")`)
  })
}
