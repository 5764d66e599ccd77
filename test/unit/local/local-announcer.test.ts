// The local component with a fake discoverer and fake health verdicts on a fake clock: no
// timers run (the refresh interval is an hour), so every merge is one the test caused.
import test from 'ava'
import { Catalog, type ChangeEvent } from '../../../src/catalog/index.ts'
import type { Discovered } from '../../../src/discovery/types.ts'
import { silentLogger } from '../../../src/lib/logger.ts'
import { LocalAnnouncer } from '../../../src/local/local-announcer.ts'
import { listenerName, makeService, recordKey, ServiceStatus, Time, withFields, type Service } from '../../../src/service/index.ts'
import { FakeClock } from '../../helpers/fake-clock.ts'
import { makeCatalogOptions } from '../../helpers/factories.ts'
import { FakeDiscoverer, FakeMonitor } from '../../helpers/local-fakes.ts'
import { waitFor } from '../../helpers/wait.ts'

const { ALIVE, TOMBSTONE, UNHEALTHY, UNKNOWN } = ServiceStatus
const HOUR_MS = 3_600_000

function discovered (i: number, fields: Partial<Service> = {}, extra: Partial<Discovered> = {}): Discovered {
  return { service: makeService({ ID: `id${i}`, Name: `svc${i % 7}`, Hostname: 'me', Image: 'img:1', Ports: [{ Type: 'tcp', Port: 20000 + i, ServicePort: 8000, IP: '127.0.0.1' }], ...fields }), check: { type: 'AlwaysSuccessful', args: '' }, ...extra }
}

async function fixture (list: Discovered[] = [], refresh: { refreshIntervalMs?: number, restampAfterMs?: number, firstListingWaitMs?: number, firstVerdictWaitMs?: number } = {}) {
  const clock = new FakeClock()
  const catalog = new Catalog({ clock }, makeCatalogOptions({ hostname: 'me' }))
  let merges = 0
  const merge = catalog.merge.bind(catalog)
  catalog.merge = (svc, from) => { merges++; return merge(svc, from) }
  const events: ChangeEvent[] = []
  catalog.on('change', e => { events.push(e) })
  const discoverer = new FakeDiscoverer()
  discoverer.list = list
  const monitor = new FakeMonitor()
  const local = new LocalAnnouncer({ catalog, clock, logger: silentLogger(), discoverers: [discoverer], monitor }, { hostname: 'me', site: '', refreshIntervalMs: HOUR_MS, checkHost: '127.0.0.1', defaultCheckEndpoint: '/version', ...refresh })
  return { clock, catalog, events, discoverer, monitor, local, merges: () => merges, resetMerges: () => { merges = 0 } }
}

test('local: the origin always wins: a stored version stamped in our future is out-dated by 1 ns, not ignored', async t => {
  const f = await fixture([discovered(1)])
  const future = f.clock.now().plusMillis(60_000)
  f.catalog.merge(withFields(discovered(1).service, { Status: TOMBSTONE, Updated: future }), 'peer') // a peer's tombstone from a clock 60 s ahead
  await f.local.start()
  t.teardown(async () => { await f.local.stop() })
  const stored = f.catalog.get('me', 'id1') as Service
  t.is(stored.Status, UNKNOWN, 'our record replaced the tombstone')
  t.is(stored.Updated.ns, future.ns + 1n)
  f.monitor.flip(recordKey(stored), ALIVE)
  t.is(f.catalog.get('me', 'id1')?.Status, ALIVE, 'and the next stamp, in the same clock instant, is newer again')
  t.is(f.catalog.get('me', 'id1')?.Updated.ns, future.ns + 2n)
})

test('local: O(changes): with 2,000 services a status flip merges one record, an edited entry one record and one check', async t => {
  const f = await fixture(Array.from({ length: 2000 }, (_, i) => discovered(i)))
  await f.local.start()
  t.teardown(async () => { await f.local.stop() })
  t.is(f.catalog.services().length, 2000)
  t.is(f.monitor.sets, 2000)
  f.resetMerges()
  f.monitor.flip(recordKey({ Hostname: 'me', ID: 'id7' }), ALIVE)
  t.is(f.merges(), 1)
  t.is(f.catalog.get('me', 'id7')?.Status, ALIVE)
  f.resetMerges()
  f.monitor.sets = 0
  const next = f.discoverer.list.map(d => ({ ...d, service: makeService({ ...d.service }) })) // a reload: equal content, new objects
  next[42] = discovered(42, { Image: 'img:2' })
  f.discoverer.set(next)
  await f.local.settled()
  t.is(f.merges(), 1, 'only the edited entry is merged')
  t.is(f.monitor.sets, 1)
  t.is(f.catalog.get('me', 'id42')?.Image, 'img:2')
})

test('local: a burst of 10,000 verdicts in one turn is announced in slices, other work running between them; a record flipped again while queued is announced once, with its latest status', async t => {
  const n = 10_000 // a merge each, 5 us or more: over 50 ms of work, so well beyond one turn's 8 ms budget
  const f = await fixture(Array.from({ length: n }, (_, i) => discovered(i)))
  await f.local.start()
  t.teardown(async () => { await f.local.stop() })
  await new Promise(resolve => setImmediate(resolve)) // a fresh turn, with its whole budget
  const alive = (): number => f.catalog.services().filter(s => s.Status === ALIVE).length
  let atImmediate = -1
  setImmediate(() => { atImmediate = alive() })
  f.resetMerges()
  for (let i = 0; i < n; i++) f.monitor.flip(recordKey({ Hostname: 'me', ID: `id${i}` }), ALIVE)
  const atOnce = alive()
  t.true(atOnce > 0 && atOnce < n, `the first verdicts are announced at once, the rest in later turns (${atOnce} at once)`)
  f.monitor.flip(recordKey({ Hostname: 'me', ID: `id${n - 1}` }), UNHEALTHY) // still queued
  await waitFor(() => f.merges() === n, { timeoutMs: 20_000, message: 'every queued verdict is announced' })
  t.true(atImmediate >= atOnce && atImmediate < n - 1, `other work ran between slices (${atImmediate} announced by then)`)
  t.is(alive(), n - 1)
  t.is(f.catalog.get('me', `id${n - 1}`)?.Status, UNHEALTHY, 'the latest verdict of a record queued twice')
  await new Promise(resolve => setTimeout(resolve, 50))
  t.is(f.merges(), n, 'one merge per record: the second verdict did not add one')
})

test('local: an entry with an explicit ID whose port changes is one change event, with the status kept', async t => {
  const f = await fixture([discovered(1)])
  await f.local.start()
  t.teardown(async () => { await f.local.stop() })
  f.monitor.flip(recordKey({ Hostname: 'me', ID: 'id1' }), ALIVE)
  f.events.length = 0
  f.clock.advance(1000)
  f.discoverer.set([discovered(1, { Ports: [{ Type: 'tcp', Port: 30001, ServicePort: 8000, IP: '127.0.0.1' }] })])
  // usually applied in this turn; a slice that ran out of its 8 ms (a loaded machine: seen in CI) applies it in the next
  await waitFor(() => f.events.length > 0, { timeoutMs: 5000, message: 'the change event' })
  t.is(f.events.length, 1)
  t.is(f.events[0].previousStatus, ALIVE)
  t.is(f.events[0].service.Status, ALIVE)
  t.is(f.events[0].service.Ports?.[0].Port, 30001)
  f.clock.advance(1000)
  f.local.sync() // a refresh of the same record: silent
  t.is(f.events.length, 1)
})

test('local: a vanished service is tombstoned and its check removed; a record of this hostname from an earlier run too', async t => {
  const f = await fixture([discovered(1), discovered(2)])
  f.catalog.merge(makeService({ ID: 'old', Name: 'gone', Hostname: 'me', Status: ALIVE, Updated: f.clock.now().plusMillis(-5000) }), 'peer')
  await f.local.start()
  t.teardown(async () => { await f.local.stop() })
  t.is(f.catalog.get('me', 'old')?.Status, TOMBSTONE, 'an earlier run\'s record is tombstoned at start')
  f.discoverer.set([discovered(1)])
  t.is(f.catalog.get('me', 'id2')?.Status, TOMBSTONE)
  t.false(f.monitor.targets.has(recordKey({ Hostname: 'me', ID: 'id2' })))
  t.deepEqual(f.local.owned().map(s => s.ID), ['id1'])
  f.clock.advance(1000)
  f.catalog.merge(makeService({ ID: 'ghost', Name: 'gone', Hostname: 'me', Status: ALIVE, Updated: f.clock.now() }), 'peer')
  t.is(f.catalog.get('me', 'ghost')?.Status, ALIVE, 'not inside the merge that brought it')
  await Promise.resolve()
  t.is(f.catalog.get('me', 'ghost')?.Status, TOMBSTONE, 'one that arrives later (anti-entropy) is tombstoned right after')
  t.true(f.catalog.get('me', 'ghost')?.Updated.isAfter(f.clock.now().plusNanos(-1n)))
})

/** This host's records of an earlier run, as a peer hands them back after a crash (ALIVE, seconds old). */
function earlierRun (f: { catalog: Catalog, clock: FakeClock }, ids: number[]): void {
  for (const i of ids) f.catalog.merge(withFields(discovered(i).service, { Status: ALIVE, Updated: f.clock.now().plusMillis(-3000) }), 'peer')
}

test('local: a restart before Docker has listed keeps the earlier run\'s records: none is tombstoned, and the first listing tombstones only what it does not report', async t => {
  const f = await fixture([])
  f.discoverer.isListed = false // Docker has not answered yet: services() is empty
  earlierRun(f, [1, 2, 3, 4])
  f.events.length = 0
  await f.local.start()
  t.teardown(async () => { await f.local.stop() })
  t.deepEqual(f.catalog.hostRecords('me').map(s => s.Status), [ALIVE, ALIVE, ALIVE, ALIVE], 'nothing tombstoned while Docker has not listed')
  earlierRun(f, [5]) // anti-entropy brings another one meanwhile
  await Promise.resolve()
  t.is(f.catalog.get('me', 'id5')?.Status, ALIVE, 'nor one that arrives during the wait')
  f.clock.advance(200)
  f.discoverer.firstListing([discovered(1), discovered(2), discovered(3)]) // id4 and id5 no longer run
  for (const i of [1, 2, 3]) f.monitor.flip(recordKey({ Hostname: 'me', ID: `id${i}` }), ALIVE) // their first checks pass
  await waitFor(() => f.catalog.get('me', 'id5')?.Status === TOMBSTONE, { timeoutMs: 5000, message: 'id5 tombstoned after the first listing' })
  t.deepEqual(f.events.filter(e => e.service.Status === TOMBSTONE).map(e => e.service.ID).sort(), ['id4', 'id5'], 'tombstone events: only what the listing does not report')
  for (const i of [1, 2, 3]) t.is(f.catalog.get('me', `id${i}`)?.Status, ALIVE)
  t.deepEqual(f.local.owned().map(s => s.ID).sort(), ['id1', 'id2', 'id3'])
})

test('local: a discoverer that never lists holds an earlier run\'s records for firstListingWaitMs only; then they are tombstoned', async t => {
  const f = await fixture([], { firstListingWaitMs: 100 })
  f.discoverer.isListed = false
  earlierRun(f, [1, 2])
  await f.local.start()
  t.teardown(async () => { await f.local.stop() })
  t.is(f.catalog.get('me', 'id1')?.Status, ALIVE, 'kept at first')
  await waitFor(() => f.catalog.hostRecords('me').every(s => s.Status === TOMBSTONE), { timeoutMs: 5000, message: 'both tombstoned once the wait ran out' })
  earlierRun(f, [3])
  await Promise.resolve()
  t.is(f.catalog.get('me', 'id3')?.Status, TOMBSTONE, 'after the wait, a stray is tombstoned at once again')
  f.discoverer.firstListing([discovered(1)]) // Docker answers late: what runs comes back
  t.is(f.catalog.get('me', 'id1')?.Status, UNKNOWN)
})

test('local: a stop during the wait for the first listing leaves no timer and tombstones the kept records with the rest', async t => {
  const f = await fixture([discovered(9)], { firstListingWaitMs: HOUR_MS })
  f.discoverer.isListed = false
  earlierRun(f, [1])
  await f.local.start()
  t.is(f.catalog.get('me', 'id1')?.Status, ALIVE)
  await f.local.stop()
  t.is(f.catalog.get('me', 'id1')?.Status, TOMBSTONE)
  t.is(f.catalog.get('me', 'id9')?.Status, TOMBSTONE)
  f.discoverer.firstListing([discovered(9)])
  t.is(f.catalog.get('me', 'id9')?.Status, TOMBSTONE, 'stopped: nothing announced again')
})

test('local: after a restart, 2,000 rediscovered services keep their earlier run\'s status until their new check\'s first verdict: no UNKNOWN step in between', async t => {
  const N = 2000
  const f = await fixture([], { firstVerdictWaitMs: 5000 })
  f.discoverer.isListed = false
  earlierRun(f, Array.from({ length: N }, (_, i) => i))
  const unhealthy = discovered(N).service // failing when the earlier run ended
  f.catalog.merge(withFields(unhealthy, { Status: UNHEALTHY, Updated: f.clock.now().plusMillis(-3000) }), 'peer')
  const moved = discovered(N + 1) // same ID, another port now: its earlier record says nothing of it
  f.catalog.merge(withFields(moved.service, { Status: ALIVE, Updated: f.clock.now().plusMillis(-3000), Ports: [{ Type: 'tcp', Port: 1, ServicePort: 8000, IP: '127.0.0.1' }] }), 'peer')
  f.events.length = 0
  await f.local.start()
  t.teardown(async () => { await f.local.stop() })
  f.clock.advance(200)
  f.discoverer.firstListing([...Array.from({ length: N + 1 }, (_, i) => discovered(i)), moved])
  await f.local.settled()
  t.deepEqual(f.events.map(e => `${e.service.ID}:${e.previousStatus}->${e.service.Status}`), [`id${N + 1}:${ALIVE}->${UNKNOWN}`], 'one change: the service whose port changed; none for the 2,001 rediscovered ones')
  t.is(f.catalog.get('me', 'id0')?.Status, ALIVE)
  t.is(f.catalog.get('me', `id${N}`)?.Status, UNHEALTHY, 'a failing one stays failing, not UNKNOWN')
  const updated = f.catalog.get('me', 'id0')?.Updated
  t.true(updated !== undefined && updated.isAfter(f.clock.now().plusMillis(-1)), 'announced by this run (re-stamped), not only left as it was')
  t.deepEqual(f.local.owned().length, N + 2)

  // the first verdicts: a pass changes nothing, a failure is a change as always
  f.events.length = 0
  f.monitor.flip(recordKey({ Hostname: 'me', ID: 'id0' }), ALIVE)
  f.monitor.flip(recordKey({ Hostname: 'me', ID: 'id1' }), UNHEALTHY)
  f.monitor.flip(recordKey({ Hostname: 'me', ID: `id${N}` }), ALIVE)
  await f.local.settled()
  await new Promise(resolve => setImmediate(resolve))
  t.deepEqual(f.events.map(e => `${e.service.ID}:${e.previousStatus}->${e.service.Status}`).sort(), [`id1:${ALIVE}->${UNHEALTHY}`, `id${N}:${UNHEALTHY}->${ALIVE}`])
  // a verdict ends the carry-over: a later UNKNOWN (a re-made check) is announced as it is
  f.monitor.flip(recordKey({ Hostname: 'me', ID: 'id1' }), UNKNOWN)
  await new Promise(resolve => setImmediate(resolve))
  t.is(f.catalog.get('me', 'id1')?.Status, UNKNOWN)

  // a check that gives no verdict within the bound (one that cannot be built stays UNKNOWN): then UNKNOWN
  f.local.sync()
  t.is(f.catalog.get('me', 'id2')?.Status, ALIVE, 'within the bound')
  f.clock.advance(5000)
  f.local.sync()
  t.is(f.catalog.get('me', 'id2')?.Status, UNKNOWN, 'past the bound: the check\'s own status')
  t.is(f.catalog.get('me', 'id0')?.Status, ALIVE, 'one with its verdict is unchanged')
})

test('local: a service first discovered while this host holds a record of it from an earlier run that is DRAINING or a tombstone starts UNKNOWN, as any new check', async t => {
  const f = await fixture([])
  f.discoverer.isListed = false
  f.catalog.merge(withFields(discovered(1).service, { Status: ServiceStatus.DRAINING, Updated: f.clock.now().plusMillis(-3000) }), 'peer')
  f.catalog.merge(withFields(discovered(2).service, { Status: TOMBSTONE, Updated: f.clock.now().plusMillis(-3000) }), 'peer')
  await f.local.start()
  t.teardown(async () => { await f.local.stop() })
  f.discoverer.firstListing([discovered(1), discovered(2)])
  await f.local.settled()
  t.is(f.catalog.get('me', 'id1')?.Status, UNKNOWN)
  t.is(f.catalog.get('me', 'id2')?.Status, UNKNOWN)
})

test('local: third-party hostnames are owned and re-stamped; records of other hosts are not', async t => {
  const f = await fixture([discovered(1, { Hostname: 'printer' })])
  await f.local.start()
  t.teardown(async () => { await f.local.stop() })
  t.true(f.local.isOwned({ Hostname: 'printer', ID: 'id1' }))
  const before = f.catalog.get('printer', 'id1') as Service
  t.true(f.local.restamp('printer', 'id1')?.Updated.isAfter(before.Updated))
  f.catalog.merge(makeService({ ID: 'x', Name: 'x', Hostname: 'other', Updated: f.clock.now() }), 'other')
  t.false(f.local.isOwned({ Hostname: 'other', ID: 'x' }))
  t.is(f.local.restamp('other', 'x'), undefined)
})

test('local: listener targets follow discovery, announced by one change event each time', async t => {
  const f = await fixture([discovered(1, {}, { listenerUrl: 'http://127.0.0.1:9/a' })])
  let changes = 0
  f.local.on('change', () => { changes++ })
  await f.local.start()
  t.teardown(async () => { await f.local.stop() })
  t.deepEqual(f.local.listenerTargets(), [{ name: listenerName(discovered(1).service), url: 'http://127.0.0.1:9/a' }])
  t.is(changes, 1)
  f.discoverer.set([...f.discoverer.list]) // nothing changed
  t.is(changes, 1)
  f.discoverer.set([discovered(1)])
  t.deepEqual(f.local.listenerTargets(), [])
  t.is(changes, 2)
})

test('local: a discovered listener exists before its own service is first announced, also when the change takes several turns', async t => {
  const n = 10_000
  const f = await fixture()
  await f.local.start()
  t.teardown(async () => { await f.local.stop() })
  const atChange: Array<Service | undefined> = []
  f.local.on('change', () => { atChange.push(f.catalog.get('me', `id${n - 1}`)) })
  f.discoverer.set(Array.from({ length: n }, (_, i) => discovered(i, {}, i === n - 1 ? { listenerUrl: 'http://127.0.0.1:9/last' } : {})))
  await f.local.settled()
  t.deepEqual(atChange, [undefined], 'its record was not announced yet when the listener targets changed')
  t.deepEqual(f.local.listenerTargets().map(l => l.url), ['http://127.0.0.1:9/last'])
  t.is(f.catalog.get('me', `id${n - 1}`)?.Status, UNKNOWN)
})

test('local: stop is the graceful leave: every owned record is tombstoned, strictly newer, and stays owned for gossip', async t => {
  const f = await fixture([discovered(1), discovered(2, { Hostname: 'printer' })])
  await f.local.start()
  t.teardown(async () => { await f.local.stop() }) // a failed assertion throws: the ticker must not outlive the test
  f.events.length = 0
  await f.local.stop()
  t.deepEqual(f.events.map(e => [e.service.Hostname, e.service.ID, e.service.Status]), [['me', 'id1', TOMBSTONE], ['printer', 'id2', TOMBSTONE]])
  t.true(f.local.owned().every(s => s.Status === TOMBSTONE))
  t.true(f.local.isOwned({ Hostname: 'printer', ID: 'id2' }))
  t.true(f.events.every(e => e.previousStatus === UNKNOWN && e.service.Updated.ns > 0n))
  const before = f.merges()
  f.monitor.flip(recordKey({ Hostname: 'me', ID: 'id1' }), UNHEALTHY)
  f.discoverer.set([discovered(3)])
  t.is(f.merges(), before, 'after stop nothing follows discovery or health')
  await f.local.stop()
  t.is(f.merges(), before, 'stop is idempotent')
  t.true(Time.EPOCH.isBefore(f.catalog.get('me', 'id1')?.Updated ?? Time.EPOCH))
})

test('local: the refresh re-stamps only records older than restampAfterMs, or whose stored status is not ours', async t => {
  // Real 10 ms ticks, fake time: the clock only moves when the test moves it.
  const f = await fixture([discovered(1), discovered(2)], { refreshIntervalMs: 10, restampAfterMs: 64_000 })
  await f.local.start()
  t.teardown(async () => { await f.local.stop() })
  const t0 = f.clock.now()
  f.clock.advance(50_000)
  f.monitor.flip(recordKey({ Hostname: 'me', ID: 'id1' }), ALIVE) // id1 stamped at t0 + 50 s
  const id1At = (f.catalog.get('me', 'id1') as Service).Updated
  t.is(id1At.ns, t0.ns + 50_000_000_000n)
  f.clock.advance(20_000) // id2 is 70 s old, id1 20 s
  await waitFor(() => (f.catalog.get('me', 'id2') as Service).Updated.ns > t0.ns, { timeoutMs: 5000, message: 'the refresh re-stamps the record older than 64 s' })
  t.is((f.catalog.get('me', 'id1') as Service).Updated.ns, id1At.ns, 'a younger record is left as it is, so peers already hold this very version')
  // A peer's newer version with another status: re-announced at the next refresh, newer again.
  f.catalog.merge(withFields(f.catalog.get('me', 'id1') as Service, { Status: TOMBSTONE, Updated: f.clock.now().plusMillis(1) }), 'peer')
  await waitFor(() => f.catalog.get('me', 'id1')?.Status === ALIVE, { timeoutMs: 5000, message: 'our status is stamped over the contradiction' })
})

test('local: a large discovery change is applied in slices, other work running between them; start() waits for all, a change meanwhile follows it', async t => {
  const n = 10_000 // 50 ms or more of work (5 us a record on a fast host): several 8 ms slices
  const f = await fixture(Array.from({ length: n }, (_, i) => discovered(i)))
  let atImmediate = -1
  setImmediate(() => { atImmediate = f.catalog.services().length })
  await f.local.start()
  t.teardown(async () => { await f.local.stop() })
  t.true(atImmediate >= 0 && atImmediate < n, `other work ran before the change was applied in full (${atImmediate} records announced then)`)
  t.is(f.catalog.services().length, n, 'everything is announced once start() returns')
  t.is(f.monitor.sets, n)
  // a change that removes half and edits one, then, before it is applied, another that brings one back
  const half = f.discoverer.list.slice(0, n / 2)
  f.discoverer.set([...half.slice(0, 3), discovered(3, { Image: 'img:2' }), ...half.slice(4)])
  f.discoverer.set([...f.discoverer.list, discovered(n - 1)]) // before the first is applied in full
  await f.local.settled()
  t.is(f.catalog.get('me', 'id3')?.Image, 'img:2')
  t.is(f.catalog.get('me', `id${n - 1}`)?.Status, UNKNOWN, 'the one brought back is announced again')
  t.is(f.catalog.get('me', `id${n - 2}`)?.Status, TOMBSTONE)
  t.is(f.local.owned().filter(s => s.Status !== TOMBSTONE).length, n / 2 + 1)
  t.is(f.monitor.targets.size, n / 2 + 1)
})

test('local: stop during a sliced discovery change ends it and tombstones what was announced', async t => {
  const n = 10_000
  const f = await fixture()
  await f.local.start()
  t.teardown(async () => { await f.local.stop() }) // also when an assertion fails (it throws): no ticker left running
  f.discoverer.set(Array.from({ length: n }, (_, i) => discovered(i)))
  while (f.catalog.services().length === 0) await new Promise(resolve => setImmediate(resolve))
  const first = f.catalog.services().length
  t.true(first < n, `stopped with ${first} records announced`)
  await f.local.stop()
  await new Promise(resolve => setImmediate(resolve))
  const all = f.catalog.services()
  t.true(all.length < n, 'the rest was never announced')
  t.true(all.every(s => s.Status === TOMBSTONE), 'what was announced is tombstoned')
})

test('local: abortStart during the start\'s announcing: start() returns before all is announced, and the stop that follows ends the announcing and tombstones what was announced', async t => {
  const n = 10_000
  const f = await fixture(Array.from({ length: n }, (_, i) => discovered(i)))
  const starting = f.local.start()
  t.teardown(async () => { await f.local.stop() })
  while (f.catalog.services().length === 0) await new Promise(resolve => setImmediate(resolve))
  f.local.abortStart()
  await starting
  const atReturn = f.catalog.services().length
  t.true(atReturn < n, `start() returned with ${atReturn} of ${n} announced`)
  await f.local.stop()
  await new Promise(resolve => setImmediate(resolve))
  const all = f.catalog.services()
  t.true(all.length < n, 'the rest was never announced')
  t.true(all.length > 0 && all.every(s => s.Status === TOMBSTONE), `what was announced (${all.length}) is tombstoned`)
})

test('local: the leave tombstones 30,000 records in slices, other work running between them, and a drain meanwhile announces nothing again', async t => {
  const n = 30_000 // 2 us a tombstone or more on a fast host: 60 ms, beyond one 25 ms slice
  const f = await fixture(Array.from({ length: n }, (_, i) => discovered(i)))
  await f.local.start()
  t.teardown(async () => { await f.local.stop() }) // a failed assertion throws: the ticker must not outlive the test
  const tombstones = (): number => f.catalog.services().filter(s => s.Status === TOMBSTONE).length
  let atImmediate = -1
  setImmediate(() => {
    atImmediate = tombstones()
    t.is(f.local.drain('id9999'), undefined, 'no drain while leaving')
  })
  const stopping = f.local.stop()
  await stopping
  t.true(atImmediate > 0 && atImmediate < n, `other work ran after the first slice (${atImmediate} tombstones then)`)
  t.is(tombstones(), n)
  t.true(f.local.owned().every(s => s.Status === TOMBSTONE))
})
