// idle_timeout through the proxy (kept by one sweep per listener, src/proxy/idle.ts): a silent
// client connection is closed, never before the timeout; a backend that never answers gets its
// client a 504; bytes that keep moving in either direction keep a long exchange alive, in http
// and tcp mode; a thousand idle connections are all closed, none early.
import test from 'ava'
import http from 'node:http'
import net from 'node:net'
import { waitFor } from '../../helpers/wait.ts'
import { raw, statuses } from './raw.ts'
import { harness, instance, proxyConfig, waitListening, type Harness } from './setup.ts'

const IP = '127.0.13.80'
const BACKEND_IP = '127.0.13.81'
const IDLE_MS = 400

/** A backend answering / at once, /slow with 15 chunks 100 ms apart, /upload once the body ended; and one that reads and never answers. */
async function backends (t: { teardown: (f: () => void) => void }): Promise<{ http: number, silent: number }> {
  const server = http.createServer((req, res) => {
    if (req.url === '/slow') {
      let n = 0
      const timer = setInterval(() => {
        res.write(`chunk ${n}\n`)
        if (++n === 15) { clearInterval(timer); res.end() }
      }, 100)
      res.on('close', () => { clearInterval(timer) })
      return
    }
    let size = 0
    req.on('data', (d: Buffer) => { size += d.length })
    req.on('end', () => { res.end(`got ${size}`) })
  })
  await new Promise<void>(resolve => server.listen(0, BACKEND_IP, resolve))
  const sockets = new Set<net.Socket>()
  const silent = net.createServer((s) => { sockets.add(s); s.resume() })
  await new Promise<void>(resolve => silent.listen(0, BACKEND_IP, resolve))
  t.teardown(() => { server.closeAllConnections(); server.close(); for (const s of sockets) s.destroy(); silent.close() })
  return { http: (server.address() as net.AddressInfo).port, silent: (silent.address() as net.AddressInfo).port }
}

async function proxying (t: Parameters<typeof harness>[0], port: number, sp: number, mode: 'http' | 'tcp' = 'http'): Promise<Harness> {
  const h = await harness(t, { proxy: proxyConfig(IP, { idle_timeout: IDLE_MS }) })
  h.put(instance(`idle-${sp}`, 'host-a', BACKEND_IP, port, sp, { ProxyMode: mode }))
  await h.settle()
  await waitListening(h, sp)
  return h
}

/** Opens a connection and resolves with how long after that it was closed by the other side. */
async function closedAfter (port: number, send?: string): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = net.connect({ host: IP, port })
    const t0 = performance.now()
    s.on('connect', () => { if (send !== undefined) s.write(send) })
    s.resume()
    s.on('close', () => { resolve(performance.now() - t0) })
    s.on('error', reject)
    setTimeout(() => { s.destroy(); reject(new Error('still open after 10 s')) }, 10_000).unref()
  })
}

test('http: a client connection that sends nothing is closed after idle_timeout, not before', async (t) => {
  const SP = 18901
  const b = await backends(t)
  await proxying(t, b.http, SP)
  const ms = await closedAfter(SP)
  t.true(ms >= IDLE_MS, `closed after ${ms.toFixed(0)} ms`)
  t.true(ms < IDLE_MS + 3000, `closed after ${ms.toFixed(0)} ms`)
  // and a keep-alive connection is cut once idle after its request
  const t0 = performance.now()
  const answer = await raw(IP, SP, `GET / HTTP/1.1\r\nHost: x\r\n\r\n`, { timeoutMs: 10_000 })
  t.deepEqual(statuses(answer), [200])
  t.true(performance.now() - t0 >= IDLE_MS)
})

test('http: a backend that accepts the request and never answers gets the client a 504 after idle_timeout', async (t) => {
  const SP = 18902
  const b = await backends(t)
  await proxying(t, b.silent, SP)
  const t0 = performance.now()
  const answer = await raw(IP, SP, `GET / HTTP/1.1\r\nHost: x\r\n\r\n`, { until: a => a.includes('}'), timeoutMs: 10_000 })
  const ms = performance.now() - t0
  t.deepEqual(statuses(answer), [504])
  t.regex(answer, new RegExp(`sent no response within ${IDLE_MS} ms`))
  t.true(ms >= IDLE_MS, `answered after ${ms.toFixed(0)} ms`)
})

test('http: a response that trickles for almost 4x idle_timeout, and an upload that does, are not cut', async (t) => {
  const SP = 18903
  const b = await backends(t)
  await proxying(t, b.http, SP)
  const body = await new Promise<string>((resolve, reject) => {
    http.get({ host: IP, port: SP, path: '/slow', agent: false }, (res) => {
      let s = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => { s += d })
      res.on('end', () => { resolve(s) })
      res.on('error', reject)
    }).on('error', reject)
  })
  t.is(body.split('\n').filter(l => l !== '').length, 15)
  // the backend says nothing until the body ends: the client's bytes keep it from being idle
  const answer = await new Promise<string>((resolve, reject) => {
    const req = http.request({ host: IP, port: SP, path: '/upload', method: 'POST', agent: false, headers: { 'transfer-encoding': 'chunked' } }, (res) => {
      let s = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => { s += d })
      res.on('end', () => { resolve(`${res.statusCode ?? 0} ${s}`) })
    })
    req.on('error', reject)
    let n = 0
    const timer = setInterval(() => {
      req.write('x'.repeat(100))
      if (++n === 15) { clearInterval(timer); req.end() }
    }, 100)
  })
  t.is(answer, '200 got 1500')
})

test('tcp: a silent connection is closed after idle_timeout; one whose bytes keep moving is not', async (t) => {
  const SP = 18904
  // the proxy resets a backend connection it cuts for silence
  const echo = net.createServer((s) => { s.on('error', () => {}); s.pipe(s) })
  await new Promise<void>(resolve => echo.listen(0, BACKEND_IP, resolve))
  t.teardown(() => { echo.close() })
  await proxying(t, (echo.address() as net.AddressInfo).port, SP, 'tcp')
  const ms = await closedAfter(SP)
  t.true(ms >= IDLE_MS, `closed after ${ms.toFixed(0)} ms`)
  const echoed = await new Promise<string>((resolve, reject) => {
    const s = net.connect({ host: IP, port: SP })
    let got = ''
    let n = 0
    s.setEncoding('utf8')
    s.on('data', (d: string) => { got += d })
    s.on('error', reject)
    s.on('close', () => { resolve(got) })
    const timer = setInterval(() => {
      s.write(`${n} `)
      if (++n === 15) { clearInterval(timer); setTimeout(() => { s.end() }, 100) }
    }, 100)
  })
  t.is(echoed.trim().split(' ').length, 15)
})

test('a thousand silent client connections are all closed by the sweep, none before idle_timeout', async (t) => {
  const SP = 18905
  const b = await backends(t)
  const h = await proxying(t, b.http, SP)
  const N = 1000
  const times = await Promise.all(Array.from({ length: N }, async () => await closedAfter(SP)))
  t.is(times.length, N)
  t.true(times.every(ms => ms >= IDLE_MS), `shortest ${Math.min(...times).toFixed(0)} ms`)
  const listener = h.proxy.listeners().find(l => l.port === SP)
  t.truthy(listener)
  await waitFor(() => listener?.connections === 0, { timeoutMs: 5000, message: 'no connection left' })
})
