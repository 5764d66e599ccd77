/// <reference lib="dom" />
// The web UI in headless Chromium with names a hostile cluster member announces by gossip (the
// project's own rogue member, test/helpers/rogue.ts): an empty one (the static file refuses
// it), and one that passes for the daemon's own by its letters. (A member's hostname is visible
// ASCII: gossip/node.ts hostnameOfAgent.) Daemons on 127.0.43.40 and .42, the rogues on .41
// and .43.
import test from 'ava'
import { makeService, ServiceStatus, Time } from '../../src/service/index.ts'
import { CHROMIUM, CHROMIUM_ARGS, missing, pw, staticNode } from '../helpers/chromium.ts'
import { startRogue } from '../helpers/rogue.ts'
import { waitFor } from '../helpers/wait.ts'

const browserTest = missing === undefined ? test : test.skip
const skipped = missing !== undefined ? ` (skipped: needs ${missing})` : ''

browserTest(`gossip: an empty service name is shown as one, not as a blank title, and its details explain it (asked for in the query, as a URL path cannot carry it)${skipped}`, async t => {
  if (pw === undefined) return
  const { d } = await staticNode(t, '127.0.43.40', 'ui-gossip', [{ Service: { Name: 'web', Image: 'web:1', Ports: [{ Type: 'tcp', Port: 9401, ServicePort: 8401 }] }, Check: { Type: 'AlwaysSuccessful' } }])
  const hostname = 'ui-rogue'
  const rogue = await startRogue(t, { ip: '127.0.43.41', hostname, clusterName: 'default' })
  await rogue.join('127.0.43.40')
  const now = Time.fromMillis(Date.now())
  const record = (ID: string, Name: string): ReturnType<typeof rogue.sign> => rogue.sign(makeService({ ID, Name, Hostname: hostname, Image: 'x:1', Created: now, Updated: Time.fromMillis(Date.now()), Status: ServiceStatus.ALIVE, Ports: [{ Type: 'tcp', Port: 9402, ServicePort: 8402, IP: '127.0.43.41' }] }))
  await waitFor(async () => {
    await rogue.publish([record('nameless', ''), record('web2', 'web')])
    const s = await d.json<{ Services: Record<string, unknown[] | undefined> }>('/api/services.json')
    return s.Services['']?.length === 1 && s.Services.web?.length === 2
  }, { timeoutMs: 20_000, intervalMs: 1000, message: 'the rogue\'s records reach the daemon' })

  const b = await pw.chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS })
  t.teardown(async () => { await b.close() })
  const page = await b.newPage({ viewport: { width: 1400, height: 900 } })
  const problems: string[] = []
  page.on('pageerror', e => { problems.push(`page error: ${e.message}`) })
  await page.goto(d.url('/'))
  await waitFor(async () => await page.locator('section.service').count() === 2 || undefined, { timeoutMs: 15_000, message: '2 service panels' })

  // The empty name's panel says its name is empty, and its details why explain cannot be had.
  const nameless = page.locator('section.service[data-service=""]')
  t.is(await nameless.locator('h2').innerText(), 'empty name')
  await nameless.locator('.details-toggle').click()
  await nameless.locator('table.instances td[data-label="Routed here"]').first().locator('.yes, .no').waitFor({ timeout: 10_000 })
  t.is(await nameless.locator('.explain-error').count(), 0)
  t.regex(await nameless.locator('table.instances').innerText(), /nameless/)
  t.deepEqual(problems, [])
})

browserTest(`gossip: a peer's "раyments" (Cyrillic р and а) beside this host's "payments" is marked as mixing scripts and reading as it, and the filter "payments" finds both${skipped}`, async t => {
  if (pw === undefined) return
  const { d } = await staticNode(t, '127.0.43.42', 'ui-gossip-alike', [{ Service: { Name: 'payments', Image: 'pay:1', Ports: [{ Type: 'tcp', Port: 9411, ServicePort: 8411 }] }, Check: { Type: 'AlwaysSuccessful' } }])
  const hostname = 'ui-rogue-alike'
  const rogue = await startRogue(t, { ip: '127.0.43.43', hostname, clusterName: 'default' })
  await rogue.join('127.0.43.42')
  const fake = '\u0440\u0430yments'
  const record = rogue.sign(makeService({ ID: 'fake1', Name: fake, Hostname: hostname, Image: 'pay:1', Created: Time.fromMillis(Date.now()), Updated: Time.fromMillis(Date.now()), Status: ServiceStatus.ALIVE, Ports: [{ Type: 'tcp', Port: 9412, ServicePort: 8411, IP: '127.0.43.43' }] }))
  await waitFor(async () => {
    await rogue.publish([record])
    const s = await d.json<{ Services: Record<string, unknown[] | undefined> }>('/api/services.json')
    return s.Services[fake]?.length === 1 || undefined
  }, { timeoutMs: 20_000, intervalMs: 1000, message: 'the rogue\'s record reaches the daemon' })

  const b = await pw.chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS })
  t.teardown(async () => { await b.close() })
  const page = await b.newPage()
  const problems: string[] = []
  page.on('pageerror', e => { problems.push(`page error: ${e.message}`) })
  await page.goto(d.url('/'))
  await waitFor(async () => await page.locator('section.service').count() === 2 || undefined, { timeoutMs: 15_000, message: '2 service panels' })
  const mark = page.locator(`section.service[data-service="${fake}"] h2 .confusable`)
  t.regex(await mark.getAttribute('title') ?? '', /^This name mixes Latin and Cyrillic letters, which look alike\. It reads as "payments", the name of another service here: Cyrillic letter \u0440 U\+0440, reads as p; Cyrillic letter \u0430 U\+0430, reads as a\.$/)
  t.is(await page.locator('section.service[data-service="payments"] h2').innerText(), 'payments', 'the real one is not marked')
  // Both panels were listed before the filter too: a filter that matches neither first, so the
  // list below is the filter's answer (a fixed 300 ms wait read the list whether it had run or not).
  const shown = async (): Promise<string[]> => await page.locator('section.service').evaluateAll(els => els.map(e => (e as HTMLElement).dataset.service ?? ''))
  await page.locator('#filter').fill('no-such-service')
  await page.locator('#empty', { hasText: 'No services match.' }).waitFor({ timeout: 15_000 })
  await page.locator('#filter').fill('payments')
  const both = ['payments', fake]
  t.deepEqual(await waitFor(async () => { const s = await shown(); return JSON.stringify(s) === JSON.stringify(both) && s }, { timeoutMs: 15_000, message: 'both panels for the filter "payments"' }).catch(shown), both)
  t.deepEqual(problems, [])
})
