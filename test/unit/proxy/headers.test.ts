import test from 'ava'
import { ownResponse, requestHeadText, responseHeadText } from '../../../src/proxy/headers.ts'

const GET = { method: 'GET', url: '/a?b=1', versionMinor: 1 }

test('requestHeadText: hop-by-hop fields and those Connection names dropped, X-Forwarded-* added, Host and the rest kept in order', t => {
  const text = requestHeadText(GET, ['Host', 'svc:8080', 'Connection', 'keep-alive, X-Private', 'X-Private', 'secret', 'Keep-Alive', 'timeout=5', 'Accept', '*/*', 'TE', 'trailers', 'Upgrade', 'h2c'], '10.0.0.9', false)
  t.is(text, 'GET /a?b=1 HTTP/1.1\r\nHost: svc:8080\r\nAccept: */*\r\nX-Forwarded-For: 10.0.0.9\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: svc:8080\r\n\r\n')
})

test('requestHeadText: an existing X-Forwarded-For is appended to; existing proto and host are kept', t => {
  const text = requestHeadText(GET, ['X-Forwarded-For', '1.2.3.4', 'x-forwarded-for', '5.6.7.8', 'X-Forwarded-Proto', 'https', 'X-Forwarded-Host', 'public.example', 'Host', 'inner'], '10.0.0.9', false)
  t.is(text, 'GET /a?b=1 HTTP/1.1\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: public.example\r\nHost: inner\r\nX-Forwarded-For: 1.2.3.4, 5.6.7.8, 10.0.0.9\r\n\r\n')
})

test('requestHeadText: Connection can never remove framing fields or Host (smuggling)', t => {
  for (const named of ['content-length', 'Content-Length, close', 'transfer-encoding', 'host', 'keep-alive, transfer-encoding, content-length, host']) {
    const cl = requestHeadText({ method: 'POST', url: '/', versionMinor: 1 }, ['Host', 'h', 'Connection', named, 'Content-Length', '5'], 'c', false)
    t.true(cl.includes('Content-Length: 5\r\n'), named)
    t.true(cl.includes('Host: h\r\n'), named)
    const te = requestHeadText({ method: 'POST', url: '/', versionMinor: 1 }, ['Connection', named, 'Transfer-Encoding', 'chunked'], 'c', false)
    t.true(te.includes('Transfer-Encoding: chunked\r\n'), named)
  }
})

test('requestHeadText: an upgrade keeps Upgrade with Connection: Upgrade; HTTP/1.0 asks the backend to close', t => {
  t.is(requestHeadText({ method: 'GET', url: '/ws', versionMinor: 1 }, ['Upgrade', 'websocket', 'Connection', 'Upgrade'], 'c', true),
    'GET /ws HTTP/1.1\r\nX-Forwarded-For: c\r\nX-Forwarded-Proto: http\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n')
  t.true(requestHeadText({ method: 'GET', url: '/', versionMinor: 0 }, [], 'c', false).startsWith('GET / HTTP/1.0\r\n'))
  t.true(requestHeadText({ method: 'GET', url: '/', versionMinor: 0 }, [], 'c', false).endsWith('Connection: close\r\n\r\n'))
})

test('responseHeadText: hop-by-hop fields dropped, framing kept as the backend sent it, the proxy states its own Connection', t => {
  t.is(responseHeadText(200, 'OK', ['Content-Type', 'text/plain', 'Transfer-Encoding', 'chunked', 'Connection', 'keep-alive', 'Keep-Alive', 'timeout=5', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2'], 'keep-alive-1.1'),
    'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n')
  t.is(responseHeadText(200, 'OK', ['Connection', 'X-Internal', 'X-Internal', '1', 'X-Public', '2'], 'close'), 'HTTP/1.1 200 OK\r\nX-Public: 2\r\nConnection: close\r\n\r\n')
  t.is(responseHeadText(101, 'Switching Protocols', ['Upgrade', 'websocket', 'Connection', 'Upgrade', 'Sec-WebSocket-Accept', 'x'], 'upgrade'),
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: x\r\nConnection: Upgrade\r\n\r\n')
  t.true(responseHeadText(200, 'OK', [], 'keep-alive-1.0').endsWith('Connection: keep-alive\r\n\r\n'))
})

test('ownResponse: a JSON body with its length', t => {
  t.is(ownResponse(503, 'Service Unavailable', '{"a":1}', false, 'retry-after: 1\r\n'), 'HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: 7\r\nretry-after: 1\r\n\r\n{"a":1}')
})
