// HTTP on the API port as a client sees it, on one real daemon (127.0.45.10): paths with `//`,
// `.` or `..` segments redirected to the cleaned path as the original's Go mux did, never to
// another host or outside the UI's files; ETags and 304s for the documents kept per catalog
// version, never a stale one; gzip when asked; and Node's own plain-text refusals (no Host,
// an unmet Expect) answered with the house JSON error. Before (main at 560e58b): 404 for every
// such path, no ETag, no compression, and Node's empty plain-text 400 and 417.
import test from 'ava'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { gunzipSync } from 'node:zlib'
import { startDaemon, type DaemonProcess } from '../helpers/daemon.ts'
import { waitFor } from '../helpers/wait.ts'

const IP = '127.0.45.10'

interface Answer { status: number, headers: http.IncomingHttpHeaders, body: Buffer }

let d: DaemonProcess
let dir: string

/** node:http, not fetch: fetch asks for gzip itself and hides Content-Encoding and the raw bytes. */
async function request (p: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Answer> {
  return await new Promise((resolve, reject) => {
    const req = http.request({ host: IP, port: 7777, path: p, method, headers, timeout: 5000 }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }) })
    })
    req.on('timeout', () => req.destroy(new Error(`${method} ${p}: no answer within 5 s`)))
    req.on('error', reject)
    req.end()
  })
}

/** Raw bytes in, the whole answer out (the server closes after these refusals). */
async function raw (bytes: string): Promise<string> {
  return await new Promise((resolve, reject) => {
    const s = net.connect(7777, IP, () => { s.write(bytes) })
    let out = ''
    s.setTimeout(5000, () => s.destroy(new Error(`no answer to ${JSON.stringify(bytes)} within 5 s`)))
    s.on('data', (c: Buffer) => { out += c.toString('latin1') })
    s.on('end', () => { resolve(out); s.destroy() })
    s.on('error', reject)
  })
}

function json (a: Answer): Record<string, unknown> {
  return JSON.parse(a.body.toString()) as Record<string, unknown>
}

test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-api-http-'))
  const file = path.join(dir, 'static.json')
  // several records, so that /state.json is past the 1 KiB below which nothing is compressed
  const entries = [{ Service: { ID: 'web1', Name: 'web', Image: 'web:1', Ports: [{ Type: 'tcp', Port: 9001, ServicePort: 8080 }] }, Check: { Type: 'AlwaysSuccessful' } }]
  for (let i = 0; i < 6; i++) entries.push({ Service: { ID: `batch${i}`, Name: `batch${i}`, Image: 'batch:1', Ports: [] }, Check: { Type: 'AlwaysSuccessful' } })
  await writeFile(file, JSON.stringify(entries))
  d = await startDaemon({ ip: IP, hostname: 'api-http', cwd: dir, args: ['-d', 'static', '--bind-port', '7946'], env: { STATIC_CONFIG_FILE: file, HEALTH_INTERVAL: '500ms', PROXY_ENABLED: 'false' } })
  await waitFor(async () => (await d.json<{ Services: Record<string, Array<{ Status: number }>> }>('/services.json')).Services.batch5?.[0]?.Status === 0, { timeoutMs: 15_000, message: () => `all services ALIVE; output:\n${d.output.slice(-2000)}` })
})

test.after.always(async () => {
  d?.kill()
  await rm(dir, { recursive: true, force: true })
})

test('paths with //, . or .. segments are redirected to the cleaned path with the query kept, 301 for GET and HEAD', async t => {
  const cases: Array<[string, string]> = [
    ['//services.json', '/services.json'],
    ['/api//services.json', '/api/services.json'],
    ['/api/./state.json', '/api/state.json'],
    ['/api/x/../services/web.json?pretty=1', '/api/services/web.json?pretty=1'],
    ['/api/%2e%2e/api/%2E/state.json', '/api/state.json'],
    ['/ui/./', '/ui/'],
  ]
  for (const [from, to] of cases) {
    for (const method of ['GET', 'HEAD']) {
      const a = await request(from, {}, method)
      t.is(a.status, 301, `${method} ${from}`)
      t.is(a.headers.location, to, `${method} ${from}`)
    }
    t.is((await request(to.replace('/ui/', '/ui/index.html'))).status, 200, `${to} is served`)
  }
})

test('a write at an unclean path gets 308, which keeps its method, and is not done there', async t => {
  const a = await request('/api//services/web1/drain', {}, 'POST')
  t.is(a.status, 308)
  t.is(a.headers.location, '/api/services/web1/drain')
  const web = await d.json<{ Services: { web: Array<{ Status: number }> } }>('/api/services/web.json')
  t.is(web.Services.web[0].Status, 0, 'not drained by the redirected request')
  const foreign = await request('/api//services/web1/drain', { Origin: 'http://evil.example' }, 'POST')
  t.is(foreign.status, 403, 'a write the guard refuses is refused at an unclean path too, not redirected')
  t.is(foreign.headers.location, undefined)
})

test('a redirect never leaves the host and never reaches files outside the UI', async t => {
  const base = `http://${IP}:7777/`
  for (const p of ['//evil.example/x', '//evil.example//x/..', '///evil.example', '//\\evil.example/x/', '/.//evil.example', '/%2e%2e//evil.example']) {
    const a = await request(p)
    t.is(a.status, 301, p)
    const location = a.headers.location ?? ''
    t.true(location.startsWith('/') && !location.startsWith('//') && !location.startsWith('/\\'), `${p} -> ${location}`)
    t.is(new URL(location, base).host, `${IP}:7777`, `${p} -> ${location} stays on this host`)
  }
  for (const p of ['/ui/../../package.json', '/ui/%2e%2e/%2e%2e/package.json', '/ui/..%2f..%2fpackage.json', '/ui/%2e%2e%2fpackage.json']) {
    let a = await request(p)
    for (let hops = 0; a.status === 301 && hops < 3; hops++) a = await request(a.headers.location ?? '/')
    t.is(a.status, 404, p)
    t.false(a.body.toString().includes('"devDependencies"'), `${p}: no package.json`)
  }
})

test('documents kept per catalog version have an ETag: 304 without a body while it holds, 200 with the new body after a change', async t => {
  for (const p of ['/api/state.json', '/state.json', '/services.json', '/api/services/web.json']) {
    const first = await request(p)
    t.is(first.status, 200, p)
    const tag = first.headers.etag ?? ''
    t.regex(tag, /^(W\/)?"[^"]+"$/, `${p} has an ETag`)
    for (const method of ['GET', 'HEAD']) {
      const again = await request(p, { 'If-None-Match': tag }, method)
      t.is(again.status, 304, `${method} ${p}`)
      t.is(again.body.length, 0)
      t.is(again.headers.etag, tag)
    }
    t.is((await request(p, { 'If-None-Match': '"something-else"' })).status, 200, `${p}: another tag`)
  }
  const stateTag = (await request('/api/state.json')).headers.etag ?? ''
  const servicesTag = (await request('/api/services/web.json')).headers.etag ?? ''
  t.is((await request('/api/services/batch0.json', { 'If-None-Match': servicesTag })).status, 200, 'one name\'s tag is not another\'s')
  t.is((await request('/api/services.json', { 'If-None-Match': stateTag })).status, 200, 'one document\'s tag is not another\'s')

  const drained = await request('/api/services/batch0/drain', {}, 'POST')
  t.is(drained.status, 202)
  const after = await waitFor(async () => {
    const a = await request('/api/state.json', { 'If-None-Match': stateTag })
    return a.status === 200 && a
  }, { timeoutMs: 5000, message: 'a 200 for the old tag after a change' })
  t.not(after.headers.etag, stateTag)
  const state = json(after) as { Servers: Record<string, { Services: Record<string, { Status: number }> }> }
  t.is(state.Servers['api-http'].Services.batch0.Status, 4, 'the new body shows the change')
  t.is((await request('/api/services/batch0.json', { 'If-None-Match': (await request('/api/services/batch0.json')).headers.etag ?? '' })).status, 304)
  await request('/api/services/batch0/undrain', {}, 'POST')
})

test('documents are gzipped when the client accepts gzip, with Vary: Accept-Encoding; small ones and streams are not', async t => {
  const plain = await request('/api/state.json')
  t.true(plain.body.length >= 1024, `/state.json has ${plain.body.length} bytes`)
  t.is(plain.headers['content-encoding'], undefined)
  t.regex(plain.headers.vary ?? '', /accept-encoding/i)
  for (const ae of ['gzip', 'gzip, deflate, br', 'br;q=1, gzip;q=0.5']) {
    const a = await request('/api/state.json', { 'Accept-Encoding': ae })
    t.is(a.headers['content-encoding'], 'gzip', ae)
    t.regex(a.headers.vary ?? '', /accept-encoding/i)
    t.is(Number(a.headers['content-length']), a.body.length)
    t.true(a.body.length < plain.body.length)
    const unzipped = gunzipSync(a.body)
    if (a.headers.etag === plain.headers.etag) t.deepEqual(unzipped, plain.body, 'the same document')
    else t.truthy(JSON.parse(unzipped.toString()), 'a document of a later version')
  }
  for (const ae of ['gzip;q=0', 'identity', 'br']) t.is((await request('/api/state.json', { 'Accept-Encoding': ae })).headers['content-encoding'], undefined, ae)
  const small = await request('/api/services/web.json', { 'Accept-Encoding': 'gzip' })
  t.true(small.body.length < 1024)
  t.is(small.headers['content-encoding'], undefined, 'under 1 KiB: not compressed')
  const head = await request('/api/state.json', { 'Accept-Encoding': 'gzip' }, 'HEAD')
  t.is(head.headers['content-encoding'], 'gzip')
  t.is(head.body.length, 0)

  // /watch: its first document, then the stream stays open; not compressed
  const watch = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const req = http.get({ host: IP, port: 7777, path: '/watch', headers: { 'Accept-Encoding': 'gzip' } }, resolve)
    req.on('error', reject)
  })
  t.is(watch.headers['content-encoding'], undefined, '/watch is not compressed')
  watch.destroy()
})

test('a UI file revalidated with its Last-Modified gets 304 without a body; an older date gets the file', async t => {
  const first = await request('/ui/')
  t.is(first.status, 200)
  const lastModified = first.headers['last-modified']
  t.truthy(lastModified, 'UI files carry Last-Modified')
  const again = await request('/ui/', { 'If-Modified-Since': lastModified ?? '' })
  t.is(again.status, 304)
  t.is(again.body.length, 0)
  const older = await request('/ui/', { 'If-Modified-Since': new Date(Date.parse(lastModified ?? '') - 60_000).toUTCString() })
  t.is(older.status, 200)
  t.deepEqual(older.body, first.body)
  // a file that is not there is still a 404, whatever the client says it holds
  t.is((await request('/ui/nothing-here.js', { 'If-Modified-Since': lastModified ?? '' })).status, 404)
})

test('a malformed request sent behind a stream that has begun closes the connection: no error head lands inside the stream\'s body', async t => {
  const s = net.connect(7777, IP)
  let out = ''
  s.on('data', (c: Buffer) => { out += c.toString('latin1') })
  s.on('error', () => {})
  const closed = new Promise<void>(resolve => { s.on('close', () => { resolve() }) })
  t.teardown(() => { s.destroy() })
  s.write(`GET /watch HTTP/1.1\r\nHost: ${IP}\r\n\r\n`)
  await waitFor(() => out.includes('\r\n\r\n') && out.length > out.indexOf('\r\n\r\n') + 4, { timeoutMs: 10_000, message: 'the stream began' })
  t.regex(out, /^HTTP\/1\.1 200 OK\r\n/)
  s.write(`GET /health HTTP/1.1\r\nHost: ${IP}\r\nBad Header\r\n\r\n`)
  const ended = await Promise.race([closed.then(() => true), new Promise<boolean>(resolve => setTimeout(() => { resolve(false) }, 10_000))])
  t.true(ended, 'the connection is closed')
  t.is(out.match(/HTTP\/1\.1 /g)?.length, 1, `one answer's head only, none inside the stream:\n${out.slice(-400)}`)
  t.false(out.includes('is not valid HTTP/1.1'))
})

test('an HTTP/1.1 request without Host and an Expect other than 100-continue get JSON errors that name the problem', async t => {
  const noHost = await raw('GET /health HTTP/1.1\r\nConnection: close\r\n\r\n')
  t.regex(noHost, /^HTTP\/1\.1 400 Bad Request\r\n/)
  t.regex(noHost, /\r\nContent-Type: application\/json/i)
  t.regex(noHost, /\r\nX-Content-Type-Options: nosniff\r\n/i, 'with the API\'s headers')
  t.regex(noHost, /\r\n\r\n\{"message":"Bad Request - an HTTP\/1\.1 request must have a Host header","status":"error"\}$/)
  const emptyHost = await raw('GET /health HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n')
  t.regex(emptyHost, /^HTTP\/1\.1 400 /)

  const expect = await raw('POST /api/services/web1/drain HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Length: 0\r\n\r\n')
  t.regex(expect, /^HTTP\/1\.1 417 Expectation Failed\r\n/)
  t.regex(expect, /\r\n\r\n\{"message":"Expectation Failed - the only Expect this server meets is 100-continue, not \\"200-ok\\"","status":"error"\}$/)
  const web = await d.json<{ Services: { web: Array<{ Status: number }> } }>('/api/services/web.json')
  t.is(web.Services.web[0].Status, 0, 'the refused drain was not done')

  // what Node accepted stays accepted
  t.regex(await raw('GET /health HTTP/1.0\r\n\r\n'), /^HTTP\/1\.1 200 OK\r\n/, 'HTTP/1.0 needs no Host')
  t.regex(await raw('GET /health HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK\r\n/)
  const metrics = (await request('/metrics')).body.toString()
  t.regex(metrics, /^sidecar_api_rejected_requests_total\{reason="bad_request"\} [3-9]$/m, 'counted')
})
