/// <reference lib="dom" />
// The web UI in headless Chromium when the API fails it: behind a real HTTP proxy (the
// operator's nginx, say) that passes every request on to the daemon except those it is told
// to answer itself (an error status, a page that is not JSON, a document of another shape, a
// dropped connection, an answer 10 s late or never). Daemons on 127.0.43.1, .3, .7 and .30,
// their proxies on 127.0.43.2, .4, .8 and .31.
import test, { type ExecutionContext } from 'ava'
import http from 'node:http'
import type { Page } from 'playwright-core'
import { CHROMIUM, CHROMIUM_ARGS, missing, pw, staticNode } from '../helpers/chromium.ts'
import type { DaemonProcess } from '../helpers/daemon.ts'
import { waitFor } from '../helpers/wait.ts'

const browserTest = missing === undefined ? test : test.skip
const skipped = missing !== undefined ? ` (skipped: needs ${missing})` : ''

function entry (name: string, port: number): unknown {
  return { Service: { Name: name, Image: 'x:1', Ports: [{ Type: 'tcp', Port: port, ServicePort: port - 1000 }] }, Check: { Type: 'AlwaysSuccessful' } }
}

type Fault = (res: http.ServerResponse) => void

interface Proxy {
  url: string
  /** Explain of a service name answered by the proxy itself (the name as the daemon decodes it). */
  explain: Map<string, Fault>
  /** Requests the proxy answers itself, by method and path, before explain's. */
  routes: Map<string, Fault>
  /** The most explain requests for a name that were open at once. */
  mostOpen: Map<string, number>
}

/** A reverse proxy on `ip`:7777 in front of `d`, torn down with the test. */
async function faultProxy (t: ExecutionContext, ip: string, d: DaemonProcess): Promise<Proxy> {
  const p: Proxy = { url: `http://${ip}:7777/`, explain: new Map(), routes: new Map(), mostOpen: new Map() }
  const open = new Map<string, number>()
  const sockets = new Set<import('node:net').Socket>()
  const server = http.createServer((req, res) => {
    const route = p.routes.get(`${req.method ?? ''} ${req.url ?? ''}`)
    if (route !== undefined) { route(res); return }
    const m = /^\/api\/services\/([^/?]*)\/explain\.json/.exec(req.url ?? '')
    if (m !== null) {
      const name = decodeURIComponent(m[1])
      open.set(name, (open.get(name) ?? 0) + 1)
      p.mostOpen.set(name, Math.max(p.mostOpen.get(name) ?? 0, open.get(name) ?? 0))
      res.once('close', () => { open.set(name, (open.get(name) ?? 1) - 1) })
      const fault = p.explain.get(name)
      if (fault !== undefined) { fault(res); return }
    }
    const up = http.request({ host: d.ip, port: d.apiPort, path: req.url, method: req.method, headers: req.headers }, (u) => {
      res.writeHead(u.statusCode ?? 502, u.headers)
      u.pipe(res)
    })
    up.on('error', () => { res.destroy() })
    res.once('close', () => { up.destroy() })
    req.pipe(up)
  })
  server.on('connection', (s) => { sockets.add(s); s.once('close', () => { sockets.delete(s) }) })
  await new Promise<void>(resolve => server.listen(7777, ip, resolve))
  t.teardown(async () => {
    for (const s of sockets) s.destroy()
    await new Promise(resolve => server.close(resolve))
  })
  return p
}

const answer = (status: number, type: string, body: string): Fault => (res) => { res.writeHead(status, { 'Content-Type': type }); res.end(body) }

function routedCell (page: Page, service: string): ReturnType<Page['locator']> {
  return page.locator(`[data-service="${service}"] table.instances tbody tr td[data-label="Routed here"]`).first()
}

browserTest(`explain: an error status, a body that is not JSON or not explain or a dropped connection says what went wrong and can be asked again; it never stops the page's drawing, and a name a URL path cannot carry ("..") is asked for in the query${skipped}`, async t => {
  if (pw === undefined) return
  const names = ['e503', 'e429', 'e500', 'ejunk', 'eshape', 'edrop', '..', 'ok']
  const { d } = await staticNode(t, '127.0.43.1', 'ui-faults', names.map((n, i) => entry(n, 9001 + i)))
  const proxy = await faultProxy(t, '127.0.43.2', d)
  proxy.explain.set('e503', answer(503, 'application/json', '{"message":"Service Unavailable - the daemon is stopping","status":"error"}'))
  proxy.explain.set('e429', answer(429, 'application/json', '{"error":"rate limited by the proxy"}'))
  proxy.explain.set('e500', answer(500, 'text/html', '<h1>Internal Server Error</h1>'))
  proxy.explain.set('ejunk', answer(200, 'application/json', 'not json'))
  proxy.explain.set('eshape', answer(200, 'application/json', '{"instances":[{}]}'))
  proxy.explain.set('edrop', (res) => { res.socket?.destroy() })
  // the drain's answer, as a proxy's rate limit would give it
  const okId = await waitFor(async () => (await d.json<{ Services: Record<string, Array<{ ID: string }> | undefined> }>('/api/services.json')).Services.ok?.[0]?.ID, { message: 'ok announced' })
  proxy.routes.set(`POST /api/services/${okId}/drain`, answer(429, 'application/json', '{"error":{"message":"slow down, 3 writes a minute"}}'))

  const b = await pw.chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS })
  t.teardown(async () => { await b.close() })
  const page = await b.newPage({ viewport: { width: 1400, height: 900 } })
  const problems: string[] = []
  page.on('pageerror', e => { problems.push(`page error: ${e.message}`) })
  await page.goto(proxy.url)
  await waitFor(async () => await page.locator('section.service').count() === names.length || undefined, { timeoutMs: 15_000, message: `${names.length} service panels` })
  for (const name of names) await page.locator(`[data-service="${name}"] .details-toggle`).click()

  // Every panel, the one after a misshapen answer too, ends in an answer or in what went wrong.
  await routedCell(page, 'ok').locator('.yes').waitFor({ timeout: 10_000 })
  const failure = async (name: string): Promise<string> => {
    const note = page.locator(`[data-service="${name}"] .explain-error`)
    await note.waitFor({ timeout: 10_000 })
    return await note.innerText()
  }
  t.regex(await failure('e503'), /HTTP 503: Service Unavailable - the daemon is stopping/)
  t.regex(await failure('e429'), /HTTP 429: rate limited by the proxy/)
  t.regex(await failure('e500'), /HTTP 500: Internal Server Error/)
  t.regex(await failure('ejunk'), /HTTP 200, but the answer is not JSON/)
  t.regex(await failure('eshape'), /HTTP 200, but the answer is no explain document/)
  t.regex(await failure('edrop'), /could not be reached/)
  for (const name of ['e503', 'eshape']) t.is(await routedCell(page, name).innerText(), '—', `${name}: no cell reads "…" (still loading)`)
  await routedCell(page, '..').locator('.yes').waitFor({ timeout: 10_000 })
  t.is(await page.locator('[data-service=".."] .explain-error').count(), 0, 'the service named ".." is explained like any other')
  t.is(await page.locator('[data-service="ok"] .explain-error').count(), 0)

  // The proxy stops refusing: asking again shows the answer.
  proxy.explain.delete('e503')
  await page.locator('[data-service="e503"] .explain-error button').click()
  await routedCell(page, 'e503').locator('.yes').waitFor({ timeout: 10_000 })
  t.is(await page.locator('[data-service="e503"] .explain-error').count(), 0)
  // and a refusal after a good answer keeps it, saying how old it is
  proxy.explain.set('e503', answer(503, 'application/json', '{"message":"Service Unavailable - again","status":"error"}'))
  await page.locator('[data-service="e503"] .details-toggle').click()
  await page.locator('[data-service="e503"] .details-toggle').click()
  t.regex(await failure('e503'), /HTTP 503: Service Unavailable - again[\s\S]*its answer of \d+ secs ago/)
  t.is(await routedCell(page, 'e503').locator('.yes').count(), 1)

  // A write refused by the proxy with its own kind of error body shows that body's reason.
  await page.locator('[data-service="ok"] button.drain').click()
  await page.locator('#notice', { hasText: 'Could not drain' }).waitFor({ timeout: 10_000 })
  t.regex(await page.locator('#notice').innerText(), /HTTP 429: slow down, 3 writes a minute/)
  t.deepEqual(problems, [])
})

browserTest(`explain: an answer 10 s late holds one request per service, so the drain buttons are not kept waiting; one that never comes is given up after 15 s${skipped}`, async t => {
  if (pw === undefined) return
  t.timeout(90_000)
  const { d } = await staticNode(t, '127.0.43.3', 'ui-slow', [entry('slow', 9101), entry('fast', 9102), entry('hung', 9103)])
  const proxy = await faultProxy(t, '127.0.43.4', d)
  const late: Fault = (res) => {
    const timer = setTimeout(() => {
      void d.json(`/api/services/slow/explain.json`).then(doc => { answer(200, 'application/json', JSON.stringify(doc))(res) }, () => { res.destroy() })
    }, 10_000)
    res.once('close', () => { clearTimeout(timer) })
  }
  proxy.explain.set('slow', late)
  proxy.explain.set('hung', () => {}) // never answered

  const b = await pw.chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS })
  t.teardown(async () => { await b.close() })
  const page = await b.newPage({ viewport: { width: 1400, height: 900 } })
  await page.goto(proxy.url)
  await waitFor(async () => await page.locator('section.service').count() === 3 || undefined, { timeoutMs: 15_000, message: '3 service panels' })
  await page.locator('[data-service="fast"] .details-toggle').click()
  await routedCell(page, 'fast').locator('.yes').waitFor({ timeout: 10_000 })
  await page.locator('[data-service="hung"] .details-toggle').click()
  await page.locator('[data-service="slow"] .details-toggle').click()
  const opened = Date.now()

  // slow changes eight times in 3 s (drained and undrained on the daemon): each change asks for its explain again.
  const id = await waitFor(async () => (await d.json<{ Services: Record<string, Array<{ ID: string }> | undefined> }>('/api/services.json')).Services.slow?.[0]?.ID, { message: 'slow announced' })
  for (let i = 0; i < 8; i++) {
    const res = await fetch(d.url(`/api/services/${id}/${i % 2 === 0 ? 'drain' : 'undrain'}`), { method: 'POST' })
    t.is(res.status, 202)
    await new Promise(resolve => setTimeout(resolve, 400))
  }
  // Meanwhile a drain of another service is answered at once.
  const clicked = Date.now()
  await page.locator('[data-service="fast"] button.drain').click()
  await page.locator('#notice', { hasText: 'set to DRAINING' }).waitFor({ timeout: 20_000 })
  const drainMs = Date.now() - clicked
  // Held behind the late explains, it would wait for the first of them, answered 10 s after it
  // was asked (about 6 s after the click); answered at once, it took up to 2.7 s on a loaded
  // CI. The count of explains open at once is the exact check.
  t.true(drainMs < 5000, `the drain's answer took ${drainMs} ms`)
  t.true((proxy.mostOpen.get('slow') ?? 0) <= 1, `${proxy.mostOpen.get('slow') ?? 0} explain requests for slow open at once`)

  // The late answer is shown when it comes; the one that never comes is given up with a reason.
  await routedCell(page, 'slow').locator('.yes, .no').waitFor({ timeout: 15_000 })
  const note = page.locator('[data-service="hung"] .explain-error')
  await note.waitFor({ timeout: Math.max(1000, opened + 20_000 - Date.now()) })
  t.regex(await note.innerText(), /did not answer within 15 s/)
  t.is(await routedCell(page, 'hung').innerText(), '—')
})

browserTest(`drain: while the answer is 10 s late the page says it is waiting, then shows it; one that never comes is given up after 15 s with what that means${skipped}`, async t => {
  if (pw === undefined) return
  t.timeout(90_000)
  const { d } = await staticNode(t, '127.0.43.7', 'ui-slow-writes', [entry('lag', 9201), entry('stuck', 9202)])
  const proxy = await faultProxy(t, '127.0.43.8', d)
  const ids = await waitFor(async () => {
    const s = (await d.json<{ Services: Record<string, Array<{ ID: string }> | undefined> }>('/api/services.json')).Services
    return s.lag?.[0] !== undefined && s.stuck?.[0] !== undefined ? { lag: s.lag[0].ID, stuck: s.stuck[0].ID } : undefined
  }, { message: 'lag and stuck announced' })
  proxy.routes.set(`POST /api/services/${ids.lag}/drain`, (res) => {
    const timer = setTimeout(() => {
      void fetch(d.url(`/api/services/${ids.lag}/drain`), { method: 'POST' }).then(async r => { answer(r.status, 'application/json', await r.text())(res) }, () => { res.destroy() })
    }, 10_000)
    res.once('close', () => { clearTimeout(timer) })
  })
  proxy.routes.set(`POST /api/services/${ids.stuck}/drain`, () => {}) // never answered

  const b = await pw.chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS })
  t.teardown(async () => { await b.close() })
  const page = await b.newPage({ viewport: { width: 1400, height: 900 } })
  await page.goto(proxy.url)
  for (const name of ['lag', 'stuck']) {
    await page.locator(`[data-service="${name}"] .details-toggle`).click()
    await routedCell(page, name).locator('.yes').waitFor({ timeout: 10_000 })
  }
  const notice = page.locator('#notice')

  await page.locator('[data-service="lag"] button.drain').click()
  // said while the answer is held (10 s): 2 s was too short for a busy Chromium on a loaded CI
  await notice.filter({ hasText: 'waiting for the daemon' }).waitFor({ timeout: 8000 })
  t.regex(await notice.innerText(), /Asked to drain lag/)
  await notice.filter({ hasText: 'set to DRAINING' }).waitFor({ timeout: 15_000 })

  // Timed on the page's clock, from the click's event to the notice's change: timed from here,
  // the click's and the notice's round trips to a busy Chromium counted too.
  await page.evaluate(() => {
    const w = window as unknown as { clickedAt?: number, gaveUpAt?: number }
    document.addEventListener('click', e => { if ((e.target as Element).closest('[data-service="stuck"] button.drain') !== null) w.clickedAt ??= performance.now() }, { capture: true })
    const n = document.getElementById('notice')
    if (n !== null) new MutationObserver(() => { if (n.textContent?.includes('No answer') === true) w.gaveUpAt ??= performance.now() }).observe(n, { subtree: true, childList: true, characterData: true })
  })
  await page.locator('[data-service="stuck"] button.drain').click()
  await notice.filter({ hasText: 'Asked to drain stuck' }).waitFor({ timeout: 8000 })
  await notice.filter({ hasText: 'No answer' }).waitFor({ timeout: 25_000 })
  const gaveUpMs = await page.evaluate(() => { const w = window as unknown as { clickedAt?: number, gaveUpAt?: number }; return (w.gaveUpAt ?? Number.NaN) - (w.clickedAt ?? Number.NaN) })
  t.log(`given up ${Math.round(gaveUpMs)} ms after the click`)
  t.true(gaveUpMs >= 15_000 && gaveUpMs < 18_000, `given up ${Math.round(gaveUpMs)} ms after the click, by the page's clock`)
  t.regex(await notice.innerText(), /No answer to the drain of stuck \S+ within 15 s: the daemon may still carry it out/)
})

browserTest(`a script file refused by a proxy (503) leaves no page stuck at "connecting…": it says the script did not start; a page that starts never shows that${skipped}`, async t => {
  if (pw === undefined) return
  const { d } = await staticNode(t, '127.0.43.30', 'ui-no-script', [entry('web', 9301)])
  const proxy = await faultProxy(t, '127.0.43.31', d)
  proxy.routes.set('GET /ui/js/model.js', answer(503, 'application/json', '{"message":"Service Unavailable","status":"error"}'))
  const b = await pw.chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS })
  t.teardown(async () => { await b.close() })
  const broken = await b.newPage()
  const working = await b.newPage()
  // When the message shows, by the page's own clock (checked every 50 ms, once the style sheet
  // applies: before it, the bare element is visible, though not painted): on a loaded machine
  // the working page once took longer to render than the broken page's 8 s. (Looking from the
  // load event on missed it once: the load came after the message.)
  await broken.addInitScript(() => {
    const look = (): void => {
      const el = document.getElementById('not-started')
      if (el !== null && getComputedStyle(el).animationName === 'not-started' && el.checkVisibility()) (window as unknown as { shownAt: number }).shownAt = performance.now()
      else setTimeout(look, 50)
    }
    look()
  })
  await Promise.all([broken.goto(proxy.url), working.goto(d.url('/'))])
  await working.locator('[data-service="web"]').waitFor({ timeout: 10_000 })
  await broken.getByText('did not start').waitFor({ timeout: 20_000 })
  await broken.waitForFunction(() => (window as unknown as { shownAt?: number }).shownAt !== undefined, undefined, { timeout: 10_000 })
  const shownAt = await broken.evaluate(() => (window as unknown as { shownAt?: number }).shownAt)
  t.true(shownAt !== undefined && shownAt >= 8000, `shown ${String(shownAt)} ms after the page began to load: not before 8 s, the files may still be on their way`)
  t.regex(await broken.locator('main').innerText(), /The page's script did not start[\s\S]*Reload the page/)
  t.is(await working.getByText('did not start').count(), 0)
})
