// SocketReads on real loopback sockets: views of the shared read buffer are copied when
// relayed (a later read of another socket overwrites that buffer), a read that fills it moves
// the socket to a buffer of its own whose views are sent without a copy and hold the reading
// while queued, and detach() refuses a held socket outside a read's callback. The receiving
// sockets are corked, so every write is certain to stay queued. adopt() makes a connection
// accepted by net.Server read that way: it relies on Node internals (net.Socket's symbol keys
// for the `onread` option, `_handle.useUserBuffer`), and its tests are what fails when an
// upgrade of Node changes them.
import test from 'ava'
import net from 'node:net'
import { adopt, BULK_READ_BYTES, bulkSocketCount, isShared, MAX_BULK_SOCKETS, SHARED_READ_BYTES, SocketReads } from '../../../src/proxy/read-buffer.ts'
import { waitFor } from '../../helpers/wait.ts'

const IP = '127.0.13.72'

/** A server that writes payloads[i] to its i-th connection (and later, 500 ms after) and keeps it open. */
async function source (payloads: Buffer[], later?: Buffer): Promise<{ port: number, close: () => void }> {
  let i = 0
  const socks: net.Socket[] = []
  const server = net.createServer((s) => {
    socks.push(s)
    s.on('error', () => {})
    s.write(payloads[i++] ?? Buffer.alloc(0))
    if (later !== undefined) setTimeout(() => { if (!s.destroyed) s.write(later) }, 500)
  })
  await new Promise<void>(resolve => server.listen(0, IP, resolve))
  return { port: (server.address() as net.AddressInfo).port, close: () => { for (const s of socks) s.destroy(); server.close() } }
}

/** A server that collects what each connection sends until it ends. */
async function sink (): Promise<{ port: number, got: Array<Promise<Buffer>>, close: () => void }> {
  const got: Array<Promise<Buffer>> = []
  const server = net.createServer((s) => {
    got.push(new Promise((resolve) => {
      const chunks: Buffer[] = []
      s.on('data', (c: Buffer) => chunks.push(c))
      s.on('end', () => { resolve(Buffer.concat(chunks)) })
    }))
  })
  await new Promise<void>(resolve => server.listen(0, IP, resolve))
  return { port: (server.address() as net.AddressInfo).port, got, close: () => { server.close() } }
}

async function connected (s: net.Socket): Promise<void> {
  await new Promise<void>((resolve, reject) => { s.once('connect', resolve); s.once('error', reject) })
}

/** Options of a socket to port whose high-water mark is over what the tests queue: only a view of an own buffer holds the reading (Duplex reads the option; net's types do not list it). */
function roomy (port: number): net.NetConnectOpts {
  const opts = { host: IP, port, writableHighWaterMark: 8 * BULK_READ_BYTES }
  return opts
}

interface Relay { reads: SocketReads, dest: net.Socket, from: net.Socket, views: Buffer[], received: number }

/** A socket reading from the source with SocketReads, relaying each view to a corked socket to the sink. */
async function relay (srcPort: number, sinkPort: number): Promise<Relay> {
  const dest = net.connect(roomy(sinkPort))
  await connected(dest)
  dest.cork()
  const r = { views: [] as Buffer[], received: 0 } as unknown as Relay
  r.reads = new SocketReads((view) => {
    r.views.push(view)
    r.received += view.length
    r.reads.write(view, dest)
    r.reads.holdWhileQueued(dest)
  })
  r.dest = dest
  r.from = net.connect({ host: IP, port: srcPort, onread: r.reads.options })
  r.reads.attach(r.from)
  // read once the source's bytes are all waiting: the first read is as large as the buffer
  r.from.pause()
  await connected(r.from)
  await new Promise(resolve => setTimeout(resolve, 200))
  r.from.resume()
  return r
}

test('views of the shared buffer are copied when relayed: queued writes of two sockets stay intact after later reads', async (t) => {
  const a = Buffer.alloc(1000, 'a')
  const b = Buffer.alloc(1000, 'b')
  const src = await source([a, b])
  const dst = await sink()
  t.teardown(() => { src.close(); dst.close() })
  const r1 = await relay(src.port, dst.port)
  await waitFor(() => r1.received === a.length, { timeoutMs: 5000, message: 'first read' })
  const r2 = await relay(src.port, dst.port)
  await waitFor(() => r2.received === b.length, { timeoutMs: 5000, message: 'second read' })
  // both views were of the shared buffer: the second read overwrote the first one's bytes there
  t.true(isShared(r1.views[0]) && isShared(r2.views[0]))
  t.is(r1.views[0].buffer, r2.views[0].buffer)
  t.false(r1.reads.held)
  for (const r of [r1, r2]) { r.dest.uncork(); r.dest.end(); r.from.destroy() }
  const [g1, g2] = await Promise.all(dst.got)
  t.deepEqual([g1, g2].sort((x, y) => x[0] - y[0]), [a, b])
})

test('a read that fills the shared buffer moves the socket to its own; its queued views hold the reading until flushed', async (t) => {
  const payload = Buffer.alloc(3 * BULK_READ_BYTES)
  for (let i = 0; i < payload.length; i += 4) payload.writeUInt32LE(i, i)
  const src = await source([payload])
  const dst = await sink()
  t.teardown(() => { src.close(); dst.close() })
  const r = await relay(src.port, dst.port)
  await waitFor(() => r.reads.held, { timeoutMs: 5000, message: 'reading held' })
  // held: no read happens while the view is queued in the corked socket
  const atHold = r.received
  await new Promise(resolve => setTimeout(resolve, 300))
  t.is(r.received, atHold)
  t.true(atHold < payload.length)
  t.true(isShared(r.views[0]))
  t.is(r.views[0].length, SHARED_READ_BYTES)
  const own = r.views[r.views.length - 1]
  t.false(isShared(own))
  t.is(own.buffer.byteLength, BULK_READ_BYTES)
  // uncorked: each flush lets the next read in, until everything has passed
  r.dest.uncork()
  await waitFor(() => r.received === payload.length, { timeoutMs: 10_000, message: 'all read' })
  await waitFor(() => r.dest.writableLength === 0, { timeoutMs: 10_000, message: 'all written' })
  r.dest.end()
  r.from.destroy()
  t.true((await dst.got[0]).equals(payload))
})

test('detach: a held socket can only move on inside a read callback, to the shared buffer', async (t) => {
  const payload = Buffer.alloc(SHARED_READ_BYTES + 100_000, 'x')
  const src = await source([payload], Buffer.alloc(700, 'y'))
  const dst = await sink()
  t.teardown(() => { src.close(); dst.close() })
  const dest = net.connect(roomy(dst.port))
  await connected(dest)
  dest.cork()
  let inside: boolean | undefined
  const views: Buffer[] = []
  const reads = new SocketReads((view) => {
    views.push(view)
    reads.write(view, dest)
    if (!isShared(view)) {
      reads.holdWhileQueued(dest)
      inside = reads.detach() // as an http backend socket released at the end of its response
    }
  })
  const from = net.connect({ host: IP, port: src.port, onread: reads.options })
  reads.attach(from)
  t.teardown(() => { from.destroy(); dest.destroy() })
  from.pause()
  await connected(from)
  await new Promise(resolve => setTimeout(resolve, 200))
  from.resume()
  await waitFor(() => inside !== undefined, { timeoutMs: 5000, message: 'a view of the own buffer' })
  t.true(inside)
  t.false(reads.held) // detached: reading goes on, into the shared buffer
  await waitFor(() => views.length === 3, { timeoutMs: 5000, message: 'the read after detach' })
  t.deepEqual(views.map(v => [v.length, isShared(v)]), [[SHARED_READ_BYTES, true], [100_000, false], [700, true]])
  // outside a callback, a held socket cannot be given a new buffer for its next read
  const reads2 = new SocketReads(() => {})
  const idle = net.connect({ host: IP, port: src.port, onread: reads2.options })
  reads2.attach(idle)
  t.teardown(() => { idle.destroy() })
  await connected(idle)
  reads2.hold()
  t.true(reads2.held)
  t.false(reads2.detach())
  reads2.unhold()
  t.true(reads2.detach())
})

test.serial(`at most ${MAX_BULK_SOCKETS} sockets have a buffer of their own; the others stay on the shared one, and closing gives the places back`, async (t) => {
  const n = MAX_BULK_SOCKETS + 8
  const payload = Buffer.alloc(SHARED_READ_BYTES + 100_000, 'z')
  const src = await source(Array.from({ length: n }, () => payload))
  t.teardown(() => { src.close() })
  const base = bulkSocketCount()
  const views: Buffer[][] = []
  const socks: net.Socket[] = []
  for (let i = 0; i < n; i++) {
    const got: Buffer[] = []
    views.push(got)
    const reads = new SocketReads((view) => { got.push(view) })
    const s = net.connect({ host: IP, port: src.port, onread: reads.options })
    reads.attach(s)
    s.pause() // read once all of the payload waits: the first read fills the shared buffer
    socks.push(s)
  }
  await Promise.all(socks.map(connected))
  await new Promise(resolve => setTimeout(resolve, 300))
  for (const s of socks) s.resume()
  await waitFor(() => views.every(v => v.reduce((a, b) => a + b.length, 0) === payload.length), { timeoutMs: 15_000, message: 'every socket read its payload' })
  const own = views.filter(v => v.some(x => !isShared(x))).length
  t.is(own, MAX_BULK_SOCKETS - base)
  t.is(bulkSocketCount(), MAX_BULK_SOCKETS)
  for (const s of socks) s.destroy()
  await waitFor(() => bulkSocketCount() === base, { timeoutMs: 5000, message: 'places given back' })
})

/** A server (pauseOnConnect, as the proxy's) whose connections are adopted; their reads' copies, and whether each was a view of the shared buffer. */
async function adopting (paused: boolean): Promise<{ server: net.Server, port: number, conns: Array<{ socket: net.Socket, accepted: net.Socket, reads: SocketReads, got: Buffer[], shared: boolean[] }> }> {
  const conns: Array<{ socket: net.Socket, accepted: net.Socket, reads: SocketReads, got: Buffer[], shared: boolean[] }> = []
  const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true }, (accepted) => {
    const got: Buffer[] = []
    const shared: boolean[] = []
    const reads = new SocketReads((view) => { got.push(Buffer.from(view)); shared.push(isShared(view)) })
    const socket = adopt(accepted, reads, paused)
    socket.on('error', () => {})
    socket.on('end', () => { socket.end('bye') })
    conns.push({ socket, accepted, reads, got, shared })
  })
  await new Promise<void>(resolve => server.listen(0, IP, resolve))
  return { server, port: (server.address() as net.AddressInfo).port, conns }
}

test('adopt: an accepted connection reads into the shared buffer; half-close works; the server counts it until it closes', async (t) => {
  const a = await adopting(false)
  t.teardown(() => { a.server.close() })
  const c = net.connect({ host: IP, port: a.port, allowHalfOpen: true })
  t.teardown(() => { c.destroy() })
  await connected(c)
  c.write('hello')
  await waitFor(() => a.conns[0]?.got.length === 1, { timeoutMs: 5000, message: 'the first read' })
  const conn = a.conns[0]
  // a view of the shared buffer: not the stream fallback, which would hand over stream chunks
  t.deepEqual(conn.shared, [true])
  t.is(conn.got[0].toString(), 'hello')
  t.is(conn.socket.remoteAddress, c.localAddress)
  t.is(conn.socket.remotePort, c.localPort)
  const count = async (): Promise<number> => await new Promise((resolve, reject) => { a.server.getConnections((err, n) => { if (err !== null) reject(err); else resolve(n) }) })
  t.is(await count(), 1)
  // the client half-closes: the adopted socket sees the end and still answers
  let answer = ''
  c.setEncoding('utf8')
  c.on('data', (d: string) => { answer += d })
  const ended = new Promise(resolve => c.once('end', resolve))
  c.end()
  await ended
  t.is(answer, 'bye')
  await waitFor(async () => conn.socket.destroyed && await count() === 0, { timeoutMs: 5000, message: 'the server counts no connection' })
  // close() completes: the accepted socket was given back to the server's count
  await new Promise<void>((resolve, reject) => { a.server.close((err) => { if (err !== undefined) reject(err); else resolve() }) })
})

test('adopt, paused: nothing is read until the owner unblocks it; a large write then moves the socket to a buffer of its own', async (t) => {
  const a = await adopting(true)
  t.teardown(() => { a.server.close() })
  const c = net.connect({ host: IP, port: a.port })
  t.teardown(() => { c.destroy() })
  await connected(c)
  const payload = Buffer.alloc(3 * SHARED_READ_BYTES, 'p')
  c.write(payload)
  await waitFor(() => a.conns.length === 1, { timeoutMs: 5000, message: 'the connection' })
  await new Promise(resolve => setTimeout(resolve, 300))
  const conn = a.conns[0]
  t.is(conn.got.length, 0)
  conn.reads.setBlocked(false)
  await waitFor(() => conn.got.reduce((n, b) => n + b.length, 0) === payload.length, { timeoutMs: 5000, message: 'the bytes, once unblocked' })
  t.true(Buffer.concat(conn.got).equals(payload))
  // the first read filled the shared buffer; the next went to a buffer of the socket's own
  t.deepEqual(conn.shared.slice(0, 2), [true, false])
})

test('adopt, on a socket without the handle it relies on (a Node that changed it): the socket is kept and its stream chunks reach the callback', (t) => {
  const got: string[] = []
  const reads = new SocketReads((view) => { got.push(view.toString()) })
  const bare = new net.Socket() // never connected: no handle
  t.is(adopt(bare, reads, false), bare)
  bare.emit('data', Buffer.from('chunk'))
  t.deepEqual(got, ['chunk'])
  bare.destroy()
})
