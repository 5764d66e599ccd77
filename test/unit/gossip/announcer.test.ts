// The announcer with a real catalog, a fake clock and a publish function that records what
// would go on the wire. No sleeps and no timers: rounds are
// driven with round() (roundTimer: false), and flush(0) sends what a change queued for the next turn.
import test from 'ava'
import { GossipAnnouncer, SEND_SLICE, type AnnouncerInit } from '../../../src/gossip/announcer.ts'
import { decodeMessage } from '../../../src/gossip/wire.ts'
import { silentLogger } from '../../../src/lib/logger.ts'
import type { OwnedRecords } from '../../../src/local/types.ts'
import { recordKey, ServiceStatus, Time, withFields, type Service } from '../../../src/service/index.ts'
import { makeTestService } from '../../helpers/factories.ts'
import { setup } from '../catalog/setup.ts'

const { ALIVE, TOMBSTONE } = ServiceStatus
/** What the test's rounds stand for: the clock advances this much before each round(). */
const ROUND_MS = 1000

async function fixture (init: Partial<AnnouncerInit> = {}) {
  const { catalog, clock } = setup({ hostname: 'host1' })
  const owned = new Map<string, Service>()
  const sent: Service[][] = []
  /** Records per seal() call: one call per slice of a send. */
  const sealCalls: number[] = []
  // The local component's part, as src/local/ does it: owned records, re-stamped strictly newer.
  /** Calls of the local component's views: a round should look at due records only. */
  const views = { owned: 0, isOwned: 0 }
  const local: OwnedRecords = {
    owned: () => { views.owned++; return [...owned.values()].map(s => catalog.get(s.Hostname, s.ID) ?? s) },
    isOwned: (svc) => { views.isOwned++; return owned.has(recordKey(svc)) },
    restamp: (hostname, id) => {
      const stored = catalog.get(hostname, id)
      if (stored === undefined || (hostname !== 'host1' && !owned.has(recordKey(stored)))) return undefined
      catalog.merge(withFields(stored, { Updated: Time.max(clock.now(), stored.Updated.plusNanos(1n)) }))
      return catalog.get(hostname, id)
    },
  }
  const announcer = new GossipAnnouncer({
    catalog,
    clock,
    logger: silentLogger(),
    local,
    seal: (records) => { sealCalls.push(records.length); return records.map(svc => ({ svc })) },
    publish: async (data) => { sent.push(decodeMessage(data, clock.now().plusMillis(60_000))) },
  }, { hostname: 'host1', aliveRounds: 5, tombstoneRounds: 10, observerRounds: 2, roundIntervalMs: ROUND_MS, heartbeatMs: 60_000, roundTimer: false, ...init })
  await announcer.start()
  /** Merges a record as the local component does (from = this host) and marks it owned. */
  const add = (svc: Service): void => {
    owned.set(recordKey(svc), svc)
    catalog.merge(svc)
  }
  /** The sends of the current turn (what a change queued), as setImmediate would do them. */
  const flush = async (): Promise<void> => { await announcer.flush(0); await announcer.settled() }
  /** n rounds, each ROUND_MS later on the clock. */
  const rounds = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) { clock.advance(ROUND_MS); announcer.round(); await announcer.settled() }
  }
  return { catalog, clock, announcer, sent, sealCalls, views, add, owned, flush, rounds }
}

const flat = (sent: Service[][]): Service[] => sent.flat()

test('announcer: a new local record is published at once, then repeated for the alive rounds with newer Updated', async t => {
  const f = await fixture()
  t.teardown(async () => { await f.announcer.stop() })
  f.add(makeTestService({ Hostname: 'host1' }))
  await f.flush()
  t.is(flat(f.sent).length, 1)
  t.is(flat(f.sent)[0].Status, ALIVE)
  await f.rounds(5)
  const sends = flat(f.sent)
  t.is(sends.length, 5, 'five sends in all')
  for (let i = 1; i < sends.length; i++) t.true(sends[i].Updated.isAfter(sends[i - 1].Updated), `send ${i} is newer`)
  t.true(f.catalog.get('host1', sends[0].ID)?.Updated.equals(sends[4].Updated), 'the catalog holds what was sent last')
})

test('announcer: refreshes of an unchanged record are not published', async t => {
  const f = await fixture({ aliveRounds: 1 })
  t.teardown(async () => { await f.announcer.stop() })
  const svc = makeTestService({ Hostname: 'host1' })
  f.add(svc)
  await f.flush()
  const before = flat(f.sent).length
  for (let i = 1; i <= 5; i++) { f.clock.advance(ROUND_MS); f.add(withFields(svc, { Updated: f.clock.now() })); await f.flush(); await f.rounds(1) }
  t.is(flat(f.sent).length, before)
})

test('announcer: a local tombstone is repeated for the tombstone rounds, a status change for the alive rounds', async t => {
  const f = await fixture({ aliveRounds: 2, tombstoneRounds: 4 })
  t.teardown(async () => { await f.announcer.stop() })
  const svc = makeTestService({ Hostname: 'host1' })
  f.add(svc)
  await f.flush()
  await f.rounds(3)
  t.is(flat(f.sent).length, 2)
  f.sent.length = 0
  f.clock.advance(ROUND_MS)
  f.owned.delete(recordKey(svc))
  f.catalog.merge(withFields(svc, { Status: TOMBSTONE, Updated: f.clock.now() }))
  await f.flush()
  await f.rounds(6)
  const sends = flat(f.sent)
  t.is(sends.length, 4)
  t.true(sends.every(s => s.Status === TOMBSTONE))
})

test('announcer: records merged from peers are never published', async t => {
  const f = await fixture()
  t.teardown(async () => { await f.announcer.stop() })
  f.catalog.merge(makeTestService({ Hostname: 'host2' }), 'host2')
  f.catalog.merge(makeTestService({ Hostname: 'host1', ID: 'theirs' }), 'host2')
  await f.flush()
  await f.rounds(3)
  t.deepEqual(f.sent, [])
})

test('announcer: tombstones this node makes for a departed host go out for the observer rounds, 50 ns newer each', async t => {
  const f = await fixture({ observerRounds: 2 })
  t.teardown(async () => { await f.announcer.stop() })
  f.catalog.merge(makeTestService({ Hostname: 'host2' }), 'host2')
  const [tomb] = f.catalog.expireHost('host2')
  await f.flush()
  await f.rounds(4)
  const sends = flat(f.sent)
  t.is(sends.length, 2)
  t.true(sends[0].Updated.equals(tomb.Updated))
  t.is(sends[1].Updated.ns - sends[0].Updated.ns, 50n)
})

test('announcer: every local record has its own heartbeat, so a busy one never starves a quiet one', async t => {
  const f = await fixture({ aliveRounds: 1, heartbeatMs: 10_000 })
  t.teardown(async () => { await f.announcer.stop() })
  const quiet = makeTestService({ Hostname: 'host1', ID: 'quiet' })
  const busy = makeTestService({ Hostname: 'host1', ID: 'busy' })
  f.add(quiet)
  f.add(busy)
  await f.flush()
  await f.rounds(1)
  f.sent.length = 0
  // busy changes status every second for 30 s; quiet never changes
  for (let i = 0; i < 30; i++) {
    f.clock.advance(ROUND_MS)
    f.add(withFields(busy, { Status: i % 2 === 0 ? ServiceStatus.UNHEALTHY : ALIVE, Updated: f.clock.now() }))
    await f.flush()
    f.announcer.round()
    await f.announcer.settled()
  }
  const quietSends = flat(f.sent).filter(s => s.ID === 'quiet').length
  t.true(quietSends >= 2 && quietSends <= 4, `quiet re-announced ${quietSends} times in 30 s with a 10 s (±20 %) heartbeat`)
})

test('announcer: flush sends what is queued at once (the leave tombstones before stop), then stop sends nothing more', async t => {
  const f = await fixture()
  f.add(makeTestService({ Hostname: 'host1', ID: 'a' }))
  f.add(makeTestService({ Hostname: 'host1', ID: 'b' }))
  await f.flush()
  f.sent.length = 0
  f.clock.advance(ROUND_MS)
  for (const id of ['a', 'b']) f.catalog.merge(withFields(f.catalog.get('host1', id) as Service, { Status: TOMBSTONE, Updated: f.clock.now() }))
  await f.announcer.flush(1000)
  await f.announcer.stop()
  t.deepEqual(flat(f.sent).map(s => [s.ID, s.Status]), [['a', TOMBSTONE], ['b', TOMBSTONE]])
  f.announcer.round()
  t.is(flat(f.sent).length, 2)
})

test('announcer: a large send goes out in slices of at most SEND_SLICE, yielding to the event loop between them, and a round meanwhile does not send them twice', async t => {
  const f = await fixture({ aliveRounds: 2 })
  t.teardown(async () => { await f.announcer.stop() })
  const n = 2 * SEND_SLICE + 10
  for (let i = 0; i < n; i++) f.add(makeTestService({ Hostname: 'host1', ID: `s${i}` }))
  const sending = f.announcer.flush(0) // the changes' send starts now; its first slice is published by the next macrotask
  let atImmediate = -1
  setImmediate(() => {
    atImmediate = flat(f.sent).length
    f.announcer.round() // same time: nothing is due yet, even for records whose slice has not gone out
  })
  await sending
  await f.announcer.settled()
  t.true(atImmediate > 0 && atImmediate <= SEND_SLICE, `other work ran after the first slice and before the second (${atImmediate} sent then)`)
  t.true(f.sealCalls.length >= 3 && f.sealCalls.every(c => c > 0 && c <= SEND_SLICE), `slices of at most SEND_SLICE: ${JSON.stringify(f.sealCalls)}`)
  t.is(f.sealCalls.reduce((a, b) => a + b, 0), n)
  const ids = flat(f.sent).map(s => s.ID)
  t.is(ids.length, n)
  t.is(new Set(ids).size, n, 'each record sent once')
  await f.rounds(1)
  t.is(flat(f.sent).length, 2 * n, 'the repeat round sends each once more')
})

test('announcer: a round that comes due while a large send is still in its slices sends none of the keys it has not reached, and a change meanwhile goes out once', async t => {
  const f = await fixture({ aliveRounds: 3 })
  t.teardown(async () => { await f.announcer.stop() })
  const n = 3 * SEND_SLICE + 10
  for (let i = 0; i < n; i++) f.add(makeTestService({ Hostname: 'host1', ID: `s${i}`, Image: 'app:1' }))
  const sending = f.announcer.flush(0)
  let first: string[] = []
  setImmediate(() => {
    first = flat(f.sent).map(s => s.ID) // the first slice is out, the others are still queued
    f.clock.advance(ROUND_MS)
    f.announcer.round() // due: the first slice's repeat; the keys not reached yet stay with their send
    const last = f.catalog.get('host1', `s${n - 1}`) as Service
    f.add(withFields(last, { Image: 'app:2', Updated: f.clock.now() })) // a change of a key still queued
  })
  await sending
  await f.announcer.settled()
  await f.flush()
  t.true(first.length > 0 && first.length < n, `${first.length} in the first slice`)
  const counts = new Map<string, number>()
  for (const s of flat(f.sent)) counts.set(s.ID, (counts.get(s.ID) ?? 0) + 1)
  for (let i = 0; i < n; i++) {
    const id = `s${i}`
    t.is(counts.get(id), first.includes(id) ? 2 : 1, `${id}: sent ${counts.get(id) ?? 0} times`)
  }
  const changed = flat(f.sent).filter(s => s.ID === `s${n - 1}`)
  t.deepEqual(changed.map(s => s.Image), ['app:2'], 'the changed record went out in its new version only, once')
  f.sent.length = 0
  await f.rounds(2)
  t.is(new Set(flat(f.sent).map(s => s.ID)).size, n, 'the next rounds repeat every record')
})

test('announcer: a round looks at due heartbeats only, not at every local record; a record no longer owned is not heartbeated', async t => {
  const f = await fixture({ aliveRounds: 1, heartbeatMs: 60_000 })
  t.teardown(async () => { await f.announcer.stop() })
  const n = 1000
  for (let i = 0; i < n; i++) f.add(makeTestService({ Hostname: 'host1', ID: `s${i}` }))
  await f.flush()
  t.is(flat(f.sent).length, n)
  f.sent.length = 0
  f.views.owned = 0
  f.views.isOwned = 0
  await f.rounds(40) // 40 s: inside every heartbeat (60 s, -20 %)
  t.deepEqual(f.sent, [])
  t.deepEqual(f.views, { owned: 0, isOwned: 0 }, 'no round looked at a record')
  for (let i = 0; i < 10; i++) f.owned.delete(recordKey({ Hostname: 'host1', ID: `s${i}` }))
  await f.rounds(35) // 75 s: past every heartbeat (60 s, +20 %)
  const ids = flat(f.sent).map(s => s.ID)
  t.is(ids.length, n - 10, 'each owned record heartbeated once')
  t.is(new Set(ids).size, n - 10)
  t.false(ids.includes('s3'), 'not one that is no longer owned')
  t.true(f.views.isOwned <= n, `records looked at: ${f.views.isOwned}, each once when due`)
})
