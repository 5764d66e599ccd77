// The record caps at scale: a host's own tombstones never lock out its new records (they give
// way, oldest first, and what they superseded stays out), a hostile member is still bounded, and
// batches admitted at the same time (gossipsub validates an RPC's messages without waiting for
// the merges) count each other's new keys.
import test from 'ava'
import { ServiceStatus, type Service } from '../../../src/service/index.ts'
import type { SealedRecord } from '../../../src/gossip/proof.ts'
import { fixture, signer } from './admission-fixture.ts'

const { ALIVE, TOMBSTONE } = ServiceStatus
const ports = (ip: string): Service['Ports'] => [{ Type: 'tcp', Port: 1, ServicePort: 80, IP: ip }]

test('admission: a host that starts and removes instances faster than its tombstones expire is never refused; each new one takes its oldest tombstone\'s place (6,000 instances in 2 h, max_records_per_host 2,000)', async t => {
  // the audit's F4: a CI host starting and removing 50 instances a minute held 2,000 tombstones after
  // 40 minutes, and every later instance was refused ('cap-host') by every peer until they expired (3 h)
  const f = await fixture(t, { maxRecordsPerHost: 2000, maxRecords: 10_000 })
  const steady = f.gate.admit(Array.from({ length: 1500 }, (_, i) => f.host2.seal(f.rec({ Hostname: 'host2', ID: `s${i}`, Ports: ports('10.0.0.6') }), false)), 'host2', 'anti-entropy')
  f.merge(steady, 'host2')
  let refused = 0
  let missing = 0
  for (let round = 0; round < 120; round++) {
    const ids = Array.from({ length: 50 }, (_, i) => `job${round * 50 + i}`)
    const started = f.gate.admit(ids.map(ID => f.host1.seal(f.rec({ ID }), false)), 'host1', 'gossip')
    refused += 50 - started.admitted.length
    f.merge(started, 'host1')
    missing += ids.filter(ID => f.catalog.get('host1', ID)?.Status !== ALIVE).length // what /services.json shows of them now
    if (f.catalog.count('host1') > 2000) t.fail(`host1 holds ${f.catalog.count('host1')} records in round ${round}`)
    f.clock.advance(30_000)
    f.merge(f.gate.admit(ids.map(ID => f.host1.seal(f.rec({ ID, Status: TOMBSTONE }), false)), 'host1', 'gossip'), 'host1')
    f.clock.advance(30_000)
  }
  t.is(refused, 0, 'no new instance refused (before: 4,000 of 6,000)')
  t.is(missing, 0, 'every instance was seen running while it ran')
  t.deepEqual(await f.reasons(), {})
  t.is(f.catalog.count('host1'), 2000, 'still max_records_per_host at most')
  t.is(f.catalog.tombstoneCount('host1'), 2000)
  t.is(f.catalog.get('host1', 'job3999'), undefined, 'the oldest tombstones gave way')
  t.is(f.catalog.get('host1', 'job4000')?.Status, TOMBSTONE, 'the newest 2,000 are kept')
  t.is(f.catalog.count('host2'), 1500, 'another host\'s records are untouched')
})

test('admission: a tombstone that gave way keeps out what it superseded: a replayed ALIVE of a removed instance is refused (superseded) and never merged', async t => {
  const f = await fixture(t, { maxRecordsPerHost: 1000, maxRecords: 10_000 })
  // 3,000 instances, each started and removed; their ALIVE versions kept, as a peer that missed the removals would
  const alive: SealedRecord[] = []
  for (let round = 0; round < 30; round++) {
    const ids = Array.from({ length: 100 }, (_, i) => `j${round * 100 + i}`)
    const started = ids.map(ID => f.host1.seal(f.rec({ ID }), false))
    alive.push(...started)
    f.merge(f.gate.admit(started, 'host1', 'gossip'), 'host1')
    f.clock.advance(20_000)
    f.merge(f.gate.admit(ids.map(ID => f.host1.seal(f.rec({ ID, Status: TOMBSTONE }), false)), 'host1', 'gossip'), 'host1')
    f.clock.advance(20_000)
  }
  t.is(f.catalog.count('host1'), 1000)
  t.is(f.catalog.get('host1', 'j1999'), undefined)
  // every ALIVE replayed by anti-entropy, 100 minutes after the first: within the tombstone lifespan (3 h)
  const replay = await f.gate.admitSliced(alive, 'peer', 'anti-entropy')
  t.is(replay.admitted.length, 1000, 'only the versions of instances whose tombstone is held pass (and merge ignores them, older)')
  t.true(f.merge(replay, 'peer').every(r => r === 'ignored'))
  t.like(await f.reasons(), { superseded: 2000 })
  t.is(f.catalog.hostRecords('host1').filter(s => s.Status !== TOMBSTONE).length, 0, 'no ghost: nothing removed is live again')
  // merged without the gate, as a record admitted just before its tombstone gave way would be
  t.is(f.catalog.merge(alive[0].svc, 'peer', true), 'stale')
  // a new instance, stamped now, is admitted as before
  const fresh = f.gate.admit([f.host1.seal(f.rec({ ID: 'fresh' }), false)], 'host1', 'gossip')
  t.deepEqual(f.merge(fresh, 'host1'), ['added'])
})

test('admission: a member flooding records is still bounded: live records at max_records_per_host, tombstones give way only to its own, max_records and the unpinned budget hold', async t => {
  const f = await fixture(t, { maxRecordsPerHost: 1000, maxRecords: 2500 })
  const flood = async (who: typeof f.host1, host: string, ip: string, n: number, status: ServiceStatus, prefix: string): Promise<number> => {
    let admitted = 0
    for (let b = 0; b < n / 500; b++) {
      const batch = Array.from({ length: 500 }, (_, i) => who.seal(f.rec({ Hostname: host, ID: `${prefix}${b * 500 + i}`, Status: status, Ports: ports(ip) }), false))
      const r = await f.gate.admitSliced(batch, host, 'anti-entropy')
      admitted += r.admitted.length
      f.merge(r, host)
      f.clock.advance(1000) // a host stamps its records in increasing time
    }
    return admitted
  }
  t.is(await flood(f.host1, 'host1', '10.0.0.5', 3000, ALIVE, 'a'), 1000, 'live records: max_records_per_host')
  t.is(await flood(f.host1, 'host1', '10.0.0.5', 3000, TOMBSTONE, 't'), 0, 'new tombstones of a host at its cap with none held: nothing to give way')
  t.is(await flood(f.host2, 'host2', '10.0.0.6', 5000, TOMBSTONE, 't'), 5000, 'a host\'s new tombstones take the places of its own older ones')
  t.is(f.catalog.count('host2'), 1000)
  t.is(f.catalog.count('host1'), 1000, 'the other host\'s records all stay')
  t.true(f.catalog.hostRecords('host1').every(s => s.Status === ALIVE))
  // a third member meets max_records (2,000 held): 500 places, then only its own tombstones give way
  const host3 = await signer()
  t.is(f.pins.claim('host3', host3.peer), 'new')
  f.members.set('host3', { peerId: host3.peer, ips: new Set(['10.0.0.7']) })
  t.is(await flood(host3, 'host3', '10.0.0.7', 1000, ALIVE, 'a'), 500, 'max_records')
  f.clock.advance(1000)
  const gone = f.gate.admit(Array.from({ length: 100 }, (_, i) => host3.seal(f.rec({ Hostname: 'host3', ID: `a${i}`, Status: TOMBSTONE, Ports: ports('10.0.0.7') }), false)), 'host3', 'gossip')
  f.merge(gone, 'host3')
  t.is(await flood(host3, 'host3', '10.0.0.7', 500, ALIVE, 'b'), 100, 'its 100 new instances in place of its 100 tombstones, no more')
  t.is(f.catalog.size, 2500)
  t.like(await f.reasons(), { 'cap-host': 5000, 'cap-total': 900 })
  // hostnames nobody proved: one host's budget together; one of them gives way only to itself
  const u = await fixture(t, { maxRecordsPerHost: 1000, maxRecords: 2500 })
  const stranger = await signer()
  const tombs = (host: string, n: number, from = 0): SealedRecord[] => Array.from({ length: n }, (_, i) => stranger.seal(u.rec({ Hostname: host, ID: `u${from + i}`, Status: TOMBSTONE }), false))
  for (let b = 0; b < 4; b++) u.merge(u.gate.admit(tombs(`gone${b}`, 250), 'host2', 'anti-entropy'), 'host2')
  u.clock.advance(1000)
  const more = u.gate.admit([...tombs('gone0', 300, 1000), ...tombs('made-up', 300)], 'host2', 'gossip')
  t.is(more.admitted.filter(s => s.Hostname === 'gone0').length, 300, 'gone0\'s new tombstones, each in place of an older one of its own')
  t.is(more.admitted.filter(s => s.Hostname === 'made-up').length, 0)
  u.merge(more, 'host2')
  for (const b of [0, 1, 2, 3]) t.is(u.catalog.count(`gone${b}`), 250)
  t.is(u.catalog.size, 1000)
  t.like(await u.reasons(), { 'cap-unknown': 300 })
})

test('admission: gossip messages validated at the same time count each other\'s new keys: a host gets max_records_per_host, not that per message (10 messages of 500, cap 2,000)', async t => {
  // the audit's F5: each message's records passed the cap against the catalog alone, since the merges
  // come after the validations; 10 messages of 500 left 5,000 records of one host
  const f = await fixture(t, { maxRecordsPerHost: 2000, maxRecords: 100_000 })
  const messages = Array.from({ length: 10 }, (_, m) => Array.from({ length: 500 }, (_, i) => f.host1.seal(f.rec({ ID: `m${m}-${i}` }), false)))
  // as gossip.ts: each message's validator verifies ahead, then admits; the message handlers merge afterwards
  const verdicts = await Promise.all(messages.map(async batch => { await f.gate.prepare(batch); return f.gate.admit(batch, 'host1', 'gossip') }))
  t.is(verdicts.reduce((n, v) => n + v.admitted.length, 0), 2000)
  for (const v of verdicts) f.merge(v, 'host1')
  t.is(f.catalog.count('host1'), 2000, 'max_records_per_host (before: 5,000)')
  // anti-entropy pages (admitted in slices, merged in slices) and gossip messages at once, two hosts, against max_records
  const g = await fixture(t, { maxRecordsPerHost: 5000, maxRecords: 3000 })
  const pages = Array.from({ length: 3 }, (_, p) => Array.from({ length: 1000 }, (_, i) => g.host1.seal(g.rec({ ID: `p${p}-${i}` }), false)))
  const msgs = Array.from({ length: 5 }, (_, m) => Array.from({ length: 400 }, (_, i) => g.host2.seal(g.rec({ Hostname: 'host2', ID: `m${m}-${i}`, Ports: ports('10.0.0.6') }), false)))
  const all = await Promise.all([
    ...pages.map(async page => { await g.gate.prepare(page); return await g.gate.admitSliced(page, 'host1', 'anti-entropy') }),
    ...msgs.map(async batch => { await g.gate.prepare(batch); return g.gate.admit(batch, 'host2', 'gossip') }),
  ])
  for (const v of all) g.merge(v, v.admitted[0]?.Hostname ?? 'x')
  t.is(g.catalog.size, 3000, 'max_records (before: 5,000)')
  // a batch dropped unmerged gives its places back once settled
  const h = await fixture(t, { maxRecordsPerHost: 1000, maxRecords: 100_000 })
  const dropped = h.gate.admit(Array.from({ length: 1000 }, (_, i) => h.host1.seal(h.rec({ ID: `d${i}` }), false)), 'host1', 'gossip')
  t.is(dropped.admitted.length, 1000)
  t.is(h.gate.admit([h.host1.seal(h.rec({ ID: 'x' }), false)], 'host1', 'gossip').admitted.length, 0, 'its places are taken while it is in flight')
  dropped.settle()
  dropped.settle() // idempotent
  const next = h.gate.admit(Array.from({ length: 1000 }, (_, i) => h.host1.seal(h.rec({ ID: `e${i}` }), false)), 'host1', 'gossip')
  t.is(next.admitted.length, 1000)
  h.merge(next, 'host1')
  t.is(h.catalog.count('host1'), 1000)
})

test('admission: concurrent batches at a host\'s cap never promise more of its tombstones than it holds', async t => {
  const f = await fixture(t, { maxRecordsPerHost: 2000, maxRecords: 100_000 })
  f.merge(f.gate.admit(Array.from({ length: 2000 }, (_, i) => f.host1.seal(f.rec({ ID: `a${i}` }), false)), 'host1', 'anti-entropy'), 'host1')
  f.clock.advance(1000)
  f.merge(f.gate.admit(Array.from({ length: 300 }, (_, i) => f.host1.seal(f.rec({ ID: `a${i}`, Status: TOMBSTONE }), false)), 'host1', 'gossip'), 'host1')
  f.clock.advance(1000)
  const messages = Array.from({ length: 8 }, (_, m) => Array.from({ length: 100 }, (_, i) => f.host1.seal(f.rec({ ID: `n${m}-${i}` }), false)))
  const verdicts = await Promise.all(messages.map(async batch => { await f.gate.prepare(batch); return f.gate.admit(batch, 'host1', 'gossip') }))
  t.is(verdicts.reduce((n, v) => n + v.admitted.length, 0), 300, 'one new instance per tombstone held (before: none)')
  for (const v of verdicts) f.merge(v, 'host1')
  t.is(f.catalog.count('host1'), 2000)
  t.is(f.catalog.tombstoneCount('host1'), 0)
  t.like(await f.reasons(), { 'cap-host': 500 })
})
