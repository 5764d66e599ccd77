/// <reference lib="dom" />
// The web UI as the on-call operator uses it in an incident, in headless Chromium, against a
// real cluster: three daemons with a few dozen services each, some failing their check, one
// drained, one host killed (its services tombstoned). What is wrong shows at a glance (counts by
// status, the departed host, only the problems on request), in colours that pass WCAG AA and
// buttons a screen reader can tell apart; and a page whose daemon stops says within seconds that
// what it shows is not current, wherever the reader has scrolled. Daemons on 127.0.56.11-13,
// .21, .31; a refusing backend on 127.0.56.10.
import test, { type ExecutionContext } from 'ava'
import { writeFile } from 'node:fs/promises'
import net from 'node:net'
import type { Browser, Page } from 'playwright-core'
import { CHROMIUM, CHROMIUM_ARGS, missing, pw, staticNode } from '../helpers/chromium.ts'
import { makeCluster, startAll, type ClusterNode } from '../helpers/cluster.ts'
import { waitFor } from '../helpers/wait.ts'

const browserTest = missing === undefined ? test : test.skip
const skipped = missing !== undefined ? ` (skipped: needs ${missing})` : ''

interface Instance { ID: string, Name: string, Status: number, Hostname: string }
type Catalog = Record<string, Instance[]>

/** A port on 127.0.56.10 that refuses every connection: a TcpConnect check of it fails. */
async function refusingPort (): Promise<number> {
  const server = net.createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.56.10', resolve))
  const port = (server.address() as net.AddressInfo).port
  await new Promise(resolve => server.close(resolve)) // nothing listens there now
  return port
}

function entry (name: string, ip: string, port: number, failing: number | undefined): unknown {
  return {
    Service: { ID: `${name}-${ip.split('.')[3]}`, Name: name, Image: `registry.example/${name}:1.0`, Ports: [{ Type: 'tcp', Port: port, ServicePort: port - 10000, IP: ip }] },
    Check: failing === undefined ? { Type: 'AlwaysSuccessful' } : { Type: 'TcpConnect', Args: `127.0.56.10:${failing}` },
  }
}

async function browser (t: ExecutionContext): Promise<Browser> {
  if (pw === undefined) throw new Error('no playwright')
  const b = await pw.chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS })
  t.teardown(async () => { await b.close() })
  return b
}

/** Errors in the page and its console (a CSP violation is one). */
function problems (page: Page): string[] {
  const seen: string[] = []
  page.on('pageerror', e => { seen.push(`page error: ${e.message}`) })
  page.on('console', m => { if (m.type() === 'error') seen.push(`console: ${m.text()}`) })
  return seen
}

/**
 * alpha, bravo and charlie in one cluster, 20 services each (every name on two hosts, every
 * 7th failing its check), alpha's first instance drained, charlie killed and departed.
 */
async function incident (t: ExecutionContext): Promise<{ alpha: ClusterNode, catalog: () => Promise<Catalog> }> {
  const refused = await refusingPort()
  const ips = ['127.0.56.11', '127.0.56.12', '127.0.56.13']
  const nodes = await makeCluster(t, ['alpha', 'bravo', 'charlie'].map((hostname, h) => ({
    ip: ips[h],
    hostname,
    args: ['-n', 'oncall', ...(h > 0 ? ['-c', ips[0]] : [])],
    env: { HEALTH_INTERVAL: '500ms', HEALTH_TIMEOUT: '400ms', SIDECAR_LOGGING_LEVEL: 'warn' },
  })))
  for (const [h, n] of nodes.entries()) {
    const names = Array.from({ length: 20 }, (_, i) => `svc-${String((h * 10 + i) % 30).padStart(2, '0')}`)
    await writeFile(n.staticFile, JSON.stringify(names.map((name, i) => entry(name, ips[h], 20000 + h * 100 + i, Number(name.slice(4)) % 7 === 3 ? refused : undefined))))
  }
  await startAll(nodes)
  const [alpha, , charlie] = nodes
  const catalog = async (): Promise<Catalog> => (await alpha.d.json<{ Services: Catalog }>('/api/services.json')).Services
  await waitFor(async () => { const all = Object.values(await catalog()).flat(); return (all.length === 60 && all.every(s => s.Status === 0 || s.Status === 2)) || undefined }, { timeoutMs: 60_000, message: '60 instances on alpha, each checked' })
  t.is((await fetch(alpha.d.url('/api/services/svc-00-11/drain'), { method: 'POST' })).status, 202)
  charlie.d.kill()
  await waitFor(async () => Object.values(await catalog()).flat().filter(s => s.Hostname === 'charlie' && s.Status === 1).length === 20 || undefined, { timeoutMs: 60_000, message: 'charlie\'s 20 instances tombstoned on alpha' })
  return { alpha, catalog }
}

browserTest(`an incident at a glance: instances counted by status, the departed host and its tombstones listed, "Only problems" shows just the services in trouble${skipped}`, async t => {
  const { alpha, catalog } = await incident(t)
  const page = await (await browser(t)).newPage({ viewport: { width: 1280, height: 900 } })
  const seen = problems(page)
  await page.goto(alpha.d.url('/'))
  await page.locator('#conn.conn-live').waitFor()
  const all = Object.values(await catalog()).flat()
  const count = (status: number): number => all.filter(s => s.Status === status).length
  t.true(count(2) >= 4, 'some instances fail their check')

  // The counts, each as a word beside its colour.
  await page.locator('#summary', { hasText: 'tombstoned' }).waitFor({ timeout: 15_000 })
  t.is((await page.locator('#summary').innerText()).replace(/\s+/g, ' ').trim(), `60 instances: ${count(2)} unhealthy ${count(4)} draining ${count(0)} alive ${count(1)} tombstoned`)
  t.is(count(4), 1)

  // charlie, though no member any more, is listed as departed with what it left.
  const charlie = page.locator('#members [data-host="charlie"]')
  await charlie.waitFor({ timeout: 15_000 })
  t.regex(await charlie.innerText(), /charlie\s+departed\s+last record \d+ secs ago\s+20 services tombstoned/)
  t.deepEqual(await page.locator('#members .member').evaluateAll(els => els.map(e => (e as HTMLElement).dataset.host)), ['alpha', 'bravo', 'charlie'])

  // Only the services with an instance shown that is not Alive: failing or drained.
  const shown = new Set(all.filter(s => s.Status !== 1).map(s => s.Name))
  const troubled = [...shown].filter(name => all.some(s => s.Name === name && s.Status !== 0 && s.Status !== 1)).sort()
  await page.locator('#problems-only').check()
  await waitFor(async () => await page.locator('section.service').count() === troubled.length || undefined, { message: `${troubled.length} services in trouble` })
  t.deepEqual(await page.locator('section.service').evaluateAll(els => els.map(e => (e as HTMLElement).dataset.service)), troubled)
  t.true(troubled.includes('svc-00'), 'the drained one too')
  // with the tombstones shown, the services charlie left count too
  await page.locator('#hide-tombstones').uncheck()
  const withTombstones = [...new Set(all.filter(s => s.Status !== 0).map(s => s.Name))].sort()
  await waitFor(async () => await page.locator('section.service').count() === withTombstones.length || undefined, { message: `${withTombstones.length} services with a problem or a tombstone` })
  await page.locator('#problems-only').uncheck()
  await waitFor(async () => await page.locator('section.service').count() === 30 || undefined, { message: 'all 30 services again' })

  // A phone shows all of it without scrolling sideways.
  await page.setViewportSize({ width: 390, height: 844 })
  t.true(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'no sideways scrolling at phone width')
  t.deepEqual(seen, [])
})

browserTest(`every status's word, in light and dark, has WCAG AA contrast (4.5:1) on the background it is shown on${skipped}`, async t => {
  const { d } = await staticNode(t, '127.0.56.31', 'ui-contrast', [entry('web', '127.0.56.31', 29001, undefined)])
  const page = await (await browser(t)).newPage()
  await page.goto(d.url('/'))
  await page.locator('#conn.conn-live').waitFor()
  const ratios = async (): Promise<Record<string, number>> => await page.evaluate(() => {
    const rgb = (c: string): number[] => (c.match(/[\d.]+/g) ?? []).map(Number)
    const lum = (c: number[]): number => {
      const f = (v: number): number => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4 }
      return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2])
    }
    const background = (el: Element | null): number[] => {
      for (; el !== null; el = el.parentElement) { const c = rgb(getComputedStyle(el).backgroundColor); if (c.length === 3 || c[3] > 0) return c }
      return [255, 255, 255]
    }
    const ratio = (el: Element): number => {
      const [a, b] = [lum(rgb(getComputedStyle(el).color)), lum(background(el))]
      return Math.round((Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05) * 100) / 100
    }
    // each status as the page shows it: a badge in a panel, the word in a row of its colour
    const panel = document.createElement('section')
    panel.className = 'panel service'
    document.querySelector('main')?.append(panel)
    const out: Record<string, number> = {}
    for (const s of ['alive', 'unhealthy', 'unknown', 'draining', 'tombstone']) {
      const badge = document.createElement('span')
      badge.className = `badge s-${s}`
      badge.textContent = `1 ${s}`
      const table = document.createElement('table')
      table.className = 'groups'
      table.innerHTML = `<tbody><tr class="s-${s}"><td><span class="status">${s}</span></td></tr></tbody>`
      panel.append(badge, table)
      out[`badge ${s}`] = ratio(badge)
      out[`row ${s}`] = ratio(table.querySelector('.status') as Element)
    }
    out['connection pill'] = ratio(document.getElementById('conn') as Element)
    panel.remove()
    return out
  })
  for (const scheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme: scheme })
    const low = Object.entries(await ratios()).filter(([, r]) => r < 4.5)
    t.deepEqual(low, [], `${scheme}: text below 4.5:1`)
  }
})

browserTest(`each Details and Drain button's accessible name says which service (and instance) it is for${skipped}`, async t => {
  const { d } = await staticNode(t, '127.0.56.32', 'ui-names', ['web', 'api', 'db'].map((n, i) => entry(n, '127.0.56.32', 29001 + i, undefined)))
  const page = await (await browser(t)).newPage()
  await page.goto(d.url('/'))
  await waitFor(async () => await page.locator('section.service').count() === 3 || undefined, { message: '3 panels' })
  for (const name of ['web', 'api', 'db']) t.is(await page.getByRole('button', { name: `Details of ${name}`, exact: true }).count(), 1, `one button "Details of ${name}"`)
  await page.getByRole('button', { name: 'Details of api', exact: true }).click()
  t.is(await page.getByRole('button', { name: 'Hide details of api', exact: true }).count(), 1)
  await page.getByRole('button', { name: 'Drain api api-32', exact: true }).waitFor()
  t.deepEqual(await page.locator('button.details-toggle').allInnerTexts().then(texts => texts.map(s => s.split('\n')[0])), ['Hide details', 'Details', 'Details'], 'the buttons read as before')
})

browserTest(`a page whose daemon stops says within seconds that what it shows is not current, in view wherever the reader scrolled; it recovers when the daemon is back${skipped}`, async t => {
  const [n] = await makeCluster(t, [{ ip: '127.0.56.21', hostname: 'ui-gone', services: Array.from({ length: 60 }, (_, i) => `svc-${i}`) }])
  await startAll([n])
  const page = await (await browser(t)).newPage({ viewport: { width: 1280, height: 800 } })
  await page.goto(n.d.url('/'))
  await page.locator('#conn.conn-live').waitFor()
  await waitFor(async () => await page.locator('section.service').count() === 60 || undefined, { message: '60 panels' })
  await page.locator('[data-service="svc-5"]').scrollIntoViewIfNeeded()
  await page.waitForTimeout(500) // the panels around are laid out (content-visibility)
  t.true(await page.evaluate(() => window.scrollY) > 2000, 'scrolled far down the list')
  const top = async (): Promise<number> => await page.locator('[data-service="svc-5"]').evaluate(el => Math.round(el.getBoundingClientRect().top))
  const before = await top()

  const stopped = Date.now()
  await n.d.stop('SIGKILL')
  await page.locator('#notice', { hasText: 'not current' }).waitFor({ timeout: 6000 })
  const after = Date.now() - stopped
  t.log(`said after ${after} ms`)
  t.regex(await page.locator('#notice').innerText(), /^No live updates from ui-gone since .+: what is shown is not current\. Reconnecting…$/)
  const box = await page.locator('#notice').boundingBox()
  t.true(box !== null && box.y >= 0 && box.y + box.height <= 800, `the notice is on screen (at ${JSON.stringify(box)})`)
  t.is(await top(), before, 'the panel the reader looks at stays where it was')
  await page.waitForTimeout(2500) // the browser's retries go on meanwhile
  t.regex(await page.locator('#conn').innerText(), /^offline since /)

  n.spawn()
  await n.d.ready()
  await page.locator('#conn.conn-live').waitFor({ timeout: 15_000 })
  await page.locator('#notice').waitFor({ state: 'hidden', timeout: 5000 })
  // and live it is: a drain after the restart reaches the page
  const id = (await n.d.json<{ Services: Catalog }>('/api/services.json')).Services['svc-3'][0].ID
  t.is((await fetch(n.d.url(`/api/services/${id}/drain`), { method: 'POST' })).status, 202)
  await page.locator('[data-service="svc-3"] .badge.s-draining').waitFor({ timeout: 15_000 })
})
