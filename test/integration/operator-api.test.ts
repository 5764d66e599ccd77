// The routes an operator uses on port 7777 beside the original's JSON: drain/undrain,
// explain, /metrics, /servers, the UI files, /health and CORS pre-flight. One real daemon
// on 127.0.4.5 with a static file; one service's check fails against a closed port.
import test from 'ava'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import parsePrometheusTextFormat from 'parse-prometheus-text-format'
import { startDaemon, type DaemonProcess } from '../helpers/daemon.ts'
import { waitFor } from '../helpers/wait.ts'

const IP = '127.0.4.5'
const HOST = 'operator-a'

interface Instance { ID: string, Name: string, Status: number, Hostname: string }
interface Family { name: string, type: string, metrics: Array<{ value?: string, labels?: Record<string, string>, buckets?: Record<string, string>, count?: string }> }

async function closedPort (): Promise<number> {
  const s = net.createServer()
  await new Promise<void>(resolve => s.listen(0, '127.0.0.1', resolve))
  const port = (s.address() as net.AddressInfo).port
  await new Promise(resolve => s.close(resolve))
  return port
}

async function metrics (d: DaemonProcess): Promise<Map<string, Family>> {
  const res = await fetch(d.url('/metrics'))
  if (!res.ok) throw new Error(`/metrics: HTTP ${res.status}`)
  const families = parsePrometheusTextFormat(await res.text()) as Family[]
  return new Map(families.map(f => [f.name, f]))
}

function value (m: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  const family = m.get(name)
  const sample = family?.metrics.find(s => Object.entries(labels).every(([k, v]) => s.labels?.[k] === v))
  return Number(sample?.value ?? Number.NaN)
}

let d: DaemonProcess
let webId: string
let brokenId: string
let deadPort: number

test.before(async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-operator-'))
  const file = path.join(dir, 'static.json')
  const dead = deadPort = await closedPort()
  await writeFile(file, JSON.stringify([
    { Service: { Name: 'web', Image: 'nginx:1.27', Ports: [{ Type: 'tcp', Port: 32768, ServicePort: 8080 }] }, Check: { Type: 'AlwaysSuccessful' } },
    { Service: { Name: 'broken', Image: 'broken:2', Ports: [{ Type: 'tcp', Port: dead, ServicePort: 8081 }] }, Check: { Type: 'TcpConnect', Args: `127.0.0.1:${dead}` } },
    { Service: { Name: 'batch', Image: 'batch:1' }, Check: { Type: 'AlwaysSuccessful' } },
  ]))
  d = await startDaemon({ ip: IP, hostname: HOST, cwd: dir, args: ['-d', 'static'], env: { STATIC_CONFIG_FILE: file, HEALTH_INTERVAL: '1s', HEALTH_TIMEOUT: '500ms' } })
  const services = await waitFor(async () => {
    const s = (await d.json<{ Services: Record<string, Instance[]> }>('/api/services.json')).Services
    return s.web?.[0]?.Status === 0 && s.broken?.[0]?.Status === 2 && s.batch?.[0]?.Status === 0 && s
  }, { timeoutMs: 10_000, message: () => `web ALIVE, broken UNHEALTHY\n${d.output.slice(-2000)}` })
  webId = services.web[0].ID
  brokenId = services.broken[0].ID
  // Kept for the after hook: the temp dir goes with the daemon.
  ;(d as unknown as { dir: string }).dir = dir
})

test.after.always(async () => {
  d?.kill()
  const dir = (d as unknown as { dir?: string } | undefined)?.dir
  if (dir !== undefined) await rm(dir, { recursive: true, force: true })
})

test.serial('drain: 202 with the original\'s message, DRAINING at once; undrain brings it back; errors as the original', async t => {
  const res = await fetch(d.url(`/api/services/${webId}/drain`), { method: 'POST' })
  t.is(res.status, 202)
  t.is(res.headers.get('content-type'), 'application/json; charset=utf-8')
  t.is(await res.text(), JSON.stringify({ Message: `Service "web" instance "${webId}" set to DRAINING` }, null, 2))
  const svc = async (): Promise<Instance> => (await d.json<{ Services: Record<string, Instance[]> }>('/api/services/web.json')).Services.web[0]
  t.is((await svc()).Status, 4, 'DRAINING in the same moment the 202 is sent')
  await new Promise(resolve => setTimeout(resolve, 1500))
  t.is((await svc()).Status, 4, 'still DRAINING after health checks and refreshes')

  const undrain = await fetch(d.url(`/api/services/${webId}/undrain`), { method: 'POST' })
  t.is(undrain.status, 202)
  t.regex(((await undrain.json()) as { Message: string }).Message, /no longer DRAINING \(now ALIVE\)/)
  t.is((await svc()).Status, 0)

  const unknown = await fetch(d.url('/api/services/deadbeef0000/drain'), { method: 'POST' })
  t.is(unknown.status, 404)
  t.deepEqual(await unknown.json(), { message: 'Not Found - Service ID "deadbeef0000" not found', status: 'error' })
  const get = await fetch(d.url(`/api/services/${webId}/drain`))
  t.is(get.status, 405)
  t.is(((await get.json()) as { status: string }).status, 'error')
})

test.serial('explain: says per instance why this host routes to it or not, with the check, reporter and age', async t => {
  type Explained = { routable: boolean, reasons: string[], status: string, local: boolean, drained: boolean, check: { type: string, ok: boolean | null, error: string | null } | null, reportedBy: string, reportedAt: string, ageSeconds: number, lifespanSeconds: number, expiresInSeconds: number, service: Instance }
  const web = await d.json<{ name: string, hostname: string, instances: Explained[] }>('/api/services/web/explain.json')
  t.is(web.name, 'web')
  t.is(web.hostname, HOST)
  t.is(web.instances.length, 1)
  const w = web.instances[0]
  t.true(w.routable)
  t.deepEqual(w.reasons, [])
  t.is(w.status, 'Alive')
  t.true(w.local)
  t.is(w.check?.type, 'AlwaysSuccessful')
  t.is(w.check?.ok, true)
  t.is(w.reportedBy, HOST)
  t.is(w.lifespanSeconds, 80)
  t.true(w.ageSeconds >= 0 && w.ageSeconds < 5, `age ${w.ageSeconds}`)

  const broken = (await d.json<{ instances: Explained[] }>('/api/services/broken/explain.json')).instances[0]
  t.false(broken.routable)
  t.is(broken.status, 'Unhealthy')
  t.is(broken.check?.ok, false)
  t.regex(broken.check?.error ?? '', /ECONNREFUSED|refused/i)
  t.true(broken.reasons.some(r => r.startsWith('status Unhealthy')))
  t.true(broken.reasons.some(r => r.startsWith('last check:')))

  const batch = (await d.json<{ instances: Explained[] }>('/api/services/batch/explain.json')).instances[0]
  t.false(batch.routable)
  t.deepEqual(batch.reasons, ['no port has a ServicePort, so no proxy listener carries it'])

  await fetch(d.url(`/api/services/${webId}/drain`), { method: 'POST' })
  const drained = (await d.json<{ instances: Explained[] }>('/api/services/web/explain.json')).instances[0]
  t.true(drained.drained)
  t.false(drained.routable)
  t.is(drained.lifespanSeconds, 600, 'a drained record lives for the draining lifespan')
  t.true(drained.reasons.some(r => r.includes('an operator drained it')))
  await fetch(d.url(`/api/services/${webId}/undrain`), { method: 'POST' })

  const missing = await fetch(d.url('/api/services/nope/explain.json'))
  t.is(missing.status, 404)
  t.deepEqual(await missing.json(), { message: 'no instances of nope found', status: 'error' })
})

test.serial('/metrics: Prometheus text that parses, and its counters move when services change', async t => {
  const before = await metrics(d)
  t.is(value(before, 'sidecar_services', { status: 'alive' }), 2)
  t.is(value(before, 'sidecar_services', { status: 'unhealthy' }), 1)
  t.is(value(before, 'sidecar_local_services', { status: 'alive' }), 2)
  t.is(value(before, 'sidecar_cluster_members'), 1)
  t.is(before.get('sidecar_health_check_duration_seconds')?.type, 'HISTOGRAM')
  t.true(value(before, 'sidecar_health_check_failures_total', { type: 'TcpConnect' }) >= 1)
  t.truthy(before.get('sidecar_process_resident_memory_bytes'), 'default process metrics, prefixed')
  const drainingChanges = value(before, 'sidecar_catalog_changes_total', { status: 'draining' }) || 0
  const aliveChanges = value(before, 'sidecar_catalog_changes_total', { status: 'alive' })

  await fetch(d.url(`/api/services/${webId}/drain`), { method: 'POST' })
  const during = await metrics(d)
  t.is(value(during, 'sidecar_services', { status: 'draining' }), 1)
  t.is(value(during, 'sidecar_services', { status: 'alive' }), 1)
  t.is(value(during, 'sidecar_catalog_changes_total', { status: 'draining' }), drainingChanges + 1)
  t.is(value(during, 'sidecar_drain_requests_total', { action: 'drain', result: 'ok' }) >= 1, true)

  await fetch(d.url(`/api/services/${webId}/undrain`), { method: 'POST' })
  const after = await metrics(d)
  t.is(value(after, 'sidecar_catalog_changes_total', { status: 'alive' }), aliveChanges + 1)
  t.is(value(after, 'sidecar_services', { status: 'alive' }), 2)
  const checks = value(before, 'sidecar_health_checks_total', { type: 'AlwaysSuccessful' })
  await waitFor(async () => value(await metrics(d), 'sidecar_health_checks_total', { type: 'AlwaysSuccessful' }) > checks, { timeoutMs: 5000, message: 'the health check counter moves with the next checks' })
})

test('/servers: the original\'s text dump in a page that reloads every 4 s', async t => {
  const res = await fetch(d.url('/servers'))
  t.is(res.status, 200)
  t.regex(res.headers.get('content-type') ?? '', /^text\/html/)
  const html = await res.text()
  t.true(html.includes('<meta http-equiv="refresh" content="4">'))
  t.true(html.includes('Services ------------------------------\n'))
  t.regex(html, new RegExp(`  ${HOST}: \\(\\d+\\.\\d (sec|secs) ago\\)\\n`))
  t.regex(html, new RegExp(`      ${webId} web {28}8080->32768 {5}nginx:1\\.27 {37}\\d\\.\\d secs? ago +(Alive|Draining) *\\n`))
  t.true(html.includes(`Cluster Hosts -------------------------\n    ${HOST}\n---------------------------------------`))
})

test('the UI is served at / and /ui/ as plain files, with no request leaving the daemon', async t => {
  for (const p of ['/', '/ui/']) {
    const res = await fetch(d.url(p))
    t.is(res.status, 200, p)
    t.regex(res.headers.get('content-type') ?? '', /^text\/html/)
    const html = await res.text()
    t.true(html.includes('<script type="module" src="/ui/js/app.js">'), p)
    t.false(/https?:\/\//.test(html.replace(/<noscript>[\s\S]*<\/noscript>/, '')), 'no absolute URL: nothing from a CDN')
  }
  const js = await fetch(d.url('/ui/js/app.js'))
  t.regex(js.headers.get('content-type') ?? '', /javascript/)
  t.is((await fetch(d.url('/ui/style.css'))).headers.get('content-type'), 'text/css; charset=utf-8')
  const redirect = await fetch(d.url('/ui'), { redirect: 'manual' })
  t.is(redirect.headers.get('location'), '/ui/')
  for (const p of ['/ui/nope.js', '/ui/..%2fpackage.json', '/ui/%2e%2e/package.json']) t.is((await fetch(d.url(p))).status, 404, p)
})

/**
 * Requests on a fresh connection, read until the daemon closes it: the raw answers, heads and
 * all. halfClose: the client shuts down its writing side after the requests (`nc -N`).
 */
async function rawExchange (request: string, { halfClose = false } = {}): Promise<string> {
  const socket = net.connect({ port: 7777, host: IP, allowHalfOpen: true })
  if (halfClose) socket.end(request); else socket.write(request)
  const chunks: Buffer[] = []
  for await (const c of socket) chunks.push(c as Buffer)
  socket.end()
  return Buffer.concat(chunks).toString('latin1')
}

test('HEAD of a document or a UI file answers a Content-Length and type with no body bytes after the head; a GET carries exactly its Content-Length', async t => {
  const split = (raw: string): { head: string, body: string } => ({ head: raw.slice(0, raw.indexOf('\r\n\r\n')), body: raw.slice(raw.indexOf('\r\n\r\n') + 4) })
  const lengthOf = (head: string): number => Number(/\r\ncontent-length: (\d+)\r\n/i.exec(head)?.[1])
  for (const p of ['/api/state.json', '/services.json', '/ui/js/app.js']) {
    const head = split(await rawExchange(`HEAD ${p} HTTP/1.1\r\nHost: ${IP}:7777\r\nConnection: close\r\n\r\n`))
    const get = split(await rawExchange(`GET ${p} HTTP/1.1\r\nHost: ${IP}:7777\r\nConnection: close\r\n\r\n`))
    for (const r of [head, get]) t.regex(r.head, /^HTTP\/1\.1 200 /, p)
    t.true(lengthOf(head.head) > 0, `${p}: HEAD's Content-Length`)
    t.is(head.body, '', `${p}: bytes after the head of a HEAD answer`)
    t.is(Buffer.byteLength(get.body, 'latin1'), lengthOf(get.head), `${p}: a GET carries exactly its Content-Length`)
    t.is(/\r\ncontent-type: ([^\r]+)\r\n/i.exec(head.head)?.[1], /\r\ncontent-type: ([^\r]+)\r\n/i.exec(get.head)?.[1], `${p}: the same type`)
    // the documents change while this file's other tests drain and undrain; a UI file does not
    if (p.startsWith('/ui/')) t.is(lengthOf(head.head), lengthOf(get.head), `${p}: HEAD's Content-Length is GET's`)
  }
})

test('a client that half-closes after its requests (nc -N) gets every answer, then the daemon closes', async t => {
  // a UI file is read from disk, so its answer is not ready when the FIN arrives
  const one = await rawExchange(`GET /ui/js/app.js HTTP/1.1\r\nHost: ${IP}:7777\r\n\r\n`, { halfClose: true })
  t.regex(one, /^HTTP\/1\.1 200 /)
  const length = Number(/\r\ncontent-length: (\d+)\r\n/i.exec(one)?.[1])
  t.true(length > 0)
  t.is(Buffer.byteLength(one.slice(one.indexOf('\r\n\r\n') + 4), 'latin1'), length, 'the whole file, then the close')
  // pipelined, the slow answer first: both, in order
  const two = await rawExchange(`GET /ui/ HTTP/1.1\r\nHost: ${IP}:7777\r\n\r\nGET /health HTTP/1.1\r\nHost: ${IP}:7777\r\n\r\n`, { halfClose: true })
  const statuses = [...two.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map(m => m[1])
  t.deepEqual(statuses, ['200', '200'])
  t.true(two.indexOf('<html') < two.lastIndexOf('HTTP/1.1 200'), 'the page, then /health')
  // a FIN with nothing asked is closed at once, not held
  t.is(await rawExchange('', { halfClose: true }), '')
  // a FIN in the middle of a head is not answered as a request
  t.notRegex(await rawExchange(`GET /health HTTP/1.1\r\nHost: ${IP}`, { halfClose: true }), /^HTTP\/1\.1 200 /)
})

test('a stream (/watch, SSE) ends when its client half-closes: what was written arrives, then the close, and the daemon lets the client go', async t => {
  // an endless answer on a half-closed connection would otherwise stay open until a write failed
  for (const [p, first] of [['/watch', '{'], ['/api/events', 'event: snapshot']] as const) {
    const t0 = Date.now()
    const socket = net.connect({ port: 7777, host: IP, allowHalfOpen: true })
    socket.write(`GET ${p} HTTP/1.1\r\nHost: ${IP}:7777\r\n\r\n`)
    const chunks: Buffer[] = []
    socket.on('data', (c: Buffer) => {
      chunks.push(c)
      // once the stream's first bytes are here, the client says it sends nothing more
      if (!socket.writableEnded && Buffer.concat(chunks).toString('latin1').includes(first)) socket.end()
    })
    // the SSE heartbeat comes every 15 s, /watch writes only on a change: 10 s is well before either
    const ended = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => { resolve(false) }, 10_000)
      socket.once('end', () => { clearTimeout(timer); resolve(true) })
      socket.once('error', () => { clearTimeout(timer); resolve(false) })
    })
    socket.destroy()
    const got = Buffer.concat(chunks).toString('latin1')
    t.regex(got, /^HTTP\/1\.1 200 /, p)
    t.true(got.includes(first), `${p}: the stream's first bytes arrived`)
    t.true(ended, `${p}: ended by the daemon at the client's FIN (${Date.now() - t0} ms), not at a later write`)
  }
  // the FIN with the request (`printf 'GET /watch ...' | nc -N`): the current document, then the close
  const once = await rawExchange(`GET /watch HTTP/1.1\r\nHost: ${IP}:7777\r\n\r\n`, { halfClose: true })
  t.regex(once, /^HTTP\/1\.1 200 /)
  t.regex(once, /\r\n\r\n[0-9a-f]+\r\n\{"[^"]+":\[\{"ID":/, 'one document, by service, as its first chunk')
  await waitFor(async () => {
    const m = await metrics(d)
    return value(m, 'sidecar_stream_clients', { kind: 'watch' }) === 0 && value(m, 'sidecar_stream_clients', { kind: 'sse' }) === 0
  }, { timeoutMs: 5000, message: 'the daemon let the clients go' })
  t.pass()
})

test('a mistyped /api/ path is 404, not the pre-flight route\'s 405; a known path with the wrong method is still 405', async t => {
  for (const p of ['/api/service.json', '/api/nope', '/v1/nope']) {
    const r = await fetch(d.url(p))
    t.is(r.status, 404, p)
    t.is(r.headers.get('allow'), null, p)
    t.deepEqual(await r.json(), { message: `Not Found - no route for GET ${p}`, status: 'error' })
  }
  const wrong = await fetch(d.url('/api/services.json'), { method: 'DELETE', headers: { Origin: `http://${IP}:7777` } })
  t.is(wrong.status, 405)
  t.regex(wrong.headers.get('allow') ?? '', /GET/)
  t.is((await fetch(d.url('/api/nope'), { method: 'OPTIONS' })).status, 200, 'the pre-flight itself still answers')
  // a method the API serves nowhere: 501 in the house JSON, keeping the Allow of the path
  const trace = await rawExchange(`TRACE /health HTTP/1.1\r\nHost: ${IP}:7777\r\nConnection: close\r\n\r\n`)
  t.regex(trace, /^HTTP\/1\.1 501 /)
  t.regex(trace, /\r\nallow: [^\r]*GET/i)
  t.true(trace.endsWith('\r\n\r\n{"message":"Not Implemented - the API serves no TRACE requests","status":"error"}'), trace)
  // at a path no route knows, no Allow at all (not an empty one)
  const unknown = await rawExchange(`TRACE / HTTP/1.1\r\nHost: ${IP}:7777\r\nConnection: close\r\n\r\n`)
  t.regex(unknown, /^HTTP\/1\.1 501 /)
  t.notRegex(unknown, /\r\nallow:/i)
})

test('/health keeps its shape; OPTIONS pre-flight answers with CORS headers', async t => {
  const health = await d.json<Record<string, unknown>>('/health')
  t.deepEqual(Object.keys(health), ['status', 'hostname', 'clusterName', 'uptimeSeconds', 'clockOffsetSeconds'])
  t.is(health.status, 'ok')
  const pre = await fetch(d.url('/api/services.json'), { method: 'OPTIONS' })
  t.is(pre.status, 200)
  t.is(pre.headers.get('access-control-allow-origin'), '*')
  t.is(pre.headers.get('access-control-allow-methods'), 'GET')
  t.is(await pre.text(), '')
  t.is((await fetch(d.url('/api/services/x.json'), { method: 'OPTIONS' })).status, 405, 'multi-segment OPTIONS on a GET route: 405')
})

test('a drained instance whose check fails shows UNHEALTHY, and DRAINING again once it passes', async t => {
  const res = await fetch(d.url(`/api/services/${brokenId}/drain`), { method: 'POST' })
  t.is(res.status, 202)
  const status = async (): Promise<number> => (await d.json<{ Services: Record<string, Instance[]> }>('/api/services/broken.json')).Services.broken[0].Status
  t.is(await status(), 2, 'the failing check wins over the drain: the operator sees the real problem')
  const explained = (await d.json<{ instances: Array<{ drained: boolean }> }>('/api/services/broken/explain.json')).instances[0]
  t.true(explained.drained, 'the drain is remembered')

  const server = net.createServer(socket => { socket.end() })
  await new Promise<void>(resolve => server.listen(deadPort, '127.0.0.1', resolve))
  t.teardown(() => { server.close() })
  await waitFor(async () => await status() === 4, { timeoutMs: 5000, message: 'DRAINING once the check passes' })
  await fetch(d.url(`/api/services/${brokenId}/undrain`), { method: 'POST' })
  t.is(await status(), 0)
})
