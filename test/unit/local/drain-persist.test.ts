// An operator's drain across a restart of the daemon, through the real local announcer and a
// real data_dir (fake discoverer, fake verdicts, fake clock): the drained instance's first
// record of the new run is DRAINING, whatever the earlier run's record handed back says; the
// drain ends with an undrain, or when its instance is gone, but only once discovery has listed.
import test, { type ExecutionContext } from 'ava'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { Catalog, type ChangeEvent } from '../../../src/catalog/index.ts'
import type { Discovered } from '../../../src/discovery/types.ts'
import { silentLogger } from '../../../src/lib/logger.ts'
import { DRAINS_FILE } from '../../../src/local/drains-file.ts'
import { LocalAnnouncer } from '../../../src/local/local-announcer.ts'
import { makeService, recordKey, ServiceStatus, withFields, type Service } from '../../../src/service/index.ts'
import { FakeClock } from '../../helpers/fake-clock.ts'
import { makeCatalogOptions } from '../../helpers/factories.ts'
import { FakeDiscoverer, FakeMonitor } from '../../helpers/local-fakes.ts'
import { waitFor } from '../../helpers/wait.ts'

const { ALIVE, DRAINING, TOMBSTONE, UNHEALTHY, UNKNOWN } = ServiceStatus
const HOUR_MS = 3_600_000

function discovered (i: number): Discovered {
  return { service: makeService({ ID: `id${i}`, Name: `svc${i}`, Hostname: 'me', Image: 'img:1', Ports: [{ Type: 'tcp', Port: 20000 + i, ServicePort: 8000, IP: '127.0.0.1' }] }), check: { type: 'AlwaysSuccessful', args: '' } }
}

const key = (i: number): string => recordKey({ Hostname: 'me', ID: `id${i}` })

interface Run { catalog: Catalog, discoverer: FakeDiscoverer, monitor: FakeMonitor, local: LocalAnnouncer, events: ChangeEvent[] }

/**
 * One run of the daemon on dataDir: a catalog (given: the one a peer's copies came back to),
 * the discoverer listing `list` (unless listed is false: Docker not answered yet).
 */
function run (t: ExecutionContext, dataDir: string, clock: FakeClock, opts: { list?: Discovered[], listed?: boolean, catalog?: Catalog, firstListingWaitMs?: number } = {}): Run {
  const catalog = opts.catalog ?? new Catalog({ clock }, makeCatalogOptions({ hostname: 'me' }))
  const events: ChangeEvent[] = []
  catalog.on('change', e => { events.push(e) })
  const discoverer = new FakeDiscoverer()
  discoverer.list = opts.list ?? []
  discoverer.isListed = opts.listed ?? true
  const monitor = new FakeMonitor()
  const local = new LocalAnnouncer({ catalog, clock, logger: silentLogger(), discoverers: [discoverer], monitor }, { hostname: 'me', site: '', refreshIntervalMs: HOUR_MS, firstVerdictWaitMs: 5000, firstListingWaitMs: opts.firstListingWaitMs ?? HOUR_MS, dataDir })
  t.teardown(async () => { await local.stop() })
  return { catalog, discoverer, monitor, local, events }
}

async function dataDir (t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-drain-persist-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

async function fileIds (dir: string): Promise<string[] | undefined> {
  const text = await readFile(path.join(dir, DRAINS_FILE), 'utf8').catch(() => undefined)
  return text === undefined ? undefined : (JSON.parse(text) as { drained: Record<string, string[]> }).drained.me
}

/** A first run: id1 and id2 ALIVE, id1 drained; stopped (a graceful leave). */
async function drainedRun (t: ExecutionContext, dir: string, clock: FakeClock): Promise<Run> {
  const r = run(t, dir, clock, { list: [discovered(1), discovered(2)] })
  await r.local.start()
  for (const i of [1, 2]) r.monitor.flip(key(i), ALIVE)
  t.is(r.local.drain('id1')?.Status, DRAINING)
  await r.local.stop()
  t.deepEqual(await fileIds(dir), ['id1'], 'the drain is in data_dir once the stop returns')
  return r
}

/** "id:prev->status" of every change event of instance i. */
const changes = (r: Run, i: number): string[] => r.events.filter(e => e.service.ID === `id${i}`).map(e => `${e.previousStatus}->${e.service.Status}`)

test('drain persist: after a restart the drained instance\'s first record is DRAINING, also when the earlier run\'s record handed back is ALIVE; a passing check keeps it DRAINING', async t => {
  const dir = await dataDir(t)
  const clock = new FakeClock()
  await drainedRun(t, dir, clock)
  clock.advance(3000)
  // the new run's catalog, as the join pull fills it: a peer that never got the drain hands back ALIVE (the worst case)
  const catalog = new Catalog({ clock }, makeCatalogOptions({ hostname: 'me' }))
  for (const i of [1, 2]) catalog.merge(withFields(discovered(i).service, { Status: ALIVE, Updated: clock.now().plusMillis(-2000) }), 'peer')
  const r = run(t, dir, clock, { list: [discovered(1), discovered(2)], catalog })
  await r.local.start()
  t.deepEqual(changes(r, 1), [`${ALIVE}->${DRAINING}`], 'DRAINING at once, with no ALIVE carried over')
  t.deepEqual(changes(r, 2), [], 'the other keeps its ALIVE (carry-over as before)')
  t.true(r.local.isDrained({ Hostname: 'me', ID: 'id1' }))
  r.monitor.flip(key(1), ALIVE)
  r.local.sync()
  t.is(r.catalog.get('me', 'id1')?.Status, DRAINING)
  t.deepEqual(changes(r, 1), [`${ALIVE}->${DRAINING}`])
})

test('drain persist: after a graceful leave (tombstones) and a crash (DRAINING handed back) the new run announces DRAINING, never ALIVE; UNHEALTHY while its check fails', async t => {
  for (const handedBack of [TOMBSTONE, DRAINING, undefined]) {
    const dir = await dataDir(t)
    const clock = new FakeClock()
    await drainedRun(t, dir, clock)
    clock.advance(3000)
    const catalog = new Catalog({ clock }, makeCatalogOptions({ hostname: 'me' }))
    if (handedBack !== undefined) catalog.merge(withFields(discovered(1).service, { Status: handedBack, Updated: clock.now().plusMillis(-2000) }), 'peer')
    const r = run(t, dir, clock, { list: [discovered(1)], catalog })
    await r.local.start()
    t.is(r.catalog.get('me', 'id1')?.Status, DRAINING, `handed back: ${String(handedBack)}`)
    r.monitor.flip(key(1), UNHEALTHY)
    t.is(r.catalog.get('me', 'id1')?.Status, UNHEALTHY)
    r.monitor.flip(key(1), ALIVE)
    t.is(r.catalog.get('me', 'id1')?.Status, DRAINING)
    t.false(r.events.some(e => e.service.ID === 'id1' && (e.service.Status === ALIVE || e.service.Status === UNKNOWN)), `no ALIVE or UNKNOWN record (handed back: ${String(handedBack)})`)
  }
})

test('drain persist: an undrain removes the drain from data_dir: the next run announces the instance with its health status', async t => {
  const dir = await dataDir(t)
  const clock = new FakeClock()
  await drainedRun(t, dir, clock)
  const second = run(t, dir, clock, { list: [discovered(1), discovered(2)] })
  await second.local.start()
  t.is(second.local.undrain('id1')?.Status, UNKNOWN, 'its new check has no verdict yet')
  second.monitor.flip(key(1), ALIVE)
  t.is(second.catalog.get('me', 'id1')?.Status, ALIVE)
  await second.local.stop()
  t.deepEqual(await fileIds(dir), [])
  const third = run(t, dir, clock, { list: [discovered(1)] })
  await third.local.start()
  t.is(third.catalog.get('me', 'id1')?.Status, UNKNOWN)
  third.monitor.flip(key(1), ALIVE)
  t.is(third.catalog.get('me', 'id1')?.Status, ALIVE)
  t.false(third.local.isDrained({ Hostname: 'me', ID: 'id1' }))
})

test('drain persist: an instance no longer discovered while the daemon runs loses its drain, in data_dir too', async t => {
  const dir = await dataDir(t)
  const clock = new FakeClock()
  const r = run(t, dir, clock, { list: [discovered(1), discovered(2)] })
  await r.local.start()
  r.local.drain('id1')
  r.local.drain('id2')
  r.discoverer.set([discovered(2)])
  await r.local.settled()
  t.is(r.catalog.get('me', 'id1')?.Status, TOMBSTONE)
  await r.local.stop()
  t.deepEqual(await fileIds(dir), ['id2'])
})

test('drain persist: before discovery has listed, a kept drain outlives the tombstone of its earlier record (the wait ran out); the first listing applies it, or forgets it when the instance is gone', async t => {
  const dir = await dataDir(t)
  const clock = new FakeClock()
  const first = run(t, dir, clock, { list: [discovered(1), discovered(2), discovered(3)] })
  await first.local.start()
  for (const i of [1, 2, 3]) first.local.drain(`id${i}`)
  await first.local.stop()
  t.deepEqual((await fileIds(dir))?.sort(), ['id1', 'id2', 'id3'])

  // Docker does not answer at the restart: nothing is discovered, the earlier records (handed back) are kept, then the wait runs out
  const catalog = new Catalog({ clock }, makeCatalogOptions({ hostname: 'me' }))
  for (const i of [1, 2, 3]) catalog.merge(withFields(discovered(i).service, { Status: DRAINING, Updated: clock.now().plusMillis(-2000) }), 'peer')
  const r = run(t, dir, clock, { listed: false, catalog, firstListingWaitMs: 50 })
  await r.local.start()
  await waitFor(() => [1, 2, 3].every(i => r.catalog.get('me', `id${i}`)?.Status === TOMBSTONE), { timeoutMs: 5000, message: 'the earlier records tombstoned once the wait ran out' })
  t.deepEqual((await fileIds(dir))?.sort(), ['id1', 'id2', 'id3'], 'the drains are kept: discovery has not listed')
  t.true(r.local.isDrained({ Hostname: 'me', ID: 'id3' }))

  // Docker answers: id1 and id2 still run, id3 is gone
  clock.advance(1000)
  r.discoverer.firstListing([discovered(1), discovered(2)])
  await r.local.settled()
  for (const i of [1, 2]) t.is(r.catalog.get('me', `id${i}`)?.Status, DRAINING, `id${i} back DRAINING`)
  await waitFor(async () => (await fileIds(dir))?.length === 2, { timeoutMs: 5000, message: 'id3 forgotten in data_dir' })
  t.deepEqual((await fileIds(dir))?.sort(), ['id1', 'id2'])
  t.false(r.local.isDrained({ Hostname: 'me', ID: 'id3' }))
  t.false(r.events.some(e => e.service.Status === ALIVE), 'no ALIVE record at any point')
})

test('drain persist: at a start where discovery has listed at once (static), drains of instances no longer in it are forgotten at once', async t => {
  const dir = await dataDir(t)
  const clock = new FakeClock()
  await drainedRun(t, dir, clock)
  const r = run(t, dir, clock, { list: [discovered(2)] })
  await r.local.start()
  await r.local.stop()
  t.deepEqual(await fileIds(dir), [])
  const again = run(t, dir, clock, { list: [discovered(1)] })
  await again.local.start()
  t.false(again.local.isDrained({ Hostname: 'me', ID: 'id1' }), 'an instance with the same ID that comes back later is a new one')
})

test('drain persist: a stop does not forget drains, also one during the wait for the first listing', async t => {
  const dir = await dataDir(t)
  const clock = new FakeClock()
  await drainedRun(t, dir, clock)
  const r = run(t, dir, clock, { listed: false })
  await r.local.start()
  await r.local.stop()
  r.discoverer.firstListing([]) // after the stop: not a listing this run follows
  await new Promise(resolve => setImmediate(resolve))
  t.deepEqual(await fileIds(dir), ['id1'])
})

test('drain persist: without data_dir drains are held in memory only, as before', async t => {
  const clock = new FakeClock()
  const catalog = new Catalog({ clock }, makeCatalogOptions({ hostname: 'me' }))
  const discoverer = new FakeDiscoverer()
  discoverer.list = [discovered(1)]
  const local = new LocalAnnouncer({ catalog, clock, logger: silentLogger(), discoverers: [discoverer], monitor: new FakeMonitor() }, { hostname: 'me', site: '', refreshIntervalMs: HOUR_MS })
  await local.start()
  t.is(local.drain('id1')?.Status, DRAINING)
  await local.stop()
  t.is((catalog.get('me', 'id1') as Service).Status, TOMBSTONE)
})
