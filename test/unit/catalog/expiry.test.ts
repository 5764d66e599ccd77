import test from 'ava'
import { Reaper } from '../../../src/catalog/reaper.ts'
import { isDeadTombstone, isExpired } from '../../../src/catalog/rules.ts'
import { silentLogger } from '../../../src/lib/logger.ts'
import { ServiceStatus, Time, withFields } from '../../../src/service/index.ts'
import { FakeClock } from '../../helpers/fake-clock.ts'
import { at, BASE_TIME, makeCatalogOptions, makeTestService } from '../../helpers/factories.ts'
import { prng } from '../../helpers/prng.ts'
import { setup } from './setup.ts'

const { ALIVE, TOMBSTONE, UNHEALTHY, UNKNOWN, DRAINING } = ServiceStatus
const THREE_HOURS = 10_800_000
/** How long a tombstone is kept: the tombstone lifespan + the stale check's 1 min (tombstoneKeptMs). */
const KEPT = THREE_HOURS + 60_000

for (const status of [ALIVE, UNHEALTHY, UNKNOWN]) {
  test(`expire: a status-${status} record not refreshed for 80 s becomes a tombstone at Updated + 1 s`, t => {
    const { catalog, clock, events } = setup()
    catalog.merge(makeTestService({ Status: status }))
    clock.set(at(80_000))
    t.deepEqual(catalog.expire(), [], 'exactly at the lifespan it is still alive')
    clock.advance(1)
    const [tomb, ...rest] = catalog.expire()
    t.is(rest.length, 0)
    t.is(tomb.Status, TOMBSTONE)
    t.true(tomb.Updated.equals(at(1_000)))
    t.is(catalog.get('host1', 'abc123def456'), tomb)
    t.deepEqual(events.at(-1), { service: tomb, previousStatus: status, time: at(1_000) })
    t.deepEqual(catalog.expire(), [], 'a tombstone is not tombstoned again')
  })
}

test('expire: a draining record uses the draining lifespan', t => {
  const { catalog, clock } = setup()
  catalog.merge(makeTestService({ Status: DRAINING }))
  clock.set(at(80_001))
  t.deepEqual(catalog.expire(), [])
  clock.set(at(600_001))
  const [tomb] = catalog.expire()
  t.is(tomb.Status, TOMBSTONE)
  t.true(tomb.Updated.equals(at(1_000)))
})

test('expire: a refreshed record is not expired', t => {
  const { catalog, clock } = setup()
  catalog.merge(makeTestService())
  clock.set(at(70_000))
  catalog.merge(makeTestService({ Updated: at(70_000) }))
  clock.set(at(100_000))
  t.deepEqual(catalog.expire(), [])
  t.is(catalog.get('host1', 'abc123def456')?.Status, ALIVE)
})

test('expire: the expiry tombstone loses to a newer record from the origin', t => {
  const { catalog, clock } = setup()
  catalog.merge(makeTestService())
  clock.set(at(90_000))
  catalog.expire()
  t.is(catalog.merge(makeTestService({ Updated: at(85_000) })), 'changed', 'the origin\'s next refresh')
  t.is(catalog.get('host1', 'abc123def456')?.Status, ALIVE)
})

test('expire: only expired records of each host are returned', t => {
  const { catalog, clock } = setup()
  catalog.merge(makeTestService({ ID: 'old', Hostname: 'host1' }))
  catalog.merge(makeTestService({ ID: 'old', Hostname: 'host2' }))
  catalog.merge(makeTestService({ ID: 'new', Hostname: 'host2', Updated: at(50_000) }))
  clock.set(at(100_000))
  const tombs = catalog.expire()
  t.deepEqual(tombs.map(s => `${s.Hostname}/${s.ID}`).sort(), ['host1/old', 'host2/old'])
  t.is(catalog.get('host2', 'new')?.Status, ALIVE)
})

test('expire: tombstones older than 3 h + 1 min (the stale cut-off) are removed, and the empty server with them, without an event', t => {
  const { catalog, clock, events } = setup()
  catalog.merge(makeTestService({ Status: TOMBSTONE }))
  t.is(events.length, 1)
  clock.set(at(THREE_HOURS + 1))
  t.deepEqual(catalog.expire(), [])
  t.truthy(catalog.get('host1', 'abc123def456'), 'past the bare 3 h it is kept')
  clock.set(at(KEPT))
  t.deepEqual(catalog.expire(), [])
  t.truthy(catalog.get('host1', 'abc123def456'), 'exactly 3 h 1 min old is kept')
  clock.advance(1)
  t.deepEqual(catalog.expire(), [])
  t.is(catalog.get('host1', 'abc123def456'), undefined)
  t.deepEqual(catalog.hostnames(), [])
  t.is(catalog.server('host1'), undefined)
  t.deepEqual(catalog.snapshot().Servers, Object.create(null))
  t.is(events.length, 1)
})

test('expire: a server keeps living while it has another record', t => {
  const { catalog, clock } = setup()
  catalog.merge(makeTestService({ ID: 'dead', Status: TOMBSTONE }))
  catalog.merge(makeTestService({ ID: 'live', Updated: at(KEPT) }))
  clock.set(at(KEPT + 1))
  catalog.expire()
  t.deepEqual(catalog.services().map(s => s.ID), ['live'])
})

test('expire: an expired record becomes a tombstone that is itself removed 3 h 1 min later', t => {
  const { catalog, clock } = setup()
  catalog.merge(makeTestService())
  clock.set(at(80_001))
  catalog.expire()
  clock.set(at(1_000 + KEPT))
  catalog.expire()
  t.truthy(catalog.get('host1', 'abc123def456'))
  clock.advance(1)
  catalog.expire()
  t.is(catalog.get('host1', 'abc123def456'), undefined)
})

test('expire: LastChanged does not move back when expiry stamps an older time', t => {
  const { catalog, clock } = setup()
  catalog.merge(makeTestService({ ID: 'quiet', Updated: at(0) }))
  clock.set(at(85_000))
  catalog.merge(makeTestService({ ID: 'busy', Updated: at(85_000) }))
  t.true(catalog.lastChanged.equals(at(85_000)))
  const [tomb] = catalog.expire()
  t.true(tomb.Updated.equals(at(1_000)))
  t.true(catalog.lastChanged.equals(at(85_000)))
  t.true(catalog.server('host1')?.LastChanged.equals(at(85_000)))
})

test('expire: an empty catalog gives nothing', t => {
  const { catalog } = setup()
  t.deepEqual(catalog.expire(), [])
})

// Audit F6: forgotten at its Updated + 3 h, a tombstone left a minute before the versions it
// superseded were stale: a replay of one (authentic, origin-signed, relayed late) found nothing
// stored and came back ALIVE ('added': proxies, listeners and streams saw it) until the next reap.
for (const before of [1, 1_000, 30_000, 59_999, 60_000, 120_000]) {
  test(`expire: a replayed ALIVE version the tombstone superseded (${before} ms older) never comes back, before or after the tombstone is forgotten`, t => {
    const { catalog, clock, events } = setup()
    const alive = makeTestService({ Hostname: 'h', Updated: at(10_000 - before) })
    catalog.merge(alive, 'h')
    clock.set(at(10_000))
    catalog.merge(makeTestService({ Hostname: 'h', Status: TOMBSTONE, Updated: at(10_000) }), 'h')
    const seen = events.length
    // every reap (2 s apart, at odd milliseconds) from 10 s before the bare lifespan to 70 s after it, a replay after each
    for (let ms = 10_000 + THREE_HOURS - 10_000 + 7; ms <= 10_000 + THREE_HOURS + 70_000; ms += 2_000) {
      clock.set(at(ms))
      catalog.expire()
      const result = catalog.merge(alive, 'peer')
      t.true(result === 'ignored' || result === 'stale', `replay at ${ms} ms: ${result}`)
      t.not(catalog.get('h', alive.ID)?.Status, ALIVE)
    }
    t.is(catalog.get('h', alive.ID), undefined, 'the tombstone is forgotten in the end')
    t.deepEqual(events.slice(seen), [], 'no change event: nothing came back')
  })
}

test('expireHost: tombstones every live record of that host 1 ns after the version it replaces, whatever our clock says', t => {
  const { catalog, clock, events } = setup()
  catalog.merge(makeTestService({ ID: 'a', Hostname: 'gone' }))
  catalog.merge(makeTestService({ ID: 'b', Hostname: 'gone', Status: DRAINING, Updated: at(-2_000) }))
  clock.set(at(5_000))
  const tombs = catalog.expireHost('gone')
  t.deepEqual(tombs.map(s => s.ID).sort(), ['a', 'b'])
  for (const tomb of tombs) {
    t.is(tomb.Status, TOMBSTONE)
    t.true(tomb.Updated.equals((tomb.ID === 'a' ? at(0) : at(-2_000)).plusNanos(1n)))
    t.is(catalog.get('gone', tomb.ID), tomb)
  }
  t.deepEqual(events.slice(2).map(e => [e.service.ID, e.previousStatus, e.time.toMillis()]).sort(), [['a', ALIVE, at(0).toMillis()], ['b', DRAINING, at(-2_000).toMillis()]])
  t.true(catalog.lastChanged.equals(at(0).plusNanos(1n)))
})

// Audit F7: an observer whose clock was s ahead of the host's tombstoned the host's records at
// its own now, and the host's re-announced versions (stamped by its own clock, which the host
// cannot move past a tombstone it is never told the time of) lost to it for about s.
for (const aheadMs of [25_000, 79_000]) {
  test(`expireHost: an observer ${aheadMs} ms ahead of the host holds its records down no longer than the host's next stamp`, t => {
    const hostClock = new FakeClock(at(0))
    const observer = setup({ hostname: 'x' }, new FakeClock(at(aheadMs)))
    const rec = makeTestService({ Hostname: 'h', Updated: hostClock.now() })
    t.is(observer.catalog.merge(rec, 'h'), 'added')
    observer.clock.advance(4_000) // the host stops answering: departed 4 s later
    hostClock.advance(4_000)
    const [tomb] = observer.catalog.expireHost('h')
    t.is(tomb.Status, TOMBSTONE)
    t.is(observer.catalog.merge(rec, 'h'), 'ignored', 'the version the tombstone replaced still loses')
    t.is(observer.catalog.merge(withFields(rec, { Status: UNHEALTHY }), 'h'), 'ignored', 'and so does any other of the same time')
    hostClock.advance(1_000) // back a second later: re-announced, stamped by its own clock
    observer.clock.advance(1_000)
    const back = withFields(rec, { Updated: Time.max(hostClock.now(), rec.Updated.plusNanos(1n)) })
    t.is(observer.catalog.merge(back, 'h'), 'changed')
    t.is(observer.catalog.get('h', rec.ID)?.Status, ALIVE)
  })
}


// An observer more than the alive lifespan ahead (a clock the cluster did not correct: it
// corrects a host's clock at its origin, docs/faults.md) holds every record of the host as past
// its lifespan. Before, it took each and tombstoned it at the next reap (2 s): the host's
// instances flapped there, and through its proxy, at every refresh. Now they are dead on arrival.
test('merge: an observer ahead of the host by more than the alive lifespan takes none of its live records, and so never flaps them', t => {
  const observer = setup({ hostname: 'x' }, new FakeClock(at(10 * 60_000)))
  for (let refresh = 0; refresh < 5; refresh++) {
    const rec = makeTestService({ Hostname: 'h', Updated: at(refresh * 20_000) })
    t.is(observer.catalog.merge(rec, 'h', true), 'stale')
    t.deepEqual(observer.catalog.expire(), [])
    observer.clock.advance(20_000)
  }
  t.is(observer.catalog.get('h', 'abc123def456'), undefined)
  t.is(observer.events.length, 0, 'no change: not ALIVE, then TOMBSTONE, at every refresh')
})

test('expireHost: leaves other hosts alone', t => {
  const { catalog, clock } = setup()
  const other = makeTestService({ Hostname: 'host2' })
  catalog.merge(other)
  catalog.merge(makeTestService({ Hostname: 'gone' }))
  clock.set(at(5_000))
  catalog.expireHost('gone')
  t.is(catalog.get('host2', 'abc123def456'), other)
})

test('expireHost: does not re-stamp existing tombstones', t => {
  const { catalog, clock, events } = setup()
  const tomb = makeTestService({ ID: 'dead', Hostname: 'gone', Status: TOMBSTONE })
  catalog.merge(tomb)
  catalog.merge(makeTestService({ ID: 'live', Hostname: 'gone' }))
  clock.set(at(5_000))
  t.deepEqual(catalog.expireHost('gone').map(s => s.ID), ['live'])
  t.is(catalog.get('gone', 'dead'), tomb)
  t.is(events.length, 3)
})

test('expireHost: an unknown host, or one with only tombstones, gives nothing', t => {
  const { catalog, events } = setup()
  t.deepEqual(catalog.expireHost('nobody'), [])
  catalog.merge(makeTestService({ Hostname: 'gone', Status: TOMBSTONE }))
  t.deepEqual(catalog.expireHost('gone'), [])
  t.is(events.length, 1)
})

test('expireHost: a record stamped in our future gets a tombstone 1 ns newer than itself', t => {
  const { catalog } = setup()
  catalog.merge(makeTestService({ Hostname: 'ahead', Updated: at(30_000) }))
  const [tomb] = catalog.expireHost('ahead')
  t.true(tomb.Updated.equals(at(30_000).plusNanos(1n)))
  t.true(tomb.Updated.isAfter(BASE_TIME))
})

test('expireHost: a rejoining host resurrects its records with newer ones', t => {
  const { catalog, clock } = setup()
  catalog.merge(makeTestService({ Hostname: 'flaky' }))
  clock.set(at(5_000))
  catalog.expireHost('flaky')
  t.is(catalog.merge(makeTestService({ Hostname: 'flaky', Updated: at(6_000) })), 'changed')
  t.is(catalog.get('flaky', 'abc123def456')?.Status, ALIVE)
})

test('expire: a change listener may merge records while the pass delivers its events', t => {
  const { catalog, clock } = setup()
  catalog.merge(makeTestService({ ID: 'a' }))
  catalog.merge(makeTestService({ ID: 'b' }))
  clock.set(at(90_000))
  catalog.on('change', e => {
    if (e.service.Status === TOMBSTONE) catalog.merge(makeTestService({ ID: `${e.service.ID}-reborn`, Updated: at(90_000) }))
  })
  t.is(catalog.expire().length, 2)
  t.deepEqual(catalog.services().map(s => `${s.ID}:${s.Status}`), ['a:1', 'a-reborn:0', 'b:1', 'b-reborn:0'])
})

test('statusCounts: the counts kept as records are stored, tombstoned and dropped match a recount, over 5,000 random steps', t => {
  const { catalog, clock } = setup()
  const r = prng(7)
  const rand = (n: number): number => Math.floor(r() * n)
  const recount = (): Record<number, number> => {
    const c: Record<number, number> = {}
    for (const svc of catalog.services()) c[svc.Status] = (c[svc.Status] ?? 0) + 1
    return c
  }
  const kept = (): Record<number, number> => Object.fromEntries([...catalog.statusCounts()].filter(([, n]) => n !== 0))
  for (let i = 0; i < 5000; i++) {
    const op = rand(100)
    if (op < 80) catalog.merge(makeTestService({ Hostname: `h${rand(5)}`, ID: `s${rand(300)}`, Status: [ALIVE, ALIVE, UNHEALTHY, DRAINING, UNKNOWN, TOMBSTONE][rand(6)], Updated: clock.now().plusMillis(rand(1000)) }))
    else if (op < 85) catalog.expireHost(`h${rand(5)}`)
    else if (op < 95) { clock.advance(rand(100_000)); catalog.expire() } // expiry turns records into tombstones
    else { clock.advance(THREE_HOURS + 120_000); catalog.expire() } // and drops dead tombstones
    if (i % 50 === 0) t.deepEqual(kept(), recount(), `after step ${i}`)
  }
  t.deepEqual(kept(), recount())
  t.true(catalog.size > 0)
})

test('tombstoneDeparted: a departed host taken in slices; a record re-announced between slices (the host came back) is left alone', t => {
  const { catalog, clock, events } = setup()
  for (let i = 0; i < 10; i++) catalog.merge(makeTestService({ Hostname: 'gone', ID: `s${i}`, Status: ALIVE }))
  const records = catalog.hostRecords('gone')
  t.is(catalog.tombstoneDeparted(records.slice(0, 5)).length, 5)
  clock.advance(1000)
  const back = makeTestService({ Hostname: 'gone', ID: records[7].ID, Status: ALIVE, Updated: clock.now() })
  t.is(catalog.merge(back), 'refreshed')
  const rest = catalog.tombstoneDeparted(records.slice(5))
  t.deepEqual(rest.map(s => s.ID).sort(), records.slice(5).map(s => s.ID).filter(id => id !== back.ID).sort())
  t.is(catalog.get('gone', back.ID)?.Status, ALIVE, 'the re-announced record stays ALIVE')
  t.is(catalog.hostRecords('gone').filter(s => s.Status === TOMBSTONE).length, 9)
  t.is(events.filter(e => e.service.Status === TOMBSTONE).length, 9)
  t.deepEqual(catalog.tombstoneDeparted(records), [], 'a second pass finds nothing left to tombstone')
})

// expire() looks only at records whose deadline has come (a heap), not at every record. This
// compares it with the rules applied to every record, over random merges, clock steps both ways
// (sub-millisecond stamps, around 1970 too) and hostnames/IDs built to collide if joined naively.
for (const [label, base] of [['2024', BASE_TIME], ['around 1970', Time.fromMillis(-300)]] as const) {
  test(`expire: over random merges and clock steps (${label}), exactly what the rules pick over every record`, t => {
    const opts = { aliveLifespanMs: 40, drainingLifespanMs: 90, tombstoneLifespanMs: 150 }
    const clock = new FakeClock(base)
    const { catalog } = setup(opts, clock)
    const full = makeCatalogOptions(opts)
    const rand = prng(label.length)
    const names = ['a', 'b', '1', '1:', ':', '2:ab', 'ab'] // "1" + ":ab" and "1:" + "ab" must stay two records
    const statuses = [ALIVE, UNHEALTHY, UNKNOWN, DRAINING, TOMBSTONE]
    let expired = 0
    let forgotten = 0
    for (let step = 0; step < 4000; step++) {
      const r = rand()
      if (r < 0.6) {
        const Updated = clock.now().plusNanos(BigInt(Math.floor((rand() - 0.7) * 60e6)))
        catalog.merge(makeTestService({ Hostname: names[Math.floor(rand() * names.length)], ID: names[Math.floor(rand() * names.length)], Status: statuses[Math.floor(rand() * statuses.length)], Updated }))
      } else if (r < 0.8) {
        // now and then a minute on: tombstones are kept for the tombstone lifespan + 1 min
        const jump = rand() < 0.05 ? 60_000e6 : 0
        clock.set(clock.now().plusNanos(BigInt(jump + Math.floor((rand() - 0.1) * 30e6))))
      } else {
        const now = clock.now()
        const before = catalog.services()
        const want = before.filter(s => isExpired(s, full, now)).map(s => `${s.Hostname}/${s.ID}`)
        const gone = before.filter(s => isDeadTombstone(s, full, now)).map(s => `${s.Hostname}/${s.ID}`)
        const got = catalog.expire()
        t.deepEqual(got.map(s => `${s.Hostname}/${s.ID}`).sort(), want.sort(), `step ${step}: the records past their lifespan`)
        for (const s of got) t.true(s.Status === TOMBSTONE && catalog.get(s.Hostname, s.ID) === s)
        const after = new Set(catalog.services().map(s => `${s.Hostname}/${s.ID}`))
        for (const key of gone) t.false(after.has(key), `step ${step}: ${key} is forgotten`)
        t.is(after.size, before.length - gone.length, `step ${step}: nothing else is forgotten`)
        expired += want.length
        forgotten += gone.length
      }
    }
    t.true(expired > 100 && forgotten > 100, `the run exercised both (${expired} expired, ${forgotten} forgotten)`)
  })
}

test('expireSome: a pass cut by its slice goes on where it stopped, each record expired once, the same as one whole pass', t => {
  const whole = setup()
  const sliced = setup()
  for (const { catalog } of [whole, sliced]) {
    for (let i = 0; i < 5000; i++) catalog.merge(makeTestService({ ID: `svc${i}`, Hostname: `host${i % 7}`, Updated: at(i % 3000) }))
    catalog.merge(makeTestService({ ID: 'fresh', Updated: at(90_000) }))
  }
  for (const { clock } of [whole, sliced]) clock.set(at(85_000))
  const want = whole.catalog.expire().map(s => `${s.Hostname}/${s.ID}`).sort()
  t.is(want.length, 5000)
  const got: string[] = []
  let calls = 0
  for (let done = false; !done; calls++) {
    const r = sliced.catalog.expireSome({ due: () => true })
    got.push(...r.expired.map(s => `${s.Hostname}/${s.ID}`))
    done = r.done
  }
  t.true(calls > 100, `the pass was cut (${calls} calls)`)
  t.deepEqual(got.sort(), want)
  t.deepEqual(sliced.catalog.snapshot(), whole.catalog.snapshot())
  t.deepEqual(sliced.catalog.expireSome({ due: () => true }), { expired: [], done: true })
})

test('reaper: 20,000 records expiring at once are tombstoned in slices, with timers running between them', async t => {
  const { catalog, clock } = setup()
  for (let i = 0; i < 20_000; i++) catalog.merge(makeTestService({ ID: `svc${i}`, Hostname: `host${i % 3}` }))
  clock.set(at(81_000))
  let ticks = 0
  const timer = setInterval(() => { ticks++ }, 0)
  t.teardown(() => { clearInterval(timer) })
  const batches: Array<{ n: number, ticks: number }> = []
  const all = Promise.withResolvers<void>()
  let total = 0
  const reaper = new Reaper({ catalog, logger: silentLogger() }, {
    intervalMs: 20,
    onExpired: (expired) => {
      batches.push({ n: expired.length, ticks })
      total += expired.length
      if (total >= 20_000) all.resolve()
    },
  })
  t.teardown(async () => { await reaper.stop() })
  await reaper.start()
  await all.promise
  t.is(total, 20_000)
  t.true(batches.length > 1, `${batches.length} slices`)
  t.log(`${batches.length} slices`)
  t.true(batches.at(-1)!.ticks > batches[0].ticks, 'a timer ran between the first slice and the last')
  t.is(catalog.statusCounts().get(TOMBSTONE), 20_000)
})
