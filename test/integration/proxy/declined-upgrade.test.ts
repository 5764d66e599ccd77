// An upgrade offer the backend declines (it answers 200, not 101): the connection goes on in
// HTTP/1.1, as RFC 9110 §7.8 lets a server ignore Upgrade. Found by bench/proxy/differential.ts.
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
