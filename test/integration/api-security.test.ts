// The API's trust boundary on two real daemons (127.0.12.2 with a token, 127.0.12.3 without; port 7777): writes need
// the token when one is set and are refused from other origins whatever the token, no CORS
// on writes or on this daemon's own read routes, no secret in any answer, a cap on stream
// clients, and oversized headers counted. Before the guard (main at 2147a8d) a drain needed
// nothing, explain echoed passwords and command lines, and streams had no cap.
import anyTest, { type TestFn } from 'ava'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { startDaemon, type DaemonProcess } from '../helpers/daemon.ts'
import { waitFor } from '../helpers/wait.ts'

interface Instance { ID: string, Name: string, Status: number }
const DRAINING = 4

const TOKEN = 'tok-5f1c2a9e7d3b4c60a8e1'
const SECRETS = {
  httpPassword: 'httppw-9d8c7b',
  queryToken: 'qtok-1a2b3c',
  commandSecret: 'cmdpw-4e5f6a',
  hookPassword: 'hookpw-7b8c9d',
  listenerSecret: 'hmac-0e1f2a',
  clusterKey: 'ckey-3b4c5d',
  token: TOKEN,
}

const test = anyTest as TestFn<{ a: DaemonProcess, b: DaemonProcess, port: number }>
const cleanup: Array<() => Promise<void> | void> = []

async function daemon (ip: string, entries: unknown[], env: Record<string, string> = {}): Promise<DaemonProcess> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-apisec-'))
  cleanup.push(async () => { await rm(dir, { recursive: true, force: true }) })
  const file = path.join(dir, 'static.json')
  await writeFile(file, JSON.stringify(entries))
  const d = await startDaemon({ ip, hostname: `apisec-${ip.split('.').at(-1) ?? ''}`, cwd: dir, args: ['-d', 'static', '--bind-port', '7946'], env: { STATIC_CONFIG_FILE: file, HEALTH_INTERVAL: '500ms', HEALTH_TIMEOUT: '400ms', SIDECAR_LOGGING_LEVEL: 'info', PROXY_ENABLED: 'false', ...env } })
  cleanup.push(() => { d.kill() })
  return d
}

const web = { Service: { Name: 'web', Image: 'web:1', Ports: [{ Type: 'tcp', Port: 9001, ServicePort: 0 }] }, Check: { Type: 'AlwaysSuccessful' } }

async function webInstance (d: DaemonProcess): Promise<Instance> {
  return await waitFor(async () => (await d.json<{ Services: Record<string, Instance[]> }>('/services.json')).Services.web?.[0], { timeoutMs: 10_000, message: 'web listed' })
}

async function post (d: DaemonProcess, p: string, headers: Record<string, string> = {}, body?: string): Promise<{ status: number, body: { message?: string, status?: string, Message?: string }, headers: Headers }> {
  const res = await fetch(d.url(p), { method: 'POST', headers, body, signal: AbortSignal.timeout(5000) })
  return { status: res.status, body: await res.json() as { message?: string }, headers: res.headers }
}

async function metric (d: DaemonProcess, reason: string): Promise<number> {
  const text = await (await fetch(d.url('/metrics'))).text()
  const m = new RegExp(`^sidecar_api_rejected_requests_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(text)
  return m === null ? 0 : Number(m[1])
}

test.before(async t => {
  // A check that gives up (its timeout, under load) resets the socket: not an error of this test.
  const backend = net.createServer(s => { s.on('error', () => {}); s.end('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n') })
  await new Promise<void>(resolve => { backend.listen(0, '127.0.12.2', resolve) })
  cleanup.push(() => { backend.close() })
  const port = (backend.address() as net.AddressInfo).port
  const entries = [
    { Service: { Name: 'db', Image: 'db:1', Ports: [{ Type: 'tcp', Port: port, ServicePort: 0 }] }, Check: { Type: 'HttpGet', Args: `http://admin:${SECRETS.httpPassword}@127.0.12.2:${port}/health?token=${SECRETS.queryToken}` } },
    { Service: { Name: 'cmd', Image: 'cmd:1' }, Check: { Type: 'External', Args: `test -n "${SECRETS.commandSecret}" && exit 3` } },
    { Service: { Name: 'down', Image: 'down:1' }, Check: { Type: 'HttpGet', Args: `http://admin:${SECRETS.httpPassword}@127.0.12.2:1/x` } },
  ]
  const [a, b] = await Promise.all([daemon('127.0.12.2', [web, ...entries], {
    API_TOKEN: SECRETS.token,
    SIDECAR_CLUSTER_KEY: SECRETS.clusterKey,
    LISTENERS_URLS: `http://hook:${SECRETS.hookPassword}@127.0.12.2:1/events`,
    LISTENERS_SECRET: SECRETS.listenerSecret,
  }), daemon('127.0.12.3', [web], { API_MAX_STREAM_CLIENTS: '3' })])
  t.context.a = a
  t.context.b = b
  t.context.port = port
})

test.after.always(async () => {
  for (const c of cleanup.reverse()) await c()
})

test('drain with a token set: refused without it (401) and with a wrong one (401), accepted with it (202)', async t => {
  const d = t.context.a
  const svc = await webInstance(d)
  const none = await post(d, `/api/services/${svc.ID}/drain`)
  t.is(none.status, 401)
  t.deepEqual(none.body, { message: 'Unauthorized - this endpoint needs the API token: send "Authorization: Bearer <token>" ([api] token)', status: 'error' })
  t.is(none.headers.get('www-authenticate'), 'Bearer realm="sidecar"')
  const wrong = await post(d, `/api/services/${svc.ID}/drain`, { Authorization: `Bearer ${TOKEN}x` })
  t.is(wrong.status, 401)
  t.regex(wrong.body.message ?? '', /does not match/)
  t.is((await webInstance(d)).Status, 0, 'still ALIVE after the refused drains')
  t.is(await metric(d, 'unauthorized'), 2)

  const ok = await post(d, `/api/services/${svc.ID}/drain`, { Authorization: `Bearer ${TOKEN}` })
  t.is(ok.status, 202)
  t.is((await webInstance(d)).Status, DRAINING)
  t.is(ok.headers.get('access-control-allow-origin'), null, 'no CORS on writes')
  const undrain = await post(d, `/api/services/${svc.ID}/undrain`, { Authorization: `bearer ${TOKEN}` })
  t.is(undrain.status, 202)
})

test('writes from another origin are refused with 403 whatever the token, and nothing is drained', async t => {
  const d = t.context.b
  const svc = await webInstance(d)
  const attempts: Array<Record<string, string>> = [
    { Origin: 'http://evil.example', 'Sec-Fetch-Site': 'cross-site', 'Content-Type': 'text/plain' },
    { Origin: 'http://127.0.12.3:8000', 'Sec-Fetch-Site': 'same-site', 'Content-Type': 'application/x-www-form-urlencoded' },
    { Origin: 'null', 'Content-Type': 'multipart/form-data; boundary=x' },
    { Origin: 'http://evil.example' }, // an older browser without Sec-Fetch-*
    { 'Sec-Fetch-Site': 'cross-site' },
  ]
  for (const headers of attempts) {
    const r = await post(d, `/api/services/${svc.ID}/drain`, headers, 'x=1')
    t.is(r.status, 403, JSON.stringify(headers))
    t.regex(r.body.message ?? '', /^Forbidden - .*same-origin/)
  }
  for (const method of ['PUT', 'DELETE', 'PATCH']) {
    const res = await fetch(d.url(`/api/services/${svc.ID}/drain`), { method, headers: { Origin: 'http://evil.example' } })
    t.is(res.status, 403, method)
  }
  t.is((await webInstance(d)).Status, 0, 'not drained')
  t.is(await metric(d, 'cross_origin'), attempts.length + 3)

  // The pre-flight a page would need for anything but a simple request grants nothing.
  const pre = await fetch(d.url(`/api/services/${svc.ID}/drain`), { method: 'OPTIONS', headers: { Origin: 'http://evil.example', 'Access-Control-Request-Method': 'POST' } })
  t.not(pre.status, 200)
  t.is(pre.headers.get('access-control-allow-origin'), null)

  // Same origin (the UI) and non-browser clients (curl) still drain without a token.
  const same = await post(d, `/api/services/${svc.ID}/drain`, { Origin: d.url('').replace(/\/$/, ''), 'Sec-Fetch-Site': 'same-origin' })
  t.is(same.status, 202)
  t.is((await post(d, `/api/services/${svc.ID}/undrain`)).status, 202)
})

test('CORS: the original read routes keep "*"; explain, proxy, listeners and metrics have none', async t => {
  const d = t.context.b
  await webInstance(d)
  // as the router serves them: letter case ignored, a trailing slash optional
  for (const p of ['/services.json', '/api/services.json', '/state.json', '/api/services/web.json', '/API/Services.json', '/services.json/', '/api/services/web.json/']) {
    t.is((await fetch(d.url(p))).headers.get('access-control-allow-origin'), '*', p)
  }
  for (const p of ['/api/services/web/explain.json', '/api/listeners.json', '/api/proxy.json', '/metrics', '/health', '/API/Proxy.json', '/api/listeners.json/']) {
    t.is((await fetch(d.url(p))).headers.get('access-control-allow-origin'), null, p)
  }
})

test('every answer, refusals and streams included, forbids frames and type sniffing', async t => {
  // Daemon a: b's tests count its refusals and cap its streams, and run beside this one.
  const d = t.context.a
  await webInstance(d)
  const answers: Array<[string, Response]> = []
  for (const p of ['/', '/ui/js/app.js', '/servers', '/services.json', '/api/services/web/explain.json', '/nope', '/metrics']) answers.push([`GET ${p}`, await fetch(d.url(p))])
  answers.push(['cross-origin drain', await fetch(d.url('/api/services/x/drain'), { method: 'POST', headers: { Origin: 'http://evil.test' } })])
  const events = new AbortController()
  answers.push(['GET /api/events', await fetch(d.url('/api/events'), { signal: events.signal })])
  for (const [what, res] of answers) {
    t.regex(res.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/, what)
    t.is(res.headers.get('x-frame-options'), 'DENY', what)
    t.is(res.headers.get('x-content-type-options'), 'nosniff', what)
  }
  t.is(answers.find(([w]) => w === 'cross-origin drain')?.[1].status, 403)
  events.abort()
})

test('no answer of any route (nor the log) holds a secret: check passwords, command lines, webhook passwords, the token, the cluster key', async t => {
  const { a: d, port } = t.context
  await waitFor(async () => {
    const s = (await d.json<{ Services: Record<string, Instance[]> }>('/services.json')).Services
    return s.db?.[0]?.Status === 0 && s.cmd?.[0]?.Status === 2 && s.down?.[0]?.Status === 2
  }, { timeoutMs: 15_000, message: () => `db ALIVE, cmd and down UNHEALTHY\n${d.output.slice(-2000)}` })

  const bodies = new Map<string, string>()
  for (const p of ['/services.json', '/api/state.json', '/api/services/db.json', '/api/services/db/explain.json', '/api/services/cmd/explain.json', '/api/services/down/explain.json', '/api/listeners.json', '/api/proxy.json', '/health', '/metrics', '/servers', '/', '/api/services/nope/drain']) {
    bodies.set(p, await (await fetch(d.url(p))).text())
  }
  const firstChunk = async (p: string, headers: Record<string, string> = {}): Promise<string> => {
    const ac = new AbortController()
    const res = await fetch(d.url(p), { headers, signal: ac.signal })
    const reader = res.body?.getReader()
    const chunk = await reader?.read()
    ac.abort()
    return Buffer.from(chunk?.value ?? new Uint8Array()).toString()
  }
  bodies.set('/watch', await firstChunk('/watch'))
  bodies.set('/api/events', await firstChunk('/api/events', { Accept: 'text/event-stream' }))
  bodies.set('the daemon\'s log', d.output)
  for (const [p, body] of bodies) {
    for (const [what, secret] of Object.entries(SECRETS)) t.false(body.includes(secret), `${p} shows the ${what}`)
  }
  // Redacted visibly, still useful.
  const db = JSON.parse(bodies.get('/api/services/db/explain.json') ?? '{}') as { instances: Array<{ check: { args: string } }> }
  t.is(db.instances[0].check.args, `http://admin:***@127.0.12.2:${port}/health?token=***`)
  const cmd = JSON.parse(bodies.get('/api/services/cmd/explain.json') ?? '{}') as { instances: Array<{ check: { args: string, error: string } }> }
  t.regex(cmd.instances[0].check.args, /^test \*\*\* \(arguments hidden, \d+ characters\)$/)
  t.is(cmd.instances[0].check.error, 'exit 3')
  const down = JSON.parse(bodies.get('/api/services/down/explain.json') ?? '{}') as { instances: Array<{ check: { error: string }, reasons: string[] }> }
  t.regex(down.instances[0].check.error, /admin:\*\*\*@127\.0\.12\.2:1/)
  t.regex(bodies.get('/api/listeners.json') ?? '', /hook:\*\*\*@127\.0\.12\.2:1/)
})

test('stream clients are capped: the next one gets 503 JSON and is counted; a freed place is taken again', async t => {
  const d = t.context.b
  const open: AbortController[] = []
  t.teardown(() => { for (const a of open) a.abort() })
  const connect = async (p: string, headers: Record<string, string> = {}): Promise<Response> => {
    const ac = new AbortController()
    open.push(ac)
    return await fetch(d.url(p), { headers, signal: ac.signal })
  }
  const streams = [await connect('/api/events'), await connect('/watch'), await connect('/api/watch', { Accept: 'text/event-stream' })]
  t.deepEqual(streams.map(r => r.status), [200, 200, 200])
  const refused = await connect('/api/events')
  t.is(refused.status, 503)
  t.is(refused.headers.get('retry-after'), '5')
  t.deepEqual(await refused.json(), { message: 'Service Unavailable - 3 stream clients are connected, the most allowed ([api] max_stream_clients); retry later', status: 'error' })
  t.is((await connect('/watch')).status, 503)
  t.is(await metric(d, 'stream_limit'), 2)
  // the router serves these as the same streams (letter case ignored, a trailing slash
  // optional): they count against the cap as well, and were not refused before
  const variants = ['/watch/', '/WATCH', '/api/watch/', '/Api/Watch', '/api/events/', '/API/EVENTS']
  t.deepEqual(await Promise.all(variants.map(async p => (await connect(p)).status)), variants.map(() => 503))
  t.is(await metric(d, 'stream_limit'), 2 + variants.length)
  t.is((await fetch(d.url('/services.json'))).status, 200, 'other routes still answer')
  open[0].abort()
  await waitFor(async () => (await connect('/api/events')).status === 200, { timeoutMs: 5000, message: 'a place freed by a closed stream is taken again' })
})

test('oversized request headers get 431 and CONNECT 405, counted and logged at most once a minute', async t => {
  const d = t.context.b
  const raw = async (text: string): Promise<string> => await new Promise((resolve, reject) => {
    const s = net.connect(7777, '127.0.12.3', () => { s.write(text) })
    let out = ''
    s.on('data', c => { out += c.toString() })
    s.on('end', () => { resolve(out) })
    s.on('error', reject)
    s.setTimeout(5000, () => { s.destroy(); resolve(out) })
  })
  const big = `GET /services.json HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`
  for (let i = 0; i < 20; i++) t.regex(await raw(big), /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n[\s\S]*"status":"error"/)
  t.regex(await raw('GARBAGE\r\n\r\n'), /^HTTP\/1\.1 400 Bad Request/)
  t.regex(await raw('CONNECT 10.0.0.1:22 HTTP/1.1\r\nHost: 10.0.0.1:22\r\n\r\n'), /^HTTP\/1\.1 405 Method Not Allowed\r\n[\s\S]*CONNECT is not served/)
  t.is(await metric(d, 'header_too_large'), 20)
  t.is(await metric(d, 'bad_request'), 1)
  await d.waitForOutput('api request refused (header_too_large)')
  t.is(d.output.split('api request refused (header_too_large)').length - 1, 1, 'one log line for 20 refusals')
  t.is((await fetch(d.url('/health'))).status, 200)
})
