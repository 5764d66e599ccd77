// The http mode end to end in one process: real backends on several "hosts", a real
// catalog, requests over real sockets.
import test from 'ava'
import { ServiceStatus } from '../../../src/service/index.ts'
import { getJson, httpBackend } from '../../helpers/backends.ts'
import { waitFor } from '../../helpers/wait.ts'
import { harness, instance, proxyConfig, waitListening } from './setup.ts'

const IP = '127.0.3.20'

test('http: round robin spreads 300 requests evenly over instances on three hosts, with X-Forwarded headers', async (t) => {
  const SP = 18101
  const backends = await Promise.all(['a', 'b', 'c'].map(async (n, i) => await httpBackend(n, `127.0.3.${21 + i}`)))
  t.teardown(async () => { await Promise.all(backends.map(async b => { await b.close() })) })
  const h = await harness(t, { proxy: proxyConfig(IP) })
  for (const b of backends) h.put(instance('web', `host-${b.name}`, b.ip, b.port, SP))
  await h.settle()
  await waitListening(h, SP)
  const seen: Record<string, number> = {}
  for (let i = 0; i < 300; i++) {
    const r = await getJson(`http://${IP}:${SP}/hello`)
    t.is(r.status, 200)
    seen[r.body.backend as string] = (seen[r.body.backend as string] ?? 0) + 1
  }
  t.deepEqual(seen, { a: 100, b: 100, c: 100 })
  const headers = backends[0].lastHeaders
  t.is(headers['x-forwarded-for'], '127.0.0.1')
  t.is(headers['x-forwarded-proto'], 'http')
  t.is(headers['x-forwarded-host'], `${IP}:${SP}`)
  t.is(headers.host, `${IP}:${SP}`, 'Host is passed through')
  const report = h.proxy.report()
  t.is(report.listeners[0].totals.requests, 300)
  t.deepEqual(report.listeners[0].backends.map(b => [b.hostname, b.state, b.requests]), [['host-a', 'active', 100], ['host-b', 'active', 100], ['host-c', 'active', 100]])
  const text = await h.metrics.text()
  t.regex(text, /sidecar_proxy_requests_total\{service="web",port="18101",code="2xx"\} 300/)
  t.regex(text, /sidecar_proxy_request_duration_seconds_count\{service="web",port="18101"\} 300/)
  t.regex(text, /sidecar_proxy_in_flight\{service="web",port="18101"\} 0/)
})

test('http: 503 with a JSON body naming the service and why, when no instance is healthy', async (t) => {
  const SP = 18102
  const b = await httpBackend('a', '127.0.3.21')
  t.teardown(async () => { await b.close() })
  const h = await harness(t, { proxy: proxyConfig(IP) })
  h.put(instance('api', 'host-a', b.ip, b.port, SP, { Status: ServiceStatus.UNHEALTHY }))
  await h.settle()
  await waitListening(h, SP)
  const r = await getJson(`http://${IP}:${SP}/`)
  t.is(r.status, 503)
  t.like(r.body, { service: 'api', port: SP, reason: 'no healthy instance', status: 'error' })
  t.regex(r.body.message as string, /no backend available for api on port 18102/)
  t.is(b.hits, 0)
  h.put(instance('api', 'host-a', b.ip, b.port, SP, { Status: ServiceStatus.ALIVE }))
  await h.settle()
  t.is((await getJson(`http://${IP}:${SP}/`)).status, 200, 'serves again once the instance is ALIVE')
})

test('http: a listener closes when its last instance is tombstoned and reopens when one comes back', async (t) => {
  const SP = 18103
  const b = await httpBackend('a', '127.0.3.21')
  t.teardown(async () => { await b.close() })
  const h = await harness(t, { proxy: proxyConfig(IP, { drain_grace: 200 }) })
  h.put(instance('gone', 'host-a', b.ip, b.port, SP))
  await h.settle()
  await waitListening(h, SP)
  h.put(instance('gone', 'host-a', b.ip, b.port, SP, { Status: ServiceStatus.TOMBSTONE }))
  await h.settle()
  t.deepEqual(h.proxy.listeners().map(l => l.port), [])
  await t.throwsAsync(fetch(`http://${IP}:${SP}/`, { signal: AbortSignal.timeout(2000) }))
  h.put(instance('gone', 'host-a', b.ip, b.port, SP, { Status: ServiceStatus.ALIVE }))
  await h.settle()
  await waitListening(h, SP)
  t.is((await getJson(`http://${IP}:${SP}/`)).status, 200)
})

test('http: a killed backend mid-load loses no GET, is ejected at once, and gets no more traffic', async (t) => {
  const SP = 18104
  const backends = await Promise.all(['a', 'b', 'c'].map(async (n, i) => await httpBackend(n, `127.0.3.${21 + i}`)))
  t.teardown(async () => { await Promise.all(backends.map(async b => { await b.close() })) })
  const h = await harness(t, { proxy: proxyConfig(IP, { ejection_base: 120_000 }) })
  // a long first ejection: on a loaded machine the load may outlast the default 10 s
  for (const b of backends) h.put(instance('kill', `host-${b.name}`, b.ip, b.port, SP))
  await h.settle()
  await waitListening(h, SP)
  const statuses: number[] = []
  let sent = 0
  const worker = async (): Promise<void> => {
    while (sent < 400) {
      sent++
      if (sent === 100) await backends[1].close()
      statuses.push((await getJson(`http://${IP}:${SP}/`)).status)
    }
  }
  await Promise.all([worker(), worker(), worker(), worker()])
  t.is(statuses.length, 400)
  t.deepEqual(statuses.filter(s => s !== 200), [], 'every request answered 200')
  const report = h.proxy.report().listeners[0]
  const dead = report.backends.find(b => b.hostname === 'host-b')
  t.is(dead?.state, 'ejected')
  t.is(dead?.status, 'Alive', 'the catalog still says ALIVE: passive health acted first')
  t.true(report.totals.retries >= 1 && report.totals.retries <= 8, `retries ${report.totals.retries}`)
  t.is(report.totals.ejections, 1)
  t.true((dead?.requests ?? 0) <= 100 + report.totals.retries, 'no requests picked the dead backend after its ejection beyond the ones that failed')
})

test('http: draining an instance stops new requests to it while its in-flight long request completes', async (t) => {
  const SP = 18105
  const [a, b] = await Promise.all([httpBackend('a', '127.0.3.21'), httpBackend('b', '127.0.3.22')])
  t.teardown(async () => { await a.close(); await b.close() })
  const h = await harness(t, { proxy: proxyConfig(IP) })
  h.put(instance('drain', 'host-a', a.ip, a.port, SP))
  h.put(instance('drain', 'host-b', b.ip, b.port, SP))
  await h.settle()
  await waitListening(h, SP)
  // round robin: the first request goes to a (sorted by key), a long one
  const long = getJson(`http://${IP}:${SP}/slow?ms=3000`)
  t.teardown(async () => { await long.catch(() => {}) })
  await waitFor(() => a.hits === 1, { timeoutMs: 5000, message: 'the long request reached a' })
  h.put(instance('drain', 'host-a', a.ip, a.port, SP, { Status: ServiceStatus.DRAINING }))
  await h.settle()
  const hitsBefore = a.hits
  for (let i = 0; i < 20; i++) t.is((await getJson(`http://${IP}:${SP}/`)).body.backend, 'b')
  t.is(a.hits, hitsBefore, 'no new request reached the draining instance')
  t.is(h.proxy.report().listeners[0].backends.find(x => x.hostname === 'host-a')?.state, 'draining')
  const r = await long
  t.is(r.status, 200)
  t.is(r.body.backend, 'a', 'the in-flight request completed on the draining instance')
})

test('http: adding and removing instances under a steady load of 2,000 requests fails none', async (t) => {
  const SP = 18106
  const backends = await Promise.all(['a', 'b', 'c', 'd'].map(async (n, i) => await httpBackend(n, `127.0.3.${21 + i}`)))
  t.teardown(async () => { await Promise.all(backends.map(async b => { await b.close() })) })
  const h = await harness(t, { proxy: proxyConfig(IP) })
  h.put(instance('churn', 'host-a', backends[0].ip, backends[0].port, SP))
  await h.settle()
  await waitListening(h, SP)
  let sent = 0
  const failures: string[] = []
  const worker = async (): Promise<void> => {
    while (sent < 2000) {
      sent++
      const r = await getJson(`http://${IP}:${SP}/slow?ms=2`)
      if (r.status !== 200) failures.push(`${r.status} ${JSON.stringify(r.body)}`)
    }
  }
  const churn = async (): Promise<void> => {
    const steps: Array<[number, ServiceStatus]> = [[1, ServiceStatus.ALIVE], [2, ServiceStatus.ALIVE], [0, ServiceStatus.DRAINING], [3, ServiceStatus.ALIVE], [1, ServiceStatus.TOMBSTONE], [2, ServiceStatus.UNHEALTHY], [2, ServiceStatus.ALIVE], [3, ServiceStatus.TOMBSTONE]]
    // a draining record stays draining (sticky against ALIVE), so c is the one left at the end
    for (const [i, status] of steps) {
      await new Promise(resolve => setTimeout(resolve, 150))
      const b = backends[i]
      h.put(instance('churn', `host-${b.name}`, b.ip, b.port, SP, { Status: status }))
    }
  }
  await Promise.all([worker(), worker(), worker(), worker(), churn()])
  t.deepEqual(failures, [])
  t.true(sent >= 2000)
  t.true(backends.every(b => b.hits > 0), `every instance served some: ${backends.map(b => b.hits).join(', ')}`)
})

test('http: a closing listener refuses new connections but lets its in-flight request finish within the grace period', async (t) => {
  const SP = 18107
  const b = await httpBackend('a', '127.0.3.21')
  t.teardown(async () => { await b.close() })
  const h = await harness(t, { proxy: proxyConfig(IP, { drain_grace: 5000 }) })
  h.put(instance('closing', 'host-a', b.ip, b.port, SP))
  await h.settle()
  await waitListening(h, SP)
  const long = getJson(`http://${IP}:${SP}/slow?ms=1500`)
  t.teardown(async () => { await long.catch(() => {}) })
  await waitFor(() => b.hits === 1, { timeoutMs: 5000, message: 'the long request reached the backend' })
  h.put(instance('closing', 'host-a', b.ip, b.port, SP, { Status: ServiceStatus.TOMBSTONE }))
  await h.settle()
  t.is(h.proxy.report().listeners[0]?.state, 'draining')
  await t.throwsAsync(fetch(`http://${IP}:${SP}/`, { signal: AbortSignal.timeout(2000) }), undefined, 'new connections are refused')
  const r = await long
  t.is(r.status, 200)
  t.is(r.body.backend, 'a')
  await waitFor(() => h.proxy.report().listeners.length === 0, { timeoutMs: 5000, message: 'the drained listener is gone' })
})

test('http: stopping the proxy cuts a draining listener at once instead of waiting for its grace period', async (t) => {
  const SP = 18108
  const b = await httpBackend('a', '127.0.3.21')
  t.teardown(async () => { await b.close() })
  const h = await harness(t, { proxy: proxyConfig(IP, { drain_grace: 60_000 }) })
  h.put(instance('stopping', 'host-a', b.ip, b.port, SP))
  await h.settle()
  await waitListening(h, SP)
  const long = getJson(`http://${IP}:${SP}/slow?ms=20000`).catch((err: unknown) => err)
  await waitFor(() => b.hits === 1, { timeoutMs: 5000, message: 'the long request reached the backend' })
  h.put(instance('stopping', 'host-a', b.ip, b.port, SP, { Status: ServiceStatus.TOMBSTONE }))
  await h.settle()
  const t0 = Date.now()
  await h.proxy.stop()
  t.true(Date.now() - t0 < 2000, `stopped in ${Date.now() - t0} ms`)
  t.true(await long instanceof Error, 'the cut request fails on the client')
})
