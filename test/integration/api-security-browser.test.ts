/// <reference lib="dom" />
// The cross-site drain of issue 11, in real headless Chromium (/usr/bin/chromium driven by
// playwright-core). A sidecar on 127.0.12.30:7777; an attacker's page served from another
// origin: 127.0.12.31:8000 (another site) and 127.0.12.30:8000 (same host, another port).
// The page reads /services.json (CORS "*", as the original), then tries to drain every
// instance with fetch no-cors, fetch cors and an auto-submitted form. On main (2147a8d) the
// instance was DRAINING; now it stays ALIVE, and explain cannot be read from that page.
// Then the same-origin UI on a daemon with [api] token (127.0.12.32): the drain button asks
// for the token once, keeps it for the tab, and drains; without it the page says it is read-only.
// Last, DNS rebinding: Chromium resolves rebound.test to a daemon without a token (127.0.12.33),
// as a name its owner re-pointed would; the page there is same-origin with the API, yet its
// drain is refused, while a name the operator allowed (allowed.test, 127.0.12.34) drains.
// Clickjacking: a page of another site lays the UI (127.0.12.35), nearly invisible, in a frame
// over a button of its own, and the user's clicks land on the UI's drain button. On 1d29525 the
// frame showed the UI and the clicks drained; now the daemon forbids frames (CSP frame-ancestors),
// unless [api] frame_ancestors names the framing page's origin (127.0.12.36: :8002 may, :8003 not).
import test, { type ExecutionContext } from 'ava'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import type { Browser } from 'playwright-core'
import { startDaemon, type DaemonProcess } from '../helpers/daemon.ts'
import { waitFor, sleep } from '../helpers/wait.ts'

const CHROMIUM = '/usr/bin/chromium'
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync']
const TOKEN = 'ui-token-8c1d2e3f'

async function playwright (): Promise<typeof import('playwright-core') | undefined> {
  try { return await import('playwright-core') } catch { return undefined }
}
const pw = existsSync(CHROMIUM) ? await playwright() : undefined
const missing = !existsSync(CHROMIUM) ? `${CHROMIUM} (apt-get install chromium)` : pw === undefined ? 'playwright-core (npm ci)' : undefined
const browserTest = missing === undefined ? test : test.skip

interface Instance { ID: string, Status: number }

async function daemon (t: ExecutionContext, ip: string, env: Record<string, string> = {}): Promise<DaemonProcess> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-apisec-ui-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const file = path.join(dir, 'static.json')
  await writeFile(file, JSON.stringify([{ Service: { Name: 'web', Image: 'web:1', Ports: [{ Type: 'tcp', Port: 9001, ServicePort: 0 }] }, Check: { Type: 'AlwaysSuccessful' } }]))
  const d = await startDaemon({ ip, hostname: `ui-${ip.split('.').at(-1) ?? ''}`, cwd: dir, args: ['-d', 'static'], env: { STATIC_CONFIG_FILE: file, HEALTH_INTERVAL: '500ms', HEALTH_TIMEOUT: '400ms', SIDECAR_LOGGING_LEVEL: 'info', PROXY_ENABLED: 'false', ...env } })
  t.teardown(() => { d.kill() })
  return d
}

async function web (d: DaemonProcess): Promise<Instance> {
  return await waitFor(async () => {
    const s = (await d.json<{ Services: Record<string, Instance[]> }>('/services.json')).Services.web?.[0]
    return s?.Status === 0 ? s : undefined
  }, { timeoutMs: 10_000, message: 'web ALIVE' })
}

/** The attacker's page: reads the services, then tries every simple write a page can send. */
function attackerPage (target: string): string {
  return `<!doctype html><html><body><iframe name="sink"></iframe><script>
(async () => {
  const report = {}
  const doc = await (await fetch('${target}/services.json')).json()
  const ids = Object.values(doc.Services).flat().map(s => s.ID)
  report.readIds = ids.length
  for (const id of ids) {
    await fetch('${target}/api/services/' + id + '/drain', { method: 'POST', mode: 'no-cors' }).catch(() => {})
    await fetch('${target}/api/services/' + id + '/drain', { method: 'POST', mode: 'no-cors', headers: { 'Content-Type': 'text/plain' }, body: 'x' }).catch(() => {})
    report.cors = await fetch('${target}/api/services/' + id + '/drain', { method: 'POST' }).then(r => 'read ' + r.status, e => 'blocked')
    const form = document.createElement('form')
    form.method = 'POST'; form.action = '${target}/api/services/' + id + '/drain'; form.target = 'sink'
    document.body.append(form)
    const loaded = new Promise(resolve => document.querySelector('iframe').addEventListener('load', resolve, { once: true }))
    form.submit()
    await Promise.race([loaded, new Promise(resolve => setTimeout(resolve, 3000))])
  }
  report.explain = await fetch('${target}/api/services/web/explain.json').then(r => 'read ' + r.status, () => 'blocked')
  document.title = 'done ' + JSON.stringify(report)
})()
</script></body></html>`
}

async function serve (t: ExecutionContext, ip: string, port: number, html: string): Promise<string> {
  const server = http.createServer((_req, res) => { res.writeHead(200, { 'Content-Type': 'text/html' }); res.end(html) })
  await new Promise<void>((resolve) => { server.listen(port, ip, resolve) })
  t.teardown(() => { server.closeAllConnections(); server.close() })
  return `http://${ip}:${port}/`
}

async function browser (t: ExecutionContext): Promise<Browser> {
  if (pw === undefined) throw new Error('no playwright')
  const b = await pw.chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS })
  t.teardown(async () => { await b.close() })
  return b
}

browserTest(`a page on another origin cannot drain (cross-site and same-host other port), nor read explain${missing !== undefined ? ` (skipped: needs ${missing})` : ''}`, async t => {
  const d = await daemon(t, '127.0.12.30')
  const before = await web(d)
  const target = d.url('').replace(/\/$/, '')
  const b = await browser(t)
  const reports: Array<{ url: string, readIds: number, cors: string, explain: string }> = []
  for (const [ip, port] of [['127.0.12.31', 8000], ['127.0.12.30', 8000]] as const) {
    const url = await serve(t, ip, port, attackerPage(target))
    const page = await b.newPage()
    await page.goto(url)
    await waitFor(async () => (await page.title()).startsWith('done '), { timeoutMs: 30_000, message: `the attacker page at ${url} finished` })
    reports.push({ url, ...JSON.parse((await page.title()).slice('done '.length)) as { readIds: number, cors: string, explain: string } })
  }
  // The form posts into an iframe; the page does not wait for its answer, so wait for the count.
  const refusedCount = async (): Promise<number> => Number(/^sidecar_api_rejected_requests_total\{reason="cross_origin"\} (\d+)$/m.exec(await (await fetch(d.url('/metrics'))).text())?.[1] ?? 0)
  await waitFor(async () => await refusedCount() >= 8, { timeoutMs: 10_000, message: '8 refused writes' }).catch(() => {})
  await sleep(500)
  const after = (await d.json<{ Services: Record<string, Instance[]> }>('/services.json')).Services.web[0]
  t.is(after.ID, before.ID)
  t.is(after.Status, 0, 'the instance is NOT drained')
  for (const r of reports) {
    t.log(`attacker page ${r.url}: ${JSON.stringify(r)}`)
    t.is(r.readIds, 1, 'the page could read the services (CORS *, as the original)')
    t.is(r.cors, 'blocked', 'a cors-mode POST gets no CORS answer')
    t.is(r.explain, 'blocked', 'explain has no CORS')
  }
  t.is(await refusedCount(), 8, 'four writes from each page, each refused')
})

browserTest(`same-origin UI with a token: asks once, keeps it for the tab, drains; without it, read-only${missing !== undefined ? ` (skipped: needs ${missing})` : ''}`, async t => {
  const d = await daemon(t, '127.0.12.32', { API_TOKEN: TOKEN })
  const svc = await web(d)
  const b = await browser(t)
  const status = async (): Promise<number> => (await d.json<{ Services: Record<string, Instance[]> }>('/services.json')).Services.web[0].Status

  // Refuse to give the token: nothing changes, and the page says why.
  const ro = await b.newPage()
  ro.on('dialog', dialog => { void dialog.dismiss() })
  await ro.goto(d.url('/'))
  await ro.locator('[data-service="web"] .details-toggle').click()
  await ro.locator(`[data-service="web"] table.instances tr[data-host="ui-32"] button.drain`).click()
  await ro.locator('#notice.notice-error').waitFor()
  t.regex(await ro.locator('#notice').innerText(), /^Read-only: drain needs this sidecar's API token/)
  t.is(await status(), 0)
  await ro.close()

  // Give it: drained; then undrain without being asked again.
  const context = await b.newContext()
  const page = await context.newPage()
  const asked: string[] = []
  page.on('dialog', dialog => { asked.push(dialog.message()); void dialog.accept(TOKEN) })
  await page.goto(d.url('/'))
  await page.locator('[data-service="web"] .details-toggle').click()
  const row = page.locator('[data-service="web"] table.instances tr[data-host="ui-32"]')
  await row.locator('button.drain').click()
  await page.locator('[data-service="web"] table.instances tr[data-host="ui-32"][data-status="Draining"]').waitFor()
  t.is(await status(), 4)
  t.is(asked.length, 1)
  t.regex(asked[0], /needs its API token/)
  t.is(await page.evaluate(() => sessionStorage.getItem('sidecar.apiToken')), TOKEN)
  await row.locator('button.undrain').click()
  await page.locator('[data-service="web"] table.instances tr[data-host="ui-32"][data-status="Alive"]').waitFor()
  t.is(await status(), 0)
  t.is(asked.length, 1, 'the token was kept for the tab')
  t.is((await d.json<{ Services: Record<string, Instance[]> }>('/services.json')).Services.web[0].ID, svc.ID)
})

/** The clickjacker: the UI in a frame over a button of its own, the frame almost transparent. */
function framingPage (target: string): string {
  return `<!doctype html><html><body>
<button style="position:absolute;top:40px;left:40px">Claim your prize</button>
<iframe id="ui" src="${target}/ui/" style="position:absolute;top:0;left:0;width:1200px;height:900px;opacity:0.01;border:0"></iframe>
</body></html>`
}

browserTest(`another site cannot show the UI in a frame, so clicks there cannot drain (clickjacking)${missing !== undefined ? ` (skipped: needs ${missing})` : ''}`, async t => {
  const d = await daemon(t, '127.0.12.35')
  const svc = await web(d)
  const url = await serve(t, '127.0.12.31', 8001, framingPage(d.url('').replace(/\/$/, '')))
  const b = await browser(t)
  const page = await b.newPage()
  const consoleLines: string[] = []
  page.on('console', m => { consoleLines.push(m.text()) })
  await page.goto(url)
  await page.waitForLoadState('load')
  const frame = page.frames().find(f => f !== page.mainFrame())
  if (frame === undefined) throw new Error('the attacker page has no frame')
  // What the victim would click through: the service's details, then its instance's drain button.
  const clicked = await (async () => {
    try {
      await frame.locator('[data-service="web"] .details-toggle').click({ timeout: 5000, force: true })
      await frame.locator('[data-service="web"] table.instances button.drain').click({ timeout: 5000, force: true })
      return true
    } catch { return false }
  })()
  await sleep(1000)
  const status = (await d.json<{ Services: Record<string, Instance[]> }>('/services.json')).Services.web[0]
  t.log(`frame at ${frame.url()}; drain button clicked: ${clicked}; instance status afterwards ${status.Status}; browser said: ${consoleLines.join(' | ').slice(0, 300)}`)
  t.false(clicked, 'the UI did not render inside the other site\'s frame')
  t.is(status.ID, svc.ID)
  t.is(status.Status, 0, 'the instance is NOT drained')
  t.true(consoleLines.some(l => /frame-ancestors|X-Frame-Options/.test(l)), 'the browser names the rule that blocked the frame')
  // The UI itself still works under its policy: opened directly, it renders and reports no violation.
  const own = await b.newPage()
  const violations: string[] = []
  own.on('console', m => { if (/Content Security Policy/i.test(m.text())) violations.push(m.text()) })
  await own.goto(d.url('/'))
  await own.locator('[data-service="web"]').waitFor({ timeout: 10_000 })
  await own.locator('[data-service="web"] .details-toggle').click()
  await own.locator('[data-service="web"] table.instances tr[data-status="Alive"]').waitFor({ timeout: 10_000 })
  t.deepEqual(violations, [])
})

browserTest(`[api] frame_ancestors lets the named origin frame the UI, and only that one${missing !== undefined ? ` (skipped: needs ${missing})` : ''}`, async t => {
  const d = await daemon(t, '127.0.12.36', { API_FRAME_ANCESTORS: 'http://127.0.12.31:8002' })
  await web(d)
  const target = d.url('').replace(/\/$/, '')
  const b = await browser(t)
  const framed = async (url: string): Promise<{ shows: boolean, frameUrl: string }> => {
    const page = await b.newPage()
    await page.goto(url)
    await page.waitForLoadState('load')
    const frame = page.frames().find(f => f !== page.mainFrame())
    if (frame === undefined) throw new Error('no frame')
    const shows = await frame.locator('[data-service="web"]').waitFor({ timeout: 10_000 }).then(() => true, () => false)
    const frameUrl = frame.url()
    await page.close()
    return { shows, frameUrl }
  }
  const allowed = await framed(await serve(t, '127.0.12.31', 8002, framingPage(target)))
  const other = await framed(await serve(t, '127.0.12.31', 8003, framingPage(target)))
  t.log(`from :8002 ${JSON.stringify(allowed)}; from :8003 ${JSON.stringify(other)}`)
  t.true(allowed.shows, 'the named origin shows the UI in its frame')
  t.false(other.shows, 'another port of the same host is another origin: refused')
  const headers = (await fetch(d.url('/'))).headers
  t.is(headers.get('x-frame-options'), null, 'X-Frame-Options cannot name an origin, so it is left out')
  t.regex(headers.get('content-security-policy') ?? '', /frame-ancestors http:\/\/127\.0\.12\.31:8002(;|$)/)
})

browserTest(`DNS rebinding: without a token, a same-origin page under a rebound name cannot drain; an allowed name can${missing !== undefined ? ` (skipped: needs ${missing})` : ''}`, async t => {
  const rebound = await daemon(t, '127.0.12.33')
  const allowed = await daemon(t, '127.0.12.34', { API_ALLOWED_HOSTS: 'allowed.test' })
  const [a, b] = [await web(rebound), await web(allowed)]
  if (pw === undefined) throw new Error('no playwright')
  const chromium = await pw.chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...CHROMIUM_ARGS, '--host-resolver-rules=MAP rebound.test 127.0.12.33, MAP allowed.test 127.0.12.34'] })
  t.teardown(async () => { await chromium.close() })
  const drainFrom = async (origin: string, id: string): Promise<{ status: number, message: string }> => {
    const page = await chromium.newPage()
    await page.goto(`${origin}/`) // the page is served by the daemon itself: same origin as its API
    const r = await page.evaluate(async (url) => {
      const res = await fetch(url, { method: 'POST' })
      return { status: res.status, message: ((await res.json()) as { message: string }).message }
    }, `${origin}/api/services/${id}/drain`)
    await page.close()
    return r
  }
  const refused = await drainFrom('http://rebound.test:7777', a.ID)
  t.log(`rebound.test: ${refused.status} ${refused.message}`)
  t.is(refused.status, 403)
  t.regex(refused.message, /"rebound\.test", which is neither an IP address, localhost, this host's name nor in \[api\] allowed_hosts/)
  await sleep(300)
  t.is((await rebound.json<{ Services: Record<string, Instance[]> }>('/services.json')).Services.web[0].Status, 0, 'NOT drained')

  const ok = await drainFrom('http://allowed.test:7777', b.ID)
  t.is(ok.status, 202, ok.message)
  await waitFor(async () => (await allowed.json<{ Services: Record<string, Instance[]> }>('/services.json')).Services.web[0].Status === 4 || undefined, { timeoutMs: 10_000, message: 'drained through the allowed name' })
  // the same page under the daemon's IP address (what the UI normally is) drains too
  t.is((await drainFrom(rebound.url('').replace(/\/$/, ''), a.ID)).status, 202)
})
