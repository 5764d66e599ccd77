import test from 'ava'
import { at, makeTestService } from '../../helpers/factories.ts'
import { setup } from './setup.ts'

test('reportOf: an accepted record remembers the peer that sent it and when', (t) => {
  const { catalog, clock } = setup({ hostname: 'me' })
  clock.set(at(5_000))
  catalog.merge(makeTestService({ Updated: at(1_000) }), 'peer-a')
  t.deepEqual({ from: catalog.reportOf('host1', 'abc123def456')?.from, at: catalog.reportOf('host1', 'abc123def456')?.at.toString() }, { from: 'peer-a', at: at(5_000).toString() })
})

test('reportOf: an ignored (older) copy does not change who reported the record', (t) => {
  const { catalog } = setup({ hostname: 'me' })
  catalog.merge(makeTestService({ Updated: at(2_000) }), 'peer-a')
  t.is(catalog.merge(makeTestService({ Updated: at(1_000) }), 'peer-b'), 'ignored')
  t.is(catalog.reportOf('host1', 'abc123def456')?.from, 'peer-a')
})

test('reportOf: a record merged without a source is reported by this host', (t) => {
  const { catalog } = setup({ hostname: 'me' })
  catalog.merge(makeTestService())
  t.is(catalog.reportOf('host1', 'abc123def456')?.from, 'me')
})
