// Behaviours bench/proxy/differential.ts found where the proxy differed from HAProxy and was
// wrong by RFC 9110/9112, over real sockets: raw bytes in, what the backend (node:http, strict)
// parsed and what the client got back.
import test from 'ava'
import { proxyToLoggingBackend } from './setup.ts'
import { raw, statuses } from './raw.ts'

const IP = '127.0.51.10'
const BACKEND_IP = '127.0.51.11'
const AFTER = 'GET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'

for (const [name, offer, SP] of [
  ['WebSocket', 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n', 18971],
  ['h2c (curl --http2)', 'Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n', 18972],
] as const) {
  // RFC 9110 §7.8: a server may ignore Upgrade, and the connection then goes on in HTTP/1.1
  test(`a ${name} offer answered 200: the connection stays open and the next request on it is served`, async (t) => {
    const { b } = await proxyToLoggingBackend(t, { ip: IP, name: 'declined', backendIp: BACKEND_IP, sp: SP })
    const first = `GET /offer HTTP/1.1\r\nHost: x\r\n${offer}\r\n`
    const answer = await raw(IP, SP, [first, AFTER], { until: got => statuses(got).length === 2 && got.endsWith('}') })
    t.deepEqual(statuses(answer), [200, 200], answer)
    t.false(/^connection: close/im.test(answer.slice(0, answer.indexOf('HTTP/1.1', 1))), 'the first answer keeps the connection')
    t.deepEqual(b.seen.map(s => s.url), ['/offer', '/after'])
    t.is(b.seen[0].headers.upgrade, name === 'WebSocket' ? 'websocket' : 'h2c', 'the offer itself still reached the backend')
    t.deepEqual(b.clientErrors, [])
  })
}

test('a fragment in the request target gets 400 and never reaches the backend (RFC 9112 §3.2)', async (t) => {
  const SP = 18973
  const { b } = await proxyToLoggingBackend(t, { ip: IP, name: 'fragment', backendIp: BACKEND_IP, sp: SP })
  for (const target of ['/admin#x', '/a?b=1#/../c', 'http://x/p#f']) {
    const answer = await raw(IP, SP, `GET ${target} HTTP/1.1\r\nHost: x\r\n\r\n`)
    t.deepEqual(statuses(answer), [400], answer)
    t.regex(answer, /fragment/)
  }
  t.deepEqual(statuses(await raw(IP, SP, 'GET /p?q=%23 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')), [200], 'an encoded # is no fragment')
  t.deepEqual(b.seen.map(s => s.url), ['/p?q=%23'])
  t.deepEqual(b.clientErrors, [])
})

test('OPTIONS in absolute-form with an empty path goes on as OPTIONS * (RFC 9112 §3.2.4); with a path, in origin-form', async (t) => {
  const SP = 18974
  const { b } = await proxyToLoggingBackend(t, { ip: IP, name: 'options', backendIp: BACKEND_IP, sp: SP })
  const answer = await raw(IP, SP, ['OPTIONS http://api.example HTTP/1.1\r\nHost: api.example\r\n\r\n', 'OPTIONS http://api.example/x HTTP/1.1\r\nHost: api.example\r\n\r\n', AFTER])
  t.deepEqual(statuses(answer), [200, 200, 200], answer)
  t.deepEqual(b.seen.map(s => [s.method, s.url, s.headers.host]), [['OPTIONS', '*', 'api.example'], ['OPTIONS', '/x', 'api.example'], ['GET', '/after', 'x']])
  t.deepEqual(b.clientErrors, [])
})
