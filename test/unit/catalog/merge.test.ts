import test from 'ava'
import { Catalog } from '../../../src/catalog/index.ts'
import { ConfigError } from '../../../src/lib/errors.ts'
import { ServiceStatus, Time } from '../../../src/service/index.ts'
import { FakeClock } from '../../helpers/fake-clock.ts'
import { at, BASE_TIME, makeCatalogOptions, makeTestService } from '../../helpers/factories.ts'
import { setup } from './setup.ts'

const { ALIVE, TOMBSTONE, UNHEALTHY, UNKNOWN, DRAINING } = ServiceStatus

test('merge: a new record is added and announced with previous status UNKNOWN', t => {
  const { catalog, events } = setup()
  const svc = makeTestService()
  t.is(catalog.merge(svc), 'added')
  t.is(catalog.get('host1', 'abc123def456'), svc)
  t.deepEqual(events, [{ service: svc, previousStatus: UNKNOWN, time: svc.Updated }])
  t.true(Object.isFrozen(events[0]))
})

test('merge: the same ID on two hosts is two records', t => {
  const { catalog } = setup()
  t.is(catalog.merge(makeTestService({ Hostname: 'host1' })), 'added')
  t.is(catalog.merge(makeTestService({ Hostname: 'host2' })), 'added')
  t.is(catalog.services().length, 2)
  t.deepEqual(catalog.hostnames(), ['host1', 'host2'])
})

test('merge: a strictly newer record wins', t => {
  const { catalog } = setup()
  catalog.merge(makeTestService())
  const newer = makeTestService({ Updated: BASE_TIME.plusNanos(1n), Image: 'nginx:2' })
  t.is(catalog.merge(newer), 'changed', 'a new image is a change (issue #13), not a silent refresh')
  t.is(catalog.get('host1', 'abc123def456'), newer)
})

test('merge: an equal timestamp is ignored, even with other fields or status', t => {
  const { catalog, events } = setup()
  const first = makeTestService()
  catalog.merge(first)
  t.is(catalog.merge(makeTestService({ Status: TOMBSTONE, Image: 'other' })), 'ignored')
  t.is(catalog.get('host1', 'abc123def456'), first)
  t.is(events.length, 1)
})

test('merge: an older record is ignored', t => {
  const { catalog, events } = setup()
  const first = makeTestService({ Updated: at(1_000) })
  catalog.merge(first)
  t.is(catalog.merge(makeTestService({ Updated: at(999), Status: UNHEALTHY })), 'ignored')
  t.is(catalog.get('host1', 'abc123def456'), first)
  t.is(events.length, 1)
})

test('merge: a status change is announced with the previous status and the record time', t => {
  const { catalog, events } = setup()
  catalog.merge(makeTestService())
  const sick = makeTestService({ Status: UNHEALTHY, Updated: at(1_000) })
  t.is(catalog.merge(sick), 'changed')
  t.deepEqual(events[1], { service: sick, previousStatus: ALIVE, time: at(1_000) })
})

test('merge: a refresh (only Updated newer) emits nothing; the same status with other ports is a change', t => {
  const { catalog, events } = setup()
  catalog.merge(makeTestService())
  t.is(catalog.merge(makeTestService({ Updated: at(1_000) })), 'refreshed')
  t.is(events.length, 1)
  t.is(catalog.merge(makeTestService({ Updated: at(2_000), Ports: [] })), 'changed')
  t.is(events.length, 2)
})

test('merge: draining survives an alive update relayed by a peer, taking its other fields and timestamp', t => {
  const { catalog, events } = setup({ hostname: 'me' })
  catalog.merge(makeTestService({ Status: DRAINING }), 'host1')
  const alive = makeTestService({ Status: ALIVE, Updated: at(1_000), Image: 'nginx:2' })
  t.is(catalog.merge(alive, 'peer-b'), 'changed', 'the new image is a change; the status stays')
  const stored = catalog.get('host1', 'abc123def456')
  t.is(stored?.Status, DRAINING)
  t.is(stored?.Image, 'nginx:2')
  t.true(stored?.Updated.equals(at(1_000)))
  t.true(Object.isFrozen(stored))
  t.is(events.length, 2)
  t.is(events[1].previousStatus, DRAINING)
  t.is(catalog.merge(makeTestService({ Status: ALIVE, Updated: at(2_000), Image: 'nginx:2' }), 'peer-b'), 'refreshed', 'a relayed ALIVE that changes nothing else stays a silent refresh')
})

for (const status of [UNHEALTHY, UNKNOWN, TOMBSTONE]) {
  test(`merge: status ${status} replaces draining`, t => {
    const { catalog, events } = setup()
    catalog.merge(makeTestService({ Status: DRAINING }))
    t.is(catalog.merge(makeTestService({ Status: status, Updated: at(1_000) })), 'changed')
    t.is(catalog.get('host1', 'abc123def456')?.Status, status)
    t.is(events[1].previousStatus, DRAINING)
  })
}

test('merge: draining replaces alive, and a later alive relayed by a peer leaves it draining', t => {
  const { catalog } = setup({ hostname: 'me' })
  catalog.merge(makeTestService(), 'host1')
  t.is(catalog.merge(makeTestService({ Status: DRAINING, Updated: at(1) }), 'host1'), 'changed')
  t.is(catalog.merge(makeTestService({ Status: ALIVE, Updated: at(2) }), 'peer-b'), 'refreshed')
  t.is(catalog.get('host1', 'abc123def456')?.Status, DRAINING)
})

test('merge: a newer alive record from its origin ends a drain (undrain)', t => {
  const { catalog, events } = setup({ hostname: 'me' })
  catalog.merge(makeTestService({ Status: DRAINING }), 'host1')
  t.is(catalog.merge(makeTestService({ Status: ALIVE, Updated: at(1) }), 'host1'), 'changed')
  t.is(catalog.get('host1', 'abc123def456')?.Status, ALIVE)
  t.deepEqual(events.map(e => [e.previousStatus, e.service.Status]), [[UNKNOWN, DRAINING], [DRAINING, ALIVE]])
})

test('merge: an undrain its origin signed ends the drain whoever relays it, with a change event; the origin\'s own copy of that version is then the same', t => {
  const { catalog, events } = setup({ hostname: 'me' })
  catalog.merge(makeTestService({ Status: DRAINING }), 'host1')
  const undrain = makeTestService({ Status: ALIVE, Updated: at(1_000) })
  t.is(catalog.merge(undrain, 'peer-b', true), 'changed', 'relayed by a third host (anti-entropy), signed by host1')
  t.is(catalog.get('host1', 'abc123def456')?.Status, ALIVE)
  t.deepEqual(events.map(e => [e.previousStatus, e.service.Status]), [[UNKNOWN, DRAINING], [DRAINING, ALIVE]])
  t.is(catalog.merge(undrain, 'host1', true), 'ignored', 'the same version straight from its origin: nothing left to change')
  t.is(catalog.get('host1', 'abc123def456')?.Status, ALIVE)
})

test('merge: records of this host merged without a source are from their origin, so the local announcer can undrain', t => {
  const { catalog } = setup({ hostname: 'host1' })
  catalog.merge(makeTestService({ Status: DRAINING }))
  t.is(catalog.merge(makeTestService({ Status: ALIVE, Updated: at(1) })), 'changed')
  t.is(catalog.get('host1', 'abc123def456')?.Status, ALIVE)
})

test('merge: a remote record merged without a source counts as relayed, so draining stays', t => {
  const { catalog } = setup({ hostname: 'me' })
  catalog.merge(makeTestService({ Status: DRAINING }), 'host1')
  t.is(catalog.merge(makeTestService({ Status: ALIVE, Updated: at(1) })), 'refreshed')
  t.is(catalog.get('host1', 'abc123def456')?.Status, DRAINING)
})

test('merge: a newer alive record resurrects a tombstone', t => {
  const { catalog, events } = setup()
  catalog.merge(makeTestService({ Status: TOMBSTONE }))
  t.is(catalog.merge(makeTestService({ Updated: at(1) })), 'changed')
  t.is(events[1].previousStatus, TOMBSTONE)
})

test('merge: a record older than 3 h + 1 min is dropped as stale', t => {
  const { catalog, events } = setup()
  t.is(catalog.merge(makeTestService({ Updated: at(-10_860_001), Status: TOMBSTONE })), 'stale')
  t.is(catalog.services().length, 0)
  t.deepEqual(catalog.hostnames(), [])
  t.is(events.length, 0)
  t.is(catalog.merge(makeTestService({ Updated: at(-10_860_000), Status: TOMBSTONE })), 'added', 'exactly at the limit is still merged')
})

// A live version past its lifespan would be tombstoned by the next reap (2 s) anyway: stored, it
// showed a dead instance as live meanwhile (to the proxy, streams and listeners) when it came
// as a replay, in a late joiner's pull or from a peer that had not reaped it yet.
test('merge: a live version past its lifespan, for a key not held, is dead on arrival: dropped, no event', t => {
  const { catalog, clock, events } = setup()
  clock.set(at(80_001))
  for (const Status of [ALIVE, UNHEALTHY, UNKNOWN]) t.is(catalog.merge(makeTestService({ Status }), 'peer'), 'stale')
  t.deepEqual(catalog.hostnames(), [])
  t.is(events.length, 0)
  t.is(catalog.merge(makeTestService({ Status: DRAINING }), 'peer'), 'added', 'DRAINING has its own lifespan (10 min)')
  t.is(catalog.merge(makeTestService({ ID: 'limit', Updated: at(1) }), 'peer'), 'added', 'exactly at the lifespan it is still live')
  clock.set(at(1_000_000))
  t.is(catalog.merge(makeTestService({ ID: 'late', Status: DRAINING }), 'peer'), 'stale', 'and past it is dead too')
})

test('merge: a live version past its lifespan does not replace a tombstone, so a replay never resurrects an instance for a reap', t => {
  const { catalog, clock, events } = setup()
  const tomb = makeTestService({ Updated: at(-5_000), Status: TOMBSTONE })
  catalog.merge(tomb, 'peer')
  clock.set(at(90_000))
  t.is(catalog.merge(makeTestService(), 'peer'), 'stale')
  t.is(catalog.get('host1', 'abc123def456'), tomb)
  t.deepEqual(catalog.expire(), [])
  t.is(events.length, 1, 'only the tombstone\'s own arrival')
  // the peer that held it reaps it at Updated + 1 s: that tombstone is taken, so both agree
  t.is(catalog.merge(makeTestService({ Updated: at(1_000), Status: TOMBSTONE }), 'peer'), 'refreshed')
  t.true(catalog.get('host1', 'abc123def456')?.Updated.equals(at(1_000)))
})

test('merge: a newer live version past its lifespan still replaces an older live one, which the reap then tombstones as before', t => {
  const { catalog, clock } = setup()
  catalog.merge(makeTestService({ Updated: at(-10_000) }), 'peer')
  clock.set(at(90_000))
  t.is(catalog.merge(makeTestService(), 'peer'), 'refreshed')
  const [tomb] = catalog.expire()
  t.true(tomb.Updated.equals(at(1_000)), 'stamped after the newest version, so it wins everywhere')
})

test('merge: a stale record never deletes a fresh one', t => {
  const { catalog, events } = setup()
  const fresh = makeTestService()
  catalog.merge(fresh)
  t.is(catalog.merge(makeTestService({ Updated: at(-20_000_000), Status: TOMBSTONE })), 'stale')
  t.is(catalog.get('host1', 'abc123def456'), fresh)
  t.deepEqual(catalog.hostnames(), ['host1'])
  t.is(events.length, 1)
})

test('merge: the stale limit follows the clock and the configured tombstone lifespan', t => {
  const { catalog, clock } = setup({ tombstoneLifespanMs: 1_000 })
  clock.set(at(61_000))
  t.is(catalog.merge(makeTestService({ Updated: at(0) })), 'added')
  clock.advance(1)
  t.is(catalog.merge(makeTestService({ ID: 'other', Updated: at(0) })), 'stale')
})

test('merge: an unfrozen record is stored as a frozen copy', t => {
  const { catalog } = setup()
  const loose = { ...makeTestService(), Ports: [{ Type: 'tcp', Port: 1, ServicePort: 0, IP: '' }] }
  catalog.merge(loose)
  const stored = catalog.get('host1', 'abc123def456')
  t.not(stored, loose)
  t.true(Object.isFrozen(stored) && Object.isFrozen(stored?.Ports))
  t.deepEqual(stored, makeTestService({ Ports: loose.Ports }))
})

test('merge: server LastUpdated follows every accepted record; LastChanged only new or changed ones', t => {
  const { catalog } = setup()
  catalog.merge(makeTestService({ Updated: at(0) }))
  catalog.merge(makeTestService({ Updated: at(5_000) }))
  t.true(catalog.server('host1')?.LastUpdated.equals(at(5_000)))
  t.true(catalog.server('host1')?.LastChanged.equals(at(0)))
  t.true(catalog.lastChanged.equals(at(0)))
  catalog.merge(makeTestService({ Updated: at(6_000), Status: UNHEALTHY }))
  t.true(catalog.server('host1')?.LastChanged.equals(at(6_000)))
  t.true(catalog.lastChanged.equals(at(6_000)))
  catalog.merge(makeTestService({ Updated: at(5_500) }))
  t.true(catalog.server('host1')?.LastUpdated.equals(at(6_000)), 'an ignored record does not count')
})

test('merge: LastChanged never moves backwards when an older record is added', t => {
  const { catalog } = setup()
  catalog.merge(makeTestService({ ID: 'a', Updated: at(10_000) }))
  catalog.merge(makeTestService({ ID: 'b', Updated: at(1_000) }))
  t.true(catalog.lastChanged.equals(at(10_000)))
  t.true(catalog.server('host1')?.LastChanged.equals(at(10_000)))
  t.true(catalog.server('host1')?.LastUpdated.equals(at(10_000)), 'LastUpdated is the newest record held, not the last accepted one (the original\'s)')
})

// interleave.ts of the catalog audit: LastUpdated was the Updated of the last record accepted, so
// two nodes holding the same records showed different times in /api/state.json and /services.json.
test('merge: a host\'s LastUpdated is the newest Updated of its records, whatever order they came in', t => {
  const records = [
    makeTestService({ ID: 'a', Updated: at(10_000) }),
    makeTestService({ ID: 'b', Updated: at(1_000) }),
    makeTestService({ ID: 'a', Updated: at(4_000), Status: UNHEALTHY }), // older than the held a: ignored or replaced
    makeTestService({ ID: 'c', Updated: at(7_000), Status: TOMBSTONE }),
  ]
  const orders = [[0, 1, 2, 3], [3, 2, 1, 0], [1, 2, 0, 3], [2, 3, 1, 0]]
  const seen = new Set<string>()
  for (const order of orders) {
    const { catalog } = setup()
    for (const i of order) catalog.merge(records[i])
    seen.add(`${catalog.server('host1')?.LastUpdated.toJSON()} ${catalog.serverSummary('host1')?.lastUpdated.toJSON()} ${catalog.stateLists().hosts[0].lastUpdated.toJSON()}`)
  }
  t.deepEqual([...seen], [Array(3).fill(at(10_000).toJSON()).join(' ')])
})

test('merge: a host\'s LastUpdated goes back to its newest remaining record once the newest is forgotten', t => {
  const { catalog, clock } = setup({ aliveLifespanMs: 1e9, drainingLifespanMs: 1e9 }) // only tombstones go
  catalog.merge(makeTestService({ ID: 'live', Updated: at(0) }))
  catalog.merge(makeTestService({ ID: 'gone', Updated: at(5_000), Status: TOMBSTONE }))
  t.true(catalog.server('host1')?.LastUpdated.equals(at(5_000)))
  clock.set(at(5_000 + 10_800_000 + 60_001))
  catalog.expire()
  t.is(catalog.get('host1', 'gone'), undefined, 'the tombstone is forgotten')
  t.true(catalog.server('host1')?.LastUpdated.equals(at(0)))
  t.true(catalog.serverSummary('host1')?.lastUpdated.equals(at(0)))
  t.true(catalog.stateLists().hosts[0].lastUpdated.equals(at(0)))
})

test('merge: listeners see the new state from inside the change event', t => {
  const { catalog } = setup()
  let seen: number | undefined
  catalog.on('change', () => { seen = catalog.snapshot().Servers.host1?.Services.abc123def456?.Status })
  catalog.merge(makeTestService({ Status: UNHEALTHY }))
  t.is(seen, UNHEALTHY)
})

test('catalog: exposes its hostname, cluster name and an epoch LastChanged when empty', t => {
  const { catalog } = setup({ hostname: 'me', clusterName: 'prod' })
  t.is(catalog.hostname, 'me')
  t.is(catalog.clusterName, 'prod')
  t.true(catalog.lastChanged.equals(Time.EPOCH))
  t.is(catalog.get('host1', 'x'), undefined)
  t.is(catalog.server('host1'), undefined)
})

test('catalog: rejects lifespans that are not positive numbers, listing every problem', t => {
  const err = t.throws(() => new Catalog({ clock: new FakeClock() }, makeCatalogOptions({ aliveLifespanMs: 0, tombstoneLifespanMs: Number.NaN })), { instanceOf: ConfigError })
  t.is(err.problems.length, 2)
})

test('merge: a newer record that changes any field but Updated is a change event, not a silent refresh', t => {
  const { catalog, events } = setup()
  const svc = makeTestService({ Status: ALIVE, Ports: [{ Type: 'tcp', Port: 9000, ServicePort: 8000, IP: '10.0.0.1' }] })
  catalog.merge(svc)
  events.length = 0
  let n = 1
  const newer = (fields: Parameters<typeof makeTestService>[0]): ReturnType<typeof makeTestService> => makeTestService({ ...svc, ...fields, Updated: svc.Updated.plusMillis(n++) })
  t.is(catalog.merge(newer({})), 'refreshed', 'only Updated differs')
  t.deepEqual(events, [])
  const changes = [
    { Ports: [{ Type: 'tcp', Port: 9001, ServicePort: 8000, IP: '10.0.0.1' }] },
    { Ports: [{ Type: 'tcp', Port: 9001, ServicePort: 8001, IP: '10.0.0.1' }] },
    { Ports: [{ Type: 'tcp', Port: 9001, ServicePort: 8001, IP: '10.0.0.2' }] },
    { Ports: [{ Type: 'udp', Port: 9001, ServicePort: 8001, IP: '10.0.0.2' }] },
    { Ports: [] },
    { Ports: null },
    { Image: 'other:2' },
    { ProxyMode: 'tcp' },
    { Site: 'dc2' },
    { Created: svc.Created.plusMillis(1) },
  ]
  let current = catalog.get(svc.Hostname, svc.ID)
  for (const fields of changes) {
    const next = newer({ ...current, ...fields })
    t.is(catalog.merge(next), 'changed', JSON.stringify(fields))
    t.is(events.at(-1)?.service, catalog.get(svc.Hostname, svc.ID))
    t.is(events.at(-1)?.previousStatus, ALIVE, 'same status before and after')
    current = catalog.get(svc.Hostname, svc.ID)
  }
  t.is(events.length, changes.length)
  t.true(catalog.lastChanged.equals(current?.Updated ?? Time.EPOCH), 'LastChanged follows field changes too')
})
