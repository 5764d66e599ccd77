// The hub on a real catalog: numbering, the resume ring, fan-out, and isolation from a
// subscriber that throws.
import test from 'ava'
import { EventHub, type HubEvent, type Subscriber } from '../../../src/api/events.ts'
import { Catalog } from '../../../src/catalog/index.ts'
import { silentLogger } from '../../../src/lib/logger.ts'
import { Metrics } from '../../../src/lib/metrics.ts'
import { ServiceStatus } from '../../../src/service/index.ts'
import { FakeClock } from '../../helpers/fake-clock.ts'
import { at, makeCatalogOptions, makeTestService } from '../../helpers/factories.ts'

class Recorder implements Subscriber {
  readonly kind = 'sse'
  readonly queuedBytes = 0
  readonly changes: HubEvent[] = []
  readonly closedWith: string[] = []
  change (e: HubEvent): void { this.changes.push(e) }
  members (): void {}
  heartbeat (): void {}
  close (reason: string): void { this.closedWith.push(reason) }
}

async function setup (bufferSize = 3): Promise<{ catalog: Catalog, hub: EventHub, metrics: Metrics, toggle: (i: number) => void }> {
  const catalog = new Catalog({ clock: new FakeClock() }, makeCatalogOptions())
  const metrics = new Metrics({ defaultMetrics: false })
  const hub = new EventHub({ catalog, members: () => [], logger: silentLogger(), metrics }, { bufferSize, heartbeatIntervalMs: 60_000 })
  await hub.start()
  // Each call is one status change of one record, one event.
  const toggle = (i: number): void => { catalog.merge(makeTestService({ Updated: at(i), Status: i % 2 === 0 ? ServiceStatus.ALIVE : ServiceStatus.UNHEALTHY })) }
  return { catalog, hub, metrics, toggle }
}

test('hub: one catalog listener whatever the number of clients; ids strictly increase by one', async t => {
  const { catalog, hub, toggle } = await setup()
  const clients = Array.from({ length: 50 }, () => new Recorder())
  for (const c of clients) hub.subscribe(c)
  t.is(catalog.listenerCount('change'), 1)
  for (let i = 0; i < 4; i++) toggle(i)
  for (const c of clients) t.deepEqual(c.changes.map(e => e.id), [1, 2, 3, 4].map(n => hub.base + n))
  t.is(hub.lastId, hub.base + 4)
  const data = JSON.parse(clients[0].changes[1].data) as { Service: { Status: number }, PreviousStatus: number, Time: string }
  t.deepEqual([data.Service.Status, data.PreviousStatus, data.Time], [ServiceStatus.UNHEALTHY, ServiceStatus.ALIVE, at(1).toString()])
  t.is(clients[0].changes[0].frame, `id: ${hub.base + 1}\nevent: service-changed\ndata: ${clients[0].changes[0].data}\n\n`)
  await hub.stop()
  t.is(catalog.listenerCount('change'), 0)
})

test('hub: since() replays exactly what the ring holds, and refuses what it cannot', async t => {
  const { hub, toggle } = await setup(3)
  t.deepEqual(hub.since(String(hub.base)), [], 'nothing happened yet')
  for (let i = 0; i < 5; i++) toggle(i) // ids base+1..base+5; the ring keeps base+3..base+5
  t.deepEqual(hub.since(String(hub.base + 2))?.map(e => e.id), [3, 4, 5].map(n => hub.base + n))
  t.deepEqual(hub.since(String(hub.base + 4))?.map(e => e.id), [hub.base + 5])
  t.deepEqual(hub.since(String(hub.base + 5)), [])
  t.is(hub.since(String(hub.base + 1)), undefined, 'older than the ring')
  t.is(hub.since(String(hub.base + 6)), undefined, 'an id not issued yet')
  t.is(hub.since(String(hub.base - 10)), undefined, 'an earlier run\'s id')
  t.is(hub.since('abc'), undefined)
  t.is(hub.since(undefined), undefined)
  await hub.stop()
})

test('hub: a subscriber that throws is removed and never breaks a merge or the other clients', async t => {
  const { catalog, hub, toggle } = await setup()
  const good = new Recorder()
  class Throwing extends Recorder {
    override change (): void { throw new Error('boom') }
  }
  hub.subscribe(new Throwing())
  hub.subscribe(good)
  t.notThrows(() => { toggle(0); toggle(1) })
  t.is(good.changes.length, 2)
  t.is(hub.clientCount, 1)
  t.is(catalog.get('host1', 'abc123def456')?.Status, ServiceStatus.UNHEALTHY)
  await hub.stop()
})

test('hub: stop() closes every client with a reason, and change counts reach the metrics', async t => {
  const { hub, metrics, toggle } = await setup()
  const c = new Recorder()
  hub.subscribe(c)
  toggle(0)
  toggle(1)
  const text = await metrics.text()
  t.regex(text, /sidecar_catalog_changes_total\{status="alive"\} 1/)
  t.regex(text, /sidecar_catalog_changes_total\{status="unhealthy"\} 1/)
  t.regex(text, /sidecar_stream_clients\{kind="sse"\} 1/)
  await hub.stop()
  t.deepEqual(c.closedWith, ['the daemon is shutting down'])
  t.is(hub.clientCount, 0)
})

test('hub: members events go out when names or service counts change, not on every refresh', async t => {
  const catalog = new Catalog({ clock: new FakeClock() }, makeCatalogOptions())
  let members = [{ Name: 'host1', LastUpdated: at(0), ServiceCount: 1 }]
  const hub = new EventHub({ catalog, members: () => members, logger: silentLogger(), metrics: new Metrics({ defaultMetrics: false }) }, { bufferSize: 10, heartbeatIntervalMs: 60_000 })
  await hub.start()
  const sent: string[] = []
  hub.subscribe({ kind: 'sse', queuedBytes: 0, change () {}, members (json) { sent.push(json) }, heartbeat () {}, close () {} })
  const tick = async (): Promise<void> => { await new Promise(resolve => setImmediate(resolve)) }
  members = [{ Name: 'host1', LastUpdated: at(5), ServiceCount: 1 }]
  hub.notifyMembers()
  await tick()
  t.is(sent.length, 0, 'a newer LastUpdated alone is not a change')
  members = [...members, { Name: 'host2', LastUpdated: at(5), ServiceCount: 0 }]
  hub.notifyMembers()
  hub.notifyMembers()
  await tick()
  t.is(sent.length, 1, 'a new member: one event, however often notified')
  t.deepEqual(Object.keys((JSON.parse(sent[0]) as { ClusterMembers: object }).ClusterMembers), ['host1', 'host2'])
  await hub.stop()
})

test('hub: with no client a change is not serialised; one read later from the ring is the change as it happened', async t => {
  const { catalog, hub } = await setup(10)
  t.teardown(async () => { await hub.stop() })
  const stringify = JSON.stringify
  let calls = 0
  JSON.stringify = ((...args: Parameters<typeof JSON.stringify>) => { calls++; return stringify(...args) }) as typeof JSON.stringify
  try {
    for (let i = 0; i < 3; i++) catalog.merge(makeTestService({ ID: 'a', Updated: at(i), Status: i % 2 === 0 ? ServiceStatus.ALIVE : ServiceStatus.UNHEALTHY }))
    t.is(calls, 0, 'no JSON built for changes nobody reads')
  } finally {
    JSON.stringify = stringify
  }
  const [first, second] = hub.since(String(hub.base)) ?? []
  const data = JSON.parse(first.data) as { Service: { Status: number, Updated: string }, PreviousStatus: number, Time: string }
  t.deepEqual([data.Service.Status, data.Service.Updated, data.PreviousStatus, data.Time], [ServiceStatus.ALIVE, at(0).toString(), ServiceStatus.UNKNOWN, at(0).toString()], 'the first version, although the catalog holds a later one')
  t.is(first.frame, `id: ${hub.base + 1}\nevent: service-changed\ndata: ${first.data}\n\n`)
  t.is(first.frame, first.frame, 'built once')
  t.is((JSON.parse(second.data) as { Service: { Status: number } }).Service.Status, ServiceStatus.UNHEALTHY)
})
