/// <reference lib="dom" />
// The writes a page of another site can send besides fetch and forms (api-security-browser
// covers those): navigator.sendBeacon (a POST without pre-flight: text/plain, a form's type; a
// Blob of another type gets a pre-flight, which grants nothing) and the ping of a link (<a ping>, a POST of text/ping when the link is followed),
// in real headless Chromium. A daemon without a token on 127.0.63.20:7777, the attacker's page
// on 127.0.63.21:8000. Each is refused with 403 (counted as cross_origin); the instance stays
// ALIVE. A regression test: this held before it (c5511c7), Chromium sends Sec-Fetch-Site:
// cross-site with both.
import test from 'ava'
import http from 'node:http'
import { CHROMIUM, CHROMIUM_ARGS, missing, pw, staticNode } from '../helpers/chromium.ts'
import { waitFor } from '../helpers/wait.ts'

const browserTest = missing === undefined ? test : test.skip

function attackerPage (drain: string): string {
  return `<!doctype html><html><body><a id="link" ping="${drain}" href="/followed">prize</a><script>
navigator.sendBeacon('${drain}', 'x')
navigator.sendBeacon('${drain}', new URLSearchParams({ a: '1' }))
setTimeout(() => { document.getElementById('link').click() }, 300)
</script></body></html>`
}

browserTest(`sendBeacon and a link's ping from another site cannot drain${missing !== undefined ? ` (skipped: needs ${missing})` : ''}`, async t => {
  const { d } = await staticNode(t, '127.0.63.20', 'beacon-20', [{ Service: { Name: 'web', Image: 'web:1', Ports: [{ Type: 'tcp', Port: 9001, ServicePort: 0 }] }, Check: { Type: 'AlwaysSuccessful' } }], [], { PROXY_ENABLED: 'false' })
  const svc = await waitFor(async () => (await d.json<{ Services: Record<string, Array<{ ID: string, Status: number }>> }>('/services.json')).Services.web?.[0], { message: 'web listed' })
  const drain = d.url(`/api/services/${svc.ID}/drain`)
  const followed: string[] = []
  const server = http.createServer((req, res) => {
    if (req.url === '/followed') followed.push(req.url)
    res.writeHead(200, { 'Content-Type': 'text/html' })
    res.end(req.url === '/' ? attackerPage(drain) : 'followed')
  })
  await new Promise<void>(resolve => { server.listen(8000, '127.0.63.21', resolve) })
  t.teardown(() => { server.closeAllConnections(); server.close() })
  if (pw === undefined) throw new Error('no playwright')
  const b = await pw.chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS })
  t.teardown(async () => { await b.close() })
  const page = await b.newPage()
  await page.goto('http://127.0.63.21:8000/')
  await waitFor(() => followed.length > 0, { message: 'the link was followed (its ping sent)' })
  const refused = async (): Promise<number> => Number(/^sidecar_api_rejected_requests_total\{reason="cross_origin"\} (\d+)$/m.exec(await (await fetch(d.url('/metrics'))).text())?.[1] ?? 0)
  // two beacons and one ping, each refused
  await waitFor(async () => await refused() >= 3, { timeoutMs: 10_000, message: 'three refused writes' }).catch(() => {})
  const after = (await d.json<{ Services: Record<string, Array<{ ID: string, Status: number }>> }>('/services.json')).Services.web[0]
  t.is(after.ID, svc.ID)
  t.is(after.Status, 0, 'the instance is NOT drained')
  t.is(await refused(), 3)
})
