import test from 'ava'
import { compareGoStrings, isDeadTombstone, isExpired, isStale, lifespanOf, mergedStatus, shouldReplace } from '../../../src/catalog/index.ts'
import { ServiceStatus, Time, type ServiceStatus as Status } from '../../../src/service/index.ts'
import { at, BASE_TIME, makeCatalogOptions, makeTestService } from '../../helpers/factories.ts'

const opts = makeCatalogOptions()
const STATUSES: readonly Status[] = [ServiceStatus.ALIVE, ServiceStatus.TOMBSTONE, ServiceStatus.UNHEALTHY, ServiceStatus.UNKNOWN, ServiceStatus.DRAINING]
const LIFESPAN = 10_800_000

test('isStale: a record older than lifespan + 1 min is stale, one at or inside the limit is not', t => {
  const now = BASE_TIME
  const limit = -(LIFESPAN + 60_000)
  t.true(isStale(makeTestService({ Updated: at(limit).plusNanos(-1n) }), LIFESPAN, now))
  t.false(isStale(makeTestService({ Updated: at(limit) }), LIFESPAN, now))
  t.false(isStale(makeTestService({ Updated: at(-LIFESPAN - 1) }), LIFESPAN, now), 'the 1-minute fudge')
  t.false(isStale(makeTestService({ Updated: now }), LIFESPAN, now))
  t.false(isStale(makeTestService({ Updated: at(3_600_000) }), LIFESPAN, now), 'a future record is not stale')
})

test('isStale: the status does not matter', t => {
  for (const Status of STATUSES) t.true(isStale(makeTestService({ Status, Updated: at(-LIFESPAN - 60_001) }), LIFESPAN, BASE_TIME))
})

test('lifespanOf: DRAINING uses the draining lifespan, every other status the alive one', t => {
  t.is(lifespanOf(makeTestService({ Status: ServiceStatus.DRAINING }), opts), 600_000)
  for (const Status of [ServiceStatus.ALIVE, ServiceStatus.UNHEALTHY, ServiceStatus.UNKNOWN]) t.is(lifespanOf(makeTestService({ Status }), opts), 80_000)
})

for (const Status of [ServiceStatus.ALIVE, ServiceStatus.UNHEALTHY, ServiceStatus.UNKNOWN]) {
  test(`isExpired: a status-${Status} record expires when older than the alive lifespan, strictly`, t => {
    t.true(isExpired(makeTestService({ Status, Updated: at(-80_000).plusNanos(-1n) }), opts, BASE_TIME))
    t.false(isExpired(makeTestService({ Status, Updated: at(-80_000) }), opts, BASE_TIME))
    t.false(isExpired(makeTestService({ Status, Updated: BASE_TIME }), opts, BASE_TIME))
  })
}

test('isExpired: a draining record lives for the draining lifespan', t => {
  const Status = ServiceStatus.DRAINING
  t.false(isExpired(makeTestService({ Status, Updated: at(-80_001) }), opts, BASE_TIME))
  t.false(isExpired(makeTestService({ Status, Updated: at(-600_000) }), opts, BASE_TIME))
  t.true(isExpired(makeTestService({ Status, Updated: at(-600_000).plusNanos(-1n) }), opts, BASE_TIME))
})

test('isExpired: a tombstone never expires, however old', t => {
  t.false(isExpired(makeTestService({ Status: ServiceStatus.TOMBSTONE, Updated: at(-LIFESPAN * 10) }), opts, BASE_TIME))
})

test('isExpired: the configured lifespans are used', t => {
  const short = makeCatalogOptions({ aliveLifespanMs: 1_000, drainingLifespanMs: 2_000 })
  t.true(isExpired(makeTestService({ Updated: at(-1_001) }), short, BASE_TIME))
  t.false(isExpired(makeTestService({ Status: ServiceStatus.DRAINING, Updated: at(-1_001) }), short, BASE_TIME))
  t.true(isExpired(makeTestService({ Status: ServiceStatus.DRAINING, Updated: at(-2_001) }), short, BASE_TIME))
})

test('isDeadTombstone: only a tombstone older than the tombstone lifespan + 1 min (the stale cut-off) is forgotten', t => {
  const tomb = (ms: number) => makeTestService({ Status: ServiceStatus.TOMBSTONE, Updated: at(ms) })
  t.true(isDeadTombstone(tomb(-LIFESPAN - 60_000 - 1), opts, BASE_TIME))
  t.false(isDeadTombstone(tomb(-LIFESPAN - 60_000), opts, BASE_TIME))
  t.false(isDeadTombstone(tomb(-LIFESPAN - 1), opts, BASE_TIME), 'past the bare lifespan it is kept: what it superseded is not stale yet')
  t.false(isDeadTombstone(makeTestService({ Updated: at(-LIFESPAN - 60_001) }), opts, BASE_TIME))
})

test('isDeadTombstone: a tombstone is forgotten exactly when it is stale, so whatever it superseded is stale too', t => {
  for (const ms of [-LIFESPAN - 60_001, -LIFESPAN - 60_000, -LIFESPAN - 30_000, -LIFESPAN - 1, -LIFESPAN]) {
    const tomb = makeTestService({ Status: ServiceStatus.TOMBSTONE, Updated: at(ms) })
    t.is(isDeadTombstone(tomb, opts, BASE_TIME), isStale(tomb, LIFESPAN, BASE_TIME), `tombstone at ${ms} ms`)
  }
})

// mergedStatus: every (stored, incoming) pair. Only DRAINING + a relayed ALIVE keeps the stored status.
for (const stored of STATUSES) {
  for (const incoming of STATUSES) {
    const expected = stored === ServiceStatus.DRAINING && incoming === ServiceStatus.ALIVE ? ServiceStatus.DRAINING : incoming
    test(`mergedStatus: stored ${stored} + relayed incoming ${incoming} gives ${expected}`, t => {
      t.is(mergedStatus(makeTestService({ Status: stored }), makeTestService({ Status: incoming, Updated: at(1) })), expected)
    })
    test(`mergedStatus: stored ${stored} + incoming ${incoming} from its origin gives ${incoming}`, t => {
      t.is(mergedStatus(makeTestService({ Status: stored }), makeTestService({ Status: incoming, Updated: at(1) }), true), incoming)
    })
  }
}

test('shouldReplace: a strictly newer record replaces, by as little as 1 ns', t => {
  const existing = makeTestService()
  t.true(shouldReplace(existing, makeTestService({ Updated: BASE_TIME.plusNanos(1n) })))
})

test('shouldReplace: an equal or older timestamp does not replace, whatever its status', t => {
  const existing = makeTestService()
  for (const Status of STATUSES) {
    t.false(shouldReplace(existing, makeTestService({ Status, Updated: BASE_TIME })))
    t.false(shouldReplace(existing, makeTestService({ Status, Updated: BASE_TIME.plusNanos(-1n) })))
  }
})

test('shouldReplace: anything replaces nothing', t => {
  t.true(shouldReplace(undefined, makeTestService({ Updated: at(-LIFESPAN * 2) })))
})

test('shouldReplace: the same instant written with another offset is not newer', t => {
  const existing = makeTestService({ Updated: BASE_TIME })
  const sameInstant = makeTestService({ Updated: Time.parse('2024-05-01T11:00:00+01:00') })
  t.false(shouldReplace(existing, sameInstant))
})

test('compareGoStrings: orders by code point like Go, not by UTF-16 unit', t => {
  t.true(compareGoStrings('a', 'b') < 0)
  t.true(compareGoStrings('b', 'a') > 0)
  t.is(compareGoStrings('abc', 'abc'), 0)
  t.true(compareGoStrings('ab', 'abc') < 0)
  t.true(compareGoStrings('B', 'a') < 0)
  t.true(compareGoStrings('host10', 'host2') < 0)
  // U+FF21 (a BMP letter) is below U+1F600 (an emoji, a surrogate pair in UTF-16).
  t.true(compareGoStrings('\uff21', '\u{1f600}') < 0)
  t.true(compareGoStrings('\u{1f600}', '\uff21') > 0)
  t.true('\uff21' > '\u{1f600}', 'the JS default differs')
  t.deepEqual(['\u{1f600}', '\uff21', 'z', 'A'].sort(compareGoStrings), ['A', 'z', '\uff21', '\u{1f600}'])
})
