// A backend that accepts connections and never answers (a deadlocked application, a process
// stopped with SIGSTOP): each request it gets waits for a timeout, so it must count against
// it for passive health, as a reset does, and a backend back from its ejection must not take
// more than one client at a time until it answers again. Short timeouts keep this to seconds.
import test, { type ExecutionContext } from 'ava'
import { once } from 'node:events'
import net from 'node:net'
import { getJson, httpBackend } from '../../helpers/backends.ts'
import { waitFor } from '../../helpers/wait.ts'
import { eachRequest } from './raw.ts'
import { harness, instance, proxyConfig, waitListening, type Harness } from './setup.ts'
import type { ProxySection } from '../../../src/config/types.ts'

const IP = '127.0.39.20'
const GOOD_IP = '127.0.39.21'
const HUNG_IP = '127.0.39.22'

/** A server that accepts and reads (or, noRead, does not even read) and never writes a byte. */
async function silentServer (t: ExecutionContext, noRead = false): Promise<{ port: number, accepted: () => number }> {
  const sockets = new Set<net.Socket>()
  let accepted = 0
  const server = net.createServer({ pauseOnConnect: noRead }, (s) => {
    accepted++
    sockets.add(s)
    s.on('error', () => {})
    s.on('close', () => sockets.delete(s))
    if (!noRead) s.resume()
  })
  await new Promise<void>(resolve => server.listen(0, HUNG_IP, resolve))
  t.teardown(() => { for (const s of sockets) s.destroy(); server.close() })
  return { port: (server.address() as net.AddressInfo).port, accepted: () => accepted }
}

async function twoInstances (t: ExecutionContext, sp: number, hungPort: number, mode: string, proxy: Partial<ProxySection>): Promise<{ h: Harness, goodPort: number }> {
  let goodPort: number
  if (mode === 'tcp') {
    const server = net.createServer((s) => { s.on('error', () => {}); s.on('data', (d) => s.write(`good: ${d.toString()}`)) })
    await new Promise<void>(resolve => server.listen(0, GOOD_IP, resolve))
    t.teardown(() => { server.close() })
    goodPort = (server.address() as net.AddressInfo).port
  } else {
    const good = await httpBackend('good', GOOD_IP)
    t.teardown(async () => { await good.close() })
    goodPort = good.port
  }
  const h = await harness(t, { proxy: proxyConfig(IP, { ejection_base: 60_000, ...proxy }) })
  h.put(instance('svc', 'host-good', GOOD_IP, goodPort, sp, { ProxyMode: mode }))
  h.put(instance('svc', 'host-hung', HUNG_IP, hungPort, sp, { ProxyMode: mode }))
  await h.settle()
  await waitListening(h, sp)
  return { h, goodPort }
}

function hungBackend (h: Harness): { state: string, failures: number, requests: number, ejections: number } {
  const b = h.proxy.report().listeners[0].backends.find(x => x.hostname === 'host-hung')
  if (b === undefined) throw new Error('no host-hung backend')
  return b
}

/** 10 GETs at once, then 20 one after another: what each got, and how long the slowest waited. */
async function load (sp: number): Promise<{ statuses: number[], from: Record<string, number>, slowMs: number[] }> {
  const statuses: number[] = []
  const from: Record<string, number> = {}
  const slowMs: number[] = []
  const one = async (): Promise<void> => {
    const t0 = Date.now()
    const r = await getJson(`http://${IP}:${sp}/`)
    statuses.push(r.status)
    const who = String(r.body.backend ?? r.body.reason)
    from[who] = (from[who] ?? 0) + 1
    if (Date.now() - t0 > 200) slowMs.push(Date.now() - t0)
  }
  await Promise.all(Array.from({ length: 10 }, one))
  for (let i = 0; i < 20; i++) await one()
  return { statuses, from, slowMs }
}

test('http: a backend that reads requests and never answers is ejected at its first idle timeout, and later requests go elsewhere', async (t) => {
  const SP = 19201
  const hung = await silentServer(t)
  const { h } = await twoInstances(t, SP, hung.port, 'http', { idle_timeout: 300 })
  const r = await load(SP)
  t.log(r.from, `slow: ${r.slowMs.join(', ')} ms`)
  // the burst of 10 shares the two; from the first timeout on, the hung one is out
  t.true(r.statuses.filter(s => s === 504).length <= 5, `504s: ${r.statuses.filter(s => s === 504).length}`)
  t.is(r.statuses.slice(10).filter(s => s !== 200).length, 0, 'the 20 requests after the burst all answered by the good instance')
  const b = hungBackend(h)
  t.is(b.state, 'ejected')
  t.is(b.ejections, 1)
  t.true(b.failures >= 1)
  t.is(h.proxy.report().listeners[0].totals.ejections, 1)
  t.regex(await h.metrics.text(), /sidecar_proxy_ejections_total\{service="svc",port="19201"\} 1/)
})

test('http: a backend that accepts and never reads is ejected when request_timeout passes without a response head', async (t) => {
  const SP = 19202
  const hung = await silentServer(t, true)
  const { h } = await twoInstances(t, SP, hung.port, 'http', { request_timeout: 300 })
  const r = await load(SP)
  t.log(r.from, `slow: ${r.slowMs.join(', ')} ms`)
  t.true(r.statuses.filter(s => s === 504).length <= 5)
  t.is(r.statuses.slice(10).filter(s => s !== 200).length, 0, 'the 20 requests after the burst all answered by the good instance')
  t.is(hungBackend(h).state, 'ejected')
})

test('http: a client that stops sending its body does not count against the backend', async (t) => {
  const SP = 19203
  const hung = await silentServer(t)
  // only the silent backend: a lone instance is never ejected, so two of them
  const other = await silentServer(t)
  const h = await harness(t, { proxy: proxyConfig(IP, { idle_timeout: 300 }) })
  h.put(instance('svc', 'host-hung', HUNG_IP, hung.port, SP))
  h.put(instance('svc', 'host-other', HUNG_IP, other.port, SP))
  await h.settle()
  await waitListening(h, SP)
  const s = net.connect({ host: IP, port: SP })
  s.on('error', () => {})
  let answer = ''
  s.on('data', (d: Buffer) => { answer += d.toString() })
  s.write(`POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\nhalf`)
  await once(s, 'end')
  s.destroy()
  t.regex(answer, /^HTTP\/1\.1 504 /)
  t.deepEqual(h.proxy.report().listeners[0].backends.map(b => b.failures), [0, 0])
  t.true(h.proxy.report().listeners[0].backends.every(b => b.state === 'active'))
})

test('http: a hung backend back from its ejection takes one request at a time until it answers', async (t) => {
  const SP = 19204
  const hung = await silentServer(t)
  const { h } = await twoInstances(t, SP, hung.port, 'http', { idle_timeout: 1500, ejection_base: 300, ejection_max: 300 })
  // eject it: one request on it times out
  await Promise.all([getJson(`http://${IP}:${SP}/`), getJson(`http://${IP}:${SP}/`)])
  t.is(hungBackend(h).ejections, 1)
  // the ejection ends: it reads `probation` (not `active`) until it answers a request
  await waitFor(() => hungBackend(h).state === 'probation', { timeoutMs: 3000, message: () => `the ejection ends: ${JSON.stringify(hungBackend(h))}` })
  const before = hungBackend(h).requests
  // 20 clients at once, while its first request since the ejection hangs
  const r = await Promise.all(Array.from({ length: 20 }, async () => await getJson(`http://${IP}:${SP}/`)))
  const onHung = hungBackend(h).requests - before
  t.log(`requests on the hung backend after its ejection: ${onHung} of 20`)
  t.true(onHung <= 2, `${onHung} of 20 waited on the hung backend`)
  t.true(r.filter(x => x.status === 200).length >= 18)
})

test('http: /api/proxy.json reads `probation` for a backend back from its ejection until it answers, then `active`', async (t) => {
  const SP = 19206
  // a backend that answers 503 while failing is set, 200 after
  let failing = true
  const server = net.createServer((s) => {
    s.on('error', () => {})
    s.on('data', eachRequest(() => {
      const [status, body] = failing ? ['503 Service Unavailable', 'down'] : ['200 OK', '{"backend":"flaky"}']
      s.write(`HTTP/1.1 ${status}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`)
      return true
    }))
  })
  await new Promise<void>(resolve => server.listen(0, HUNG_IP, resolve))
  t.teardown(() => { server.close() })
  const { h } = await twoInstances(t, SP, (server.address() as net.AddressInfo).port, 'http', { eject_after_5xx: 2, ejection_base: 300, ejection_max: 300 })
  for (let i = 0; i < 6 && hungBackend(h).state !== 'ejected'; i++) await getJson(`http://${IP}:${SP}/`).catch(() => undefined)
  t.is(hungBackend(h).state, 'ejected', 'two 503s in a row eject it')
  await waitFor(() => hungBackend(h).state === 'probation', { timeoutMs: 3000, message: () => `the ejection ends: ${JSON.stringify(hungBackend(h))}` })
  // a 503 on probation does not end it
  const before = hungBackend(h).requests
  for (let i = 0; i < 20 && hungBackend(h).requests === before; i++) await getJson(`http://${IP}:${SP}/`).catch(() => undefined)
  t.is(hungBackend(h).requests, before + 1, 'round robin sent it a request')
  t.is(hungBackend(h).state, 'probation', 'a 5xx is no good answer')
  failing = false
  const after = hungBackend(h).requests
  for (let i = 0; i < 20 && hungBackend(h).requests === after; i++) await getJson(`http://${IP}:${SP}/`)
  t.is(hungBackend(h).requests, after + 1, 'round robin sent it a request')
  t.is(hungBackend(h).state, 'active', 'an answer under 500 ends the probation')
})

/** n clients, one every 50 ms, each left to run while the next starts: what each got. */
async function paced<T> (n: number, client: () => Promise<T>): Promise<T[]> {
  const results: Array<Promise<T>> = []
  for (let i = 0; i < n; i++) {
    results.push(client())
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  return await Promise.all(results)
}

/** Connects, sends a line, and resolves with the first answer, or 'closed'. */
async function tcpAsk (sp: number, giveUpMs = 10_000): Promise<string> {
  return await new Promise((resolve) => {
    const s = net.connect({ host: IP, port: sp }, () => { s.write('ping') })
    s.on('data', (d) => { resolve(d.toString()); s.destroy() })
    s.on('error', () => {})
    s.on('close', () => { resolve('closed') })
    setTimeout(() => { s.destroy() }, giveUpMs).unref()
  })
}

test('tcp: a backend that never writes (a one-way protocol such as syslog) is neither ejected nor passed over: in tcp mode silence is not a hang', async (t) => {
  const SP = 19205
  const sink = await silentServer(t)
  const { h } = await twoInstances(t, SP, sink.port, 'tcp', { idle_timeout: 300, stall_timeout: 300 })
  // 40 clients, one every 50 ms, each sends a line and then stays quiet until idle_timeout cuts it
  const r = await paced(40, async () => await tcpAsk(SP))
  const onSink = hungBackend(h).requests
  t.log(`${onSink} of 40 connections went to the backend that never writes`)
  t.true(onSink >= 15, `round robin goes on: ${onSink} of 40 on it`)
  t.is(r.filter(x => x === 'good: ping').length, 40 - onSink)
  t.is(hungBackend(h).failures, 0)
  t.is(hungBackend(h).state, 'active')
})

test('tcp: a client that connects and says nothing does not count against the backend', async (t) => {
  const SP = 19206
  const hung = await silentServer(t)
  const { h } = await twoInstances(t, SP, hung.port, 'tcp', { idle_timeout: 300 })
  // two quiet connections: one of them on each backend
  const quiet = [net.connect({ host: IP, port: SP }), net.connect({ host: IP, port: SP })]
  await Promise.all(quiet.map(async s => { s.on('error', () => {}); await once(s, 'close') }))
  t.is(hungBackend(h).failures, 0)
  t.is(hungBackend(h).state, 'active')
})

test('http: a backend that stops answering gets no new requests once a request has waited stall_timeout on it, well before any timeout', async (t) => {
  const SP = 19207
  const hung = await silentServer(t)
  const { h } = await twoInstances(t, SP, hung.port, 'http', { stall_timeout: 300 })
  // one request every 50 ms for 2 s; a client gives up after 1 s (idle_timeout is 1 min)
  const r = await paced(40, async () => await fetch(`http://${IP}:${SP}/`, { signal: AbortSignal.timeout(1000) }).then(async r => { await r.text(); return r.status }, () => 'gave up' as const))
  const onHung = hungBackend(h).requests
  t.log(`${onHung} of 40 requests went to the hung backend; ${r.filter(x => x === 'gave up').length} clients gave up`)
  t.true(onHung <= 10, `${onHung} of 40 on the hung backend`)
  t.is(r.filter(x => x === 200).length, 40 - onHung)
  // not ejected (no request on it timed out yet), and not shown active either: the requests of
  // clients that gave up still wait on it (a half-closed client still gets its answer)
  t.is(hungBackend(h).state, 'stalled')
})

test('http: a slow but answering backend is not steered away from while it answers', async (t) => {
  const SP = 19209
  const a = await httpBackend('a', GOOD_IP)
  const b = await httpBackend('b', HUNG_IP)
  t.teardown(async () => { await a.close(); await b.close() })
  const h = await harness(t, { proxy: proxyConfig(IP, { stall_timeout: 300 }) })
  h.put(instance('svc', 'host-a', GOOD_IP, a.port, SP))
  h.put(instance('svc', 'host-b', HUNG_IP, b.port, SP))
  await h.settle()
  await waitListening(h, SP)
  // each request takes 500 ms, longer than stall_timeout; 8 clients keep both busy for 3 s
  const from: Record<string, number> = {}
  const t0 = Date.now()
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (Date.now() - t0 < 3000) {
      const r = await getJson(`http://${IP}:${SP}/slow?ms=500`)
      from[String(r.body.backend)] = (from[String(r.body.backend)] ?? 0) + 1
    }
  }))
  t.log(from)
  t.true(Math.abs(from.a - from.b) <= 8, JSON.stringify(from))
})
