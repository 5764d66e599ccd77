/// <reference lib="dom" />
// The web UI in headless Chromium with what other machines may announce (names, images, host
// names up to the record limits, with markup, bidi overrides and zero-width characters), an
// empty cluster, a reader in another time zone and a screen reader's view. Daemons on
// 127.0.48.21 and 127.0.48.22; names that pass for others and the filter, 127.0.43.5-6.
import test from 'ava'
import { CHROMIUM, CHROMIUM_ARGS, missing, pw, staticNode } from '../helpers/chromium.ts'
import { waitFor } from '../helpers/wait.ts'

const browserTest = missing === undefined ? test : test.skip
const skipped = missing !== undefined ? ` (skipped: needs ${missing})` : ''

function entry (name: string, image: string, ports: number[]): unknown {
  return { Service: { Name: name, Image: image, Ports: ports.map(p => ({ Type: 'tcp', Port: p, ServicePort: p - 1000 })) }, Check: { Type: 'AlwaysSuccessful' } }
}

browserTest(`hostile catalog values: no script runs, invisible characters are shown, a long image keeps the drain button in view, a peer's odd name is no link${skipped}`, async t => {
  if (pw === undefined) return
  const entries = [
    entry('<img src=x onerror="window.pwned=1">', '"><script>window.pwned=2</script>:1', [9001]),
    entry('\u202Eevil\u202C', 'x:1', [9002]), // reads "live" when the override works
    entry('pay\u200Bments', 'x:1', [9003]),
    entry('wide', `${'W'.repeat(1000)}:1`, [9004]), // the longest image a record may carry
    entry('ports', 'x:1', Array.from({ length: 200 }, (_, i) => 20000 + i)),
  ]
  // A member whose name is visible ASCII but no plain host name: a link to it would lead to 127.0.48.99.
  const hostname = 'db@127.0.48.99'
  const { d } = await staticNode(t, '127.0.48.21', hostname, entries)
  const b = await pw.chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS })
  t.teardown(async () => { await b.close() })
  const page = await b.newPage({ viewport: { width: 1200, height: 900 } })
  const problems: string[] = []
  page.on('pageerror', e => { problems.push(`page error: ${e.message}`) })
  await page.goto(d.url('/'))
  await waitFor(async () => await page.locator('section.service').count() === 5 || undefined, { timeoutMs: 15_000, message: '5 service panels' })

  t.is(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned), undefined, 'no announced value ran as script')
  t.is(await page.locator('section.service img, section.service script').count(), 0)

  // The bidi override and the zero-width space are shown, not obeyed.
  const titles = await page.locator('section.service h2').allInnerTexts()
  t.true(titles.includes('U+202EevilU+202C'), titles.join(' | '))
  t.true(titles.includes('payU+200Bments'), titles.join(' | '))
  t.false(titles.some(s => /[\u200B\u202C\u202E]/u.test(s)), 'no invisible character reaches the page as such')

  // A group of one instance with 200 ports lists 3 and counts the rest, instead of a row thousands of pixels tall.
  const portsRow = page.locator('[data-service="ports"] table.groups tbody tr').first()
  t.regex(await portsRow.locator('td[data-label="Ports"]').innerText(), /\+197$/)
  t.true((await portsRow.boundingBox() ?? { height: Infinity }).height < 100)

  // A 1,000-character image wraps: the status, the check and the drain button stay in the panel's view.
  await page.locator('[data-service="wide"] .details-toggle').click()
  const row = page.locator('[data-service="wide"] table.instances tbody tr').first()
  await row.locator('td[data-label="Routed here"] .no, td[data-label="Routed here"] .yes').waitFor()
  const fits = await page.locator('[data-service="wide"]').evaluate((panel: HTMLElement) => {
    const scroller = panel.querySelector('.details') as HTMLElement
    const button = panel.querySelector('button.drain') as HTMLElement
    return { sideways: scroller.scrollWidth - scroller.clientWidth, buttonRight: button.getBoundingClientRect().right, panelRight: panel.getBoundingClientRect().right }
  })
  t.true(fits.sideways <= 1, `the details scroll sideways by ${fits.sideways} px`)
  t.true(fits.buttonRight <= fits.panelRight, `the drain button ends at ${fits.buttonRight} px, the panel at ${fits.panelRight} px`)
  // and the usual short values need no sideways scrolling either
  await page.locator('[data-service="ports"] .details-toggle').click()
  await page.locator('[data-service="ports"] table.instances td[data-label="Routed here"] :is(.yes, .no)').waitFor()
  t.deepEqual(await page.locator('.details').evaluateAll(els => els.map(el => el.scrollWidth - el.clientWidth)), [0, 0])

  // The member is listed, but its name is not made into a link that leads elsewhere than it reads.
  const member = page.locator(`#members [data-host="${hostname}"]`)
  t.is(await member.locator('.host').innerText(), hostname)
  t.is(await member.locator('a').count(), 0)
  t.deepEqual(problems, [])
})

browserTest(`an empty cluster says so; times read in the reader's zone; a screen reader hears the drain's result and names every column; the keyboard's focus survives a redraw${skipped}`, async t => {
  if (pw === undefined) return
  const { d, write } = await staticNode(t, '127.0.48.22', 'ui-empty', [])
  const b = await pw.chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS })
  t.teardown(async () => { await b.close() })
  const page = await b.newPage({ timezoneId: 'Asia/Tokyo', locale: 'en-US' })
  await page.goto(d.url('/'))
  await page.locator('#conn.conn-live').waitFor()
  await page.locator('#empty', { hasText: 'No services in this cluster yet' }).waitFor({ timeout: 10_000 })
  t.true(await page.locator('#empty').isVisible())


  await write([entry('web', 'web:1', [9101])])
  await page.locator('[data-service="web"]').waitFor({ timeout: 15_000 })
  t.false(await page.locator('#empty').isVisible())
  // "N secs ago": its tooltip gives the time in the reader's zone (Tokyo, GMT+9), not UTC.
  const times = await page.locator('[data-service="web"] time, #members time').all()
  t.true(times.length >= 3)
  for (const time of times) t.regex(await time.getAttribute('title') ?? '', /GMT\+9/)
  // Keyboard only: the focus stays on the button pressed, though its panel is rebuilt (its
  // text ends with unseen words for screen readers: which service, which instance).
  const focused = async (): Promise<string> => await page.evaluate(() => { const a = document.activeElement as HTMLElement; return `${a.closest('section')?.dataset.service ?? ''} ${a.textContent ?? ''}` })
  const id = (await d.json<{ Services: Record<string, Array<{ ID: string }>> }>('/api/services.json')).Services.web[0].ID
  await page.locator('[data-service="web"] .details-toggle').focus()
  await page.keyboard.press('Enter')
  await page.locator('[data-service="web"] table.instances').waitFor()
  t.is(await focused(), 'web Hide details of web')
  t.is(await page.getByRole('columnheader', { name: 'Action' }).count(), 1, 'the drain buttons\' column has a name')
  await page.keyboard.press('Tab')
  t.is(await focused(), `web Drain web ${id}`)
  await page.keyboard.press('Enter')
  await page.getByRole('status').filter({ hasText: 'set to DRAINING' }).waitFor({ timeout: 10_000 })
  await page.locator('[data-service="web"] button.undrain').waitFor()
  t.is(await focused(), `web Undrain web ${id}`)
})

browserTest(`names that would read as another's (a no-break space, a blank filler, a space at the end or doubled) are marked, in the panels and the details${skipped}`, async t => {
  if (pw === undefined) return
  const names = ['web api', 'web\u00A0api', 'web', 'web ', 'a  b', '\u3164\u3164', 'x\u034Fy']
  const { d } = await staticNode(t, '127.0.43.5', 'ui-lookalike', names.map((n, i) => entry(n, `img:${i}${i === 2 ? '\u2007' : ''}`, [9001 + i])))
  const b = await pw.chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS })
  t.teardown(async () => { await b.close() })
  const page = await b.newPage()
  await page.goto(d.url('/'))
  await waitFor(async () => await page.locator('section.service').count() === names.length || undefined, { timeoutMs: 15_000, message: `${names.length} service panels` })
  // as the panels list them (sorted by name): no two read alike, and none reads blank
  t.deepEqual(await page.locator('section.service h2').allInnerTexts(), ['aU+0020U+0020b', 'web', 'webU+0020', 'web api', 'webU+00A0api', 'xU+034Fy', 'U+3164U+3164'])
  // values in the details too: the image's figure space
  await page.locator('[data-service="web"] .details-toggle').click()
  t.is(await page.locator('[data-service="web"] table.instances td[data-label="Image"]').innerText(), 'img:2U+2007')
  t.is(await page.locator('[data-service="web"] table.groups td[data-label="Version"]').innerText(), '2U+2007')
})

browserTest(`the filter finds a name with invisible characters by what the page shows (its U+XXXX), by the name it passes for, and by the rest of it${skipped}`, async t => {
  if (pw === undefined) return
  const names = ['\u202Eevil\u202C', 'pay\u200Bments', 'payments', 'web\u00A0api', 'web api', 'other']
  const { d } = await staticNode(t, '127.0.43.6', 'ui-filter', names.map((n, i) => entry(n, 'x:1', [9001 + i])))
  const b = await pw.chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS })
  t.teardown(async () => { await b.close() })
  const page = await b.newPage()
  await page.goto(d.url('/'))
  await waitFor(async () => await page.locator('section.service').count() === names.length || undefined, { timeoutMs: 15_000, message: `${names.length} service panels` })
  /** The panels left by the filter `q`, once they are `expected` (or after 15 s: a loaded machine's Chromium may take seconds to draw). */
  const found = async (q: string, expected: string[]): Promise<string[]> => {
    await page.locator('#filter').fill(q)
    const shown = async (): Promise<string[]> => await page.locator('section.service').evaluateAll(els => els.map(e => (e as HTMLElement).dataset.service ?? ''))
    return await waitFor(async () => { const s = await shown(); return JSON.stringify(s) === JSON.stringify(expected) ? s : undefined }, { timeoutMs: 15_000, message: q }).catch(shown)
  }
  const expect = async (q: string, names: string[], why?: string): Promise<void> => {
    const expected = [...names].sort() // the panels' order
    t.deepEqual(await found(q, expected), expected, why ?? q)
  }
  await expect('U+202E', ['\u202Eevil\u202C'], 'the mark as shown')
  await expect('u+202eevil', ['\u202Eevil\u202C'], 'the mark and the rest, in any case')
  await expect('U+200B', ['pay\u200Bments'])
  await expect('payU+200Bments', ['pay\u200Bments'], 'the name as copied from the page')
  await expect('payments', ['pay\u200Bments', 'payments'], 'the name it passes for finds it beside the real one')
  await expect('web api', ['web\u00A0api', 'web api'])
  await expect('U+', ['\u202Eevil\u202C', 'pay\u200Bments', 'web\u00A0api'], 'every name with a mark')
  await expect('', [...names].sort())
})
