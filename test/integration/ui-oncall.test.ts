/// <reference lib="dom" />
// The web UI as the on-call operator uses it in an incident, in headless Chromium: a page whose
// daemon stops says within seconds that what it shows is not current, wherever the reader has
// scrolled. Daemon on 127.0.56.21.
import test, { type ExecutionContext } from 'ava'
import type { Browser } from 'playwright-core'
import { CHROMIUM, CHROMIUM_ARGS, missing, pw } from '../helpers/chromium.ts'
import { makeCluster, startAll } from '../helpers/cluster.ts'
import { waitFor } from '../helpers/wait.ts'

const browserTest = missing === undefined ? test : test.skip
const skipped = missing !== undefined ? ` (skipped: needs ${missing})` : ''

interface Instance { ID: string, Name: string, Status: number, Hostname: string }
type Catalog = Record<string, Instance[]>

async function browser (t: ExecutionContext): Promise<Browser> {
  if (pw === undefined) throw new Error('no playwright')
  const b = await pw.chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS })
  t.teardown(async () => { await b.close() })
  return b
}

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
