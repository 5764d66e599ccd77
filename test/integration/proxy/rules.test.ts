// Site failover, port conflicts, retry rules by method, timeouts, 5xx ejection and the access log.
import test from 'ava'
import http from 'node:http'
import net from 'node:net'
import { ServiceStatus, Time } from '../../../src/service/index.ts'
import { getJson, httpBackend } from '../../helpers/backends.ts'
import { harness, instance, proxyConfig, waitListening } from './setup.ts'

const IP = '127.0.3.28'

test('sites: traffic stays in the own site until its last instance dies, then moves, and comes back', async (t) => {
  const SP = 18301
  const [eu1, eu2, us] = await Promise.all([httpBackend('eu1', '127.0.3.29'), httpBackend('eu2', '127.0.3.29'), httpBackend('us', '127.0.3.30')])
  t.teardown(async () => { await eu1.close(); await eu2.close(); await us.close() })
  const h = await harness(t, { site: 'eu-1a', proxy: proxyConfig(IP, { site_failover: true, site_order: ['us-1a'] }) })
  const put = (b: typeof eu1, site: string, status: ServiceStatus = ServiceStatus.ALIVE): void => { h.put(instance('geo', `host-${b.name}`, b.ip, b.port, SP, { Site: site, Status: status })) }
  put(eu1, 'eu-1a'); put(eu2, 'eu-1a'); put(us, 'us-1a')
  await h.settle()
  await waitListening(h, SP)
  const who = async (n: number): Promise<string[]> => {
    const out = new Set<string>()
    for (let i = 0; i < n; i++) out.add((await getJson(`http://${IP}:${SP}/`)).body.backend as string)
    return [...out].sort()
  }
  t.deepEqual(await who(10), ['eu1', 'eu2'])
  put(eu1, 'eu-1a', ServiceStatus.UNHEALTHY)
  await h.settle()
  t.deepEqual(await who(10), ['eu2'], 'one eu instance left: still eu')
  put(eu2, 'eu-1a', ServiceStatus.UNHEALTHY)
  await h.settle()
  t.deepEqual(await who(10), ['us'], 'eu has none: fails over to us-1a')
  put(eu1, 'eu-1a', ServiceStatus.ALIVE)
  await h.settle()
  t.deepEqual(await who(10), ['eu1'], 'back home when an eu instance recovers')
})

test('conflict: the older name keeps the port, the conflict shows in the report, and a 503 names it', async (t) => {
  const SP = 18302
  const [a, b] = await Promise.all([httpBackend('old', '127.0.3.29'), httpBackend('young', '127.0.3.30')])
  t.teardown(async () => { await a.close(); await b.close() })
  const h = await harness(t, { proxy: proxyConfig(IP) })
  h.put(instance('young-svc', 'host-b', b.ip, b.port, SP, { Created: Time.parse('2024-06-01T00:00:00Z') }))
  h.put(instance('old-svc', 'host-a', a.ip, a.port, SP, { Created: Time.parse('2024-01-01T00:00:00Z') }))
  await h.settle()
  await waitListening(h, SP)
  t.is((await getJson(`http://${IP}:${SP}/`)).body.backend, 'old')
  const report = h.proxy.report()
  t.deepEqual(report.conflicts, [{ port: SP, owner: 'old-svc', ignored: ['young-svc'] }])
  t.deepEqual(report.listeners[0].conflictsWith, ['young-svc'])
  h.put(instance('old-svc', 'host-a', a.ip, a.port, SP, { Status: ServiceStatus.UNHEALTHY }))
  await h.settle()
  const r = await getJson(`http://${IP}:${SP}/`)
  t.is(r.status, 503)
  t.like(r.body, { reason: 'port conflict', service: 'old-svc' })
  t.regex(r.body.message as string, /young-svc/)
})

async function post (url: string, body: string): Promise<number> {
  return await new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { 'content-length': Buffer.byteLength(body) }, agent: false }, (res) => { res.resume(); resolve(res.statusCode ?? 0) })
    req.on('error', reject)
    req.end(body)
  })
}

test('retries: a POST is retried after a refused connect, but not after a reset once its body was sent', async (t) => {
  const SP = 18303
  const good = await httpBackend('good', '127.0.3.29')
  // accepts, reads the request, then resets the connection before answering
  const resetter = net.createServer((s) => { s.once('data', () => { s.resetAndDestroy() }) })
  await new Promise<void>(resolve => resetter.listen(0, '127.0.3.30', resolve))
  const resetPort = (resetter.address() as net.AddressInfo).port
  const probe = net.createServer()
  await new Promise<void>(resolve => probe.listen(0, '127.0.3.30', resolve))
  const deadPort = (probe.address() as net.AddressInfo).port
  await new Promise<void>(resolve => probe.close(() => { resolve() }))
  t.teardown(async () => { await good.close(); resetter.close() })
  const h = await harness(t, { proxy: proxyConfig(IP) })
  // sorted by key: host-a (dead), host-b (good)
  h.put(instance('post', 'host-a', '127.0.3.30', deadPort, SP))
  h.put(instance('post', 'host-b', good.ip, good.port, SP))
  await h.settle()
  await waitListening(h, SP)
  t.is(await post(`http://${IP}:${SP}/`, 'payload'), 200, 'refused connect: nothing was sent, retried')
  t.is(h.proxy.report().listeners[0].totals.retries, 1)

  const SP2 = 18304
  h.put(instance('post2', 'host-a', '127.0.3.30', resetPort, SP2))
  h.put(instance('post2', 'host-b', good.ip, good.port, SP2))
  await h.settle()
  await waitListening(h, SP2)
  t.is(await post(`http://${IP}:${SP2}/`, 'payload'), 502, 'reset after the body went out: not retried')
  const hits = good.hits
  t.is((await getJson(`http://${IP}:${SP2}/`)).status, 200, 'a GET after a reset is retried')
  t.is(good.hits, hits + 1)
})

test('timeouts: a request with no response head within request_timeout gets 504', async (t) => {
  const SP = 18305
  const b = await httpBackend('slow', '127.0.3.29')
  t.teardown(async () => { await b.close() })
  const h = await harness(t, { proxy: proxyConfig(IP, { request_timeout: 300 }) })
  h.put(instance('slow', 'host-a', b.ip, b.port, SP))
  await h.settle()
  await waitListening(h, SP)
  const t0 = Date.now()
  const r = await getJson(`http://${IP}:${SP}/slow?ms=3000`)
  t.is(r.status, 504)
  t.true(Date.now() - t0 < 2500)
  t.is((await getJson(`http://${IP}:${SP}/slow?ms=10`)).status, 200)
})

test('5xx: with eject_after_5xx, consecutive 5xx eject a backend; responses pass through unchanged', async (t) => {
  const SP = 18306
  const [a, b] = await Promise.all([httpBackend('a', '127.0.3.29'), httpBackend('b', '127.0.3.30')])
  t.teardown(async () => { await a.close(); await b.close() })
  const h = await harness(t, { proxy: proxyConfig(IP, { eject_after_5xx: 2 }) })
  h.put(instance('five', 'host-a', a.ip, a.port, SP))
  h.put(instance('five', 'host-b', b.ip, b.port, SP))
  await h.settle()
  await waitListening(h, SP)
  // round robin a, b, a, b: a's two 500s in a row eject it
  const statuses = []
  for (let i = 0; i < 4; i++) statuses.push((await getJson(`http://${IP}:${SP}/status/500`)).status)
  t.deepEqual(statuses, [500, 500, 500, 500], 'no retry on a 5xx')
  t.deepEqual(h.proxy.report().listeners[0].backends.map(x => x.state), ['ejected', 'active'], 'half the pool at most: only the first')
})

test('access log: one text line per request with service, backend, method, path, status, bytes, duration and retries', async (t) => {
  const SP = 18307
  const b = await httpBackend('logged', '127.0.3.29')
  t.teardown(async () => { await b.close() })
  const h = await harness(t, { proxy: proxyConfig(IP, { access_log: 'text' }) })
  h.put(instance('logged', 'host-a', b.ip, b.port, SP))
  await h.settle()
  await waitListening(h, SP)
  await getJson(`http://${IP}:${SP}/path?q=1`)
  await new Promise(resolve => setTimeout(resolve, 50))
  t.is(h.access.length, 1)
  t.regex(h.access[0], new RegExp(`^\\S+Z logged:${SP} 127\\.0\\.0\\.1 -> 127\\.0\\.3\\.29:${b.port} "GET /path\\?q=1" 200 \\d+B [\\d.]+ms retries=0\\n$`))
})
