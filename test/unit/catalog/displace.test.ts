// merge(svc, from, originSigned, displace): a host's new record takes the place of that host's
// oldest tombstone (the admission gate asks for it beyond a cap), and what the displaced
// tombstones superseded never comes back.
import test from 'ava'
import { ServiceStatus, type Service } from '../../../src/service/index.ts'
import { DISPLACED_KEYS_KEPT } from '../../../src/catalog/index.ts'
import { at, makeTestService } from '../../helpers/factories.ts'
import { prng } from '../../helpers/prng.ts'
import { setup } from './setup.ts'

const { ALIVE, TOMBSTONE } = ServiceStatus

/**
 * The histories here span hours of churn, replayed at one instant: live records get a lifespan
 * longer than that, so none is dead on arrival and what decides is the displacement alone.
 */
const HISTORY = { hostname: 'me', aliveLifespanMs: 4 * 3_600_000 }

const rec = (Hostname: string, ID: string, ms: number, Status: ServiceStatus = ALIVE): Service => makeTestService({ Hostname, ID, Updated: at(ms), Status })

test('merge with displace: a host\'s new record takes the place of its oldest tombstone by Updated, not by arrival; through 20,000 churned instances its count never grows and no other host\'s record goes', t => {
  const { catalog, clock } = setup(HISTORY)
  clock.set(at(0))
  const r = prng(0xd15)
  // 5,000 tombstones of ci, stamped over the last 2 h and merged in random order; 1,000 of another
  // host, all older: they must never go
  const stamps = Array.from({ length: 5000 }, (_, i) => -7_200_000 + i * 1000)
  const order = stamps.map((ms, i) => ({ ms, i, k: r() })).sort((a, b) => a.k - b.k)
  for (const { ms, i } of order) catalog.merge(rec('ci', `old${i}`, ms, TOMBSTONE), 'ci')
  for (let i = 0; i < 1000; i++) catalog.merge(rec('other', `o${i}`, -9_000_000 + i, TOMBSTONE), 'other')
  // 100 of ci's tombstones come back to life (a static service re-added) and 50 of those go again:
  // the versions they replaced must be skipped, and a live record is never displaced
  for (let i = 0; i < 100; i++) catalog.merge(rec('ci', `old${i * 37}`, 1), 'ci')
  for (let i = 0; i < 50; i++) catalog.merge(rec('ci', `old${i * 37}`, 2, TOMBSTONE), 'ci')
  t.is(catalog.count('ci'), 5000)
  t.is(catalog.tombstoneCount('ci'), 4950)
  const revived = new Set(Array.from({ length: 50 }, (_, i) => `old${(i + 50) * 37}`))
  // the churn: every new instance displaces one tombstone, then goes itself a second later
  for (let n = 0; n < 20_000; n++) {
    const ms = 1000 + n * 1000
    clock.set(at(ms))
    t.is(catalog.merge(rec('ci', `job${n}`, ms), 'ci', true, 'displace'), 'added')
    if (catalog.count('ci') !== 5000) t.fail(`ci holds ${catalog.count('ci')} records after job${n}`)
    if (n === 999) {
      // 1,000 displaced: the 1,000 oldest of the first tombstones, whatever order they came in
      const untouched = stamps.map((_, i) => i).filter(i => i % 37 !== 0 || i / 37 >= 100)
      t.true(untouched.slice(0, 1000).every(i => catalog.get('ci', `old${i}`) === undefined), 'the 1,000 oldest went')
      t.true(untouched.slice(1000).every(i => catalog.get('ci', `old${i}`)?.Status === TOMBSTONE), 'the others stay')
    }
    t.is(catalog.merge(rec('ci', `job${n}`, ms + 500, TOMBSTONE), 'ci'), 'changed')
  }
  t.is(catalog.count('ci'), 5000)
  t.is(catalog.count('other'), 1000, 'another host\'s records, however old, stay')
  const held = catalog.hostRecords('ci')
  for (const id of revived) t.is(catalog.get('ci', id)?.Status, ALIVE, `${id} is live: never displaced`)
  const jobs = held.filter(s => s.ID.startsWith('job')).map(s => Number(s.ID.slice(3))).sort((a, b) => a - b)
  t.is(jobs.length, 4950, 'the newest tombstones are kept')
  t.is(jobs[0], 20_000 - 4950, 'and they are the last instances removed')
  t.true(catalog.superseded(rec('ci', 'job15049', 1000 + 15_049 * 1000)), 'the last instance whose tombstone was given up: its ALIVE is superseded')
  t.false(catalog.superseded(rec('ci', 'job15049', 1000 + 15_049 * 1000 + 501)), 'a version newer than that tombstone is not')
  t.false(catalog.superseded(rec('other', 'job15049', 0)), 'nor another host\'s key')
})

test('merge: a record of a key not held, not newer than its tombstone given up, is stale: a displaced instance\'s replayed ALIVE does not come back', t => {
  const { catalog, clock, events } = setup(HISTORY)
  clock.set(at(0))
  for (let i = 0; i < 3000; i++) {
    catalog.merge(rec('ci', `j${i}`, -3_000_000 + i * 100), 'ci')
    catalog.merge(rec('ci', `j${i}`, -3_000_000 + i * 100 + 50, TOMBSTONE), 'ci')
  }
  for (let i = 0; i < 1000; i++) t.is(catalog.merge(rec('ci', `n${i}`, i), 'ci', true, 'displace'), 'added')
  t.is(catalog.count('ci'), 3000)
  t.is(catalog.get('ci', 'j999'), undefined, 'the 1,000 oldest tombstones went')
  t.is(catalog.get('ci', 'j1000')?.Status, TOMBSTONE)
  const before = events.length
  // every version a displaced tombstone superseded, replayed (anti-entropy from a peer that missed the removal)
  for (let i = 0; i < 1000; i++) t.is(catalog.merge(rec('ci', `j${i}`, -3_000_000 + i * 100), 'peer', true), 'stale')
  t.is(catalog.merge(rec('ci', 'j999', -3_000_000 + 999 * 100 + 50, TOMBSTONE), 'peer'), 'stale', 'the displaced tombstone itself')
  t.is(events.length, before, 'no change announced: no ghost reaches the proxy')
  t.is(catalog.count('ci'), 3000)
  // a held record's older version is ignored as always; a new instance, newer, is added; another host is not concerned
  t.is(catalog.merge(rec('ci', 'j1000', -3_000_000 + 1000 * 100), 'peer'), 'ignored')
  t.is(catalog.merge(rec('ci', 'fresh', 5000), 'ci'), 'added')
  t.is(catalog.merge(rec('other', 'j0', -3_000_000), 'other'), 'added')
})

test('merge with displace: a host whose only record is its tombstone keeps out what it superseded once it gives way', t => {
  const { catalog, clock } = setup(HISTORY)
  clock.set(at(0))
  catalog.merge(rec('ci', 'a', -1000), 'ci')
  catalog.merge(rec('ci', 'a', -500, TOMBSTONE), 'ci')
  t.is(catalog.merge(rec('ci', 'b', 0), 'ci', true, 'displace'), 'added')
  t.deepEqual(catalog.hostRecords('ci').map(s => s.ID), ['b'])
  t.is(catalog.merge(rec('ci', 'a', -1000), 'peer', true), 'stale', 'the ALIVE that tombstone superseded')
  // with nothing to give up, a record in room 'displace' is dropped: the host's count never grows that way
  t.is(catalog.merge(rec('ci', 'c', 1), 'ci', true, 'displace'), 'stale')
  t.is(catalog.count('ci'), 1)
})

test('merge in room \'held\': a new version of a record given up meanwhile is dropped, so a host that re-sends all its records at once cannot grow past what it held', t => {
  const { catalog, clock } = setup(HISTORY)
  clock.set(at(0))
  // the host holds 1,000 tombstones (k2000-k2999); it re-sends all 3,000 of its records at once,
  // re-stamped (as on a reconnection), in ID order: each new key takes a tombstone's place, so the
  // held ones are gone by the time their own new versions come
  const id = (i: number): string => `k${String(i).padStart(4, '0')}`
  for (let i = 2000; i < 3000; i++) catalog.merge(rec('ci', id(i), -100_000 + i, TOMBSTONE), 'ci')
  const rooms = Array.from({ length: 3000 }, (_, i) => catalog.get('ci', id(i)) === undefined ? 'displace' as const : 'held' as const) // as the gate judged the batch
  const results = new Map<string, number>()
  for (let i = 0; i < 3000; i++) {
    const r = catalog.merge(rec('ci', id(i), i + 1, TOMBSTONE), 'ci', true, rooms[i])
    results.set(r, (results.get(r) ?? 0) + 1)
    if (catalog.count('ci') > 1000) t.fail(`ci holds ${catalog.count('ci')} records after ${id(i)}`)
  }
  t.is(catalog.count('ci'), 1000, 'never more than it held (before: 2,000, the given-up records\' new versions added again)')
  t.deepEqual(Object.fromEntries(results), { added: 2000, stale: 1000 })
  t.is(catalog.get('ci', id(1999))?.Status, TOMBSTONE, 'the newest kept')
  // a held record's new version merges as usual in room 'held'
  t.is(catalog.merge(rec('ci', id(1999), 5000), 'ci', true, 'held'), 'changed')
  t.is(catalog.count('ci'), 1000)
})

test('merge with displace: expiry and displacement together keep the counts right', t => {
  const { catalog, clock } = setup({ hostname: 'me', tombstoneLifespanMs: 60_000, aliveLifespanMs: 3_600_000 })
  clock.set(at(0))
  for (let i = 0; i < 2000; i++) catalog.merge(rec('ci', `t${i}`, i * 10, TOMBSTONE), 'ci')
  for (let i = 0; i < 500; i++) catalog.merge(rec('ci', `n${i}`, 20_000 + i), 'ci', true, 'displace')
  t.is(catalog.count('ci'), 2000)
  t.is(catalog.tombstoneCount('ci'), 1500)
  clock.set(at(60_000 + 60_000 + 15_000))
  catalog.expire() // kept for their lifespan + 1 min: those stamped before 15 s are gone, 1,000 of the 1,500 left
  t.is(catalog.tombstoneCount('ci'), 500)
  t.is(catalog.count('ci'), 1000)
  const merged = Array.from({ length: 600 }, (_, i) => catalog.merge(rec('ci', `m${i}`, 80_000 + i), 'ci', true, 'displace'))
  t.is(catalog.tombstoneCount('ci'), 0, 'the 500 left were displaced')
  t.is(merged.filter(r => r === 'stale').length, 100, 'then there was none to give up: the last 100 are dropped')
  t.is(catalog.count('ci'), 1000)
  t.is(catalog.statusCounts().get(TOMBSTONE), 0)
})

test('merge: past the tombstones given up that it remembers one by one, a host\'s cut-off keeps what they superseded out; a live record newer than the cut-off is not refused for a tombstone given up after it', t => {
  const { catalog, clock } = setup(HISTORY)
  clock.set(at(0))
  const n = DISPLACED_KEYS_KEPT + 5000
  // 1,000 places; n instances started and removed, every new one in place of the oldest tombstone
  for (let i = 0; i < 1000; i++) catalog.merge(rec('ci', `t${i}`, -10_000_000 + i, TOMBSTONE), 'ci')
  for (let i = 0; i < n; i++) {
    const ms = -9_000_000 + i * 100
    catalog.merge(rec('ci', `j${i}`, ms), 'ci', true, 'displace')
    catalog.merge(rec('ci', `j${i}`, ms + 50, TOMBSTONE), 'ci')
  }
  t.is(catalog.count('ci'), 1000)
  // every ALIVE of an instance given up, those forgotten one by one included, stays out
  const replayed = Array.from({ length: n - 1000 }, (_, i) => catalog.merge(rec('ci', `j${i}`, -9_000_000 + i * 100), 'peer', true))
  t.true(replayed.every(r => r === 'stale'), `${replayed.filter(r => r !== 'stale').length} of ${replayed.length} came back`)
  // a host that re-stamps its tombstones (a peer connected) gives up recent ones: a live record a little
  // older than them, of another key, is not refused for it (a single cut-off at their time would)
  for (let i = 0; i < 1000; i++) catalog.merge(rec('ci', `j${n - 1000 + i}`, 100 + i, TOMBSTONE), 'ci')
  t.is(catalog.merge(rec('ci', 'fresh', 1000), 'ci', true, 'displace'), 'added')
  t.is(catalog.merge(rec('ci', 'live', 50), 'ci', true, 'displace'), 'added', 'stamped before the tombstone given up for fresh')
  t.is(catalog.merge(rec('ci', `j${n - 1000}`, 99), 'peer', true), 'stale', 'the given-up key itself: superseded')
})
