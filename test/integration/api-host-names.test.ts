/// <reference lib="dom" />
// DNS rebinding on reads: a page under an attacker's name, re-pointed at this host, is
// same-origin with the API, so missing CORS headers do not stop it from reading explain,
// /api/proxy.json, /api/listeners.json, /metrics, /health or the UI. The daemon now answers
// a browser's reads of those only when the Host header is an IP address, localhost, this host's
// name or a name in [api] allowed_hosts (other clients are no rebound page's); the public CORS
// documents and streams answer every name, as before.
// A daemon on 127.0.64.1 (hostname rebind-a, allowed name ops.example.test), real requests
// with the Host a browser or curl would send; then Chromium resolving rebound.test and
// ops.example.test to a daemon on 127.0.64.2, as a rebound name would.
import test from 'ava'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { CHROMIUM, CHROMIUM_ARGS, missing, pw } from '../helpers/chromium.ts'
import { startDaemon, type DaemonProcess } from '../helpers/daemon.ts'
import { waitFor } from '../helpers/wait.ts'

const ALLOWED = 'ops.example.test'
/** A domain entry: fleet.example.test and every name under it. */
const ALLOWED_DOMAIN = '.fleet.example.test'
const PROTECTED = ['/api/services/web/explain.json', '/api/proxy.json', '/api/listeners.json', '/metrics', '/health', '/api/health']
const UI = ['/', '/ui/', '/ui/js/app.js']
const PUBLIC = ['/services.json', '/api/services.json', '/state.json', '/api/state.json', '/api/services/web.json', '/servers']

interface Answer { status: number, type: string, cors: string | undefined, body: string }

/** What a browser's fetch() from a page sends besides Host (the rule judges browsers only). */
const BROWSER: Record<string, string> = { 'User-Agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/139.0.0.0 Safari/537.36', 'Sec-Fetch-Site': 'same-origin', 'Sec-Fetch-Mode': 'cors', 'Sec-Fetch-Dest': 'empty' }

/** One request with the Host header as given (fetch cannot set Host), as a browser's unless other headers are given; streams are cut after their head and first bytes. */
async function get (d: DaemonProcess, path: string, host: string, method = 'GET', client: Record<string, string> = BROWSER): Promise<Answer> {
  return await new Promise((resolve, reject) => {
    const req = http.request({ host: d.ip, port: d.apiPort, path, method, headers: { ...client, Host: host, Accept: /watch|events/.test(path) ? 'text/event-stream' : '*/*' }, timeout: 5000 }, res => {
      let body = ''
      const done = (): void => { resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), cors: res.headers['access-control-allow-origin'] as string | undefined, body }) }
      res.setEncoding('utf8')
      res.on('data', (c: string) => { body += c; if (/watch|events/.test(path)) { req.destroy(); done() } })
      res.on('end', done)
    })
    req.on('timeout', () => { req.destroy(new Error(`GET ${path} (Host ${host}): no answer in 5 s`)) })
    req.on('error', reject)
    req.end()
  })
}

function web (port: number): unknown {
  return { Service: { Name: 'web', Image: 'web:1', Ports: [{ Type: 'tcp', Port: port, ServicePort: 0 }] }, Check: { Type: 'AlwaysSuccessful' } }
}

const cleanups: Array<() => Promise<void>> = []
test.after.always(async () => { await Promise.all(cleanups.map(async c => { await c() })) })

/** A daemon with static discovery serving `web`; killed and its directory removed after the file's tests. */
async function daemon (ip: string, hostname: string, port: number): Promise<DaemonProcess> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `sidecar-${hostname}-`))
  const file = path.join(dir, 'static.json')
  await writeFile(file, JSON.stringify([web(port)]))
  const d = await startDaemon({ ip, hostname, cwd: dir, args: ['-d', 'static'], env: { STATIC_CONFIG_FILE: file, SIDECAR_LOGGING_LEVEL: 'info', API_ALLOWED_HOSTS: `${ALLOWED},${ALLOWED_DOMAIN}` } })
  cleanups.push(async () => { d.kill(); await rm(dir, { recursive: true, force: true }) })
  await waitFor(async () => (await d.json<{ Services: Record<string, unknown[]> }>('/services.json')).Services.web !== undefined || undefined, { timeoutMs: 10_000, message: 'web announced' })
  return d
}

let shared: Promise<DaemonProcess> | undefined
async function daemonA (): Promise<DaemonProcess> {
  shared ??= daemon('127.0.64.1', 'rebind-a', 9801)
  return await shared
}

test.serial('a foreign Host is refused on every non-public read, with the setting to add it to; counted, logged once', async t => {
  const d = await daemonA()
  for (const host of ['rebound.test:7777', 'rebound.test', 'rebind-a.attacker.test:7777', '127.0.64.1.nip.io:7777', 'localhost.attacker.test', 'evil.test@127.0.64.1', 'evilfleet.example.test:7777', 'fleet.example.test.attacker.test']) {
    for (const path of PROTECTED) {
      const a = await get(d, path, host)
      t.is(a.status, 403, `${path} Host ${host}: ${a.body.slice(0, 200)}`)
      t.regex(a.type, /application\/json/)
      const message = (JSON.parse(a.body) as { message: string }).message
      t.regex(message, /^Forbidden - this API was reached by the name ".+", which is neither an IP address, localhost, this host's name nor in \[api\] allowed_hosts; a web page under such a name could read this answer \(DNS rebinding\)\. If ".+" is a name of this host, add it to \[api\] allowed_hosts \(environment API_ALLOWED_HOSTS\) and restart the daemon, or use this host's IP address$/, path)
      t.is(a.cors, undefined)
    }
  }
  t.regex((JSON.parse((await get(d, '/api/proxy.json', 'rebound.test:7777')).body) as { message: string }).message, /the name "rebound\.test"/)
  t.is((await get(d, '/metrics', 'rebound.test', 'HEAD')).status, 403, 'HEAD as GET')
  t.is((await get(d, '/API/Proxy.json/', 'rebound.test')).status, 403, 'the path as the router matches it')
  for (const path of UI) {
    const a = await get(d, path, 'rebound.test:7777')
    t.is(a.status, 403, path)
    t.regex(a.type, /^text\/plain/, path)
    t.regex(a.body, /^403 Forbidden\n\nSidecar's web UI was opened by the name "rebound\.test", which is neither .* nor in \[api\] allowed_hosts\./, path)
    t.regex(a.body, /To open the UI by this name, add it to \[api\] allowed_hosts \(environment API_ALLOWED_HOSTS\) and restart the daemon\. Or open it by this host's IP address, or as http:\/\/localhost:7777\/ on the host itself\.\n$/, path)
  }
  const metrics = (await get(d, '/metrics', d.ip)).body
  const refused = Number(/sidecar_api_rejected_requests_total\{reason="foreign_host"\} (\d+)/.exec(metrics)?.[1] ?? 0)
  t.true(refused >= 8 * PROTECTED.length + UI.length, `refusals counted: ${refused}`)
  const logged = (): string[] => d.output.split('\n').filter(l => l.includes('api request refused (foreign_host)'))
  await d.waitForOutput('api request refused (foreign_host)')
  const lines = logged()
  t.is(lines.length, 1, `one log line a minute, not one per refusal:\n${lines.join('\n')}`)
  t.regex(lines[0], /Host "[^"]+" is not an allowed name/)
})

test.serial('clients that are not browsers (scrapers, probes, scripts) read everything by any name; a browser is judged by its Sec-Fetch headers or its User-Agent', async t => {
  const d = await daemonA()
  const tools: Array<Record<string, string>> = [{ 'User-Agent': 'Prometheus/3.5.0' }, { 'User-Agent': 'kube-probe/1.33' }, { 'User-Agent': 'curl/8.14.1' }, {}]
  for (const client of tools) {
    for (const path of PROTECTED) {
      const a = await get(d, path, 'node7.prod.example:7777', 'GET', client)
      t.is(a.status, 200, `${path} by ${client['User-Agent'] ?? 'no User-Agent'}: ${a.body.slice(0, 200)}`)
    }
  }
  // a page may set its User-Agent in some browsers, never the Sec-Fetch-* headers; an old browser sends only its User-Agent
  const pages: Array<Record<string, string>> = [{ 'User-Agent': 'curl/8.14.1', 'Sec-Fetch-Site': 'same-origin', 'Sec-Fetch-Mode': 'cors' }, { 'User-Agent': 'Mozilla/5.0 (Macintosh) Safari/605.1.15' }]
  for (const client of pages) {
    t.is((await get(d, '/api/proxy.json', 'rebound.test:7777', 'GET', client)).status, 403, JSON.stringify(client))
  }
})

test.serial('IP addresses in any numeric form, localhost, this host\'s names and allowed_hosts names read everything', async t => {
  const d = await daemonA()
  const names = [d.ip, `${d.ip}:7777`, '[::1]:7777', '[0:0:0:0:0:ffff:7f00:1]', '2130706433:7777', '0x7f.0x40.0.1:7777', '0177.64.0.1', 'localhost:7777', 'LOCALHOST.', 'ui.localhost:7777',
    'rebind-a:7777', 'REBIND-A.', `${os.hostname()}:7777`, `${ALLOWED}:7777`, 'Ops.Example.Test.', 'fleet.example.test:7777', 'sidecar-3.eu.Fleet.Example.Test']
  for (const host of names) {
    for (const path of [...PROTECTED, ...UI]) {
      const a = await get(d, path, host)
      t.is(a.status, 200, `${path} Host ${host}: ${a.body.slice(0, 300)}`)
    }
  }
})

test.serial('the public CORS documents and the streams answer any Host, as before', async t => {
  const d = await daemonA()
  for (const host of ['rebound.test:7777', 'anything.example', 'evil.test@x']) {
    for (const path of PUBLIC) {
      const a = await get(d, path, host)
      t.is(a.status, 200, `${path} Host ${host}: ${a.body.slice(0, 200)}`)
      if (path !== '/servers') t.is(a.cors, '*', path)
    }
    for (const path of ['/api/events', '/api/watch', '/watch']) {
      const a = await get(d, path, host)
      t.is(a.status, 200, `${path} Host ${host}`)
      t.true(a.body.length > 0, `${path}: first bytes`)
    }
  }
  // curl or a script naming the host by any name reads the original's documents
  t.regex((await get(d, '/api/services/web.json', 'sidecar.internal.example:7777')).body, /"Name": "web"/)
})

const browserTest = missing === undefined ? test.serial : test.skip

browserTest(`Chromium: a page under a rebound name reads nothing private; the UI works at an allowed name${missing !== undefined ? ` (skipped: needs ${missing})` : ''}`, async t => {
  if (pw === undefined) return
  const d = await daemon('127.0.64.2', 'rebind-b', 9802)
  const browser = await pw.chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...CHROMIUM_ARGS, `--host-resolver-rules=MAP rebound.test ${d.ip}, MAP ${ALLOWED} ${d.ip}`] })
  t.teardown(async () => { await browser.close() })

  // the attacker's page, once its name points here: same origin as the API
  const page = await browser.newPage()
  const opened = await page.goto('http://rebound.test:7777/')
  t.is(opened?.status(), 403)
  t.regex(await page.locator('body').innerText(), /add it to \[api\] allowed_hosts/)
  const reads = await page.evaluate(async (paths) => await Promise.all(paths.map(async p => {
    const res = await fetch(p)
    return { path: p, status: res.status, text: (await res.text()).slice(0, 300) }
  })), [...PROTECTED, '/services.json'])
  t.log(reads.map(r => `${r.path} ${r.status}`).join(', '))
  for (const r of reads) {
    if (r.path === '/services.json') t.is(r.status, 200, 'the catalog stays public')
    else t.is(r.status, 403, `${r.path}: ${r.text}`)
  }
  t.false(reads.some(r => r.path !== '/services.json' && /"web"|sidecar_|"listeners"|"status": ?"ok"/.test(r.text)), 'nothing private in what the page got')
  await page.close()

  // the operator at the allowed name: every panel loads, no request refused
  const ui = await browser.newPage()
  const failed: string[] = []
  ui.on('response', res => { if (res.status() >= 400) failed.push(`${res.status()} ${res.url()}`) })
  await ui.goto(`http://${ALLOWED}:7777/`)
  await ui.locator('[data-service="web"]').first().waitFor({ timeout: 15_000 })
  await ui.locator('#members').getByText('rebind-b').first().waitFor({ timeout: 15_000 })
  const explain = await ui.evaluate(async () => (await fetch('/api/services/web/explain.json')).status)
  t.is(explain, 200)
  t.deepEqual(failed, [], 'no request of the UI refused at an allowed name')
  await ui.close()
})
