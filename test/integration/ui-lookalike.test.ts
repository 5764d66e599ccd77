/// <reference lib="dom" />
// The web UI in headless Chromium with service names that pass for others by their letters
// (homoglyphs): Cyrillic or Greek letters among Latin ones ("раyments" beside "payments"), and
// names of one script that read as another name shown ("арр" in Cyrillic beside "app"), while
// names of one script alone (Cyrillic, Greek, Japanese) stay unmarked. Daemons on 127.0.43.50-52.
import test, { type ExecutionContext } from 'ava'
import type { Page } from 'playwright-core'
import { CHROMIUM, CHROMIUM_ARGS, missing, pw, staticNode } from '../helpers/chromium.ts'
import { waitFor } from '../helpers/wait.ts'

const browserTest = missing === undefined ? test : test.skip
const skipped = missing !== undefined ? ` (skipped: needs ${missing})` : ''

function entry (name: string, port: number): unknown {
  return { Service: { Name: name, Image: 'x:1', Ports: [{ Type: 'tcp', Port: port, ServicePort: port - 1000 }] }, Check: { Type: 'AlwaysSuccessful' } }
}

const PAYMENTS = '\u0440\u0430yments' // Cyrillic р and а, then Latin
const APP = '\u0430\u0440\u0440' // all Cyrillic: reads "app"
const PAYPAL = '\u0440\u0430\u0443\u0440\u0430\u04CF' // all Cyrillic (the last a palochka): reads "paypal"
const GREEK_API = '\u0391\u03A1\u0399' // all Greek capitals: reads "API"

/** A page open on `url` once it shows `count` panels; `problems`: the errors it threw. */
async function openPage (t: ExecutionContext, url: string, count: number): Promise<{ page: Page, problems: string[] }> {
  if (pw === undefined) throw new Error('no playwright')
  const b = await pw.chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS })
  t.teardown(async () => { await b.close() })
  const page = await b.newPage()
  const problems: string[] = []
  page.on('pageerror', e => { problems.push(`page error: ${e.message}`) })
  await page.goto(url)
  await waitFor(async () => await page.locator('section.service').count() === count || undefined, { timeoutMs: 15_000, message: `${count} service panels` })
  return { page, problems }
}

/** What each panel's lookalike mark says ('' for none), and its letters marked, by service name. */
async function marks (page: Page): Promise<Record<string, { label: string, shown: string, letters: string[] }>> {
  return await page.locator('section.service').evaluateAll(els => Object.fromEntries(els.map(el => {
    const mark = el.querySelector('h2 .confusable')
    return [(el as HTMLElement).dataset.service ?? '', {
      label: mark?.getAttribute('aria-label') ?? '',
      shown: mark?.textContent ?? '',
      letters: Array.from(el.querySelectorAll('h2 .lookalike')).map(l => `${l.textContent ?? ''} ${l.getAttribute('title') ?? ''}`),
    }]
  })))
}

browserTest(`names that mix lookalike scripts or read as another name shown are marked, naming the scripts and code points; a name of one script alone is not${skipped}`, async t => {
  if (pw === undefined) return
  const names = ['payments', PAYMENTS, 'app', APP, 'paypal', PAYPAL, GREEK_API, '\u0437\u0430\u043A\u0430\u0437\u044B', '\u6CE8\u6587\u30B5\u30FC\u30D3\u30B9', 'api-\uC11C\uBE44\uC2A4']
  const { d, write } = await staticNode(t, '127.0.43.50', 'ui-lookalike', names.map((n, i) => entry(n, 9001 + i)))
  const { page, problems } = await openPage(t, d.url('/'), names.length)
  let m = await marks(page)

  // Latin with Cyrillic: the mark names both scripts, the Cyrillic letters and their code points, and the name it reads as.
  t.regex(m[PAYMENTS].label, /mixes Latin and Cyrillic letters/)
  t.regex(m[PAYMENTS].label, /reads as "payments"/)
  t.regex(m[PAYMENTS].label, /Cyrillic letter \u0440 U\+0440, reads as p; Cyrillic letter \u0430 U\+0430, reads as a/)
  t.is(m[PAYMENTS].shown, '⚠ Latin + Cyrillic · reads as payments')
  t.deepEqual(m[PAYMENTS].letters, ['\u0440 Cyrillic letter \u0440 U+0440, reads as p', '\u0430 Cyrillic letter \u0430 U+0430, reads as a'])
  // All Cyrillic, but read as a Latin name shown beside them.
  t.regex(m[APP].label, /^It reads as "app", the name of another service here: Cyrillic letter \u0430 U\+0430, reads as a; Cyrillic letter \u0440 U\+0440, reads as p\.$/)
  t.regex(m[PAYPAL].label, /reads as "paypal".*U\+04CF, reads as l/)
  t.is(m[PAYPAL].letters.length, 6, 'every letter of it is marked')
  // Unmarked: the real names, a Greek name with no "API" here, a Russian, a Japanese and a Latin-and-Korean name.
  for (const n of ['payments', 'app', 'paypal', GREEK_API, names[7], names[8], names[9]]) t.deepEqual(m[n], { label: '', shown: '', letters: [] }, n)
  // A screen reader hears the warning with the name.
  t.regex(await page.locator(`section.service[data-service="${PAYMENTS}"] h2`).evaluate(el => el.textContent ?? ''), /⚠/)
  t.is(await page.getByRole('img', { name: /mixes Latin and Cyrillic/ }).count(), 1)
  t.is(await page.getByRole('heading', { name: /reads as "app"/ }).count(), 1)

  // "API" comes: the Greek name, unchanged itself, is now marked as reading like it.
  await write([...names, 'API'].map((n, i) => entry(n, 9001 + i)))
  await waitFor(async () => await page.locator('section.service').count() === names.length + 1 || undefined, { timeoutMs: 15_000, message: 'the API panel' })
  m = await waitFor(async () => { const now = await marks(page); return now[GREEK_API].label !== '' ? now : undefined }, { timeoutMs: 5000, message: 'the Greek name marked' })
  t.regex(m[GREEK_API].label, /reads as "API".*Greek letter \u0391 U\+0391, reads as A/)
  t.is(m.API.label, '')
  t.deepEqual(problems, [])
})

browserTest(`the filter finds a marked name by the Latin name it passes for, and no unmarked name of another script by its lookalike${skipped}`, async t => {
  if (pw === undefined) return
  const names = ['payments', PAYMENTS, 'app', APP, 'paypal', PAYPAL, '\u0441\u043E\u0440', 'other'] // "сор" in Cyrillic, no "cop" here
  const { d } = await staticNode(t, '127.0.43.51', 'ui-lookalike-filter', names.map((n, i) => entry(n, 9001 + i)))
  const { page, problems } = await openPage(t, d.url('/'), names.length)
  const found = async (q: string, expected: string[]): Promise<string[]> => {
    await page.locator('#filter').fill(q)
    const shown = async (): Promise<string[]> => await page.locator('section.service').evaluateAll(els => els.map(e => (e as HTMLElement).dataset.service ?? ''))
    return await waitFor(async () => { const s = await shown(); return JSON.stringify(s) === JSON.stringify(expected) ? s : undefined }, { timeoutMs: 3000, message: q }).catch(shown)
  }
  const expect = async (q: string, want: string[]): Promise<void> => {
    const expected = [...want].sort()
    t.deepEqual(await found(q, expected), expected, q)
  }
  await expect('payments', ['payments', PAYMENTS])
  await expect('PayMents', ['payments', PAYMENTS])
  await expect('yments', ['payments', PAYMENTS]) // the Latin part, as before
  await expect('app', ['app', APP])
  await expect('paypal', ['paypal', PAYPAL])
  await expect('cop', [])
  await expect(PAYMENTS, [PAYMENTS]) // as stored
  t.deepEqual(problems, [])
})

browserTest(`of 10,000 names in the browser, the 2,500 that mix Latin and Cyrillic are marked and no other (the time it takes is logged)${skipped}`, async t => {
  if (pw === undefined) return
  const { d } = await staticNode(t, '127.0.43.52', 'ui-lookalike-cost', [entry('web', 9001)])
  const { page, problems } = await openPage(t, d.url('/'), 1)
  const figures = await page.evaluate(async () => {
    const { Model } = await import('/ui/js/model.js' as string) as { Model: new () => { applySnapshot: (doc: unknown) => void, lookalike: (n: string) => unknown } }
    const { lookalikeOf } = await import('/ui/js/lookalike.js' as string) as { lookalikeOf: (n: string) => unknown }
    const { serviceName, visible } = await import('/ui/js/render.js' as string) as { serviceName: (n: string, l: unknown) => unknown[], visible: (n: string, v: boolean) => unknown[] }
    // a quarter each: ASCII, Cyrillic, Latin and Cyrillic, and the ASCII names the third quarter reads as
    const kinds = [(i: number) => `svc-${i}`, (i: number) => `\u0441\u0435\u0440\u0432\u0438\u0441-${i}`, (i: number) => `\u0440\u0430yments-${i}`, (i: number) => `payments-${i}`]
    const names = Array.from({ length: 10_000 }, (_, i) => kinds[i % 4](Math.floor(i / 4)))
    const doc = (list: string[]): unknown => ({ Services: { x: list.map((Name, i) => ({ Name, Hostname: 'h', ID: `i${i}`, Status: 0 })) } })
    /** The fastest of 5 runs of `f`, in ms. */
    const time = (f: () => void): number => Math.min(...Array.from({ length: 5 }, () => { const t0 = performance.now(); f(); return performance.now() - t0 }))
    const ascii = doc(names.map((_, i) => `svc-${i}`))
    const mixedDoc = doc(names)
    const mixed = new Model()
    mixed.applySnapshot(mixedDoc)
    let marked = 0
    for (const n of names) if (mixed.lookalike(n) !== undefined) marked++
    return {
      markMs: time(() => { for (const n of names) lookalikeOf(n) }),
      asciiSnapshotMs: time(() => { new Model().applySnapshot(ascii) }),
      snapshotMs: time(() => { new Model().applySnapshot(mixedDoc) }),
      lookupMs: time(() => { for (const n of names) mixed.lookalike(n) }),
      visibleMs: time(() => { for (const n of names) visible(n, true) }),
      drawMs: time(() => { for (const n of names) serviceName(n, mixed.lookalike(n)) }),
      marked,
    }
  })
  const ms = (x: number): string => `${x.toFixed(1)} ms`
  t.log(`10,000 names (a quarter each ASCII, Cyrillic, Latin+Cyrillic, and the ASCII names those read as), fastest of 5: each name checked ${ms(figures.markMs)}; a snapshot of 10,000 records by those names ${ms(figures.snapshotMs)} (by ASCII names ${ms(figures.asciiSnapshotMs)}); every name's mark looked up ${ms(figures.lookupMs)}; every name's nodes built ${ms(figures.drawMs)} (without marks ${ms(figures.visibleMs)})`)
  t.is(figures.marked, 2500, 'each Latin+Cyrillic name, and no other')
  t.deepEqual(problems, [])
})
