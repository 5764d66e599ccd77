// Request smuggling (issue 11, attack 4) against the raw-socket path: each variant is either
// refused with 400 or sent to the backend framed exactly as the proxy read it. A logging
// backend (node:http, strict) shows what arrived: never a second, hidden request.
import test, { type ExecutionContext } from 'ava'
import { proxyToLoggingBackend, type Harness } from './setup.ts'
import { raw, statuses, type LoggingBackend } from './raw.ts'

const IP = '127.0.13.30'
const BACKEND_IP = '127.0.13.31'
const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n'

async function setup (t: ExecutionContext, sp: number): Promise<{ h: Harness, b: LoggingBackend }> {
  return await proxyToLoggingBackend(t, { ip: IP, name: 'smug', backendIp: BACKEND_IP, sp })
}

/** Nothing but the expected requests reached the backend, and it never saw malformed framing. */
function noSmuggled (t: ExecutionContext, b: LoggingBackend): void {
  t.false(b.seen.some(s => s.url === '/smuggled'), `the backend saw: ${b.seen.map(s => `${s.method} ${s.url}`).join(', ')}`)
  t.deepEqual(b.clientErrors, [], 'the backend never got a malformed message')
}

test('Connection: content-length cannot strip the framing: the body goes as a body, never as a second request', async (t) => {
  const SP = 18711
  const { b, h } = await setup(t, SP)
  const answer = await raw(IP, SP, `GET / HTTP/1.1\r\nHost: x\r\nConnection: content-length\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}GET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)
  t.deepEqual(statuses(answer), [200, 200])
  t.deepEqual(b.seen.map(s => [s.method, s.url, s.body.toString()]), [['GET', '/', SMUGGLED], ['GET', '/after', '']])
  t.is(b.seen[0].headers['content-length'], String(SMUGGLED.length))
  t.truthy(b.seen[1].headers['x-forwarded-for'], 'every request the backend saw came through the proxy\'s rewriting')
  noSmuggled(t, b)
  t.is(h.proxy.report().listeners[0].totals.requests, 2)
})

test('Connection: transfer-encoding cannot strip the framing of a chunked body', async (t) => {
  const SP = 18712
  const { b } = await setup(t, SP)
  const chunk = `${SMUGGLED.length.toString(16)}\r\n${SMUGGLED}\r\n0\r\n\r\n`
  const answer = await raw(IP, SP, `POST / HTTP/1.1\r\nHost: x\r\nConnection: transfer-encoding\r\nTransfer-Encoding: chunked\r\n\r\n${chunk}GET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)
  t.deepEqual(statuses(answer), [200, 200])
  t.deepEqual(b.seen.map(s => [s.method, s.url, s.body.toString()]), [['POST', '/', SMUGGLED], ['GET', '/after', '']])
  noSmuggled(t, b)
})

const REFUSED: Array<[string, string]> = [
  ['CL+TE', `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`],
  ['TE+CL', `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n${SMUGGLED}`],
  ['duplicate Content-Length', `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`],
  ['Content-Length list', `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0, ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`],
  ['signed Content-Length', `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +${SMUGGLED.length}\r\n\r\n${SMUGGLED}`],
  ['Transfer-Encoding not ending in chunked', `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n${SMUGGLED}`],
  ['Transfer-Encoding: xchunked', `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n${SMUGGLED}`],
  ['Transfer-Encoding with obs-fold', `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`],
  ['space before the colon', `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`],
  ['bare LF line ends', `POST / HTTP/1.1\nHost: x\nContent-Length: ${SMUGGLED.length}\n\n${SMUGGLED}`],
  ['Transfer-Encoding on HTTP/1.0', `POST / HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`],
  ['NUL in a header value', `GET / HTTP/1.1\r\nHost: x\r\nX-A: a\u0000b\r\n\r\n${SMUGGLED}`],
]

for (const [name, bytes] of REFUSED) {
  test(`refused with 400, nothing reaches the backend: ${name}`, async (t) => {
    const SP = 18713 + REFUSED.findIndex(r => r[0] === name)
    const { b, h } = await setup(t, SP)
    const answer = await raw(IP, SP, bytes)
    t.deepEqual(statuses(answer), [400], answer)
    t.regex(answer, /connection: close/i)
    t.deepEqual(b.seen.map(s => s.url), [], 'no request reached the backend')
    noSmuggled(t, b)
    t.regex(await h.metrics.text(), new RegExp(`sidecar_proxy_rejections_total\\{service="smug",port="${SP}",reason="bad request"\\} 1`))
  })
}

const BAD_CHUNKS: Array<[string, string]> = [
  ['a non-hex chunk size', 'zz\r\nhello\r\n0\r\n\r\n'],
  ['a negative chunk size', '-5\r\nhello\r\n0\r\n\r\n'],
  ['an overflowing chunk size', 'fffffffffffffffff1\r\nhello\r\n0\r\n\r\n'],
  ['a chunk longer than its size', `2\r\nhello\r\n0\r\n\r\n${SMUGGLED}`],
  ['a chunk size with a space', '5 \r\nhello\r\n0\r\n\r\n'],
  ['a bare LF after the chunk size', '5\nhello\r\n0\r\n\r\n'],
]

for (const [name, body] of BAD_CHUNKS) {
  test(`bad chunks: ${name}: 400, the backend sees no complete request and no second one`, async (t) => {
    const SP = 18730 + BAD_CHUNKS.findIndex(r => r[0] === name)
    const { b } = await setup(t, SP)
    const answer = await raw(IP, SP, `POST /chunky HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${body}${SMUGGLED}`)
    t.deepEqual(statuses(answer), [400], answer)
    // the head went ahead of its body; the body was cut where it broke the grammar
    await new Promise(resolve => setTimeout(resolve, 200))
    t.deepEqual(b.seen.map(s => s.url), [], 'the backend never completed the request')
    noSmuggled(t, b)
  })
}
