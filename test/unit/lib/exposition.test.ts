// The /metrics text, written in time slices: prom-client's text byte for byte, hostile label
// values included, and the event loop turns while a large one is written.
import test from 'ava'
import { Metrics } from '../../../src/lib/metrics.ts'
import { ListenerStats, ProxyMetrics } from '../../../src/proxy/stats.ts'

/** Names a member may give a service: quotes, backslashes, newlines, NUL, lone surrogates, the label syntax itself. */
const HOSTILE = ['web', 'a"b', 'back\\slash', 'new\nline', 'nul\u0000here', 'lone\ud800', '\udc00x', '}{,=#', 'é🙂', '\\"\\n', 'n'.repeat(253)]

function populated (): Metrics {
  const m = new Metrics({ defaultMetrics: false })
  const pm = new ProxyMetrics(m)
  HOSTILE.forEach((name, i) => {
    const s = new ListenerStats(pm, name, 20_000 + i)
    s.begin(); s.end(200 + 100 * (i % 4), i / 100, false)
    s.connection()
    if (i % 2 === 0) s.retry()
    s.reject('bad request', 'x')
  })
  const h = m.histogram('test_seconds', 'a histogram with "quotes" and a \\ in its help\nover two lines', [0.1, 1], ['type'])
  for (const name of HOSTILE) h.observe({ type: name }, 0.5)
  m.histogram('test_plain_seconds', 'without labels', [1]).observe(2)
  const c = m.counter('test_total', 'a counter', ['a', 'b'])
  c.inc({ a: 'x"', b: 'y\n' }, 2)
  c.inc({ a: 'z', b: '' }, 0.5)
  m.gauge('test_gauge', 'values', ['k']).set({ k: 'inf' }, Infinity)
  m.gauge('test_gauge', 'values', ['k']).set({ k: 'nan' }, NaN)
  m.gauge('test_gauge', 'values', ['k']).set({ k: 'neg' }, -Infinity)
  m.gauge('test_gauge', 'values', ['k']).set({ k: 'small' }, 1e-7)
  m.gauge('test_empty', 'no series yet', ['k'])
  return m
}

test('exposition: the text is prom-client\'s own, byte for byte, hostile label values included', async t => {
  const m = populated()
  // as bytes: both send a lone surrogate as U+FFFD
  t.deepEqual(Buffer.concat(await m.parts()), Buffer.from(await m.registry.metrics()))
  const mine = await m.text()
  t.true(mine.includes('service="nul\u0000here"'), 'the whole name, NUL and all')
  t.true(mine.includes('service="new\\nline"'))
  t.true(mine.includes('service="a\\"b"'))
})

test('exposition: an empty registry is one newline, as prom-client writes it', async t => {
  const m = new Metrics({ defaultMetrics: false })
  t.is(await m.text(), await m.registry.metrics())
})

test('exposition: the default process metrics come out in prom-client\'s form too', async t => {
  const m = new Metrics()
  const mine = (await m.text()).split('\n').filter(l => l.startsWith('#'))
  const theirs = (await m.registry.metrics()).split('\n').filter(l => l.startsWith('#'))
  t.deepEqual(mine, theirs)
})

test('exposition: a scrape of 4,096 listeners with 253-character names lets the event loop turn while it is written', async t => {
  const m = new Metrics({ defaultMetrics: false })
  const pm = new ProxyMetrics(m)
  for (let i = 0; i < 4096; i++) {
    const s = new ListenerStats(pm, `${'n'.repeat(240)}-${i}`, 20_000 + i)
    s.begin(); s.end(200, 0.01, false)
  }
  let turns = 0
  let longest = 0
  let last = performance.now()
  const timer = setInterval(() => { const now = performance.now(); longest = Math.max(longest, now - last); last = now; turns++ }, 1)
  const t0 = performance.now()
  last = t0
  const text = await m.text()
  const ms = performance.now() - t0
  clearInterval(timer)
  t.is(text.split('\n').filter(l => l.startsWith('sidecar_proxy_request_duration_seconds_bucket')).length, 4096 * 15)
  t.log(`${(text.length / 1e6).toFixed(1)} MB in ${ms.toFixed(0)} ms; the event loop turned ${turns} times, the longest wait ${longest.toFixed(0)} ms`)
  t.true(turns >= 5, `the event loop turned ${turns} times while ${ms.toFixed(0)} ms of text were written`)
})
