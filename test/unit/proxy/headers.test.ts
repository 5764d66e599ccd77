import test from 'ava'
import { ownResponse, requestHead, responseHead, responseHeadBound, writeResponseHead, type ClientConnection, type RequestLine } from '../../../src/proxy/headers.ts'

// the heads as text, to compare
const requestHeadText = (line: RequestLine, raw: string[], client: string, upgrade: boolean): string => requestHead(line, raw, client, upgrade).toString('latin1')
const responseHeadText = (status: number, reason: string, raw: string[], conn: ClientConnection): string => responseHead(status, reason, raw, conn).toString('latin1')

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
  t.is(ownResponse(503, '{"a":1}', false, 'retry-after: 1\r\n'), 'HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: 7\r\nretry-after: 1\r\n\r\n{"a":1}')
})

// The heads are written into a Buffer sized by a bound computed up front: a bound too small would
// silently cut a head (Buffer.write truncates). Checked here against the plain string rules, over
// random heads heavy in what the proxy repeats or adds (X-Forwarded-For lists, long Host values).
function referenceRequest (line: RequestLine, raw: string[], client: string, upgrade: boolean): string {
  const hop = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'upgrade'])
  const named = new Set<string>()
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].toLowerCase() !== 'connection') continue
    for (const p of raw[i + 1].split(',')) {
      const n = p.trim().toLowerCase()
      if (!['', 'keep-alive', 'close', 'upgrade', 'content-length', 'transfer-encoding', 'host'].includes(n)) named.add(n)
    }
  }
  let out = `${line.method} ${line.url} HTTP/1.${line.versionMinor}\r\n`
  const xff: string[] = []
  let proto = false; let fwdHost = false; let host: string | undefined; let up: string | undefined
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i].toLowerCase()
    if (hop.has(lower)) { if (lower === 'upgrade') up = raw[i + 1]; continue }
    if (named.has(lower)) continue
    if (lower === 'x-forwarded-for') { xff.push(raw[i + 1]); continue }
    if (lower === 'x-forwarded-proto') proto = true
    if (lower === 'x-forwarded-host') fwdHost = true
    if (lower === 'host') host = raw[i + 1]
    out += `${raw[i]}: ${raw[i + 1]}\r\n`
  }
  out += `X-Forwarded-For: ${[...xff, client].join(', ')}\r\n`
  if (!proto) out += 'X-Forwarded-Proto: http\r\n'
  if (!fwdHost && host !== undefined) out += `X-Forwarded-Host: ${host}\r\n`
  if (upgrade && up !== undefined) out += `Connection: Upgrade\r\nUpgrade: ${up}\r\n`
  else if (line.versionMinor === 0) out += 'Connection: close\r\n'
  return out + '\r\n'
}

test('requestHead and writeResponseHead: never cut by their size bound, over 2,000 random heads', t => {
  let seed = 7
  const rnd = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n }
  const value = (): string => 'v'.repeat(rnd(3) === 0 ? rnd(5000) : rnd(20))
  const names = ['Host', 'X-Forwarded-For', 'x-forwarded-for', 'X-Forwarded-Host', 'X-Forwarded-Proto', 'Upgrade', 'Connection', 'Keep-Alive', 'Accept', 'X-A', 'Content-Length']
  for (let i = 0; i < 2000; i++) {
    const raw: string[] = []
    for (let f = rnd(30); f > 0; f--) raw.push(names[rnd(names.length)], value())
    const line = { method: ['GET', 'POST', 'OPTIONS'][rnd(3)], url: `/${value()}`, versionMinor: rnd(2) }
    const client = rnd(2) === 0 ? '10.0.0.1' : 'fd00:1234:5678:9abc:def0:1234:5678:9abc'
    const upgrade = rnd(2) === 0
    t.is(requestHeadText(line, raw, client, upgrade), referenceRequest(line, raw, client, upgrade))
    for (const conn of ['keep-alive-1.1', 'keep-alive-1.0', 'close', 'upgrade'] as const) {
      const reason = value()
      const exact = Buffer.alloc(responseHeadBound(reason, raw))
      const n = writeResponseHead(exact, 0, 100 + rnd(900), reason, raw, conn)
      t.true(n <= exact.length)
      t.true(exact.subarray(0, n).toString('latin1').endsWith('\r\n\r\n'))
    }
  }
})
