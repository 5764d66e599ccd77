// /metrics against the label values a hostile member chooses, on a real daemon (alpha,
// 127.0.38.1) and a rogue member (127.0.38.9, test/helpers/rogue.ts) that publishes signed
// records of its own host: service names with quotes, backslashes, newlines, NUL and lone
// surrogates, each on a ServicePort of its own, so alpha's proxy opens a listener (and a set of
// series) for each. The page stays valid for `promtool check metrics`, each name keeps series
// of its own, and the series go when the rogue renames its services or leaves.
import { writeFile } from 'node:fs/promises'
import test, { type ExecutionContext } from 'ava'
import { encodeRecords, KIND, WIRE_LIMITS } from '../../src/gossip/wire.ts'
import { makeService, ServiceStatus, Time, type Service } from '../../src/service/index.ts'
import { httpBackend } from '../helpers/backends.ts'
import { makeCluster, startAll, type ClusterNode } from '../helpers/cluster.ts'
import { HAVE_PROMTOOL, promtool } from '../helpers/promtool.ts'
import { startRogue, type Rogue, untilMember } from '../helpers/rogue.ts'
import { sleep, waitFor } from '../helpers/wait.ts'

const CLUSTER = 'metrics-hostile'
if (!HAVE_PROMTOOL) console.log('promtool checks skipped: promtool is missing (Debian: apt-get install prometheus; .ci/run does)')


async function page (n: ClusterNode): Promise<string> {
  return await (await fetch(n.d.url('/metrics'), { signal: AbortSignal.timeout(10_000) })).text()
}

/** The lines of a page for one family and label prefix. */
function series (text: string, name: string, labels: string): string[] {
  return text.split('\n').filter(l => l.startsWith(`${name}{${labels}`))
}

/** The rogue's records, ALIVE now, each named names[i] on ServicePort firstPort + i, its backend on the rogue's address. */
async function announce (rogue: Rogue, names: readonly string[], firstPort: number, backendPort: number, ip: string): Promise<void> {
  const now = Time.fromMillis(Date.now())
  const records: Service[] = names.map((Name, i) => makeService({
    ID: `r${i}`, Name, Image: 'x:1', Hostname: 'rogue', Created: Time.fromMillis(Date.now() - 1000), Updated: now, Status: ServiceStatus.ALIVE,
    Ports: [{ Type: 'tcp', Port: backendPort, ServicePort: firstPort + i, IP: ip }],
  }))
  for (const m of encodeRecords(records.map(r => rogue.sign(r)), KIND.records, WIRE_LIMITS.maxMessageBytes)) await rogue.publish(m)
}

async function proxied (n: ClusterNode): Promise<Array<{ service: string, port: number }>> {
  return (await n.d.json<{ listeners: Array<{ service: string, port: number }> }>('/api/proxy.json')).listeners
}

/** alpha with its own service "web" on ServicePort 18080, and the rogue a member of its cluster. */
async function alphaAndRogue (t: ExecutionContext, net: string): Promise<{ alpha: ClusterNode, rogue: Rogue, backendPort: number }> {
  const [alpha] = await makeCluster(t, [{ ip: `${net}1`, hostname: 'alpha', args: ['-n', CLUSTER, '-c', `${net}1`] }])
  const web = await httpBackend('web', `${net}1`)
  const evil = await httpBackend('evil', `${net}9`)
  t.teardown(async () => { await Promise.all([web.close(), evil.close()]) })
  await writeFile(alpha.staticFile, JSON.stringify([{ Service: { Name: 'web', Image: 'web:1', Ports: [{ Type: 'tcp', Port: web.port, ServicePort: 18080, IP: `${net}1` }] }, Check: { Type: 'AlwaysSuccessful' } }]))
  alpha.services = ['web']
  await startAll([alpha])
  const rogue = await startRogue(t, { ip: `${net}9`, hostname: 'rogue', clusterName: CLUSTER })
  await rogue.join(`${net}1`)
  await untilMember(alpha.d, 'rogue')
  await waitFor(async () => (await proxied(alpha)).some(l => l.port === 18080), { timeoutMs: 15_000, message: 'alpha proxies web on 18080' })
  return { alpha, rogue, backendPort: evil.port }
}

/** Names a member may give: the exposition's own syntax, NUL, lone surrogates, and "web" with web's port after a NUL. */
const HOSTILE = ['web\u000018080', 'a"b', 'back\\slash', 'new\nline', 'lone\ud800', '\udc00x', '}{,=# HELP', 'é🙂', 'n'.repeat(253)]

test('metrics: hostile service names of a member stay valid for promtool, each under its own name, none counted as another service', async t => {
  t.timeout(120_000)
  const { alpha, rogue, backendPort } = await alphaAndRogue(t, '127.0.38.')
  await announce(rogue, HOSTILE, 18081, backendPort, '127.0.38.9')
  await waitFor(async () => (await proxied(alpha)).length === 1 + HOSTILE.length, { timeoutMs: 20_000, message: 'alpha proxies each of the rogue\'s names' })
  // five requests to the listener of "web\0" + "18080" on 18081; none to web
  for (let i = 0; i < 5; i++) t.is((await fetch('http://127.0.38.1:18081/', { signal: AbortSignal.timeout(5000) })).status, 200)
  const text = await waitFor(async () => { const p = await page(alpha); return series(p, 'sidecar_proxy_requests_total', 'service="web\u000018080",port="18081"').length > 0 && p }, { timeoutMs: 10_000, message: 'the requests are counted' })

  t.deepEqual(series(text, 'sidecar_proxy_requests_total', 'service="web",'), [], 'web served no request')
  t.deepEqual(series(text, 'sidecar_proxy_request_duration_seconds_count', 'service="web",'), ['sidecar_proxy_request_duration_seconds_count{service="web",port="18080"} 0'])
  t.deepEqual(series(text, 'sidecar_proxy_requests_total', 'service="web\u000018080",port="18081"'), ['sidecar_proxy_requests_total{service="web\u000018080",port="18081",code="2xx"} 5'])
  const escaped: Record<string, string> = { 'a"b': 'a\\"b', 'back\\slash': 'back\\\\slash', 'new\nline': 'new\\nline', 'lone\ud800': 'lone\ufffd', '\udc00x': '\ufffdx' }
  HOSTILE.forEach((name, i) => {
    const label = `service="${escaped[name] ?? name}",port="${18081 + i}"`
    t.is(series(text, 'sidecar_proxy_in_flight', label).length, 1, `${JSON.stringify(name)}: ${label}`)
    t.is(series(text, 'sidecar_proxy_request_duration_seconds_bucket', label).length, 15, `${JSON.stringify(name)}: its 15 buckets`)
  })
  const lines = text.split('\n').filter(l => l !== '' && !l.startsWith('#'))
  t.is(new Set(lines.map(l => l.slice(0, l.lastIndexOf(' ')))).size, lines.length, 'no series twice')
  if (HAVE_PROMTOOL) {
    const r = await promtool(text)
    t.is(r.output.trim(), '', r.output)
    t.is(r.code, 0)
  }
})

test('metrics: the series of a member\'s services go when it renames them, and when it leaves', async t => {
  t.timeout(150_000)
  const { alpha, rogue, backendPort } = await alphaAndRogue(t, '127.0.38.2')
  const count = 40
  const proxySeries = (p: string): string[] => p.split('\n').filter(l => l.startsWith('sidecar_proxy_') && l.includes('port="19'))
  // renamed every 500 ms for 10 s: 20 sets of names on the same 40 ports
  let round = 0
  for (const until = Date.now() + 10_000; Date.now() < until; round++) {
    await announce(rogue, Array.from({ length: count }, (_, i) => `churn-${round}-${i}`), 19_000, backendPort, '127.0.38.29')
    await sleep(500)
  }
  const last = round - 1
  await waitFor(async () => (await proxied(alpha)).filter(l => l.service.startsWith(`churn-${last}-`)).length === count, { timeoutMs: 30_000, message: 'the last names are proxied' })
  const after = await waitFor(async () => { const p = await page(alpha); return proxySeries(p).every(l => l.includes(`service="churn-${last}-`)) && p }, { timeoutMs: 30_000, message: 'only the last names have series' })
  t.is(proxySeries(after).filter(l => l.startsWith('sidecar_proxy_in_flight')).length, count)
  t.log(`${round} rounds of ${count} names: ${proxySeries(after).length} proxy series after`)

  await rogue.node.stop()
  await waitFor(async () => (await proxied(alpha)).every(l => l.port === 18080), { timeoutMs: 60_000, message: 'the rogue\'s listeners closed once it left' })
  await waitFor(async () => proxySeries(await page(alpha)).length === 0, { timeoutMs: 15_000, message: 'no series of the rogue\'s services' })
  t.regex(await page(alpha), /sidecar_proxy_in_flight\{service="web",port="18080"\} 0/)
})
