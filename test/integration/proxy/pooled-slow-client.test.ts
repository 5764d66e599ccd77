// A backend connection goes back to the pool while the end of its last answer is still queued
// for a client that stopped reading (src/proxy/read-buffer.ts: the socket moves to the shared
// buffer, so its next read cannot overwrite those bytes). The next client on that connection
// must not wait for the first one: before 2026-12-07 the writes queued for the first client
// still held the connection's reads, and the second download stopped until the first client
// read again, or its idle_timeout cut it. Raw `net` clients and backend, every byte checked.
import test, { type ExecutionContext } from 'ava'
import { createHash } from 'node:crypto'
import net from 'node:net'
import { MIB, patternSha, piece } from './pattern.ts'
import { harness, instance, proxyConfig, waitListening } from './setup.ts'

const IP = '127.0.88.3'
const BACKEND_IP = '127.0.88.4'

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

/** A raw keep-alive backend: /aN gets sizes['/a'] bytes of the pattern seeds['/a'] + N, /bN likewise, each answer in one write; the connection each path came on is recorded. */
async function backend (t: ExecutionContext, sizes: Record<string, number>, seeds: Record<string, number>): Promise<{ port: number, conns: Map<string, number> }> {
  const conns = new Map<string, number>()
  const open = new Set<net.Socket>()
  let next = 0
  const server = net.createServer((s) => {
    const id = ++next
    open.add(s)
    s.on('close', () => open.delete(s))
    s.on('error', () => {})
    let buf = ''
    s.on('data', (c: Buffer) => {
      buf += c.toString('latin1')
      for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
        const path = buf.slice(0, end).split(' ')[1]
        buf = buf.slice(end + 4)
        conns.set(path, id)
        const n = sizes[path.slice(0, 2)]
        s.write(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${n}\r\n\r\n`), piece(0, n, seeds[path.slice(0, 2)] + Number(path.slice(2)))]))
      }
    })
  })
  await new Promise<void>(resolve => server.listen(0, BACKEND_IP, resolve))
  t.teardown(async () => {
    for (const s of open) s.destroy()
    await new Promise<void>(resolve => { server.close(() => { resolve() }) })
  })
  return { port: (server.address() as net.AddressInfo).port, conns }
}

/** A raw client reading at about `rate` bytes a second (pausing after each read for as long as its bytes take at that rate), until stop(); go() reads on at full speed. */
function client (sp: number, request: string, rate: number): { socket: net.Socket, bytes: () => number, body: () => Buffer, stop: () => void, go: () => void, done: (total: number) => Promise<void> } {
  const socket = net.connect({ host: IP, port: sp })
  const chunks: Buffer[] = []
  let got = 0
  let stopped = false
  let paced = true
  const waiters: Array<() => void> = []
  let want = Infinity
  socket.on('error', () => {})
  socket.on('data', (d: Buffer) => {
    chunks.push(d)
    got += d.length
    if (got >= want) for (const w of waiters.splice(0)) w()
    if (paced) {
      socket.pause()
      setTimeout(() => { if (!stopped) socket.resume() }, d.length / rate * 1000)
    }
  })
  socket.write(request)
  return {
    socket,
    bytes: () => got,
    body: () => { const all = Buffer.concat(chunks); return all.subarray(all.indexOf('\r\n\r\n') + 4) },
    stop: () => { stopped = true; socket.pause() },
    go: () => { stopped = false; paced = false; socket.resume() },
    done: async (total) => {
      want = total
      if (got >= total) return
      await new Promise<void>((resolve) => { waiters.push(resolve) })
    },
  }
}

const within = async (p: Promise<void>, ms: number, what: string): Promise<boolean> =>
  await Promise.race([p.then(() => true), new Promise<boolean>(resolve => setTimeout(() => { resolve(false) }, ms))])
    .then((ok) => { if (!ok) throw new Error(`${what}: not within ${ms} ms`); return ok })

test('a client that stops reading with its answer\'s end queued does not hold the next download on the same backend connection', async (t) => {
  const SP = 18811
  const sizes = { '/a': 16 * MIB, '/b': 8 * MIB }
  const seeds = { '/a': 0x0a0a1111, '/b': 0x0b0b2222 }
  const b = await backend(t, sizes, seeds)
  const h = await harness(t, { proxy: proxyConfig(IP, { access_log: 'json' }) }) // idle_timeout: 60 s
  h.put(instance('pooled', 'host-a', BACKEND_IP, b.port, SP))
  await h.settle()
  await waitListening(h, SP)
  const head = (n: number): number => `HTTP/1.1 200 OK\r\nContent-Length: ${n}\r\n\r\n`.length

  // three rounds: in a round the end of A's answer may all have gone into the kernel's
  // buffers (about 2 in 5 here), and then there is nothing queued to hold B
  for (let round = 1; round <= 3; round++) {
    // A reads slower than the proxy writes; when the proxy has read A's whole answer (its access
    // log line, written in this process), A stops reading: the answer's end stays queued for A
    // and the backend connection goes back to the pool
    const a = client(SP, `GET /a${round} HTTP/1.1\r\nHost: x\r\n\r\n`, 4e6)
    t.teardown(() => { a.socket.destroy() })
    await within(new Promise<void>((resolve) => {
      const push = Array.prototype.push.bind(h.access)
      h.access.push = (...lines: string[]): number => {
        if (lines.some(l => l.includes(`"/a${round}"`))) { a.stop(); resolve() }
        return push(...lines)
      }
    }), 30_000, 'the proxy reading A\'s answer')
    const aStopped = a.bytes()
    t.true(aStopped < head(sizes['/a']) + sizes['/a'], 'A stopped before it had its whole answer')

    // B takes the same backend connection (the only one parked); it reads nothing for 500 ms, so
    // that a view is queued for it too (its socket holds less than 8 MiB), then all it can
    const t0 = Date.now()
    const c = client(SP, `GET /b${round} HTTP/1.1\r\nHost: x\r\n\r\n`, 1)
    c.stop()
    t.teardown(() => { c.socket.destroy() })
    await new Promise(resolve => setTimeout(resolve, 500))
    c.go()
    let bDone = true
    try {
      await within(c.done(head(sizes['/b']) + sizes['/b']), 20_000, 'B')
    } catch (err) {
      bDone = false
      t.fail(`${(err as Error).message}: it waits for A, which has read nothing since (${c.bytes()} of ${head(sizes['/b']) + sizes['/b']} bytes)`)
    }
    t.log(`round ${round}, B: ${sizes['/b']} bytes in ${Date.now() - t0} ms while A reads nothing`)
    t.is(b.conns.get(`/b${round}`), b.conns.get(`/a${round}`), 'B went to the backend on A\'s connection')
    if (bDone) t.is(sha(c.body().subarray(0, sizes['/b'])), patternSha(sizes['/b'], seeds['/b'] + round))
    t.is(a.bytes(), aStopped, 'A read nothing meanwhile')

    // A reads again: the end of its answer was kept for it
    a.go()
    await within(a.done(head(sizes['/a']) + sizes['/a']), 20_000, 'A\'s rest')
    const body = a.body()
    t.is(body.length, sizes['/a'])
    t.is(sha(body), patternSha(sizes['/a'], seeds['/a'] + round))
    if (!bDone) {
      await within(c.done(head(sizes['/b']) + sizes['/b']), 20_000, 'B after A read on')
      t.log(`B completed ${Date.now() - t0} ms after its request, once A read again`)
    }
  }
})
