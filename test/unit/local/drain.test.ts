// Drain and undrain through the real local announcer: a static file, a health monitor
// running AlwaysSuccessful checks, and a catalog. What a peer sees is what the catalog
// emits, so the events are the contract.
import test, { type ExecutionContext } from 'ava'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { Catalog, type ChangeEvent } from '../../../src/catalog/index.ts'
import { LocalAnnouncer } from '../../../src/local/local-announcer.ts'
import { StaticDiscoverer } from '../../../src/discovery/static/static-discoverer.ts'
import { HealthMonitor } from '../../../src/health/monitor.ts'
import { systemClock } from '../../../src/service/clock.ts'
import { silentLogger } from '../../../src/lib/logger.ts'
import { ServiceStatus, type Service } from '../../../src/service/index.ts'
import { makeCatalogOptions } from '../../helpers/factories.ts'
import { waitFor } from '../../helpers/wait.ts'

const { ALIVE, DRAINING, TOMBSTONE } = ServiceStatus

async function setup (t: ExecutionContext, names = ['web', 'db']): Promise<{ catalog: Catalog, announcer: LocalAnnouncer, events: ChangeEvent[], ids: Record<string, string>, file: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-drain-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const file = path.join(dir, 'static.json')
  await writeFile(file, JSON.stringify(names.map((Name, i) => ({ Service: { Name, Ports: [{ Port: 9000 + i, ServicePort: 8000 + i }] }, Check: { Type: 'AlwaysSuccessful' } }))))
  const logger = silentLogger()
  const catalog = new Catalog({ clock: systemClock }, makeCatalogOptions({ hostname: 'me' }))
  const discoverer = new StaticDiscoverer({ logger, clock: systemClock }, { file, hostname: 'me', advertiseIp: '127.0.0.1' })
  const monitor = new HealthMonitor({ logger, clock: systemClock }, { intervalMs: 60_000, timeoutMs: 1000, rise: 1, fall: 1 })
  const announcer = new LocalAnnouncer({ catalog, clock: systemClock, logger, discoverers: [discoverer], monitor }, { hostname: 'me', site: '', refreshIntervalMs: 60_000, checkHost: '127.0.0.1', defaultCheckEndpoint: '/' })
  for (const c of [discoverer, monitor, announcer]) await c.start()
  t.teardown(async () => { for (const c of [announcer, monitor, discoverer]) await c.stop() })
  await waitFor(() => catalog.services().length === names.length && catalog.services().every(s => s.Status === ALIVE), { timeoutMs: 5000, message: 'every service ALIVE' })
  const events: ChangeEvent[] = []
  catalog.on('change', e => { events.push(e) })
  const ids = Object.fromEntries(catalog.services().map(s => [s.Name, s.ID]))
  return { catalog, announcer, events, ids, file }
}

function statusOf (catalog: Catalog, id: string): number | undefined {
  return catalog.get('me', id)?.Status
}

test('drain: the instance turns DRAINING at once, with one change event, and only that instance', async t => {
  const { catalog, announcer, events, ids } = await setup(t)
  const stored = announcer.drain(ids.web) as Service
  t.is(stored.Status, DRAINING)
  t.is(statusOf(catalog, ids.web), DRAINING)
  t.is(statusOf(catalog, ids.db), ALIVE)
  t.deepEqual(events.map(e => [e.service.ID, e.previousStatus, e.service.Status]), [[ids.web, ALIVE, DRAINING]])
  t.true(announcer.isDrained(stored))
})

test('drain: refreshes keep the record DRAINING and announce nothing more (no broadcast storm)', async t => {
  const { catalog, announcer, events, ids } = await setup(t)
  announcer.drain(ids.web)
  const before = catalog.get('me', ids.web) as Service
  for (let i = 0; i < 20; i++) announcer.sync()
  const after = catalog.get('me', ids.web) as Service
  t.is(after.Status, DRAINING)
  t.true(after.Updated.isAfter(before.Updated), 'refreshes still advance Updated, so the record does not expire')
  t.is(events.length, 1)
})

test('drain: draining twice is one change; an unknown or remote ID is refused', async t => {
  const { catalog, announcer, events, ids } = await setup(t)
  announcer.drain(ids.web)
  t.is(announcer.drain(ids.web)?.Status, DRAINING)
  t.is(events.length, 1)
  t.is(announcer.drain('nope'), undefined)
  catalog.merge({ ...(catalog.get('me', ids.db) as Service), Hostname: 'other-host', ID: 'ffffffffffff' }, 'other-host')
  t.is(announcer.drain('ffffffffffff'), undefined, 'an instance of another host is drained there, not here')
  t.is(catalog.get('other-host', 'ffffffffffff')?.Status, ALIVE)
})

test('undrain: the instance is ALIVE again at once, although DRAINING is sticky against relayed ALIVE', async t => {
  const { catalog, announcer, events, ids } = await setup(t)
  announcer.drain(ids.web)
  const stored = announcer.undrain(ids.web) as Service
  t.is(stored.Status, ALIVE)
  t.is(statusOf(catalog, ids.web), ALIVE)
  t.deepEqual(events.map(e => [e.previousStatus, e.service.Status]), [[ALIVE, DRAINING], [DRAINING, ALIVE]])
  t.false(announcer.isDrained(stored))
  announcer.sync()
  t.is(statusOf(catalog, ids.web), ALIVE)
  t.is(events.length, 2)
})

test('drain: an instance that leaves discovery is tombstoned and its drain forgotten', async t => {
  const { catalog, announcer, ids, file } = await setup(t)
  announcer.drain(ids.web)
  await writeFile(file, JSON.stringify([{ Service: { Name: 'db', Ports: [{ Port: 9001, ServicePort: 8001 }] }, Check: { Type: 'AlwaysSuccessful' } }]))
  await waitFor(() => statusOf(catalog, ids.web) === TOMBSTONE, { timeoutMs: 5000, message: 'web tombstoned after it left the file' })
  t.false(announcer.isDrained({ Hostname: 'me', ID: ids.web }))
})

test('local: a new service\'s quick check cannot land before the change that announced it is settled (listeners snapshot the state in a microtask)', async t => {
  const { catalog, file } = await setup(t, ['web'])
  const seen: Array<{ event: ServiceStatus, stored: ServiceStatus | undefined }> = []
  let pending: ChangeEvent[] = []
  catalog.on('change', e => {
    // What listeners do: one snapshot of the state once the current catalog operation is over.
    if (pending.length === 0) queueMicrotask(() => { for (const p of pending) seen.push({ event: p.service.Status, stored: catalog.get('me', p.service.ID)?.Status }); pending = [] })
    pending.push(e)
  })
  await writeFile(file, JSON.stringify([{ Service: { Name: 'web', Ports: [{ Port: 9000, ServicePort: 8000 }] }, Check: { Type: 'AlwaysSuccessful' } }, { Service: { Name: 'new', Ports: [{ Port: 9100, ServicePort: 8100 }] }, Check: { Type: 'AlwaysSuccessful' } }]))
  await waitFor(() => catalog.services().find(s => s.Name === 'new')?.Status === ALIVE, { timeoutMs: 5000, message: 'the new service ALIVE' })
  t.deepEqual(seen.map(s => s.event), [ServiceStatus.UNKNOWN, ALIVE])
  t.deepEqual(seen.map(s => s.stored), [ServiceStatus.UNKNOWN, ALIVE], 'each change event is seen with the state right after it')
})
