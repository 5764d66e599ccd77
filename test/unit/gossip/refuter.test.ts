import test from 'ava'
import { Refuter, REFUTE_EVERY_MS } from '../../../src/gossip/refuter.ts'
import { decodeMessage } from '../../../src/gossip/wire.ts'
import { silentLogger } from '../../../src/lib/logger.ts'
import { ServiceStatus } from '../../../src/service/index.ts'
import { at, makeTestService } from '../../helpers/factories.ts'
import { setup } from '../catalog/setup.ts'

function fixture (): { f: ReturnType<typeof setup>, sent: Uint8Array[], reannounced: () => number, clock: { ms: number }, r: Refuter } {
  const f = setup({ hostname: 'host1' })
  const sent: Uint8Array[] = []
  let n = 0
  const clock = { ms: 1000 }
  const r = new Refuter({ catalog: f.catalog, logger: silentLogger(), reannounce: () => { n++ }, publish: async (d) => { sent.push(d) }, seal: (rs) => rs.map(svc => ({ svc })), nowMs: () => clock.ms })
  r.start()
  return { f, sent, reannounced: () => n, clock, r }
}

test('a peer holding our live record as an older tombstone makes us re-announce, once per REFUTE_EVERY_MS', t => {
  const { f, reannounced, clock, r } = fixture()
  f.catalog.merge(makeTestService({ Hostname: 'host1', Updated: at(10_000) }))
  const tomb = makeTestService({ Hostname: 'host1', Updated: at(5_000), Status: ServiceStatus.TOMBSTONE })
  f.catalog.merge(tomb, 'host2')
  f.catalog.merge(tomb, 'host3')
  t.is(reannounced(), 1, 'a flood of the same contradiction is refuted once')
  clock.ms += REFUTE_EVERY_MS
  f.catalog.merge(tomb, 'host2')
  t.is(reannounced(), 2)
  r.stop()
  clock.ms += REFUTE_EVERY_MS
  f.catalog.merge(tomb, 'host2')
  t.is(reannounced(), 2, 'stopped: no more refutations')
})

test('a peer holding our removed record as an older ALIVE gets our tombstone again, 1 ns newer so gossipsub sends new bytes', t => {
  const { f, sent } = fixture()
  f.catalog.merge(makeTestService({ Hostname: 'host1', Updated: at(10_000), Status: ServiceStatus.TOMBSTONE }))
  f.catalog.merge(makeTestService({ Hostname: 'host1', Updated: at(5_000) }), 'host2')
  t.is(sent.length, 1)
  const [rec] = decodeMessage(sent[0], at(20_000))
  t.is(rec.Status, ServiceStatus.TOMBSTONE)
  t.is(rec.Updated.ns, at(10_000).ns + 1n)
  t.is(f.catalog.get('host1', rec.ID)?.Updated.ns, rec.Updated.ns, 'what we sent is what we hold')
})

test('a peer\'s NEWER version of our record with another status (never merged: the gate keeps our records ours) is refuted too', t => {
  const { f, sent, reannounced, r } = fixture()
  f.catalog.merge(makeTestService({ Hostname: 'host1', Updated: at(5_000) }))
  const ours = f.catalog.services()[0]
  // an observer's tombstone made while it could not reach us, newer than our last heartbeat
  r.consider(makeTestService({ Hostname: 'host1', ID: ours.ID, Updated: at(9_000), Status: ServiceStatus.TOMBSTONE }), 'host2')
  t.is(reannounced(), 1, 'our live record is re-announced (re-stamped now, newer than the tombstone)')
  t.is(f.catalog.get('host1', ours.ID)?.Status, ServiceStatus.ALIVE, 'and the tombstone was never taken')
  r.consider(makeTestService({ Hostname: 'host1', ID: ours.ID, Updated: at(9_000), Status: ServiceStatus.ALIVE }), 'host2')
  t.is(reannounced(), 1, 'the same status is no contradiction')
  // our removed record, held ALIVE by a peer in a version newer than our tombstone
  f.catalog.merge(makeTestService({ Hostname: 'host1', ID: 'a0000000000f', Updated: at(6_000), Status: ServiceStatus.TOMBSTONE }))
  r.consider(makeTestService({ Hostname: 'host1', ID: 'a0000000000f', Updated: at(8_000) }), 'host3')
  const [rec] = decodeMessage(sent[0], at(20_000))
  t.is(rec.Status, ServiceStatus.TOMBSTONE)
  t.is(rec.Updated.ns, at(8_000).ns + 1n, 'newer than the version the peer holds')
})
