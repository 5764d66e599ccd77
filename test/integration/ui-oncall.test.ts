/// <reference lib="dom" />
// The web UI as the on-call operator uses it in an incident, in headless Chromium: colours that
// pass WCAG AA, buttons a screen reader can tell apart, and a page whose daemon stops says within
// seconds that what it shows is not current, wherever the reader has scrolled. Daemons on
// 127.0.56.21, .31 and .32.
import test, { type ExecutionContext } from 'ava'
import type { Browser } from 'playwright-core'
import { CHROMIUM, CHROMIUM_ARGS, missing, pw, staticNode } from '../helpers/chromium.ts'
import { makeCluster, startAll } from '../helpers/cluster.ts'
import { waitFor } from '../helpers/wait.ts'

const browserTest = missing === undefined ? test : test.skip
const skipped = missing !== undefined ? ` (skipped: needs ${missing})` : ''

interface Instance { ID: string, Name: string, Status: number, Hostname: string }
type Catalog = Record<string, Instance[]>

function entry (name: string, ip: string, port: number): unknown {
  return {
    Service: { ID: `${name}-${ip.split('.')[3]}`, Name: name, Image: `registry.example/${name}:1.0`, Ports: [{ Type: 'tcp', Port: port, ServicePort: port - 10000, IP: ip }] },
    Check: { Type: 'AlwaysSuccessful' },
  }
}

async function browser (t: ExecutionContext): Promise<Browser> {
  if (pw === undefined) throw new Error('no playwright')
  const b = await pw.chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS })
  t.teardown(async () => { await b.close() })
  return b
}

browserTest(`every status's word, in light and dark, has WCAG AA contrast (4.5:1) on the background it is shown on${skipped}`, async t => {
  const { d } = await staticNode(t, '127.0.56.31', 'ui-contrast', [entry('web', '127.0.56.31', 29001)])
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
  const { d } = await staticNode(t, '127.0.56.32', 'ui-names', ['web', 'api', 'db'].map((n, i) => entry(n, '127.0.56.32', 29001 + i)))
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
