import test from 'ava'
import { Metrics } from '../../../src/lib/metrics.ts'
import { ListenerStats, ProxyMetrics } from '../../../src/proxy/stats.ts'

test('rejections: every one counted, logged at most once per 10 s with the count since the last line', async t => {
  const metrics = new Metrics({ defaultMetrics: false })
  const lines: string[] = []
  const stats = new ListenerStats(new ProxyMetrics(metrics), 'web', 8080, (l) => lines.push(l))
  for (let i = 0; i < 1000; i++) stats.reject('head too large', `c${i}: too big`, 1_000 + i)
  t.is(lines.length, 1)
  t.regex(lines[0], /^web:8080: refused 1 client request\(s\) or connection\(s\).*latest: head too large: c0: too big$/)
  stats.reject('bad request', 'c: bad', 11_000)
  t.is(lines.length, 2)
  t.regex(lines[1], /refused 1000 .*latest: bad request: c: bad$/)
  t.is(stats.rejected, 1001)
  const text = await metrics.text()
  t.regex(text, /sidecar_proxy_rejections_total\{service="web",port="8080",reason="head too large"\} 1000/)
  t.regex(text, /sidecar_proxy_rejections_total\{service="web",port="8080",reason="bad request"\} 1/)
})

test('untrack: a closed listener\'s series go, unless another listener took its place', async t => {
  const metrics = new Metrics({ defaultMetrics: false })
  const pm = new ProxyMetrics(metrics)
  const old = new ListenerStats(pm, 'web', 8080)
  old.begin()
  old.end(200, 0.001, false)
  old.reject('bad request', 'x')
  const replacement = new ListenerStats(pm, 'web', 8080)
  pm.untrack('web', '8080', old)
  t.regex(await metrics.text(), /service="web"/, 'the replacement keeps the series')
  pm.untrack('web', '8080', replacement)
  t.notRegex(await metrics.text(), /service="web"/)
})
