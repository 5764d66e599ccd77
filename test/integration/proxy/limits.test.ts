// Upgrades and limits of the raw-socket path: WebSocket echo and close codes both ways; a
// backend that accepts upgrades and never answers (issue 11, attack 5) releases every fd after
// header_timeout; the per-listener connection cap; a slow-loris head; a closed listener's
// metric series disappear.
import test from 'ava'
import { readdirSync } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import { WebSocket, WebSocketServer } from 'ws'
import { ServiceStatus } from '../../../src/service/index.ts'
import { waitFor } from '../../helpers/wait.ts'
import { loggingBackend, raw, statuses } from './raw.ts'
import { harness, instance, proxyConfig, waitListening } from './setup.ts'

const IP = '127.0.13.40'
const BACKEND_IP = '127.0.13.41'

const openFds = (): number => readdirSync('/proc/self/fd').length

test('WebSocket: echo through the proxy, and close codes travel both ways', async (t) => {
  const SP = 18751
  const server = http.createServer()
  const wss = new WebSocketServer({ server })
  const closedByClient: Array<[number, string]> = []
  wss.on('connection', (ws) => {
    ws.on('message', (m: Buffer) => {
      if (m.toString() === 'bye') ws.close(4002, 'server says bye')
      else ws.send(`echo: ${m.toString()}`)
    })
    ws.on('close', (code, reason) => { closedByClient.push([code, reason.toString()]) })
  })
  await new Promise<void>(resolve => server.listen(0, BACKEND_IP, resolve))
  t.teardown(() => { for (const c of wss.clients) c.terminate(); server.close() })
  const h = await harness(t, { proxy: proxyConfig(IP) })
  h.put(instance('ws', 'host-a', BACKEND_IP, (server.address() as net.AddressInfo).port, SP))
  await h.settle()
  await waitListening(h, SP)

  const open = async (): Promise<WebSocket> => await new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${IP}:${SP}/chat`)
    ws.once('open', () => { resolve(ws) })
    ws.once('error', reject)
  })
  const a = await open()
  const replies: string[] = []
  a.on('message', (m: Buffer) => replies.push(m.toString()))
  for (let i = 0; i < 100; i++) a.send(`m${i}`)
  await waitFor(() => replies.length === 100, { timeoutMs: 5000, message: '100 echoes' })
  t.deepEqual(replies.slice(0, 2), ['echo: m0', 'echo: m1'])
  a.close(4001, 'client says bye')
  await waitFor(() => closedByClient.length === 1, { timeoutMs: 5000, message: 'the backend saw the close' })
  t.deepEqual(closedByClient[0], [4001, 'client says bye'])

  const b = await open()
  const closed = new Promise<[number, string]>(resolve => { b.once('close', (code, reason) => { resolve([code, reason.toString()]) }) })
  b.send('bye')
  t.deepEqual(await closed, [4002, 'server says bye'])
  await waitFor(() => h.proxy.report().listeners[0].totals.requests === 2, { timeoutMs: 5000, message: 'both upgrades counted when they ended' })
})

test('a backend that accepts upgrades and never answers: 200 clients get 504 after header_timeout and every fd is released', async (t) => {
  const SP = 18752
  const held = new Set<net.Socket>()
  let accepted = 0
  const silent = net.createServer((s) => { accepted++; held.add(s); s.on('close', () => held.delete(s)); s.on('error', () => {}); s.resume() })
  await new Promise<void>(resolve => silent.listen(0, BACKEND_IP, resolve))
  t.teardown(() => { for (const s of held) s.destroy(); silent.close() })
  const h = await harness(t, { proxy: proxyConfig(IP, { header_timeout: 1000 }) })
  h.put(instance('silent', 'host-a', BACKEND_IP, (silent.address() as net.AddressInfo).port, SP))
  await h.settle()
  await waitListening(h, SP)
  const before = openFds()
  const N = 200
  const upgrade = `GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${Buffer.alloc(16, 1).toString('base64')}\r\n\r\n`
  const t0 = Date.now()
  const answers = await Promise.all(Array.from({ length: N }, async () => await raw(IP, SP, upgrade, { timeoutMs: 20_000 })))
  const took = Date.now() - t0
  t.is(accepted, N, 'every upgrade reached the silent backend')
  t.deepEqual([...new Set(answers.map(a => statuses(a).join(',')))], ['504'], 'each client got a 504 and its connection closed')
  t.regex(answers[0], /"reason":"upgrade timeout"/)
  t.true(took < 15_000, `answered within ${took} ms`)
  await waitFor(() => held.size === 0, { timeoutMs: 5000, message: () => `the proxy closed its backend sockets (${held.size} still open)` })
  await waitFor(() => h.proxy.listeners()[0].connections === 0, { timeoutMs: 5000, message: () => `client connections closed (${h.proxy.listeners()[0].connections} open)` })
  await waitFor(() => openFds() <= before + 10, { timeoutMs: 5000, message: () => `fds back to ${before} (now ${openFds()})` })
  t.pass()
})

test('connection cap: connections over max_connections are closed at accept and counted; the listener serves again once below', async (t) => {
  const SP = 18753
  const b = await loggingBackend(BACKEND_IP)
  t.teardown(async () => { await b.close() })
  const h = await harness(t, { proxy: proxyConfig(IP, { max_connections: 20 }) })
  h.put(instance('capped', 'host-a', b.ip, b.port, SP))
  await h.settle()
  await waitListening(h, SP)
  const held: net.Socket[] = []
  t.teardown(() => { for (const s of held) s.destroy() })
  for (let i = 0; i < 20; i++) {
    const s = net.connect({ host: IP, port: SP })
    s.on('error', () => {})
    held.push(s)
  }
  await waitFor(() => h.proxy.listeners()[0].connections === 20, { timeoutMs: 5000, message: '20 connections open' })
  const extra = await Promise.all(Array.from({ length: 10 }, async () => await raw(IP, SP, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', { timeoutMs: 3000 })))
  t.deepEqual(extra, Array(10).fill(''), 'the 10 over the cap were closed without an answer')
  await waitFor(async () => /sidecar_proxy_rejections_total\{service="capped",port="18753",reason="connection cap"\} 10/.test(await h.metrics.text()), { timeoutMs: 5000, message: 'the 10 refusals counted' })
  for (const s of held) s.destroy()
  await waitFor(() => h.proxy.listeners()[0].connections === 0, { timeoutMs: 5000, message: 'connections closed' })
  t.deepEqual(statuses(await raw(IP, SP, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')), [200])
})

test('a slow-loris head gets 408 after header_timeout; an idle keep-alive connection is not cut by it', async (t) => {
  const SP = 18754
  const b = await loggingBackend(BACKEND_IP)
  t.teardown(async () => { await b.close() })
  const h = await harness(t, { proxy: proxyConfig(IP, { header_timeout: 500 }) })
  h.put(instance('loris', 'host-a', b.ip, b.port, SP))
  await h.settle()
  await waitListening(h, SP)
  const slow = await raw(IP, SP, 'GET / HTTP/1.1\r\nHost: x\r\nX-Slow: 1', { timeoutMs: 5000 })
  t.deepEqual(statuses(slow), [408])
  t.deepEqual(b.seen, [])
  // a connection that finished a request and then waits longer than header_timeout stays usable
  const s = net.connect({ host: IP, port: SP })
  t.teardown(() => { s.destroy() })
  let got = ''
  s.on('data', (c: Buffer) => { got += c.toString() })
  s.write('GET /1 HTTP/1.1\r\nHost: x\r\n\r\n')
  await waitFor(() => statuses(got).length === 1, { timeoutMs: 5000, message: 'first answer' })
  await new Promise(resolve => setTimeout(resolve, 1000))
  s.write('GET /2 HTTP/1.1\r\nHost: x\r\n\r\n')
  await waitFor(() => statuses(got).length === 2, { timeoutMs: 5000, message: 'second answer on the same connection' })
  t.deepEqual(statuses(got), [200, 200])
  t.regex(await h.metrics.text(), /sidecar_proxy_rejections_total\{service="loris",port="18754",reason="header timeout"\} 1/)
})

test('a closed listener leaves no metric series behind', async (t) => {
  const SP = 18755
  const b = await loggingBackend(BACKEND_IP)
  t.teardown(async () => { await b.close() })
  const h = await harness(t, { proxy: proxyConfig(IP, { drain_grace: 100 }) })
  h.put(instance('departed', 'host-a', b.ip, b.port, SP))
  await h.settle()
  await waitListening(h, SP)
  t.deepEqual(statuses(await raw(IP, SP, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')), [200])
  t.regex(await h.metrics.text(), /service="departed"/)
  h.put(instance('departed', 'host-a', b.ip, b.port, SP, { Status: ServiceStatus.TOMBSTONE }))
  await h.settle()
  await waitFor(() => h.proxy.report().listeners.length === 0, { timeoutMs: 5000, message: 'listener gone' })
  t.notRegex(await h.metrics.text(), /service="departed"/)
})

test('5,000 pipelined requests in one burst to a listener with no healthy instance: 5,000 answers in order, no crash', async (t) => {
  const SP = 18756
  const b = await loggingBackend(BACKEND_IP)
  t.teardown(async () => { await b.close() })
  const h = await harness(t, { proxy: proxyConfig(IP) })
  h.put(instance('down', 'host-a', b.ip, b.port, SP, { Status: ServiceStatus.UNHEALTHY }))
  await h.settle()
  await waitListening(h, SP)
  const N = 5000
  const burst = 'GET / HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(N - 1) + 'GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
  const answer = await raw(IP, SP, burst, { timeoutMs: 20_000 })
  const got = statuses(answer)
  t.is(got.length, N)
  t.true(got.every(s => s === 503))
  t.is(h.proxy.report().listeners[0].totals.requests, N)
})
