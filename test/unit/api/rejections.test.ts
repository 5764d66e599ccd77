// Refused API requests: every one counted, logged at most once a minute per reason.
import test from 'ava'
import { ApiRejections, LOG_EVERY_MS } from '../../../src/api/rejections.ts'
import { silentLogger, type Logger } from '../../../src/lib/logger.ts'
import { Metrics } from '../../../src/lib/metrics.ts'

test('rejections: counted each time, one log line per reason per minute, with the number left out', async t => {
  const lines: string[] = []
  const logger = Object.assign(Object.create(silentLogger()) as Logger, { warn: (_o: unknown, msg: string) => { lines.push(msg) } })
  const metrics = new Metrics({ defaultMetrics: false })
  let now = 1_000_000
  const r = new ApiRejections({ metrics, logger, nowMs: () => now })
  for (let i = 0; i < 100; i++) r.reject('header_too_large', '431')
  r.reject('unauthorized', 'no token')
  t.is(lines.length, 2)
  now += LOG_EVERY_MS
  r.reject('header_too_large', '431')
  t.is(lines.length, 3)
  t.regex(lines[2], /\(99 more refused for this reason since the last such line\)$/)
  const text = await metrics.text()
  t.regex(text, /sidecar_api_rejected_requests_total\{reason="header_too_large"\} 101/)
  t.regex(text, /sidecar_api_rejected_requests_total\{reason="unauthorized"\} 1/)
})
