/// <reference lib="dom" />
// The web UI as a tab left open while things go wrong, in headless Chromium: what the daemon
// forgets the page forgets too (its clock run forward by playwright), and a refused event
// stream is explained and recovered from. Daemons on 127.0.48.23 and 127.0.48.24.
import test from 'ava'
import { CHROMIUM, CHROMIUM_ARGS, missing, pw, staticNode } from '../helpers/chromium.ts'
import { waitFor } from '../helpers/wait.ts'

const browserTest = missing === undefined ? test : test.skip

function entry (name: string, port: number): unknown {
  return { Service: { Name: name, Image: `${name}:1`, Ports: [{ Type: 'tcp', Port: port, ServicePort: port - 1000 }] }, Check: { Type: 'AlwaysSuccessful' } }
}

browserTest(`a tombstone the daemon has forgotten leaves the open page within minutes, not at the next reload${missing !== undefined ? ` (skipped: needs ${missing})` : ''}`, async t => {
  if (pw === undefined) return
  t.timeout(240_000) // the tombstone is kept 70 s
  const { d, write } = await staticNode(t, '127.0.48.23', 'ui-long', [entry('one', 9001), entry('two', 9002)], [], { SIDECAR_TOMBSTONE_LIFESPAN: '10s' })
  const b = await pw.chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS })
  t.teardown(async () => { await b.close() })
  const page = await b.newPage()
  await page.clock.install()
  await page.goto(d.url('/'))
  await page.locator('#hide-tombstones').uncheck()
  await page.locator('[data-service="two"] tr[data-status="Alive"]').waitFor({ timeout: 15_000 })

  await write([entry('one', 9001)]) // two leaves discovery: a tombstone, forgotten 70 s later (the lifespan + the stale check's 1 min)
  await page.locator('[data-service="two"] table.groups tr[data-status="Tombstone"]').waitFor({ timeout: 15_000 })
  await waitFor(async () => (await d.json<{ Services: Record<string, unknown> }>('/api/services.json')).Services.two === undefined || undefined, { timeoutMs: 120_000, message: 'the daemon forgets the tombstone of two' })
  t.is(await page.locator('[data-service="two"]').count(), 1, 'the page still lists it: no event says a tombstone was forgotten')

  await page.clock.fastForward('06:00') // the tab stays open 6 minutes more
  await page.locator('[data-service="two"]').waitFor({ state: 'detached', timeout: 10_000 })
  t.is(await page.locator('[data-service="one"] tr[data-status="Alive"]').count(), 1)
})

browserTest(`a refused event stream (503 at max_stream_clients) is explained on the page, which goes live by itself once a place is free${missing !== undefined ? ` (skipped: needs ${missing})` : ''}`, async t => {
  if (pw === undefined) return
  const { d } = await staticNode(t, '127.0.48.24', 'ui-full', [entry('one', 9001)], [], { API_MAX_STREAM_CLIENTS: '1' })
  const holder = new AbortController()
  t.teardown(() => { holder.abort() })
  const held = await fetch(d.url('/api/events'), { signal: holder.signal }) // the one stream place
  t.is(held.status, 200)
  const b = await pw.chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS })
  t.teardown(async () => { await b.close() })
  const page = await b.newPage()
  await page.goto(d.url('/'))
  await page.locator('#notice', { hasText: 'max_stream_clients' }).waitFor({ timeout: 15_000 })
  t.regex(await page.locator('#notice').innerText(), /refuses the live updates \(HTTP 503\)[\s\S]*not current/)
  t.is(await page.locator('#conn').innerText(), 'offline')

  holder.abort() // the place is freed: the page connects by itself and the notice goes
  await page.locator('#conn.conn-live').waitFor({ timeout: 20_000 })
  await page.locator('[data-service="one"]').waitFor()
  t.false(await page.locator('#notice').isVisible())
})
