/// <reference lib="dom" />
// The web UI as a tab left open for long, in headless Chromium (its clock run forward by
// playwright): what the daemon forgets, the page forgets too. Daemon on 127.0.48.23.
import test from 'ava'
import { CHROMIUM, CHROMIUM_ARGS, missing, pw, staticNode } from '../helpers/chromium.ts'
import { waitFor } from '../helpers/wait.ts'

const browserTest = missing === undefined ? test : test.skip

function entry (name: string, port: number): unknown {
  return { Service: { Name: name, Image: `${name}:1`, Ports: [{ Type: 'tcp', Port: port, ServicePort: port - 1000 }] }, Check: { Type: 'AlwaysSuccessful' } }
}

browserTest(`a tombstone the daemon has forgotten leaves the open page within minutes, not at the next reload${missing !== undefined ? ` (skipped: needs ${missing})` : ''}`, async t => {
  if (pw === undefined) return
  const { d, write } = await staticNode(t, '127.0.48.23', 'ui-long', [entry('one', 9001), entry('two', 9002)], [], { SIDECAR_TOMBSTONE_LIFESPAN: '10s' })
  const b = await pw.chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS })
  t.teardown(async () => { await b.close() })
  const page = await b.newPage()
  await page.clock.install()
  await page.goto(d.url('/'))
  await page.locator('#hide-tombstones').uncheck()
  await page.locator('[data-service="two"] tr[data-status="Alive"]').waitFor({ timeout: 15_000 })

  await write([entry('one', 9001)]) // two leaves discovery: a tombstone, forgotten 10 s later
  await page.locator('[data-service="two"] table.groups tr[data-status="Tombstone"]').waitFor({ timeout: 15_000 })
  await waitFor(async () => (await d.json<{ Services: Record<string, unknown> }>('/api/services.json')).Services.two === undefined || undefined, { timeoutMs: 30_000, message: 'the daemon forgets the tombstone of two' })
  t.is(await page.locator('[data-service="two"]').count(), 1, 'the page still lists it: no event says a tombstone was forgotten')

  await page.clock.fastForward('06:00') // the tab stays open 6 minutes more
  await page.locator('[data-service="two"]').waitFor({ state: 'detached', timeout: 10_000 })
  t.is(await page.locator('[data-service="one"] tr[data-status="Alive"]').count(), 1)
})
