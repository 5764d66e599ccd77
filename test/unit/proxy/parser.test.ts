// Pins what the proxy relies on in Node's llhttp binding (an internal API): a Node upgrade
// that changes any of it fails here first.
import test from 'ava'
import http from 'node:http'
import { BodyReader, FramingError, requestFraming, responseFraming } from '../../../src/proxy/h1/framing.ts'
import { ChunkedBody, HeadParser, HttpParseError, MAX_HEAD_BYTES, methodName } from '../../../src/proxy/h1/parser.ts'

test('HeadParser: stops at the end of the head and says its length, with the body and the next request left over', t => {
  const p = new HeadParser('request')
  const buf = Buffer.from('POST /a?b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /next HTTP/1.1\r\n\r\n')
  const n = p.execute(buf)
  t.is(buf.subarray(n).toString(), 'helloGET /next HTTP/1.1\r\n\r\n')
  t.like(p.head, { method: 'POST', url: '/a?b', versionMajor: 1, versionMinor: 1, keepAlive: true, upgrade: false })
  t.deepEqual(p.head?.headers, ['Host', 'x', 'Content-Length', '5'])
  p.reset()
  t.is(p.execute(Buffer.from('GET /next HTTP/1.1\r\n')), -1, 'an incomplete head consumes all and waits')
  t.is(p.execute(Buffer.from('\r\n')), 2)
  t.is(p.head?.url, '/next')
  p.close()
})

test('HeadParser: a head split byte by byte, with more than 32 fields (handed over in batches), comes out whole', t => {
  const p = new HeadParser('request')
  const fields = Array.from({ length: 70 }, (_, i) => `X-${i}: v${i}\r\n`).join('')
  const buf = Buffer.from(`GET /long/url HTTP/1.1\r\n${fields}\r\n`)
  let n = -1
  for (let i = 0; i < buf.length && n < 0; i++) n = p.execute(buf.subarray(i, i + 1))
  t.is(n, 1)
  t.is(p.head?.url, '/long/url')
  t.is(p.head?.headers.length, 140)
  t.deepEqual(p.head?.headers.slice(138), ['X-69', 'v69'])
})

test('HeadParser: strict refusals, with 431 for an oversize head', t => {
  const bad: Record<string, string> = {
    'CL+TE': 'POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n',
    'duplicate CL': 'POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n',
    'obs-fold': 'GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n',
    'bare LF': 'GET / HTTP/1.1\nHost: x\n\n',
    'HTTP/0.9': 'GET / HTTP/0.9\r\n\r\n',
    'HTTP/2.0': 'GET / HTTP/2.0\r\n\r\n',
  }
  for (const [name, text] of Object.entries(bad)) {
    const err = t.throws(() => new HeadParser('request').execute(Buffer.from(text)), { instanceOf: HttpParseError }, name)
    t.is(err?.status, 400, name)
  }
  const big = t.throws(() => new HeadParser('request').execute(Buffer.from(`GET / HTTP/1.1\r\nX: ${'a'.repeat(MAX_HEAD_BYTES)}\r\n\r\n`)), { instanceOf: HttpParseError })
  t.is(big?.status, 431)
})

test('HeadParser.reset(): one parser reads a keep-alive connection\'s heads in turn, each as a fresh parser would, with the head limit and the strict refusals on every message (llhttp resumed without re-initializing reported these as a short count, not an error)', t => {
  const heads = [
    'GET /a HTTP/1.1\r\nHost: x\r\n\r\n',
    `GET /b HTTP/1.1\r\nCookie: ${'c'.repeat(20_000)}\r\n\r\n`,
    `POST /c HTTP/1.1\r\nContent-Length: 3\r\nX-Big: ${'d'.repeat(20_000)}\r\n\r\n`,
    'HEAD /d HTTP/1.1\r\nHost: x\r\nUpgrade-Insecure-Requests: 1\r\n\r\n',
    `OPTIONS * HTTP/1.1\r\n${Array.from({ length: 40 }, (_, i) => `X-${i}: ${i}\r\n`).join('')}\r\n`,
  ]
  const one = new HeadParser('request')
  for (const text of heads) {
    const fresh = new HeadParser('request')
    const buf = Buffer.from(text)
    t.is(one.execute(buf), buf.length, text.slice(0, 12))
    t.is(fresh.execute(buf), buf.length)
    t.deepEqual(one.head, fresh.head, text.slice(0, 12))
    one.reset()
    t.is(one.head, undefined)
    t.false(one.started)
    fresh.close()
  }
  // 40 KB of head is over the limit as the sixth message too: the count starts again per message
  const big = t.throws(() => one.execute(Buffer.from(`GET / HTTP/1.1\r\nX: ${'a'.repeat(MAX_HEAD_BYTES + 8000)}\r\n\r\n`)), { instanceOf: HttpParseError })
  t.is(big?.status, 431)
  one.close()

  const smuggles: Record<string, string> = {
    'CL+TE': 'POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n',
    'duplicate CL': 'POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n',
    'obs-fold': 'GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n',
    'bare LF': 'GET / HTTP/1.1\nHost: x\n\n',
    'space before colon': 'GET / HTTP/1.1\r\nHost : x\r\n\r\n',
  }
  for (const [name, text] of Object.entries(smuggles)) {
    const p = new HeadParser('request')
    t.true(p.execute(Buffer.from('GET /first HTTP/1.1\r\nHost: x\r\n\r\n')) > 0)
    p.reset()
    t.throws(() => p.execute(Buffer.from(text)), { instanceOf: HttpParseError }, `${name} as a second message`)
    p.close()
  }
})

test('ChunkedBody: finds the end of the body (trailers included) wherever the buffers split, and refuses bad chunks', t => {
  const body = '5\r\nhello\r\n10;ext=1\r\n0123456789abcdef\r\n0\r\nX-T: 1\r\n\r\n'
  const after = 'GET /next HTTP/1.1\r\n\r\n'
  const all = Buffer.from(body + after)
  for (let split = 1; split < all.length; split += 7) {
    const c = new ChunkedBody()
    const a = c.feed(all.subarray(0, split))
    let total = a
    if (!c.done) total += c.feed(all.subarray(split))
    t.true(c.done, `split at ${split}`)
    t.is(total, body.length, `split at ${split}`)
    c.close()
  }
  for (const b of ['zz\r\n', '-1\r\n', 'fffffffffffffffffff\r\n', '2\r\nhello\r\n']) {
    t.throws(() => new ChunkedBody().feed(Buffer.from(b)), { instanceOf: HttpParseError }, b)
  }
})

test('framing: request and response rules (RFC 9112 §6.3)', t => {
  const head = (headers: string[], extra: object = {}): Parameters<typeof requestFraming>[0] => ({ versionMajor: 1, versionMinor: 1, headers, method: 'GET', url: '/', status: 200, reason: 'OK', keepAlive: true, upgrade: false, ...extra })
  t.deepEqual(requestFraming(head(['Content-Length', '12'])), { kind: 'length', length: 12 })
  t.deepEqual(requestFraming(head(['Content-Length', '0'])), { kind: 'none' })
  t.deepEqual(requestFraming(head(['Transfer-Encoding', 'gzip, chunked'])), { kind: 'chunked' })
  t.throws(() => requestFraming(head(['Transfer-Encoding', 'chunked, gzip'])), { instanceOf: FramingError })
  t.throws(() => requestFraming(head(['Transfer-Encoding', 'chunked'], { versionMinor: 0 })), { instanceOf: FramingError })
  t.deepEqual(requestFraming(head([])), { kind: 'none' })
  t.deepEqual(responseFraming(head(['Content-Length', '9']), 'HEAD'), { kind: 'none' })
  for (const status of [100, 204, 304]) t.deepEqual(responseFraming(head(['Content-Length', '9'], { status }), 'GET'), { kind: 'none' })
  t.deepEqual(responseFraming(head(['Transfer-Encoding', 'gzip']), 'GET'), { kind: 'close' })
  t.deepEqual(responseFraming(head([]), 'GET'), { kind: 'close' })
  const r = new BodyReader()
  r.start({ kind: 'length', length: 10 })
  t.is(r.take(Buffer.alloc(4)), 4)
  t.false(r.done)
  t.is(r.take(Buffer.alloc(20)), 6)
  t.true(r.done)
})

test('a closed parser refuses further input with an HttpParseError, not a crash', t => {
  const p = new HeadParser('request')
  p.close()
  t.throws(() => p.execute(Buffer.from('GET / HTTP/1.1\r\n\r\n')), { instanceOf: HttpParseError })
  const c = new ChunkedBody()
  c.close()
  t.throws(() => c.feed(Buffer.from('0\r\n\r\n')), { instanceOf: HttpParseError })
})

test('HeadParser: every method Node knows keeps its name, QUERY included (llhttp\'s index for it, 46, is past the end of Node\'s list of 35 names)', t => {
  for (const name of http.METHODS) {
    const p = new HeadParser('request', false)
    t.true(p.execute(Buffer.from(`${name} ${name === 'CONNECT' ? 'a:1' : '/'} HTTP/1.1\r\nHost: x\r\n\r\n`)) > 0, name)
    t.is(p.head?.method, name)
    p.close()
  }
  t.is(methodName(46), 'QUERY')
  t.is(methodName(34), undefined, 'an index with no name stays without one (refused with 501, never forwarded nameless)')
})

test('HeadParser: over the head limit, a request line that has not ended is 414 (URI Too Long), a large header section 431, wherever the reads split', t => {
  const target = `/${'a'.repeat(40_000)}`
  const status = (parts: string[]): number | undefined => {
    const p = new HeadParser('request')
    try {
      for (const s of parts) if (p.execute(Buffer.from(s)) >= 0) return 0
      return -1
    } catch (err) {
      return (err as HttpParseError).status
    } finally { p.close() }
  }
  t.is(status([`GET ${target} HTTP/1.1\r\nHost: x\r\n\r\n`]), 414)
  t.is(status([`GET ${target.slice(0, 16_000)}`, target.slice(16_000, 32_000), `${target.slice(32_000)} HTTP/1.1\r\nHost: x\r\n\r\n`]), 414)
  t.is(status([`GET ${target.slice(0, 30_000)}`, ` HTTP/1.1\r\nHost: x\r\nX-Big: ${'w'.repeat(5000)}\r\n\r\n`]), 431, 'the line ended in an earlier read: the fields made the head too large')
  t.is(status([`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'w'.repeat(40_000)}\r\n\r\n`]), 431)
  t.is(status(['GET / HTTP/1.1\r\n', `Host: x\r\nX-Big: ${'w'.repeat(40_000)}\r\n\r\n`]), 431)
})
