/// <reference lib="dom" />
// A daemon that hangs (SIGSTOP here) keeps the page's event stream open and sends nothing: the
// page must say, within a few heartbeat intervals, that what it shows is not current, follow the
// daemon again once it resumes, and not cry wolf over a daemon that is merely quiet or slow.
// Daemons on 127.0.57.1-2, with a 1 s heartbeat (so the page's bound is its 3 s floor).
import test, { type ExecutionContext } from 'ava'
import type { Browser, Page } from 'playwright-core'
import { CHROMIUM, CHROMIUM_ARGS, missing, pw, staticNode } from '../helpers/chromium.ts'
import { waitFor } from '../helpers/wait.ts'

const browserTest = missing === undefined ? test : test.skip
const skipped = missing !== undefined ? ` (skipped: needs ${missing})` : ''
const HEARTBEAT = { API_HEARTBEAT_INTERVAL: '1s' }

function entry (name: string, ip: string, port: number): unknown {
  return { Service: { ID: `${name}-1`, Name: name, Image: `registry.example/${name}:1.0`, Ports: [{ Type: 'tcp', Port: port, ServicePort: port - 10000, IP: ip }] }, Check: { Type: 'AlwaysSuccessful' } }
}

async function page (t: ExecutionContext, url: string): Promise<Page> {
  if (pw === undefined) throw new Error('no playwright')
  const b: Browser = await pw.chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS })
  t.teardown(async () => { await b.close() })
  const p = await b.newPage()
  await p.goto(url)
  await p.locator('#conn.conn-live').waitFor()
  await waitFor(async () => await p.locator('section.service').count() === 3 || undefined, { message: '3 panels' })
  return p
}

browserTest(`a page whose daemon hangs says within 3 heartbeats that what it shows is not current, and follows the daemon again once it resumes${skipped}`, async t => {
  const ip = '127.0.57.1'
  const { d } = await staticNode(t, ip, 'ui-hung', ['web', 'api', 'db'].map((n, i) => entry(n, ip, 29001 + i)), [], HEARTBEAT)
  t.teardown(() => { d.child.kill('SIGCONT') })
  const p = await page(t, d.url('/'))
  await p.waitForTimeout(1500) // a heartbeat or two: the page knows the interval

  const stopped = Date.now()
  d.child.kill('SIGSTOP')
  await p.locator('#notice', { hasText: 'not current' }).waitFor({ timeout: 6000 })
  const after = Date.now() - stopped
  t.log(`said after ${after} ms`)
  t.true(after <= 5000, `said within 3 s of the last heartbeat, a second of grace (${after} ms after the stop)`)
  t.regex(await p.locator('#notice').innerText(), /^No word from ui-hung since .+: the daemon may be hung, and what is shown is not current\. Reconnecting…$/)
  t.regex(await p.locator('#conn').innerText(), /^no word since /)
  t.true(await p.locator('#conn.conn-offline').count() === 1, 'the pill says offline')
  await p.waitForTimeout(3000) // still hung: still said
  t.regex(await p.locator('#conn').innerText(), /^no word since /)

  d.child.kill('SIGCONT')
  await p.locator('#conn.conn-live').waitFor({ timeout: 10_000 })
  await p.locator('#notice').waitFor({ state: 'hidden', timeout: 5000 })
  // followed again: a drain made after the resume reaches the page
  t.is((await fetch(d.url('/api/services/api-1/drain'), { method: 'POST' })).status, 202)
  await p.locator('[data-service="api"] .badge.s-draining').waitFor({ timeout: 10_000 })
  t.is(await p.locator('#conn').innerText(), 'live')
})

browserTest(`a daemon that sends heartbeats but no change, or is paused for less than the bound now and then, stays "live"${skipped}`, async t => {
  const ip = '127.0.57.2'
  const { d } = await staticNode(t, ip, 'ui-quiet', ['web', 'api', 'db'].map((n, i) => entry(n, ip, 29001 + i)), [], HEARTBEAT)
  t.teardown(() => { d.child.kill('SIGCONT') })
  const p = await page(t, d.url('/'))
  const states: string[] = []
  const sample = async (ms: number): Promise<void> => {
    for (const end = Date.now() + ms; Date.now() < end;) {
      states.push(await p.evaluate(() => `${document.getElementById('conn')?.textContent ?? ''}|${document.getElementById('notice')?.hidden === true ? '' : 'notice'}`))
      await p.waitForTimeout(100)
    }
  }
  await sample(5000) // 5 heartbeats, no change
  for (let i = 0; i < 3; i++) { // slow: 1.2 s without a word, three times
    d.child.kill('SIGSTOP')
    await sample(1200)
    d.child.kill('SIGCONT')
    await sample(1500)
  }
  t.true(states.length > 50, `${states.length} samples`)
  t.deepEqual([...new Set(states)], ['live|'], 'live throughout, no notice')
})
