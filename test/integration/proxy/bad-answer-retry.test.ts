// A backend whose answer cannot be read (garbage, a bad status line, smuggling-shaped framing)
// fails the request on it, as a reset does: a request that is sent again after a reset (GET,
// HEAD, OPTIONS, PUT, DELETE without a body) goes to another backend, within `retries`, while
// nothing went to the client; one whose body went out never does. A backend that answers
// garbage to everything must not multiply the load on the others, nor make the proxy loop.
import test, { type ExecutionContext } from 'ava'
import net from 'node:net'
import { getJson, httpBackend } from '../../helpers/backends.ts'
import { eachRequest, raw, statuses } from './raw.ts'
import { harness, instance, proxyConfig, waitListening, type Harness } from './setup.ts'
import type { ProxySection } from '../../../src/config/types.ts'

const IP = '127.0.45.20'
const GOOD_IP = '127.0.45.21'
const BAD_IP = '127.0.45.22'

const ANSWERS = {
  'bytes that are not HTTP': 'garbage garbage\r\n\r\n',
  'a bad status line': 'HTTP/1.1 2OO OK\r\nContent-Length: 2\r\n\r\nok',
  'Content-Length with Transfer-Encoding': 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
}

/** A raw backend that answers every request with `answer`; requests counted per connection. */
async function garbageBackend (t: ExecutionContext, answer: string): Promise<{ port: number, perConn: number[], requests: () => number }> {
  const perConn: number[] = []
  const sockets = new Set<net.Socket>()
  const server = net.createServer((s) => {
    const i = perConn.push(0) - 1
    sockets.add(s)
    s.on('error', () => {})
    s.on('close', () => sockets.delete(s))
    s.on('data', eachRequest(() => { perConn[i]++; s.write(answer); return true }))
  })
  await new Promise<void>(resolve => server.listen(0, BAD_IP, resolve))
  t.teardown(() => { for (const s of sockets) s.destroy(); server.close() })
  return { port: (server.address() as net.AddressInfo).port, perConn, requests: () => perConn.reduce((a, b) => a + b, 0) }
}

async function pool (t: ExecutionContext, sp: number, backends: Array<{ host: string, ip: string, port: number }>, proxy: Partial<ProxySection> = {}): Promise<Harness> {
  const h = await harness(t, { proxy: proxyConfig(IP, { ejection_base: 60_000, ...proxy }) })
  for (const b of backends) h.put(instance('svc', b.host, b.ip, b.port, sp))
  await h.settle()
  await waitListening(h, sp)
  return h
}

function backendOf (h: Harness, host: string): { failures: number, requests: number, state: string } {
  const b = h.proxy.report().listeners[0].backends.find(x => x.hostname === host)
  if (b === undefined) throw new Error(`no backend of ${host}`)
  return b
}

for (const [i, [kind, answer]] of Object.entries(ANSWERS).entries()) {
  test(`a GET answered with ${kind} goes to the healthy backend: every client gets its 200, the bad backend's failures are counted and its connections closed`, async (t) => {
    const SP = 18461 + i
    const good = await httpBackend('good', GOOD_IP)
    t.teardown(async () => { await good.close() })
    const bad = await garbageBackend(t, answer)
    const h = await pool(t, SP, [{ host: 'host-bad', ip: BAD_IP, port: bad.port }, { host: 'host-good', ip: GOOD_IP, port: good.port }])
    // 20 at once: round robin hands half of them to the bad backend before any answer comes
    const r = await Promise.all(Array.from({ length: 20 }, async () => await getJson(`http://${IP}:${SP}/`)))
    t.deepEqual(r.map(x => `${x.status} ${String(x.body.backend ?? x.body.reason)}`), Array(20).fill('200 good'))
    const onBad = bad.requests()
    t.log(`${onBad} of 20 went to the bad backend first; the good one got ${good.hits}`)
    t.true(onBad >= 1)
    t.is(good.hits, 20, 'each client request reached the good backend once')
    const b = backendOf(h, 'host-bad')
    t.is(b.failures, onBad, 'each bad answer counts against the backend')
    t.is(b.state, 'ejected')
    t.is(h.proxy.report().listeners[0].totals.retries, onBad)
    t.true(bad.perConn.every(n => n <= 1), `a connection that carried a bad answer is never reused: ${bad.perConn.join(',')}`)
  })
}

test('a request whose body went to the bad backend is not sent again: POST and PUT with a body get 502 `bad response`', async (t) => {
  for (const [i, method] of ['POST', 'PUT'].entries()) {
    const SP = 18465 + i
    const good = await httpBackend('good', GOOD_IP)
    t.teardown(async () => { await good.close() })
    const bad = await garbageBackend(t, ANSWERS['bytes that are not HTTP'])
    const h = await pool(t, SP, [{ host: 'host-bad', ip: BAD_IP, port: bad.port }, { host: 'host-good', ip: GOOD_IP, port: good.port }])
    // one after the other until one reaches the bad backend (round robin: the first or the second)
    const answers: string[] = []
    while (bad.requests() === 0 && answers.length < 2) {
      answers.push(await raw(IP, SP, `${method} /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 7\r\n\r\npayload`, { timeoutMs: 10_000 }))
    }
    const last = answers.at(-1) ?? ''
    t.is(bad.requests(), 1, method)
    t.deepEqual(statuses(last), [502], `${method}: ${last}`)
    t.regex(last, /"reason":"bad response"/)
    t.is(good.hits, answers.length - 1, `${method}: not sent again to the good backend`)
    t.is(backendOf(h, 'host-bad').failures, 1)
    t.is(h.proxy.report().listeners[0].totals.retries, 0)
  }
})

test('a bad head after an interim answer the client got is not retried (HTTP/1.1: 100, then 502); an HTTP/1.0 client, which gets no interim answers, gets the other backend\'s 200', async (t) => {
  for (const [i, [version, want]] of ([['1.1', [100, 502]], ['1.0', [200]]] as const).entries()) {
    const SP = 18469 + i
    const good = await httpBackend('good', GOOD_IP)
    t.teardown(async () => { await good.close() })
    const bad = await garbageBackend(t, 'HTTP/1.1 100 Continue\r\n\r\ngarbage\r\n\r\n')
    await pool(t, SP, [{ host: 'host-bad', ip: BAD_IP, port: bad.port }, { host: 'host-good', ip: GOOD_IP, port: good.port }])
    let answer = ''
    for (let n = 0; bad.requests() === 0 && n < 2; n++) answer = await raw(IP, SP, `GET /x HTTP/${version}\r\nHost: x\r\nConnection: close\r\n\r\n`, { timeoutMs: 10_000 })
    t.is(bad.requests(), 1)
    t.deepEqual(statuses(answer), want, `HTTP/${version}: ${answer}`)
  }
})

test('only backends that answer garbage: the client gets 502 `bad response`, after at most 1 + retries attempts, never a hang or a loop', async (t) => {
  const SP = 18467
  const bads = await Promise.all(Array.from({ length: 4 }, async () => await garbageBackend(t, ANSWERS['a bad status line'])))
  const h = await pool(t, SP, bads.map((b, i) => ({ host: `host-bad-${i}`, ip: BAD_IP, port: b.port })))
  const total = (): number => bads.reduce((n, b) => n + b.requests(), 0)
  const t0 = Date.now()
  // one at a time, then 10 at once
  for (let i = 0; i < 5; i++) {
    const before = total()
    const r = await getJson(`http://${IP}:${SP}/`)
    t.is(r.status, 502)
    t.is(r.body.reason, 'bad response')
    t.true(total() - before <= 3, `attempts for one request: ${total() - before}`)
  }
  const before = total()
  const r = await Promise.all(Array.from({ length: 10 }, async () => await getJson(`http://${IP}:${SP}/`)))
  t.deepEqual(r.map(x => `${x.status} ${String(x.body.reason)}`), Array(10).fill('502 bad response'))
  t.true(total() - before <= 30, `attempts for 10 requests: ${total() - before}`)
  t.log(`${total()} backend requests for 15 client requests, in ${Date.now() - t0} ms`)
  t.true(Date.now() - t0 < 5000)
  const report = h.proxy.report().listeners[0]
  t.is(report.backends.reduce((n, b) => n + b.failures, 0), total())
  t.true(report.totals.retries <= 2 * 15)
  // retries 0: one attempt per request
  const SP0 = 18468
  const h0 = await pool(t, SP0, bads.map((b, i) => ({ host: `host-bad-${i}`, ip: BAD_IP, port: b.port })), { retries: 0 })
  const before0 = total()
  const r0 = await getJson(`http://${IP}:${SP0}/`)
  t.is(r0.body.reason, 'bad response')
  t.is(total() - before0, 1)
  t.is(h0.proxy.report().listeners[0].totals.retries, 0)
})
