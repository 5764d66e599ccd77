import test from 'ava'
import { decodeState, encodeState, MAX_STATE_RECORDS, type ServerSnapshot, type StateSnapshot } from '../../../src/catalog/index.ts'
import { InvalidRecordError } from '../../../src/lib/errors.ts'
import { decodeService, encodeService, ServiceStatus, Time, withFields } from '../../../src/service/index.ts'
import { FakeClock } from '../../helpers/fake-clock.ts'
import { makeTestService } from '../../helpers/factories.ts'
import { setup } from './setup.ts'

// Reference §1.5: the example /api/state.json, byte for byte.
const STATE_EXAMPLE = '{"Servers":{"host1":{"Name":"host1","Services":{"d419fa7ad1a7":{"ID":"d419fa7ad1a7","Name":"nginx","Image":"nginx:latest","Created":"2024-05-01T10:00:00Z","Hostname":"host1","Ports":[{"Type":"tcp","Port":32768,"ServicePort":8080,"IP":"10.0.0.5"}],"Updated":"2024-05-01T10:05:00.123456789Z","ProxyMode":"http","Status":0}},"LastUpdated":"2024-05-01T10:05:00.123456789Z","LastChanged":"2024-05-01T10:00:03.5Z"}},"LastChanged":"2024-05-01T10:00:03.5Z","ClusterName":"default","Hostname":"host1"}'

/** Builds a snapshot straight from parsed state JSON, without the catalog's rules. */
function snapshotFromJson (json: string): StateSnapshot {
  const raw = JSON.parse(json) as { Servers: Record<string, { Name: string, Services: Record<string, unknown>, LastUpdated: string, LastChanged: string }>, LastChanged: string, ClusterName: string, Hostname: string }
  const servers: Record<string, ServerSnapshot> = {}
  for (const [host, s] of Object.entries(raw.Servers)) {
    const services = Object.fromEntries(Object.entries(s.Services).map(([id, v]) => [id, decodeService(v)]))
    servers[host] = { Name: s.Name, Services: services, LastUpdated: Time.parse(s.LastUpdated), LastChanged: Time.parse(s.LastChanged) }
  }
  return { Servers: servers, LastChanged: Time.parse(raw.LastChanged), ClusterName: raw.ClusterName, Hostname: raw.Hostname }
}

test('state: the reference example encodes back byte for byte from its decoded values', t => {
  t.is(encodeState(snapshotFromJson(STATE_EXAMPLE)), STATE_EXAMPLE)
})

// The example's LastChanged (10:00:03.5) is older than its record's Updated (10:05:00.12...):
// the record was added at 10:00:03.5 and refreshed since. Replaying that history through
// merge() reproduces the example exactly.
test('state: the reference example round-trips through decodeState, merge and encodeState', t => {
  const decoded = decodeState(JSON.parse(STATE_EXAMPLE))
  t.is(decoded.hostname, 'host1')
  t.is(decoded.clusterName, 'default')
  t.is(decoded.records.length, 1)
  const { catalog, clock } = setup({ hostname: decoded.hostname, clusterName: decoded.clusterName }, new FakeClock('2024-05-01T10:00:04Z'))
  const [record] = decoded.records
  t.is(catalog.merge(withFields(record, { Updated: Time.parse('2024-05-01T10:00:03.5Z') })), 'added')
  clock.set(Time.parse('2024-05-01T10:05:01Z'))
  t.is(catalog.merge(record), 'refreshed')
  t.is(encodeState(catalog.snapshot()), STATE_EXAMPLE)
})

test('state: a state merged into another catalog encodes the same', t => {
  const a = setup({ hostname: 'host1' })
  a.catalog.merge(makeTestService({ ID: 'one' }))
  a.catalog.merge(makeTestService({ ID: 'two', Hostname: 'host2', Status: ServiceStatus.DRAINING, Ports: null }))
  const b = setup({ hostname: 'host1' })
  for (const svc of decodeState(JSON.parse(encodeState(a.catalog.snapshot()))).records) b.catalog.merge(svc)
  t.is(encodeState(b.catalog.snapshot()), encodeState(a.catalog.snapshot()))
})

test('state: an empty catalog encodes with epoch LastChanged', t => {
  const { catalog } = setup({ hostname: 'me', clusterName: 'c' })
  t.is(encodeState(catalog.snapshot()), '{"Servers":{},"LastChanged":"1970-01-01T00:00:00Z","ClusterName":"c","Hostname":"me"}')
})

test('state: Servers and Services keys are sorted like Go maps, numeric-looking keys included', t => {
  const { catalog } = setup()
  for (const host of ['b', '10', '9', 'A']) catalog.merge(makeTestService({ Hostname: host }))
  for (const id of ['x', '200', '3']) catalog.merge(makeTestService({ ID: id }))
  const json = encodeState(catalog.snapshot())
  const parsedOrder = [...json.matchAll(/"Name":"([^"]+)","Services"/g)].map(m => m[1])
  t.deepEqual(parsedOrder, ['10', '9', 'A', 'b', 'host1'])
  const ids = [...json.matchAll(/"ID":"([^"]+)"/g)].map(m => m[1]).slice(-3)
  t.deepEqual(ids, ['200', '3', 'x'])
})

test('state: HTML characters and line separators are escaped as Go does', t => {
  const { catalog } = setup({ clusterName: 'a&b' })
  catalog.merge(makeTestService({ Name: '<web>\u2028' }))
  const json = encodeState(catalog.snapshot())
  t.true(json.includes('"Name":"\\u003cweb\\u003e\\u2028"'))
  t.true(json.includes('"ClusterName":"a\\u0026b"'))
  t.is(decodeState(JSON.parse(json)).records[0].Name, '<web>\u2028')
})

test('state: each record in Services encodes exactly as encodeService', t => {
  const { catalog } = setup()
  const svc = makeTestService({ Site: 'eu' })
  catalog.merge(svc)
  t.true(encodeState(catalog.snapshot()).includes(`"Services":{"abc123def456":${encodeService(svc)}}`))
})

test('decodeState: keys match case-insensitively and missing or null parts are empty', t => {
  const svc = JSON.parse(encodeService(makeTestService())) as unknown
  const decoded = decodeState({ servers: { host1: { services: { abc123def456: svc } } }, hostname: 'h', clustername: 'c' })
  t.is(decoded.records.length, 1)
  t.is(decoded.hostname, 'h')
  t.is(decoded.clusterName, 'c')
  t.deepEqual(decodeState({}), { records: [], hostname: '', clusterName: '' })
  t.deepEqual(decodeState({ Servers: null }).records, [])
  t.deepEqual(decodeState({ Servers: { h: null, g: { Services: null }, f: {} } }).records, [])
})

test('decodeState: records keep their own Hostname and ID whatever key they sit under', t => {
  const svc = JSON.parse(encodeService(makeTestService({ Hostname: 'real', ID: 'real-id' }))) as unknown
  const [record] = decodeState({ Servers: { fake: { Services: { 'fake-id': svc } } } }).records
  t.is(record.Hostname, 'real')
  t.is(record.ID, 'real-id')
})

for (const [why, value] of [
  ['a non-object state', []],
  ['a string state', 'state'],
  ['Servers as an array', { Servers: [] }],
  ['a server that is a number', { Servers: { h: 1 } }],
  ['Services as an array', { Servers: { h: { Services: [] } } }],
  ['a record missing its ID', { Servers: { h: { Services: { x: { Name: 'web', Hostname: 'h', Updated: '2024-05-01T10:00:00Z', Status: 0 } } } } }],
  ['a record with a bad status', { Servers: { h: { Services: { x: { ID: 'x', Name: 'web', Hostname: 'h', Updated: '2024-05-01T10:00:00Z', Status: 7 } } } } }],
  ['a Hostname that is not a string', { Hostname: 5 }],
  ['a ClusterName too long', { ClusterName: 'c'.repeat(300) }],
] as const) {
  test(`decodeState: rejects ${why}`, t => {
    t.throws(() => decodeState(value), { instanceOf: InvalidRecordError })
  })
}

test('decodeState: the error names the bad entry', t => {
  const err = t.throws(() => decodeState({ Servers: { hostX: { Services: { idY: { ID: 'idY' } } } } }), { instanceOf: InvalidRecordError })
  t.regex(err.message, /hostX.*idY/)
})

test('decodeState: more records than the limit are refused', t => {
  const svc = JSON.parse(encodeService(makeTestService())) as unknown
  const state = { Servers: { a: { Services: { 1: svc, 2: svc } }, b: { Services: { 3: svc } } } }
  t.is(decodeState(state, { maxRecords: 3 }).records.length, 3)
  t.throws(() => decodeState(state, { maxRecords: 2 }), { instanceOf: InvalidRecordError })
  t.throws(() => decodeState(state, { maxRecords: -1 }), { instanceOf: RangeError })
  t.is(MAX_STATE_RECORDS, 100_000)
})
