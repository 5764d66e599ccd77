// DNS rebinding through a reverse proxy in front of the API. A proxy that sends its upstream's
// address as Host (nginx's proxy_pass does unless told `proxy_set_header Host $host`) hides the
// name the browser used: the daemon sees an IP address. With `X-Forwarded-Host` set to the
// browser's Host (what docs/security.md tells operators to set for the UI's writes), a page
// under a rebound name read the UI, explain and /metrics (200) and drained (202) without a
// token, where the same requests straight to the daemon got 403: the name check looked at Host
// only, and the origin check took the X-Forwarded-Host match. Now the names in X-Forwarded-Host
// pass the same check as Host does.
// A daemon on 127.0.85.1 (hostname rproxy-a, allowed name ops.example.test, no token) and small
// Node reverse proxies in front of it on 127.0.85.2-4, port 8080; the requests are those a
// browser's page sends (Origin, Sec-Fetch-*, a Mozilla User-Agent) with the Host a browser
// would put, since a rebound name resolves to the proxy.
import test, { type ExecutionContext } from 'ava'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import type { Socket } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { startDaemon, type DaemonProcess } from '../helpers/daemon.ts'
import { waitFor } from '../helpers/wait.ts'

const IP = '127.0.85.1'
const ALLOWED = 'ops.example.test'
const PROXY_PORT = 8080
const DRAINING = 4
/** Reads that a rebound name must not get (guard.ts readHostGuard). */
const GUARDED = ['/', '/api/services/web/explain.json', '/metrics', '/health']

/** How a proxy tells the daemon the Host the browser sent. */
type Style = 'x-forwarded-host' | 'pass-host' | 'neither'

interface Answer { status: number, body: string }

let daemon: DaemonProcess | undefined
let dir = ''
const servers: http.Server[] = []
const sockets = new Set<Socket>()

test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-rproxy-'))
  const file = path.join(dir, 'static.json')
  await writeFile(file, JSON.stringify([{ Service: { Name: 'web', Image: 'web:1', Ports: [{ Type: 'tcp', Port: 9851, ServicePort: 0 }] }, Check: { Type: 'AlwaysSuccessful' } }]))
  daemon = await startDaemon({ ip: IP, hostname: 'rproxy-a', cwd: dir, args: ['-d', 'static'], env: { STATIC_CONFIG_FILE: file, SIDECAR_LOGGING_LEVEL: 'info', PROXY_ENABLED: 'false', API_ALLOWED_HOSTS: ALLOWED } })
  await waitFor(async () => (await daemon?.json<{ Services: Record<string, unknown[]> }>('/services.json'))?.Services.web !== undefined || undefined, { timeoutMs: 10_000, message: 'web announced' })
  await Promise.all([proxy('127.0.85.2', 'x-forwarded-host'), proxy('127.0.85.3', 'pass-host'), proxy('127.0.85.4', 'neither')])
})

test.after.always(async () => {
  for (const s of sockets) s.destroy()
  await Promise.all(servers.map(async s => { await new Promise(resolve => s.close(resolve)) }))
  daemon?.kill()
  if (dir !== '') await rm(dir, { recursive: true, force: true })
})

/**
 * A reverse proxy on ip:8080 in front of the daemon. 'x-forwarded-host': Host is the upstream's
 * address, X-Forwarded-Host the Host the browser sent (nginx: the default proxy_pass plus
 * `proxy_set_header X-Forwarded-Host $http_host`); 'pass-host': the browser's Host goes on
 * (`proxy_set_header Host $http_host`); 'neither': Host is the upstream's address and nothing
 * else says what the browser asked for (the default proxy_pass alone).
 */
async function proxy (ip: string, style: Style): Promise<void> {
  const server = http.createServer((req, res) => {
    const headers = { ...req.headers }
    if (style !== 'pass-host') headers.host = `${IP}:7777`
    if (style === 'x-forwarded-host') headers['x-forwarded-host'] = req.headers.host
    const up = http.request({ host: IP, port: 7777, method: req.method, path: req.url, headers }, r => {
      res.writeHead(r.statusCode ?? 502, r.headers)
      r.pipe(res)
    })
    up.on('error', () => { res.destroy() })
    req.pipe(up)
  })
  server.on('connection', s => { sockets.add(s); s.once('close', () => { sockets.delete(s) }) })
  servers.push(server)
  await new Promise<void>(resolve => server.listen(PROXY_PORT, ip, resolve))
}

/** What a page's fetch() sends besides Host: the guard judges browsers only. */
function browser (host: string): Record<string, string> {
  return { Origin: `http://${host}`, 'Sec-Fetch-Site': 'same-origin', 'Sec-Fetch-Mode': 'cors', 'Sec-Fetch-Dest': 'empty', 'User-Agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36' }
}

/** One request to ip:port with the Host header as given (fetch cannot set Host). */
async function send (ip: string, port: number, method: string, p: string, host: string, headers: Record<string, string>): Promise<Answer> {
  return await new Promise((resolve, reject) => {
    const req = http.request({ host: ip, port, method, path: p, headers: { ...headers, Host: host }, timeout: 10_000 }, res => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { body += c })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body }) })
    })
    req.on('timeout', () => { req.destroy(new Error(`${method} ${p} via ${ip}:${port} (Host ${host}): no answer in 10 s`)) })
    req.on('error', reject)
    req.end()
  })
}

/** The page at http://<name>:8080/ when <name> resolves to the proxy on `ip`. */
async function page (ip: string, name: string, method: string, p: string): Promise<Answer> {
  const host = `${name}:${PROXY_PORT}`
  return await send(ip, PROXY_PORT, method, p, host, browser(host))
}

async function webInstance (): Promise<{ ID: string, Status: number }> {
  const doc = await daemon?.json<{ Services: Record<string, Array<{ ID: string, Status: number }>> }>('/services.json')
  const svc = doc?.Services.web?.[0]
  if (svc === undefined) throw new Error('web is not listed')
  return svc
}

async function refusedReadsAndWrites (t: ExecutionContext, ip: string): Promise<void> {
  for (const p of GUARDED) {
    const a = await page(ip, 'rebound.test', 'GET', p)
    t.is(a.status, 403, `GET ${p} by a page under rebound.test via ${ip}: ${a.body.slice(0, 200)}`)
    t.regex(a.body, /rebound\.test\\?".*neither an IP address, localhost, this host's name nor in \[api\] allowed_hosts/s, p)
  }
  const id = (await webInstance()).ID
  for (const verb of ['drain', 'undrain']) {
    const a = await page(ip, 'rebound.test', 'POST', `/api/services/${id}/${verb}`)
    t.is(a.status, 403, `POST ${verb} by a page under rebound.test via ${ip}: ${a.body.slice(0, 200)}`)
    t.regex(a.body, /a browser sent this write to the name \\"rebound\.test\\"/, verb)
  }
  t.is((await webInstance()).Status, 0, 'nothing drained')
}

async function legitimateUiWorks (t: ExecutionContext, ip: string, name: string): Promise<void> {
  for (const p of GUARDED) {
    const a = await page(ip, name, 'GET', p)
    t.is(a.status, 200, `GET ${p} by the UI at ${name} via ${ip}: ${a.body.slice(0, 200)}`)
  }
  const id = (await webInstance()).ID
  const drain = await page(ip, name, 'POST', `/api/services/${id}/drain`)
  t.is(drain.status, 202, `drain by the UI at ${name} via ${ip}: ${drain.body.slice(0, 200)}`)
  t.is((await webInstance()).Status, DRAINING)
  const undrain = await page(ip, name, 'POST', `/api/services/${id}/undrain`)
  t.is(undrain.status, 202, `undrain by the UI at ${name} via ${ip}: ${undrain.body.slice(0, 200)}`)
  t.is((await webInstance()).Status, 0)
}

test.serial('behind a proxy that sends its upstream\'s address as Host and the browser\'s in X-Forwarded-Host, a rebound page gets 403 for the UI, explain, /metrics, /health, drain and undrain, as it does straight to the daemon', async t => {
  await refusedReadsAndWrites(t, '127.0.85.2')
  const ui = await page('127.0.85.2', 'rebound.test', 'GET', '/')
  t.regex(ui.body, /opened by the name "rebound\.test" \(as a reverse proxy in front of it passed on in X-Forwarded-Host\)/, 'the refusal says where the name came from')
  // the same page straight to the daemon, as before
  const direct = await send(IP, 7777, 'GET', '/metrics', 'rebound.test:7777', browser('rebound.test:7777'))
  t.is(direct.status, 403)
})

test.serial('behind that proxy, the UI at an allowed name, at the proxy\'s address and scripts without browser headers still read and drain', async t => {
  await legitimateUiWorks(t, '127.0.85.2', ALLOWED)
  await legitimateUiWorks(t, '127.0.85.2', '127.0.85.2')
  // curl through the proxy by any name: not a browser, so not judged by name (no token set: writes pass)
  const curl = await send('127.0.85.2', PROXY_PORT, 'GET', '/metrics', `rebound.test:${PROXY_PORT}`, { 'User-Agent': 'curl/8.5.0' })
  t.is(curl.status, 200)
  t.regex(curl.body, /sidecar_/)
})

test.serial('a proxy that passes the browser\'s Host: the rebound page gets 403, the allowed name works', async t => {
  await refusedReadsAndWrites(t, '127.0.85.3')
  await legitimateUiWorks(t, '127.0.85.3', ALLOWED)
})

test.serial('a proxy that sends neither the browser\'s Host nor X-Forwarded-Host: the daemon cannot tell the name, so guarded reads answer (the limit docs/security.md states); browsers\' writes fail the origin check', async t => {
  const a = await page('127.0.85.4', 'rebound.test', 'GET', '/api/services/web/explain.json')
  t.is(a.status, 200, 'nothing tells the daemon the name the browser used')
  const id = (await webInstance()).ID
  for (const name of ['rebound.test', ALLOWED]) {
    const w = await page('127.0.85.4', name, 'POST', `/api/services/${id}/drain`)
    t.is(w.status, 403, `${name}: ${w.body.slice(0, 200)}`)
    t.regex(w.body, /Origin http:\/\/.+ does not match the host/)
  }
  t.is((await webInstance()).Status, 0, 'nothing drained')
})
