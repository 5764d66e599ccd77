import test from 'ava'
import { InvalidRecordError, InvalidTimeError } from '../../../src/lib/errors.ts'
import { Time } from '../../../src/service/index.ts'
import { prng } from '../../helpers/prng.ts'

for (const text of [
  '2015-03-04T01:12:46.669648453Z',
  '2016-03-05T02:26:14Z',
  '2024-05-01T10:00:03.5Z',
  '2024-05-01T11:00:03.25+01:00',
  '2024-05-01T04:30:00-05:30',
  '0001-01-01T00:00:00Z',
  '1970-01-01T00:00:00Z',
  '1969-12-31T23:59:59.999999999Z',
  '2024-02-29T23:59:59.000000001Z',
  '9999-12-31T23:59:59.999999999Z',
]) {
  test(`time: ${text} parses and prints back unchanged`, t => {
    t.is(Time.parse(text).toString(), text)
    t.is(JSON.stringify({ at: Time.parse(text) }), `{"at":"${text}"}`)
  })
}

test('time: the fraction is printed like Go, trailing zeros trimmed and none when zero', t => {
  t.is(Time.parse('2024-05-01T10:00:03.500000000Z').toString(), '2024-05-01T10:00:03.5Z')
  t.is(Time.parse('2024-05-01T10:00:03.000Z').toString(), '2024-05-01T10:00:03Z')
})

test('time: lowercase t and z are accepted and printed uppercase', t => {
  t.is(Time.parse('2024-05-01t10:00:00z').toString(), '2024-05-01T10:00:00Z')
})

test('time: the epoch is 0 ns and 0001-01-01 is before it', t => {
  t.is(Time.parse('1970-01-01T00:00:00Z').ns, 0n)
  t.true(Time.EPOCH.equals(Time.parse('1970-01-01T00:00:00Z')))
  t.is(Time.EPOCH.toString(), '1970-01-01T00:00:00Z')
  t.true(Time.parse('0001-01-01T00:00:00Z').isBefore(Time.EPOCH))
})

test('time: an offset denotes the same instant as its UTC form', t => {
  const plusOne = Time.parse('2024-05-01T11:00:00+01:00')
  const utc = Time.parse('2024-05-01T10:00:00Z')
  t.is(plusOne.ns, utc.ns)
  t.true(plusOne.equals(utc))
  t.is(plusOne.compare(utc), 0)
  t.is(plusOne.offsetMinutes, 60)
  t.is(utc.offsetMinutes, null)
})

test('time: comparison has nanosecond resolution', t => {
  const a = Time.parse('2015-03-04T01:12:46.669648453Z')
  const b = Time.parse('2015-03-04T01:12:46.669648454Z')
  t.true(b.isAfter(a))
  t.true(a.isBefore(b))
  t.false(a.isAfter(a))
  t.false(a.isBefore(a))
  t.is(a.compare(b), -1)
  t.is(b.compare(a), 1)
  t.is(a.compare(a), 0)
  t.false(a.equals(b))
  t.is(b.ns - a.ns, 1n)
})

test('time: plusNanos and plusMillis keep the offset', t => {
  const a = Time.parse('2024-05-01T11:00:00+01:00')
  t.is(a.plusMillis(1500).toString(), '2024-05-01T11:00:01.5+01:00')
  t.is(a.plusNanos(1n).toString(), '2024-05-01T11:00:00.000000001+01:00')
  t.is(a.plusMillis(-1000).toString(), '2024-05-01T10:59:59+01:00')
})

test('time: max picks the later time, the first on a tie', t => {
  const a = Time.parse('2024-05-01T10:00:00Z')
  const b = Time.parse('2024-05-01T10:00:00.000000001Z')
  t.is(Time.max(a, b), b)
  t.is(Time.max(b, a), b)
  const sameInstant = Time.parse('2024-05-01T11:00:00+01:00')
  t.is(Time.max(a, sameInstant), a)
})

test('time: millisecond conversions round-trip', t => {
  const ms = Date.UTC(2024, 4, 1, 10, 0, 0, 123)
  const time = Time.fromMillis(ms)
  t.is(time.toMillis(), ms)
  t.is(time.toString(), '2024-05-01T10:00:00.123Z')
  t.is(Time.fromDate(new Date(ms)).ns, time.ns)
  t.is(time.toDate().getTime(), ms)
})

for (const [text, why] of [
  ['2023-02-29T00:00:00Z', 'february 29 in a common year'],
  ['1900-02-29T00:00:00Z', 'february 29 in a century year'],
  ['2024-13-01T00:00:00Z', 'month 13'],
  ['2024-00-10T00:00:00Z', 'month 0'],
  ['2024-04-31T00:00:00Z', 'april 31'],
  ['2024-05-00T00:00:00Z', 'day 0'],
  ['2024-05-01T24:00:00Z', 'hour 24'],
  ['2024-05-01T10:60:00Z', 'minute 60'],
  ['2024-05-01T10:00:60Z', 'second 60'],
  ['2024-05-01T10:00:00+24:00', 'offset hour 24'],
  ['2024-05-01T10:00:00+01:60', 'offset minute 60'],
  ['2024-05-01T10:00:00', 'no zone'],
  ['2024-05-01 10:00:00Z', 'a space instead of T'],
  ['2024-05-01T10:00:00.Z', 'an empty fraction'],
  ['2024-05-01T10:00:00.1234567890Z', 'ten fraction digits'],
  ['24-05-01T10:00:00Z', 'a two-digit year'],
  ['garbage', 'garbage'],
  ['', 'an empty string'],
  [`2024-05-01T10:00:00Z${' '.repeat(30)}`, 'trailing spaces'],
  [`2024-05-01T10:00:00.${'1'.repeat(40)}Z`, 'a string too long'],
] as const) {
  test(`time: rejects ${why} (${JSON.stringify(text.slice(0, 40))})`, t => {
    const err = t.throws(() => Time.parse(text), { instanceOf: InvalidTimeError })
    t.true(err instanceof InvalidRecordError)
  })
}

test('time: rejects a value that is not a string', t => {
  t.throws(() => Time.parse(12345 as unknown as string), { instanceOf: InvalidTimeError })
})

test('time: any instant from year 0001 to 9999 prints in Go\'s form and parses back to the same nanosecond; the text is kept', t => {
  const random = prng(13)
  const min = Time.parse('0001-01-01T00:00:00Z').ns
  const max = Time.parse('9999-12-31T23:59:59.999999999Z').ns
  const go = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{0,8}[1-9])?Z$/
  for (let i = 0; i < 5000; i++) {
    // whole seconds, whole milliseconds and any nanosecond, before and after 1970
    const ns = min + BigInt(Math.floor(random() * Number(max - min - 1_000_000_000n))) + BigInt(Math.floor(random() * 1e9))
    const at = new Time(i % 3 === 0 ? ns - ns % 1_000_000_000n : i % 3 === 1 ? ns - ns % 1_000_000n : ns)
    const text = at.toString()
    t.regex(text, go)
    if (Time.parse(text).ns !== at.ns) t.fail(`${at.ns} printed as ${text}`)
    t.is(at.toString(), text, 'the same text again')
  }
  t.is(new Time(1n).toString(), '1970-01-01T00:00:00.000000001Z')
  t.is(new Time(-1n).toString(), '1969-12-31T23:59:59.999999999Z')
  t.is(new Time(999_000_000n).toString(), '1970-01-01T00:00:00.999Z')
})

test('time: a parsed text prints as a fresh Time of the same instant and offset does, in every accepted form', t => {
  const random = prng(29)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]
  const two = (n: number): string => String(n).padStart(2, '0')
  for (let i = 0; i < 5000; i++) {
    const y = 1 + Math.floor(random() * 9999)
    const mo = 1 + Math.floor(random() * 12)
    const d = 1 + Math.floor(random() * 28)
    const frac = pick(['', '.0', '.5', '.50', '.000000001', '.123456789', '.120', '.100000000', `.${Math.floor(random() * 1e9)}`])
    const zone = pick(['Z', 'z', '+00:00', '-00:00', '+05:30', '-11:45'])
    const text = `${String(y).padStart(4, '0')}-${two(mo)}-${two(d)}${pick(['T', 't'])}${two(Math.floor(random() * 24))}:${two(Math.floor(random() * 60))}:${two(Math.floor(random() * 60))}${frac}${zone}`
    const parsed = Time.parse(text)
    const fresh = new Time(parsed.ns, parsed.offsetMinutes)
    if (parsed.toString() !== fresh.toString()) t.fail(`${text} printed as ${parsed.toString()}, a fresh Time prints ${fresh.toString()}`)
  }
  t.is(Time.parse('2024-02-29T00:00:00Z').toString(), '2024-02-29T00:00:00Z')
  t.throws(() => Time.parse('2023-02-29T00:00:00Z'), { instanceOf: InvalidTimeError }, 'no 29 February outside leap years')
  t.throws(() => Time.parse('2100-02-29T00:00:00Z'), { instanceOf: InvalidTimeError })
  t.notThrows(() => Time.parse('2000-02-29T00:00:00Z'))
  t.throws(() => Time.parse('2024-04-31T00:00:00Z'), { instanceOf: InvalidTimeError })
})
