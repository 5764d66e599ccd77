// Who may write through the API: the cross-origin rule and the token, as pure rules.
import test from 'ava'
import { hostNameVerdict, isWrite, sameOriginVerdict, tokenVerdict } from '../../../src/api/write-rules.ts'
import { corsAllowed } from '../../../src/api/guard.ts'
import { hostNameSet } from '../../../src/api/host-names.ts'

test('isWrite: every method but GET, HEAD and OPTIONS is a write', t => {
  for (const m of ['GET', 'HEAD', 'OPTIONS', 'get']) t.false(isWrite(m), m)
  for (const m of ['POST', 'PUT', 'DELETE', 'PATCH', 'PROPFIND', 'post']) t.true(isWrite(m), m)
})

test('origin: clients that are not browsers (no Origin, no Sec-Fetch-Site) pass', t => {
  t.true(sameOriginVerdict({ host: '127.0.0.1:7777' }).ok)
})

test('origin: a page of the same origin passes, with or without Sec-Fetch-Site', t => {
  t.true(sameOriginVerdict({ origin: 'http://127.0.0.1:7777', secFetchSite: 'same-origin', host: '127.0.0.1:7777' }).ok)
  t.true(sameOriginVerdict({ origin: 'http://Sidecar.Example:7777', host: 'sidecar.example:7777' }).ok)
  t.true(sameOriginVerdict({ origin: 'http://sidecar.example', host: 'sidecar.example:80' }).ok, 'default port')
  t.true(sameOriginVerdict({ origin: 'http://[::1]:7777', host: '[::1]:7777' }).ok)
})

test('origin: another port of the same host is another origin', t => {
  const v = sameOriginVerdict({ origin: 'http://127.0.0.1:8000', host: '127.0.0.1:7777' })
  t.false(v.ok)
  t.false(sameOriginVerdict({ secFetchSite: 'same-site', host: '127.0.0.1:7777' }).ok)
})

test('origin: cross-site, "null" and unparsable origins are refused with the reason', t => {
  const cross = sameOriginVerdict({ origin: 'https://evil.example', secFetchSite: 'cross-site', host: '10.0.0.1:7777' })
  t.false(cross.ok)
  if (!cross.ok) t.regex(cross.reason, /cross-site/)
  const nul = sameOriginVerdict({ origin: 'null', host: '10.0.0.1:7777' })
  t.false(nul.ok)
  if (!nul.ok) t.regex(nul.reason, /"null"/)
  t.false(sameOriginVerdict({ origin: 'not a url', host: '10.0.0.1:7777' }).ok)
  t.false(sameOriginVerdict({ origin: 'https://evil.example', host: '10.0.0.1:7777' }).ok, 'Origin without Sec-Fetch-Site (older browsers)')
  t.false(sameOriginVerdict({ origin: 'http://10.0.0.1:7777' }).ok, 'no Host header to compare with')
})

test('origin: behind a reverse proxy, the forwarded host counts (a page cannot set it without a pre-flight)', t => {
  t.true(sameOriginVerdict({ origin: 'https://sidecar.example', host: '127.0.0.1:7777', forwardedHost: 'sidecar.example' }).ok)
  t.false(sameOriginVerdict({ origin: 'https://evil.example', host: '127.0.0.1:7777', forwardedHost: 'sidecar.example' }).ok)
})

test('token: none configured lets every write through', t => {
  t.true(tokenVerdict(undefined, '').ok)
})

test('token: missing, malformed and wrong tokens are refused, each with its reason', t => {
  const token = 's3cr3t-token'
  const missing = tokenVerdict(undefined, token)
  const basic = tokenVerdict('Basic abc', token)
  const wrong = tokenVerdict('Bearer s3cr3t-tokem', token)
  const prefix = tokenVerdict('Bearer s3cr3t', token)
  for (const v of [missing, basic, wrong, prefix]) t.false(v.ok)
  if (!missing.ok) t.regex(missing.reason, /needs the API token/)
  if (!basic.ok) t.regex(basic.reason, /Bearer <token>/)
  if (!wrong.ok) t.regex(wrong.reason, /does not match/)
  t.true(tokenVerdict('Bearer s3cr3t-token', token).ok)
  t.true(tokenVerdict('bearer   s3cr3t-token ', token).ok, 'the scheme is case-insensitive')
})

test('cors: only the original read routes and pre-flights keep CORS', t => {
  for (const p of ['/services.json', '/api/services.json', '/state.json', '/api/state.json', '/services/web.json', '/api/services/web.json']) t.true(corsAllowed('GET', p), p)
  for (const p of ['/api/services/web/explain.json', '/api/proxy.json', '/api/listeners.json', '/metrics', '/health']) t.false(corsAllowed('GET', p), p)
  t.true(corsAllowed('OPTIONS', '/api/services.json'))
  t.false(corsAllowed('POST', '/api/services/abc/drain'))
  t.false(corsAllowed('POST', '/api/services.json'))
})

test('host name (no token, DNS rebinding): a browser write to an IP address, localhost or an allowed name passes', t => {
  const allowed = hostNameSet(['sidecar-1', 'ops.example.com'])
  for (const host of ['127.0.0.1:7777', '10.1.2.3', '[::1]:7777', '[fd00::1]', 'localhost:7777', 'LocalHost', 'ui.localhost:7777', 'sidecar-1:7777', 'Ops.Example.Com:7777', 'ops.example.com.:7777', '0x7f.1:7777']) {
    t.true(hostNameVerdict({ origin: `http://${host}`, host }, allowed).ok, host)
  }
  t.true(hostNameVerdict({ host: 'rebound.example:7777' }, allowed).ok, 'no Origin: not a browser, judged by the token alone')
})

test('host name (no token, DNS rebinding): a domain entry allows the names under it, and only those', t => {
  const allowed = hostNameSet(['.ops.example.com', '*.corp.example.'])
  for (const host of ['ops.example.com', 'a.ops.example.com:7777', 'A.B.Ops.Example.Com.', 'x.corp.example', 'x.y.corp.example:7777']) {
    t.true(hostNameVerdict({ origin: `http://${host}`, host }, allowed).ok, host)
  }
  // the apex only with a leading dot; a name that merely ends in the same letters is another domain
  for (const host of ['corp.example', 'evilops.example.com', 'ops.example.com.attacker.example', 'evilcorp.example:7777', 'example.com', 'corp.example.attacker.example']) {
    t.false(hostNameVerdict({ origin: `http://${host}`, host }, allowed).ok, host)
  }
  // this host's own names are taken as names: a [sidecar] hostname ".example" (any visible ASCII is allowed there) opens no domain
  const own = hostNameSet([], ['.example', '*.test'])
  for (const host of ['rebound.example', 'x.test']) t.false(hostNameVerdict({ origin: `http://${host}`, host }, own).ok, host)
})

test('host name (no token, DNS rebinding): behind a proxy that sends its upstream\'s address as Host, each name of X-Forwarded-Host is judged as Host is', t => {
  const allowed = hostNameSet(['ops.example.test'])
  const write = (forwardedHost: string): boolean => hostNameVerdict({ origin: `http://${forwardedHost.split(',')[0].trim()}`, host: '127.0.0.1:7777', forwardedHost }, allowed).ok
  for (const fwd of ['ops.example.test:8080', '127.0.0.1:8080', 'localhost', 'ops.example.test, 10.0.0.5:7777']) t.true(write(fwd), fwd)
  for (const fwd of ['rebound.test:8080', 'rebound.test', 'ops.example.test, rebound.test:8080', 'rebound.test, ops.example.test', 'evil.test@127.0.0.1', 'bad host']) t.false(write(fwd), fwd)
  const v = hostNameVerdict({ origin: 'http://rebound.test:8080', host: '127.0.0.1:7777', forwardedHost: 'rebound.test:8080' }, allowed)
  t.false(v.ok)
  if (!v.ok) t.regex(v.reason, /^a browser sent this write to the name "rebound\.test"/)
  // besides Host, never instead: a page that sets X-Forwarded-Host itself only adds a name to judge
  t.false(hostNameVerdict({ origin: 'http://rebound.test:7777', host: 'rebound.test:7777', forwardedHost: '127.0.0.1:7777' }, allowed).ok)
  t.true(hostNameVerdict({ host: '127.0.0.1:7777', forwardedHost: 'rebound.test' }, allowed).ok, 'no Origin: not a browser, judged by the token alone')
})

test('host name (no token, DNS rebinding): a browser write to any other name is refused with what to do', t => {
  const allowed = hostNameSet(['sidecar-1'])
  for (const host of ['rebound.example:7777', 'sidecar-1.attacker.example:7777', 'sidecar-10:7777', 'localhost.attacker.example', '127.0.0.1.nip.io:7777']) {
    const v = hostNameVerdict({ origin: `http://${host}`, host }, allowed)
    t.false(v.ok, host)
    if (!v.ok) t.regex(v.reason, /neither an IP address, localhost, this host's name nor in \[api\] allowed_hosts: .*add the name to \[api\] allowed_hosts or set \[api\] token$/)
  }
  t.false(hostNameVerdict({ origin: 'http://x', host: 'bad host:1' }, allowed).ok, 'an unparsable Host')
  for (const host of ['rebound.example@127.0.0.1', '127.0.0.1/x', 'localhost?x', 'localhost#x', 'rebound.example\\@localhost']) t.false(hostNameVerdict({ origin: 'http://x', host }, allowed).ok, `${host}: what the URL parser would read past is no host name`)
  t.false(hostNameVerdict({ origin: 'http://x' }, allowed).ok, 'a browser request without Host')
})
