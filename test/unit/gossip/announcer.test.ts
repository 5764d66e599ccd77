// The announcer with a real catalog, a fake clock and a publish function that records what
// would go on the wire. Rounds are driven by the real 1 s ticker shrunk to a few ms.
import test from 'ava'
import { GossipAnnouncer, type AnnouncerInit } from '../../../src/gossip/announcer.ts'
import { decodeMessage } from '../../../src/gossip/wire.ts'
import { silentLogger } from '../../../src/lib/logger.ts'
import { ServiceStatus, withFields, type Service } from '../../../src/service/index.ts'
import { sleep } from '../../helpers/wait.ts'
import { makeTestService } from '../../helpers/factories.ts'
import { setup } from '../catalog/setup.ts'

const { ALIVE, TOMBSTONE } = ServiceStatus

function fixture (init: Partial<AnnouncerInit> = {}) {
  const { catalog, clock } = setup({ hostname: 'host1' })
  const owned = new Map<string, Service>()
  const sent: Service[][] = []
  const announcer = new GossipAnnouncer({
    catalog,
    clock,
    logger: silentLogger(),
    owned: () => [...owned.values()].map(s => catalog.get(s.Hostname, s.ID) ?? s),
    seal: (records) => records.map(svc => ({ svc })),
    publish: async (data) => { sent.push(decodeMessage(data, clock.now().plusMillis(60_000))) },
  }, { hostname: 'host1', aliveRounds: 5, tombstoneRounds: 10, observerRounds: 2, roundIntervalMs: 20, heartbeatMs: 60_000, ...init })
  /** Merges a record as the local announcer does (from = this host) and marks it owned. */
  const local = (svc: Service): void => {
    owned.set(svc.ID, svc)
    catalog.merge(svc)
  }
  return { catalog, clock, announcer, sent, local, owned }
}

const flat = (sent: Service[][]): Service[] => sent.flat()

test('announcer: a new local record is published at once, then repeated for the alive rounds with newer Updated', async t => {
  const f = fixture()
  await f.announcer.start()
  t.teardown(async () => { await f.announcer.stop() })
  f.local(makeTestService({ Hostname: 'host1' }))
  await sleep(1) // one turn of the event loop: no tick has run yet
  t.is(flat(f.sent).length, 1)
  t.is(flat(f.sent)[0].Status, ALIVE)
  for (let i = 0; i < 5; i++) { f.clock.advance(1000); await sleep(30) }
  const sends = flat(f.sent)
  t.is(sends.length, 5, 'five sends in all')
  for (let i = 1; i < sends.length; i++) t.true(sends[i].Updated.isAfter(sends[i - 1].Updated), `send ${i} is newer`)
  t.true(f.catalog.get('host1', sends[0].ID)?.Updated.equals(sends[4].Updated), 'the catalog holds what was sent last')
})

test('announcer: refreshes of an unchanged record are not published', async t => {
  const f = fixture({ aliveRounds: 1 })
  await f.announcer.start()
  t.teardown(async () => { await f.announcer.stop() })
  const svc = makeTestService({ Hostname: 'host1' })
  f.local(svc)
  await sleep(60)
  const before = flat(f.sent).length
  for (let i = 1; i <= 5; i++) { f.clock.advance(1000); f.local(withFields(svc, { Updated: f.clock.now() })); await sleep(25) }
  t.is(flat(f.sent).length, before)
})

test('announcer: a local tombstone is repeated for the tombstone rounds, a status change for the alive rounds', async t => {
  const f = fixture({ aliveRounds: 2, tombstoneRounds: 4 })
  await f.announcer.start()
  t.teardown(async () => { await f.announcer.stop() })
  const svc = makeTestService({ Hostname: 'host1' })
  f.local(svc)
  await sleep(80)
  f.sent.length = 0
  f.clock.advance(1000)
  f.owned.delete(svc.ID)
  f.catalog.merge(withFields(svc, { Status: TOMBSTONE, Updated: f.clock.now() }))
  for (let i = 0; i < 6; i++) { f.clock.advance(1000); await sleep(30) }
  const sends = flat(f.sent)
  t.is(sends.length, 4)
  t.true(sends.every(s => s.Status === TOMBSTONE))
})

test('announcer: records merged from peers are never published', async t => {
  const f = fixture()
  await f.announcer.start()
  t.teardown(async () => { await f.announcer.stop() })
  f.catalog.merge(makeTestService({ Hostname: 'host2' }), 'host2')
  f.catalog.merge(makeTestService({ Hostname: 'host1', ID: 'theirs' }), 'host2')
  await sleep(60)
  t.deepEqual(f.sent, [])
})

test('announcer: tombstones this node makes for a departed host go out for the observer rounds, 50 ns newer each', async t => {
  const f = fixture({ observerRounds: 2 })
  await f.announcer.start()
  t.teardown(async () => { await f.announcer.stop() })
  f.catalog.merge(makeTestService({ Hostname: 'host2' }), 'host2')
  const [tomb] = f.catalog.expireHost('host2')
  for (let i = 0; i < 4; i++) { f.clock.advance(1000); await sleep(30) }
  const sends = flat(f.sent)
  t.is(sends.length, 2)
  t.true(sends[0].Updated.equals(tomb.Updated))
  t.is(sends[1].Updated.ns - sends[0].Updated.ns, 50n)
})

test('announcer: every local record has its own heartbeat, so a busy one never starves a quiet one', async t => {
  const f = fixture({ aliveRounds: 1, heartbeatMs: 10_000 })
  await f.announcer.start()
  t.teardown(async () => { await f.announcer.stop() })
  const quiet = makeTestService({ Hostname: 'host1', ID: 'quiet' })
  const busy = makeTestService({ Hostname: 'host1', ID: 'busy' })
  f.local(quiet)
  f.local(busy)
  await sleep(40)
  f.sent.length = 0
  // busy changes status every second for 30 s; quiet never changes
  for (let i = 0; i < 30; i++) {
    f.clock.advance(1000)
    f.local(withFields(busy, { Status: i % 2 === 0 ? ServiceStatus.UNHEALTHY : ALIVE, Updated: f.clock.now() }))
    await sleep(25)
  }
  const quietSends = flat(f.sent).filter(s => s.ID === 'quiet').length
  t.true(quietSends >= 2 && quietSends <= 4, `quiet re-announced ${quietSends} times in 30 s with a 10 s (±20 %) heartbeat`)
})

test('announcer: leave tombstones every owned record, merges and publishes them', async t => {
  const f = fixture()
  await f.announcer.start()
  f.local(makeTestService({ Hostname: 'host1', ID: 'a' }))
  f.local(makeTestService({ Hostname: 'host1', ID: 'b' }))
  await sleep(40)
  f.sent.length = 0
  f.clock.advance(1000)
  t.is(await f.announcer.leave(1000), 2)
  await f.announcer.stop()
  t.deepEqual(flat(f.sent).map(s => [s.ID, s.Status]), [['a', TOMBSTONE], ['b', TOMBSTONE]])
  t.is(f.catalog.get('host1', 'a')?.Status, TOMBSTONE)
})
