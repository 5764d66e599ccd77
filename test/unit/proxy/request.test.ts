// The rules a request head passes before it is forwarded (src/proxy/h1/request.ts): one Host,
// absolute-form targets made origin-form with their authority as Host, and an upgrade offer
// on a request with a body dropped.
import test from 'ava'
import type { Head } from '../../../src/proxy/h1/parser.ts'
import { forwardedRequest, RequestError } from '../../../src/proxy/h1/request.ts'

function head (url: string, headers: string[], fields: Partial<Head> = {}): Head {
  return { versionMajor: 1, versionMinor: 1, headers, method: 'GET', url, status: 0, reason: '', keepAlive: true, upgrade: false, ...fields }
}

test('request: a plain origin-form head with one Host passes as the same object', t => {
  const h = head('/a?b', ['Host', 'x', 'Accept', '*/*'])
  t.is(forwardedRequest(h, false), h)
  const star = head('*', ['host', 'x'], { method: 'OPTIONS' })
  t.is(forwardedRequest(star, false), star)
})

test('request: two Host fields, or none on HTTP/1.1, are refused; HTTP/1.0 may omit it', t => {
  t.throws(() => forwardedRequest(head('/', ['Host', 'a', 'Host', 'b']), false), { instanceOf: RequestError })
  t.throws(() => forwardedRequest(head('/', ['Host', 'a', 'X', 'y', 'HOST', 'a']), false), { instanceOf: RequestError }, 'even when both say the same')
  t.throws(() => forwardedRequest(head('/', ['X', 'y']), false), { instanceOf: RequestError })
  const old = head('/', [], { versionMinor: 0 })
  t.is(forwardedRequest(old, false), old)
})

test('request: an absolute-form target goes on in origin-form, with Host replaced by its authority', t => {
  const cases: Array<[string, string, string]> = [
    ['http://internal.example/admin', '/admin', 'internal.example'],
    ['HTTP://internal.example:8080/a/b?c=d', '/a/b?c=d', 'internal.example:8080'],
    ['https://internal.example', '/', 'internal.example'],
    ['http://internal.example?q=1', '/?q=1', 'internal.example'],
    ['http://[::1]:81/x', '/x', '[::1]:81'],
  ]
  for (const [url, path, host] of cases) {
    const out = forwardedRequest(head(url, ['Accept', '*/*', 'Host', 'public.example']), false)
    t.is(out.url, path, url)
    t.deepEqual(out.headers, ['Accept', '*/*', 'Host', host], url)
  }
  const old = forwardedRequest(head('http://a.example/x', [], { versionMinor: 0 }), false)
  t.deepEqual([old.url, old.headers], ['/x', ['Host', 'a.example']], 'HTTP/1.0 without Host gets the authority as its Host')
})

test('request: absolute-form targets that are not http(s) or have no valid host are refused', t => {
  for (const url of ['ftp://a.example/x', 'http:///x', 'http://user@a.example/x', 'http://a b/', 'http://a.example#f', 'a.example/x', 'ws://a.example/']) {
    t.throws(() => forwardedRequest(head(url, ['Host', 'a.example']), false), { instanceOf: RequestError }, url)
  }
})

test('request: an upgrade offer on a request with a body is dropped; without a body it stays', t => {
  const fields = ['Host', 'x', 'Connection', 'Upgrade, HTTP2-Settings', 'Upgrade', 'h2c', 'HTTP2-Settings', 'AAM']
  const post = forwardedRequest(head('/p', [...fields, 'Content-Length', '3'], { method: 'POST', upgrade: true }), true)
  t.false(post.upgrade)
  const get = head('/g', fields, { upgrade: true })
  t.is(forwardedRequest(get, false), get)
})

test('request: a Host value that is not host[:port] is refused, an empty one (a target without authority) passes', t => {
  for (const bad of ['a b/c@d', 'a/b', 'user@a', 'a:b', '[::1', 'a?b', 'a#b', 'a\\b']) {
    t.throws(() => forwardedRequest(head('/', ['Host', bad]), false), { instanceOf: RequestError }, bad)
    t.throws(() => forwardedRequest(head('/', ['Host', bad], { versionMinor: 0 }), false), { instanceOf: RequestError }, `${bad} on HTTP/1.0`)
  }
  t.throws(() => forwardedRequest(head('http://a.example/', ['Host', 'a b']), false), { instanceOf: RequestError }, 'even when an absolute-form target replaces it')
  for (const good of ['', 'a.example', 'a.example:8080', 'A-b_c.~x', '10.0.0.1:80', '[::1]:8080', '[fe80::1]', 'xn--bcher-kva.example', 'a:']) {
    const h = head('/', ['Host', good])
    t.is(forwardedRequest(h, false), h, good)
  }
})
