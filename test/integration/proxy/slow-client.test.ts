// A backend socket reads into a buffer of its own, and what it read is relayed to the client
// as a view of that buffer (src/proxy/read-buffer.ts). These tests make the client slow, so that
// views stay queued in the proxy's client socket, and check every byte with sha256: a read
// that overwrote a queued view would corrupt a download, and a backend socket reused while
// its last view is still queued would corrupt the next response as well.
import test, { type ExecutionContext } from 'ava'
import { createHash } from 'node:crypto'
import http from 'node:http'
import net from 'node:net'
import { MIB, patternSha, piece } from './pattern.ts'
import { harness, instance, proxyConfig, waitListening } from './setup.ts'

const IP = '127.0.13.70'
const BACKEND_IP = '127.0.13.71'

const pattern = (n: number, seed: number): Buffer => piece(0, n, seed)
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

/**
 * /bytes?n=N&seed=S: the pattern with Content-Length, made and written in 256 KiB pieces
 * with backpressure (so the backend holds little of it at a time); /chunked?...: the same
 * without a length (chunked); /trickle?...: chunked, 8 KiB pieces with a pause every 64 KiB
 * (small reads at the proxy); /small?seed=S: a short JSON body; an upgrade request gets a
 * 101, then /bytes' body, and the connection closes. /endless: 256 KiB pieces (8 KiB ones
 * paced like /trickle with ?trickle) with backpressure until the connection closes, counted
 * in endlessSent.
 */
async function patternBackend (t: ExecutionContext): Promise<Backend> {
  const b: Backend = { port: 0, endlessSent: 0, metrics: async () => '' }
  const send = (w: net.Socket | http.ServerResponse, n: number, seed: number, size: number, pauseEvery: number): void => {
    let o = 0
    const pump = (): void => {
      while (o < n) {
        const p = piece(o, Math.min(size, n - o), seed)
        o += p.length
        const ok = w.write(p)
        if (!ok) { w.once('drain', pump); return }
        if (pauseEvery > 0 && o % pauseEvery === 0) { setTimeout(pump, 1); return }
      }
      w.end()
    }
    pump()
  }
  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x')
    const seed = Number(u.searchParams.get('seed') ?? 0)
    const n = Number(u.searchParams.get('n') ?? 0)
    if (u.pathname === '/small') {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ seed }))
      return
    }
    if (u.pathname === '/endless') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' })
      const trickle = u.searchParams.has('trickle')
      const p = piece(0, trickle ? 8 * 1024 : 256 * 1024, seed)
      const pump = (): void => {
        while (!res.destroyed) {
          b.endlessSent += p.length
          if (!res.write(p)) { res.once('drain', pump); return }
          if (trickle && b.endlessSent % (64 * 1024) === 0) { setTimeout(pump, 1); return }
        }
      }
      pump()
      return
    }
    res.writeHead(200, u.pathname === '/bytes' ? { 'content-length': n } : { 'content-type': 'application/octet-stream' })
    if (u.pathname === '/trickle') send(res, n, seed, 8 * 1024, 64 * 1024)
    else send(res, n, seed, 256 * 1024, 0)
  })
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket) => {
    const u = new URL(req.url ?? '/', 'http://x')
    socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n')
    send(socket, Number(u.searchParams.get('n') ?? 0), Number(u.searchParams.get('seed') ?? 0), 256 * 1024, 0)
  })
  await new Promise<void>(resolve => server.listen(0, BACKEND_IP, resolve))
  t.teardown(async () => { await new Promise<void>(resolve => { server.close(() => { resolve() }); server.closeAllConnections() }) })
  b.port = (server.address() as net.AddressInfo).port
  return b
}

interface Backend { port: number, endlessSent: number, metrics: () => Promise<string> }

async function setup (t: ExecutionContext, sp: number, mode: 'http' | 'tcp' = 'http'): Promise<Backend> {
  const b = await patternBackend(t)
  const h = await harness(t, { proxy: proxyConfig(IP) })
  h.put(instance('slow', 'host-a', BACKEND_IP, b.port, sp, { ProxyMode: mode }))
  await h.settle()
  await waitListening(h, sp)
  b.metrics = async () => await h.metrics.text()
  return b
}

interface Got { status: number, bytes: number, sha: string, pauses: number, body: Buffer | undefined }

/**
 * GET through agent (keep-alive when given); the reader stops for pauseMs after every
 * everyBytes received. The body is hashed as it comes (kept only when keep is set).
 */
async function slowGet (sp: number, path: string, agent: http.Agent | false, everyBytes: number, pauseMs: number, keep = false): Promise<Got> {
  return await new Promise((resolve, reject) => {
    const req = http.get({ host: IP, port: sp, path, agent }, (res) => {
      const h = createHash('sha256')
      const chunks: Buffer[] = []
      let bytes = 0
      let since = 0
      let pauses = 0
      res.on('data', (c: Buffer) => {
        h.update(c)
        if (keep) chunks.push(c)
        bytes += c.length
        since += c.length
        if (since >= everyBytes) {
          since = 0
          pauses++
          res.pause()
          setTimeout(() => { res.resume() }, pauseMs)
        }
      })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, bytes, sha: h.digest('hex'), pauses, body: keep ? Buffer.concat(chunks) : undefined }) })
      res.on('error', reject)
    })
    req.setTimeout(60_000, () => { req.destroy(new Error(`no answer to ${path} within 60 s`)) })
    req.on('error', reject)
  })
}

test('a slow client: 16 MiB length-framed and chunked downloads on one keep-alive connection arrive intact', async (t) => {
  const SP = 18790
  await setup(t, SP)
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => { agent.destroy() })
  for (const [kind, seed] of [['bytes', 0x5a5a1234], ['chunked', 0x0badf00d], ['bytes', 0x13572468]] as const) {
    const r = await slowGet(SP, `/${kind}?n=${16 * MIB}&seed=${seed}`, agent, 512 * 1024, 15)
    t.is(r.status, 200)
    t.is(r.bytes, 16 * MIB, kind)
    t.is(r.sha, patternSha(16 * MIB, seed), `${kind} seed ${seed}`)
    t.true(r.pauses >= 20)
  }
})

test('a backend connection reused while a slow client still has its last bytes queued: every response intact', async (t) => {
  const SP = 18791
  await setup(t, SP)
  // 512 KiB requests all along on their own connection, read at once: each takes the most
  // recently parked backend socket, which is the download's as soon as its response is read
  // to the end, and fills that socket's read buffer
  let stop = false
  const other: Array<Promise<boolean>> = []
  const keep = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => { keep.destroy() })
  const want = new Map<number, string>()
  const others = (async () => {
    for (let i = 1; !stop && i < 5000; i++) {
      const seed = 0x7000 + (i % 8)
      if (!want.has(seed)) want.set(seed, patternSha(512 * 1024, seed))
      other.push(slowGet(SP, `/bytes?n=${512 * 1024}&seed=${seed}`, keep, Infinity, 0).then(r => r.status === 200 && r.sha === want.get(seed)))
      await other[other.length - 1]
    }
  })()
  try {
    // read slower than the proxy writes, with more than the kernel's socket buffers hold: the
    // response's last bytes are still queued in the proxy when its backend socket is parked
    for (let round = 0; round < 5; round++) {
      const seed = 0x1000 + round
      const n = 12 * MIB + 4 * round + 4
      const r = await slowGet(SP, `/bytes?n=${n}&seed=${seed}`, false, 64 * 1024, 5)
      t.is(r.bytes, n)
      t.is(r.sha, patternSha(n, seed), `download ${round}`)
    }
  } finally {
    stop = true
    await others
  }
  const ok = await Promise.all(other)
  t.true(ok.length > 10, `${ok.length} other requests`)
  t.is(ok.filter(x => !x).length, 0)
})

for (const mode of ['http', 'tcp'] as const) {
  test(`${mode} mode: 8 slow clients of trickling backends (small reads, through the shared buffer) get every byte intact`, async (t) => {
    const SP = mode === 'http' ? 18794 : 18795
    await setup(t, SP, mode)
    const n = 4 * MIB
    const runs = await Promise.all(Array.from({ length: 8 }, async (_, i) => {
      const seed = 0x3100 + i
      // slower than the backend: the client's socket fills, and copies wait in the proxy
      return { seed, r: await slowGet(SP, `/trickle?n=${n}&seed=${seed}`, false, 64 * 1024, 40) }
    }))
    for (const { seed, r } of runs) {
      t.is(r.bytes, n)
      t.is(r.sha, patternSha(n, seed), `seed ${seed}`)
    }
  })

  for (const [i, pace] of ['', 'trickle'].entries()) test(`${mode} mode: a client that stops reading stops the backend${pace === '' ? '' : ' (small reads)'}; reading again moves it again`, async (t) => {
    const SP = (mode === 'http' ? 18796 : 18798) + i
    const b = await setup(t, SP, mode)
    const s = net.connect({ host: IP, port: SP })
    t.teardown(() => { s.destroy() })
    s.pause()
    s.write(`GET /endless?seed=7${pace === '' ? '' : '&trickle'} HTTP/1.1\r\nHost: x\r\n\r\n`)
    // the backend's count stops once the kernel's buffers and the proxy's bounded share are
    // full; a proxy without backpressure would read (and hold) all it is sent
    const stable = async (): Promise<number> => {
      let last = -1
      let same = 0
      const deadline = Date.now() + 20_000
      while (Date.now() < deadline) {
        await new Promise(resolve => setTimeout(resolve, 200))
        if (b.endlessSent === last && last > 0) { if (++same >= 3) return last } else same = 0
        last = b.endlessSent
      }
      return -1
    }
    const stopped = await stable()
    t.true(stopped > 0, 'the backend kept sending to a client that reads nothing')
    t.true(stopped < 512 * MIB, `${stopped} bytes sent`)
    t.log(`stopped after ${(stopped / MIB).toFixed(1)} MiB (the kernel's socket buffers and the proxy's share)`)
    // a large transfer (and not the trickle, read 8 KiB at a time) reads into a buffer of its own, shown in /metrics
    if (pace === '') t.regex(await b.metrics(), /^sidecar_proxy_bulk_read_sockets [1-9]\d*$/m)
    let got = 0
    await new Promise<void>((resolve) => {
      s.on('data', (c: Buffer) => { got += c.length; if (got > stopped + 64 * MIB) resolve() })
      s.resume()
    })
    t.true(b.endlessSent > stopped + 32 * MIB)
  })
}

test('a slow client behind an upgrade: 8 MiB sent by the backend after its 101 arrive intact', async (t) => {
  const SP = 18792
  await setup(t, SP)
  const seed = 0x77aa55
  const got = await new Promise<Buffer>((resolve, reject) => {
    const s = net.connect({ host: IP, port: SP })
    const chunks: Buffer[] = []
    let since = 0
    s.on('connect', () => { s.write(`GET /tunnel?n=${8 * MIB}&seed=${seed} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n`) })
    s.on('data', (c: Buffer) => {
      chunks.push(c)
      since += c.length
      if (since >= 256 * 1024) {
        since = 0
        s.pause()
        setTimeout(() => { s.resume() }, 10)
      }
    })
    s.on('end', () => { s.end(); resolve(Buffer.concat(chunks)) })
    s.on('error', reject)
    s.setTimeout(60_000, () => { s.destroy(new Error('tunnel timed out')) })
  })
  const headEnd = got.indexOf('\r\n\r\n')
  t.regex(got.subarray(0, headEnd).toString('latin1'), /^HTTP\/1\.1 101 /)
  const body = got.subarray(headEnd + 4)
  t.is(body.length, 8 * MIB)
  t.is(sha(body), sha(pattern(8 * MIB, seed)))
})

test('tcp mode, a slow client: 16 MiB downloads on one connection arrive intact', async (t) => {
  const SP = 18793
  await setup(t, SP, 'tcp')
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => { agent.destroy() })
  for (const [kind, seed] of [['bytes', 0x2468ace0], ['chunked', 0x1357bdf0]] as const) {
    const r = await slowGet(SP, `/${kind}?n=${16 * MIB}&seed=${seed}`, agent, 512 * 1024, 15)
    t.is(r.status, 200)
    t.is(r.sha, patternSha(16 * MIB, seed), `${kind} seed ${seed}`)
    t.true(r.pauses >= 20)
  }
})

test('a response delimited by the backend closing, to a slow client: every byte arrives, then the connection closes', async (t) => {
  const SP = 18789
  const seed = 0x66cc11
  const n = 12 * MIB
  // a raw backend: a head with neither Content-Length nor chunked, the body, then close
  const raw = net.createServer((s) => {
    s.on('error', () => {})
    let head = ''
    s.on('data', (c: Buffer) => {
      head += c.toString('latin1')
      if (!head.includes('\r\n\r\n')) return
      s.removeAllListeners('data')
      s.write('HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n')
      let o = 0
      const pump = (): void => {
        while (o < n) {
          const p = piece(o, Math.min(256 * 1024, n - o), seed)
          o += p.length
          if (!s.write(p)) { s.once('drain', pump); return }
        }
        s.end()
      }
      pump()
    })
  })
  await new Promise<void>(resolve => raw.listen(0, BACKEND_IP, resolve))
  t.teardown(() => { raw.close() })
  const h = await harness(t, { proxy: proxyConfig(IP) })
  h.put(instance('closing', 'host-a', BACKEND_IP, (raw.address() as net.AddressInfo).port, SP))
  await h.settle()
  await waitListening(h, SP)
  const r = await slowGet(SP, '/', false, 512 * 1024, 15)
  t.is(r.status, 200)
  t.is(r.bytes, n)
  t.is(r.sha, patternSha(n, seed))
})
