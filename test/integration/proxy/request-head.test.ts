// What becomes of a request head on its way to the backend, over real sockets: raw bytes in,
// what the backend (node:http, strict) parsed and what the client got back.
import test, { type ExecutionContext } from 'ava'
import { MAX_HEAD_BYTES } from '../../../src/proxy/h1/parser.ts'
import { proxyToLoggingBackend, type Harness } from './setup.ts'
import { raw, statuses, type LoggingBackend } from './raw.ts'

const IP = '127.0.32.10'
const BACKEND_IP = '127.0.32.11'
const H2C = 'Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n'
const AFTER = 'GET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'

async function setup (t: ExecutionContext, sp: number): Promise<{ h: Harness, b: LoggingBackend }> {
  return await proxyToLoggingBackend(t, { ip: IP, name: 'req', backendIp: BACKEND_IP, sp })
}

test('QUERY (llhttp index 46, past Node\'s list of names) reaches the backend with its name and body', async (t) => {
  const SP = 18965
  const { b } = await setup(t, SP)
  const answer = await raw(IP, SP, 'QUERY /search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 9\r\nConnection: close\r\n\r\n{"q":"a"}')
  t.deepEqual(statuses(answer), [200], answer)
  t.deepEqual(b.seen.map(s => [s.method, s.url, s.body.toString()]), [['QUERY', '/search', '{"q":"a"}']])
  t.deepEqual(b.clientErrors, [])
})

test(`a request target over the head limit (${MAX_HEAD_BYTES} bytes) gets 414 URI Too Long; a header section over it still 431`, async (t) => {
  const SP = 18966
  const { b, h } = await setup(t, SP)
  const long = await raw(IP, SP, `GET /${'a'.repeat(40_000)} HTTP/1.1\r\nHost: x\r\n\r\n`)
  t.deepEqual(statuses(long), [414], long.slice(0, 300))
  t.regex(long, /^HTTP\/1\.1 414 URI Too Long\r\n/)
  const big = await raw(IP, SP, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'w'.repeat(40_000)}\r\n\r\n`)
  t.regex(big, /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/)
  t.is(b.seen.length, 0)
  t.regex(await h.metrics.text(), new RegExp(`sidecar_proxy_rejections_total\\{service="req",port="${SP}",reason="head too large"\\} 2`))
})

test('Host: two Host fields, or none on HTTP/1.1, get 400 and never reach the backend', async (t) => {
  const SP = 18963
  const { b, h } = await setup(t, SP)
  const two = await raw(IP, SP, 'GET /admin HTTP/1.1\r\nHost: public.example\r\nHost: internal.example\r\n\r\n')
  t.deepEqual(statuses(two), [400], two)
  t.regex(two, /more than one Host field/)
  t.regex(two, /connection: close/i)
  const none = await raw(IP, SP, 'GET /admin HTTP/1.1\r\nAccept: */*\r\n\r\n')
  t.deepEqual(statuses(none), [400], none)
  t.regex(none, /without a Host field/)
  t.deepEqual(statuses(await raw(IP, SP, 'GET /old HTTP/1.0\r\n\r\n')), [200], 'HTTP/1.0 may omit Host')
  t.deepEqual(b.seen.map(s => s.url), ['/old'])
  t.regex(await h.metrics.text(), new RegExp(`sidecar_proxy_rejections_total\\{service="req",port="${SP}",reason="bad request"\\} 2`))
})

test('Host: an absolute-form target goes on in origin-form with its authority as Host and X-Forwarded-Host; other schemes get 400', async (t) => {
  const SP = 18964
  const { b } = await setup(t, SP)
  const cases: Array<[string, string, string]> = [
    ['http://internal.example/admin?x=1', '/admin?x=1', 'internal.example'],
    ['http://internal.example:8080', '/', 'internal.example:8080'],
  ]
  for (const [target, path, host] of cases) {
    const answer = await raw(IP, SP, `GET ${target} HTTP/1.1\r\nHost: public.example\r\nConnection: close\r\n\r\n`)
    t.deepEqual(statuses(answer), [200], answer)
    t.like(b.seen.at(-1), { url: path, headers: { host: host, 'x-forwarded-host': host } }, target)
  }
  t.deepEqual(statuses(await raw(IP, SP, 'GET ftp://internal.example/admin HTTP/1.1\r\nHost: public.example\r\n\r\n')), [400])
  t.deepEqual(statuses(await raw(IP, SP, 'GET http://user@internal.example/admin HTTP/1.1\r\nHost: public.example\r\n\r\n')), [400])
  t.is(b.seen.length, cases.length)
  t.deepEqual(b.clientErrors, [])
})

test('an h2c upgrade offer on a POST with a body is ignored: the POST is served without the offer and the connection stays open', async (t) => {
  const SP = 18961
  const { b } = await setup(t, SP)
  const answer = await raw(IP, SP, `POST /p HTTP/1.1\r\nHost: x\r\n${H2C}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\n\r\na=1&b=2${AFTER}`)
  t.deepEqual(statuses(answer), [200, 200], answer)
  t.false(/^connection: close/im.test(answer.slice(0, answer.indexOf('HTTP/1.1', 1))), 'the first answer keeps the connection')
  t.deepEqual(b.seen.map(s => [s.method, s.url, s.body.toString()]), [['POST', '/p', 'a=1&b=2'], ['GET', '/after', '']])
  const h = b.seen[0].headers
  t.deepEqual([h.upgrade, h.connection, h['http2-settings']], [undefined, undefined, undefined], 'no Upgrade, no Connection, no field the Connection named')
  t.is(h['content-type'], 'application/x-www-form-urlencoded')
  t.deepEqual(b.clientErrors, [])
})

test('a body after an upgrade offer goes as the body, never as a second request; a GET offering h2c still goes as an offer', async (t) => {
  const SP = 18962
  const { b } = await setup(t, SP)
  const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n'
  const answer = await raw(IP, SP, `GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: ${smuggled.length}\r\n\r\n${smuggled}${AFTER}`)
  t.deepEqual(statuses(answer), [200, 200], answer)
  t.deepEqual(b.seen.map(s => [s.method, s.url, s.body.toString()]), [['GET', '/', smuggled], ['GET', '/after', '']])
  t.is(b.seen[0].headers.upgrade, undefined)
  const offer = await raw(IP, SP, `GET /g HTTP/1.1\r\nHost: x\r\n${H2C}\r\n`)
  t.deepEqual(statuses(offer), [200], 'the backend (node:http, no upgrade handler) answers the GET itself')
  t.like(b.seen[2], { method: 'GET', url: '/g', headers: { upgrade: 'h2c', connection: 'Upgrade' } })
  t.deepEqual(b.clientErrors, [])
})
