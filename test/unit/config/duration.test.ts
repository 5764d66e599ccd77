import test from 'ava'
import { formatDuration, parseDuration } from '../../../src/config/index.ts'

test('parseDuration: reads number+unit terms as milliseconds', t => {
  t.is(parseDuration('20s'), 20_000)
  t.is(parseDuration('200ms'), 200)
  t.is(parseDuration('1m'), 60_000)
  t.is(parseDuration('1h30m'), 5_400_000)
  t.is(parseDuration('1.5s'), 1500)
  t.is(parseDuration('3h'), 10_800_000)
  t.is(parseDuration('1m30s'), 90_000)
  t.is(parseDuration('.5s'), 500)
  t.is(parseDuration('1500us'), 1.5)
  t.is(parseDuration('0'), 0)
})

test('parseDuration: rejects text that is not a Go-style duration', t => {
  for (const bad of ['', '3', '3 seconds', '3 s', 's', '-1s', '+1s', '1d', '1.s.5', ' 3s', '3s ', '1e3s', 'NaN', '1sm']) {
    t.throws(() => parseDuration(bad), { instanceOf: RangeError }, JSON.stringify(bad))
  }
})

test('parseDuration: the error names the value and gives examples', t => {
  const err = t.throws(() => parseDuration('3 seconds'))
  t.is(err?.message, 'invalid duration "3 seconds", expected e.g. "3s", "200ms", "1m"')
})

test('formatDuration: writes the shortest form parseDuration reads', t => {
  t.is(formatDuration(20_000), '20s')
  t.is(formatDuration(200), '200ms')
  t.is(formatDuration(90_000), '1m30s')
  t.is(formatDuration(1500), '1.5s')
  t.is(formatDuration(600_000), '10m')
  t.is(formatDuration(10_800_000), '3h')
  t.is(formatDuration(3_661_001), '1h1m1.001s')
  t.is(formatDuration(0), '0s')
  t.is(formatDuration(0.25), '0.25ms')
})

test('formatDuration: rejects negative and non-finite input', t => {
  for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY]) t.throws(() => formatDuration(bad), { instanceOf: RangeError })
})

test('durations survive format then parse, and parse then format, unchanged', t => {
  for (const ms of [1, 2, 999, 1000, 1001, 59_999, 60_000, 80_000, 3_599_999, 3_600_000, 86_400_000, 2 ** 31 - 1, 0.5, 12.345]) {
    t.is(parseDuration(formatDuration(ms)), ms, String(ms))
  }
  for (const text of ['20s', '200ms', '1m30s', '1.5s', '10m', '3h', '1h1s', '2h3m4.005s']) {
    t.is(formatDuration(parseDuration(text)), text)
  }
})
