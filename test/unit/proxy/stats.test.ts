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
  replacement.connection()
  t.regex(await metrics.text(), /sidecar_proxy_connections_total\{service="web",port="8080"\} 1\n/)
  pm.untrack('web', '8080', replacement)
  t.notRegex(await metrics.text(), /service="web"/)
})

test('requests and durations: counted per listener, read at scrape time as prom-client would show them', async t => {
  const metrics = new Metrics({ defaultMetrics: false })
  const stats = new ListenerStats(new ProxyMetrics(metrics), 'web', 8080)
  for (let i = 0; i < 3000; i++) { stats.begin(); stats.end(200 + (i % 3) * 100, i % 2 === 0 ? 0.0004 : 0.3, false) }
  stats.begin(); stats.end(0, 20, true) // no response, over the last bucket
  stats.begin(); stats.end(0, 0.001, false) // a tcp connection, exactly on a bound
  const text = await metrics.text()
  t.regex(text, /sidecar_proxy_requests_total\{service="web",port="8080",code="2xx"\} 1000\n/)
  t.regex(text, /sidecar_proxy_requests_total\{service="web",port="8080",code="3xx"\} 1000\n/)
  t.regex(text, /sidecar_proxy_requests_total\{service="web",port="8080",code="4xx"\} 1000\n/)
  t.regex(text, /sidecar_proxy_requests_total\{service="web",port="8080",code="error"\} 1\n/)
  t.regex(text, /sidecar_proxy_requests_total\{service="web",port="8080",code="tcp"\} 1\n/)
  t.regex(text, /# TYPE sidecar_proxy_request_duration_seconds histogram/)
  // buckets are cumulative; a value on a bound counts in that bucket
  t.regex(text, /sidecar_proxy_request_duration_seconds_bucket\{service="web",port="8080",le="0.0005"\} 1500\n/)
  t.regex(text, /sidecar_proxy_request_duration_seconds_bucket\{service="web",port="8080",le="0.001"\} 1501\n/)
  t.regex(text, /sidecar_proxy_request_duration_seconds_bucket\{service="web",port="8080",le="0.25"\} 1501\n/)
  t.regex(text, /sidecar_proxy_request_duration_seconds_bucket\{service="web",port="8080",le="0.5"\} 3001\n/)
  t.regex(text, /sidecar_proxy_request_duration_seconds_bucket\{service="web",port="8080",le="10"\} 3001\n/)
  t.regex(text, /sidecar_proxy_request_duration_seconds_bucket\{service="web",port="8080",le="\+Inf"\} 3002\n/)
  t.regex(text, /sidecar_proxy_request_duration_seconds_count\{service="web",port="8080"\} 3002\n/)
  const sum = Number(/sidecar_proxy_request_duration_seconds_sum\{service="web",port="8080"\} ([\d.e+-]+)/.exec(text)?.[1])
  t.true(Math.abs(sum - (1500 * 0.0004 + 1500 * 0.3 + 20 + 0.001)) < 1e-6, `sum ${sum}`)
  t.is(stats.requests, 3002)
  t.is(stats.inFlight, 0)
})

test('a listener that replaces another on the same port carries its counts on: the counters never go back', async t => {
  const metrics = new Metrics({ defaultMetrics: false })
  const pm = new ProxyMetrics(metrics)
  const old = new ListenerStats(pm, 'web', 8080)
  for (let i = 0; i < 5; i++) old.end(200, 0.01, false)
  for (let i = 0; i < 3000; i++) old.connection()
  const replacement = new ListenerStats(pm, 'web', 8080)
  replacement.end(200, 0.01, false)
  replacement.connection()
  pm.untrack('web', '8080', old)
  const text = await metrics.text()
  t.regex(text, /code="2xx"\} 6\n/)
  t.regex(text, /sidecar_proxy_connections_total\{service="web",port="8080"\} 3001\n/)
  t.regex(text, /sidecar_proxy_request_duration_seconds_count\{service="web",port="8080"\} 6\n/)
  // a second ProxyMetrics on the same registry (a manager made again) reads the same listeners
  const again = new ListenerStats(new ProxyMetrics(metrics), 'api', 9090)
  again.end(503, 0.2, false)
  const text2 = await metrics.text()
  t.regex(text2, /service="api",port="9090",code="5xx"\} 1\n/)
  t.regex(text2, /service="web",port="8080",code="2xx"\} 6\n/)
})

test('a service name holding NUL and another service\'s port keeps its own series: it neither splits nor lands in that service\'s', async t => {
  const metrics = new Metrics({ defaultMetrics: false })
  const pm = new ProxyMetrics(metrics)
  const web = new ListenerStats(pm, 'web', 8080)
  // a member's name made to read as "web" on 8080 were the labels split at NUL
  const spoof = new ListenerStats(pm, 'web\u00008080', 9090)
  for (let i = 0; i < 5; i++) { spoof.begin(); spoof.end(200, 0.01, false); spoof.connection() }
  spoof.begin()
  web.begin(); web.end(500, 0.2, false)
  const text = await metrics.text()
  const series = (name: string, labels: string): string[] => text.split('\n').filter(l => l.startsWith(`${name}{${labels}`))
  t.deepEqual(series('sidecar_proxy_requests_total', 'service="web",port="8080"'), ['sidecar_proxy_requests_total{service="web",port="8080",code="5xx"} 1'])
  t.deepEqual(series('sidecar_proxy_connections_total', 'service="web",port="8080"'), [])
  t.deepEqual(series('sidecar_proxy_in_flight', 'service="web",port="8080"'), ['sidecar_proxy_in_flight{service="web",port="8080"} 0'])
  t.deepEqual(series('sidecar_proxy_request_duration_seconds_count', 'service="web",port="8080"'), ['sidecar_proxy_request_duration_seconds_count{service="web",port="8080"} 1'])
  t.deepEqual(series('sidecar_proxy_requests_total', 'service="web\u00008080",port="9090"'), ['sidecar_proxy_requests_total{service="web\u00008080",port="9090",code="2xx"} 5'])
  t.deepEqual(series('sidecar_proxy_connections_total', 'service="web\u00008080",port="9090"'), ['sidecar_proxy_connections_total{service="web\u00008080",port="9090"} 5'])
  t.deepEqual(series('sidecar_proxy_in_flight', 'service="web\u00008080",port="9090"'), ['sidecar_proxy_in_flight{service="web\u00008080",port="9090"} 1'])
  t.deepEqual(series('sidecar_proxy_request_duration_seconds_count', 'service="web\u00008080",port="9090"'), ['sidecar_proxy_request_duration_seconds_count{service="web\u00008080",port="9090"} 5'])
  pm.untrack('web\u00008080', '9090', spoof)
  t.notRegex(await metrics.text(), /port="9090"/, 'its series go with it')
  t.regex(await metrics.text(), /sidecar_proxy_in_flight\{service="web",port="8080"\} 0/)
})
