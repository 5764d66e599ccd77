// The retry budget ([proxy] retry_budget, retry_budget_min) through real listeners, real
// backends and real sockets. When every backend fails (an overloaded service resetting its
// connections), retries may add at most 20 % of the requests of the last 10 s plus 10 a second:
// before the budget, each request was sent to up to 1 + retries (3) backends, tripling the load
// on a service that was already failing. A backend failing now and then still has every failed
// GET retried, and the keep-alive race's resend needs no budget.
import test from 'ava'
import net from 'node:net'
import { WINDOW_S } from '../../../src/proxy/retry-budget.ts'
import { eachRequest, raw, statuses } from './raw.ts'
import { harness, instance, proxyConfig, waitListening, type Harness } from './setup.ts'

const IP = '127.0.99.2'
const BACKEND_IPS = ['127.0.99.10', '127.0.99.11', '127.0.99.12', '127.0.99.13', '127.0.99.14', '127.0.99.15']
const GET = 'GET /x HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n'

interface Backend { port: number, requests: () => number, resets: () => number }

/**
 * A backend on ip that answers 200 to each request and closes (one request per connection, so
 * that each failure is the backend's, not the keep-alive race's), except those for which
 * fail(n) (n: its requests so far, from 1) is true: those get a reset, nothing answered.
 */
async function backend (t: { teardown: (f: () => void) => void }, ip: string, fail: (n: number) => boolean): Promise<Backend> {
  let requests = 0
  let resets = 0
  const server = net.createServer((s) => {
    s.on('error', () => {})
    s.on('data', eachRequest(() => {
      if (fail(++requests)) { resets++; s.resetAndDestroy(); return false }
      s.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok')
      return false
    }))
  })
  await new Promise<void>(resolve => server.listen(0, ip, resolve))
  t.teardown(() => { server.close() })
  return { port: (server.address() as net.AddressInfo).port, requests: () => requests, resets: () => resets }
}

/** Runs n requests (or connections), `concurrency` at a time; returns the answers and the seconds it took. */
async function load (n: number, concurrency: number, one: () => Promise<string>): Promise<{ answers: string[], seconds: number }> {
  const answers: string[] = []
  const t0 = performance.now()
  let next = 0
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n) { next++; answers.push(await one()) }
  }))
  return { answers, seconds: (performance.now() - t0) / 1000 }
}

/** Retries the default budget allows at most for n requests over `seconds`: 20 % of them, plus the floor of each 10 s window they touch. */
const allowedRetries = (n: number, seconds: number, ratio = 0.2, min = 10): number => ratio * n + min * WINDOW_S * (Math.ceil(seconds / WINDOW_S) + 1)

async function proxyOn (t: Parameters<typeof harness>[0], sp: number, mode: 'http' | 'tcp', ports: Array<{ ip: string, port: number }>, overrides: Parameters<typeof proxyConfig>[1] = {}): Promise<Harness> {
  const h = await harness(t, { proxy: proxyConfig(IP, overrides) })
  ports.forEach((p, i) => { h.put(instance('web', `host-${i}`, p.ip, p.port, sp, { ProxyMode: mode })) })
  await h.settle()
  await waitListening(h, sp)
  return h
}

test('retry budget: with every backend resetting every GET, the attempts are bounded by the budget (N * 1.2 + the floor), not 3 N', async (t) => {
  const SP = 19901
  const N = 900
  const backends = await Promise.all(BACKEND_IPS.map(async ip => await backend(t, ip, () => true)))
  const h = await proxyOn(t, SP, 'http', backends.map((b, i) => ({ ip: BACKEND_IPS[i], port: b.port })))
  const { answers, seconds } = await load(N, 16, async () => await raw(IP, SP, GET))
  const attempts = backends.reduce((sum, b) => sum + b.requests(), 0)
  const bound = N + allowedRetries(N, seconds)
  t.log(`${N} GETs in ${seconds.toFixed(1)} s: ${attempts} attempts on the backends (budget bound ${Math.round(bound)}, ${3 * N} with retries = 2 and no budget)`)
  t.true(attempts <= bound, `${attempts} attempts for ${N} GETs: more than the budget's ${Math.round(bound)}`)
  t.true(attempts >= N, 'every GET reached a backend once')

  // what the client sees: the 502 it gets with no retries left, saying why
  t.deepEqual([...new Set(answers.map(a => statuses(a)[0]))], [502])
  const spent = answers.filter(a => a.includes('"reason":"retry budget spent"'))
  t.true(spent.length > N / 2, `${spent.length} of ${N} answers name the spent budget`)
  t.regex(spent[0], /not retried: the retry budget of web:19901 is spent \(retries may add 20 % to the requests of the last 10 s, plus 10 a second/)
  const totals = h.proxy.report().listeners[0].totals
  t.is(totals.retriesRefused, spent.length)
  t.is(totals.retries, attempts - N)
  t.regex(await h.metrics.text(), new RegExp(`sidecar_proxy_retries_refused_total\\{service="web",port="${SP}"\\} ${spent.length}\\n`))
})

test('retry budget: tcp mode\'s connect retries follow the same budget', async (t) => {
  const SP = 19902
  const N = 900
  // ports nothing listens on: every connect is refused
  const dead = await Promise.all(BACKEND_IPS.map(async (ip) => {
    const s = net.createServer()
    await new Promise<void>(resolve => s.listen(0, ip, resolve))
    const port = (s.address() as net.AddressInfo).port
    await new Promise<void>(resolve => s.close(() => { resolve() }))
    return { ip, port }
  }))
  const h = await proxyOn(t, SP, 'tcp', dead)
  const { seconds } = await load(N, 16, async () => await raw(IP, SP, 'hello', { timeoutMs: 5000 }))
  const l = h.proxy.report().listeners[0]
  const attempts = l.backends.reduce((sum, b) => sum + b.requests, 0)
  const bound = N + allowedRetries(N, seconds)
  t.log(`${N} connections in ${seconds.toFixed(1)} s: ${attempts} connects (budget bound ${Math.round(bound)}); ${l.totals.retriesRefused} retries refused`)
  t.true(attempts <= bound, `${attempts} connects for ${N} connections: more than the budget's ${Math.round(bound)}`)
  t.true(l.totals.retriesRefused > 0)
  t.is(l.totals.retries, attempts - N)
})

for (const [name, SP, overrides] of [['its default', 19903, {}], ['0 (the floor only)', 19904, { retry_budget: 0 }]] as const) {
  test(`retry budget of ${name}: a backend failing 1 GET in 20 still has every failed GET retried on the other, and no client sees an error`, async (t) => {
    const N = 400
    const flaky = await backend(t, BACKEND_IPS[0], n => n % 20 === 0)
    const good = await backend(t, BACKEND_IPS[1], () => false)
    // ejections of 1 ms: the flaky backend keeps taking its share, and failing
    const h = await proxyOn(t, SP, 'http', [{ ip: BACKEND_IPS[0], port: flaky.port }, { ip: BACKEND_IPS[1], port: good.port }], { ...overrides, ejection_base: 1, ejection_max: 1 })
    const { answers } = await load(N, 4, async () => await raw(IP, SP, GET))
    t.deepEqual(answers.map(a => statuses(a)[0]).filter(s => s !== 200), [], 'every GET answered 200')
    t.true(flaky.resets() >= 5, `the flaky backend failed ${flaky.resets()} GETs`)
    const totals = h.proxy.report().listeners[0].totals
    t.is(totals.retries, flaky.resets(), 'each failed GET retried once')
    t.is(flaky.requests() + good.requests(), N + flaky.resets(), 'on the other backend')
    t.is(totals.retriesRefused, 0)
    t.is(totals.errors, 0)
  })
}

test('retry budget of 0 with no floor: the same flaky backend\'s failed GETs are not retried (what the floor above prevents)', async (t) => {
  const SP = 19906
  const N = 200
  const flaky = await backend(t, BACKEND_IPS[3], n => n % 20 === 0)
  const good = await backend(t, BACKEND_IPS[4], () => false)
  const h = await proxyOn(t, SP, 'http', [{ ip: BACKEND_IPS[3], port: flaky.port }, { ip: BACKEND_IPS[4], port: good.port }], { retry_budget: 0, retry_budget_min: 0, ejection_base: 1, ejection_max: 1 })
  const { answers } = await load(N, 4, async () => await raw(IP, SP, GET))
  const failed = answers.filter(a => statuses(a)[0] === 502)
  t.true(flaky.resets() >= 2, `the flaky backend failed ${flaky.resets()} GETs`)
  t.is(failed.length, flaky.resets())
  t.true(failed.every(a => a.includes('"reason":"retry budget spent"')))
  t.is(h.proxy.report().listeners[0].totals.retriesRefused, flaky.resets())
  t.is(flaky.requests() + good.requests(), N)
})

test('retry budget: the keep-alive race\'s resend needs none: a GET whose kept-alive connection closed under it gets its 200 with retry_budget 0 and retry_budget_min 0', async (t) => {
  const SP = 19905
  // answers the first request of each connection, kept alive, and resets at the second
  let connections = 0
  let requests = 0
  const server = net.createServer((s) => {
    connections++
    let served = 0
    s.on('error', () => {})
    s.on('data', eachRequest(() => {
      requests++
      if (++served === 1) { s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'); return true }
      s.resetAndDestroy()
      return false
    }))
  })
  await new Promise<void>(resolve => server.listen(0, BACKEND_IPS[2], resolve))
  t.teardown(() => { server.close() })
  const port = (server.address() as net.AddressInfo).port
  const h = await proxyOn(t, SP, 'http', [{ ip: BACKEND_IPS[2], port }], { retry_budget: 0, retry_budget_min: 0 })
  for (let i = 0; i < 5; i++) t.deepEqual(statuses(await raw(IP, SP, GET)), [200], `GET ${i + 1}`)
  t.true(connections >= 3, `${connections} backend connections`)
  t.true(requests > 5, `${requests} requests reached the backend for 5 GETs: the raced ones were sent again`)
  t.is(h.proxy.report().listeners[0].totals.retriesRefused, 0)
})
