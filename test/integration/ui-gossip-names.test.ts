/// <reference lib="dom" />
// The web UI in headless Chromium with names a hostile cluster member announces by gossip (the
// project's own rogue member, test/helpers/rogue.ts) that the static file refuses: an empty
// one. (A member's hostname is visible ASCII: gossip/node.ts hostnameOfAgent.) Daemon on
// 127.0.43.40, the rogue on 127.0.43.41.
import test from 'ava'
import { makeService, ServiceStatus, Time } from '../../src/service/index.ts'
import { CHROMIUM, CHROMIUM_ARGS, missing, pw, staticNode } from '../helpers/chromium.ts'
import { startRogue } from '../helpers/rogue.ts'
import { waitFor } from '../helpers/wait.ts'

const browserTest = missing === undefined ? test : test.skip
const skipped = missing !== undefined ? ` (skipped: needs ${missing})` : ''

browserTest(`gossip: an empty service name is shown as one, not as a blank title, and its details say why explain cannot be asked for it${skipped}`, async t => {
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
  t.regex(await nameless.locator('.explain-error').innerText(), /cannot carry the name ""/)
  t.deepEqual(problems, [])
})
