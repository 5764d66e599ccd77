import test from 'ava'
import { ServiceStatus, type Service } from '../../../src/service/index.ts'
import { at, makeTestService } from '../../helpers/factories.ts'
import { setup } from './setup.ts'

function contradictions (f: ReturnType<typeof setup>): Array<[Service, Service, string]> {
  const out: Array<[Service, Service, string]> = []
  f.catalog.on('contradicted', (stored, incoming, from) => { out.push([stored, incoming, from]) })
  return out
}

test('an older version of our own record with another status from a peer is reported as contradicted, and ignored', t => {
  const f = setup({ hostname: 'host1' })
  const seen = contradictions(f)
  const live = makeTestService({ Hostname: 'host1', Updated: at(10_000) })
  f.catalog.merge(live)
  const theirTomb = makeTestService({ Hostname: 'host1', Updated: at(5_000), Status: ServiceStatus.TOMBSTONE })
  t.is(f.catalog.merge(theirTomb, 'host2'), 'ignored')
  t.is(seen.length, 1)
  t.true(seen[0][0] === f.catalog.get('host1', live.ID))
  t.is(seen[0][1].Status, ServiceStatus.TOMBSTONE)
  t.is(seen[0][2], 'host2')
  t.is(f.catalog.get('host1', live.ID)?.Status, ServiceStatus.ALIVE)
})

test('no contradiction for the same status, for another host\'s record, or from this host itself', t => {
  const f = setup({ hostname: 'host1' })
  const seen = contradictions(f)
  f.catalog.merge(makeTestService({ Hostname: 'host1', Updated: at(10_000), Status: ServiceStatus.TOMBSTONE }))
  f.catalog.merge(makeTestService({ Hostname: 'host1', Updated: at(5_000), Status: ServiceStatus.TOMBSTONE }), 'host2')
  f.catalog.merge(makeTestService({ Hostname: 'host1', Updated: at(5_000) }))
  f.catalog.merge(makeTestService({ Hostname: 'host3', Updated: at(10_000) }), 'host3')
  f.catalog.merge(makeTestService({ Hostname: 'host3', Updated: at(5_000), Status: ServiceStatus.TOMBSTONE }), 'host2')
  t.is(seen.length, 0)
  // our tombstone, a peer's older ALIVE copy: a ghost the origin refutes
  f.catalog.merge(makeTestService({ Hostname: 'host1', Updated: at(6_000) }), 'host2')
  t.is(seen.length, 1)
})
