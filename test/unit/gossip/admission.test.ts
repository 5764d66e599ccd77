// The admission gate and its rules with real keys, a real catalog and real pins in a temp
// dir: who may vouch for what, the clock and Created bounds, backend IPs, caps, the
// verification shortcut, and that what seal() sends is what admit() accepts.
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import test from 'ava'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { checkBackends, checkTimes, MAX_FUTURE_SKEW_MS } from '../../../src/gossip/admission-rules.ts'
import { cidrList, isLocalOnly } from '../../../src/lib/backend-ips.ts'
import { HostPins, PINS_FILE } from '../../../src/gossip/pins.ts'
import { canonicalOf, ProofVerifier, RecordSigner } from '../../../src/gossip/proof.ts'
import { decodeSealedMessage, encodeRecords } from '../../../src/gossip/wire.ts'
import { silentLogger } from '../../../src/lib/logger.ts'
import { encodeService, ServiceStatus, Time, withFields } from '../../../src/service/index.ts'
import { makeTestService } from '../../helpers/factories.ts'
import { fixture, signer } from './admission-fixture.ts'

test('admission: a host\'s own signed record passes; another key, no key or an altered record does not', async t => {
  const f = await fixture(t)
  const ok = f.host1.seal(f.rec(), false)
  t.is(f.gate.admit([ok], 'host1', 'gossip').admitted.length, 1)
  const r = f.gate.admit([
    f.host2.seal(f.rec({ ID: 'b' }), false), // host2 signing host1's record
    { svc: f.rec({ ID: 'c' }) },
    { svc: f.rec({ ID: 'd' }), proof: f.host1.seal(f.rec({ ID: 'e' }), false).proof },
    f.host1.seal(f.rec({ ID: 'f', Hostname: 'ghost' }), false),
  ], 'host2', 'anti-entropy')
  t.like(r, { admitted: [], refused: 4, forged: 2 })
  t.like(await f.reasons(), { pin: 1, unsigned: 1, signature: 1, 'unknown-host': 1 })
})

test('admission: proofs verified ahead in parallel (prepare) give the same verdicts, and an altered record is still refused', async t => {
  const f = await fixture(t)
  const good = Array.from({ length: 50 }, (_, i) => f.host1.seal(f.rec({ ID: `p${i}` }), false))
  const signed = f.host1.seal(f.rec({ ID: 'q' }), false)
  const records = [
    ...good,
    { svc: f.rec({ ID: 'q', Name: 'altered' }), proof: signed.proof }, // the signature of another text
    { svc: f.rec({ ID: 'r' }), proof: f.host2.seal(f.rec({ ID: 'r' }), false).proof }, // a valid signature by the wrong peer
  ]
  await f.gate.prepare(records)
  const n = f.verifier.computed
  t.true(n >= records.length, 'every proof was verified ahead')
  const r = f.gate.admit(records, 'host1', 'anti-entropy')
  t.is(r.admitted.length, 50)
  t.like(await f.reasons(), { signature: 1, pin: 1 })
  t.is(f.verifier.computed, n, 'admit used the verdicts computed ahead, none again')
  // a verdict computed ahead is used for that text and that signer only: the altered record re-verifies, and fails
  await f.gate.prepare([signed])
  t.is(f.gate.admit([{ ...signed, svc: f.rec({ ID: 'q', Name: 'other' }) }], 'host1', 'gossip').refused, 1)
  t.is(f.gate.admit([signed], 'host1', 'gossip').admitted.length, 1)
})

test('admission: batches verified ahead at the same time (gossip messages) each keep their verdicts until their own admit', async t => {
  const f = await fixture(t)
  const a = Array.from({ length: 20 }, (_, i) => f.host1.seal(f.rec({ ID: `a${i}` }), false))
  const b = Array.from({ length: 20 }, (_, i) => f.host1.seal(f.rec({ ID: `b${i}` }), false))
  await Promise.all([f.gate.prepare(a), f.gate.prepare(b)])
  const n = f.verifier.computed
  t.is(f.gate.admit(a, 'host1', 'gossip').admitted.length, 20)
  t.is(f.gate.admit(b, 'host1', 'gossip').admitted.length, 20)
  t.is(f.verifier.computed, n, 'the second batch found its verdicts after the first was admitted')
})

test('admission: a proof from another cluster does not verify', async t => {
  const f = await fixture(t)
  const key = await generateKeyPair('Ed25519')
  const other = new RecordSigner(key, f.host1.peer, 'other-cluster') // host1's id, but signing for another cluster
  t.is(f.gate.admit([other.seal(f.rec(), false)], 'x', 'gossip').admitted.length, 0)
  t.like(await f.reasons(), { signature: 1 })
})

test('admission: observer tombstones only for a host departed in our view, never for us, never ALIVE', async t => {
  const f = await fixture(t)
  const tomb = (host: string) => f.rec({ Hostname: host, Status: ServiceStatus.TOMBSTONE })
  t.is(f.gate.admit([f.host2.seal(tomb('host1'), true)], 'host2', 'gossip').admitted.length, 0, 'host1 is a member')
  t.is(f.gate.admit([f.host2.seal(tomb('me'), true)], 'host2', 'gossip').admitted.length, 0, 'our own host')
  t.is(f.gate.admit([f.host2.seal(f.rec({ Hostname: 'host1', ID: 'x' }), true)], 'host2', 'gossip').admitted.length, 0, 'an observer cannot vouch for ALIVE')
  t.is(f.gate.admit([f.host1.seal(tomb('host1'), true)], 'host1', 'gossip').admitted.length, 0, 'nor observe itself')
  const stranger = await signer()
  t.is(f.gate.admit([stranger.seal(tomb('gone'), true)], 'host2', 'gossip').admitted.length, 0, 'an observer that never proved a hostname')
  t.is(f.gate.admit([stranger.seal(tomb('gone'), false)], 'host2', 'gossip').admitted.length, 1, 'the origin tombstone of a host that left before we met it')
  t.is(f.gate.admit([stranger.seal(f.rec({ Hostname: 'gone', ID: 'y' }), false)], 'host2', 'gossip').admitted.length, 0, 'but not its live records')
  f.members.delete('host1')
  t.is(f.gate.admit([f.host2.seal(tomb('host1'), true)], 'host2', 'gossip').admitted.length, 1, 'departed in both views')
  t.like(await f.reasons(), { 'not-departed': 2, observer: 2, 'unknown-host': 2 })
})

test('admission: a live record of a host that is not a member now is refused; its origin tombstones are not', async t => {
  const f = await fixture(t)
  f.members.delete('host1')
  t.is(f.gate.admit([f.host1.seal(f.rec(), false)], 'host2', 'anti-entropy').admitted.length, 0)
  t.is(f.gate.admit([f.host1.seal(f.rec({ Status: ServiceStatus.TOMBSTONE }), false)], 'host2', 'anti-entropy').admitted.length, 1)
  t.like(await f.reasons(), { 'not-member': 1 })
})

test('admission: clock bounds on Updated and Created', t => {
  const now = Time.parse('2026-01-01T00:00:00Z')
  const r = (o: Parameters<typeof makeTestService>[0]) => checkTimes(makeTestService({ Created: now, Updated: now, ...o }), now)
  t.is(r({}), undefined)
  t.is(r({ Updated: now.plusMillis(MAX_FUTURE_SKEW_MS) }), undefined)
  t.is(r({ Updated: now.plusMillis(MAX_FUTURE_SKEW_MS + 1) }), 'future')
  t.is(r({ Updated: now.plusMillis(4 * 60_000) }), 'future', 'the forged tombstone of the issue, 4 minutes ahead')
  t.is(r({ Created: Time.parse('0001-01-01T00:00:00Z') }), 'created', 'the port hijack of the issue')
  t.is(r({ Created: Time.EPOCH }), 'created')
  t.is(r({ Created: Time.parse('2013-01-01T00:00:00Z') }), undefined)
  t.is(r({ Created: now.plusMillis(MAX_FUTURE_SKEW_MS + 1) }), 'created')
})

test('admission: backend IPs must be the host\'s own or in an allowed CIDR, never loopback from another host', t => {
  const view = { self: 'me', pinnedPeer: 'p', signerHost: 'host1', isMember: true, hostIps: new Set(['10.0.0.5', '127.0.11.2']) }
  const allowed = cidrList(['172.17.0.0/16', '0.0.0.0/0'])
  const svc = (ip: string, o = {}) => makeTestService({ Hostname: 'host1', Ports: [{ Type: 'tcp', Port: 1, ServicePort: 2, IP: ip }], ...o })
  t.is(checkBackends(svc('10.0.0.5'), view, cidrList([])), undefined)
  t.is(checkBackends(svc('127.0.11.2'), view, cidrList([])), undefined, 'a host that advertises a loopback address (one-machine clusters)')
  t.is(checkBackends(svc('10.0.0.9'), view, cidrList([])), 'backend-ip')
  t.is(checkBackends(svc('172.17.0.3'), view, allowed), undefined)
  for (const ip of ['127.0.0.1', '::1', '169.254.169.254', '0.0.0.0', '', 'localhost']) t.is(checkBackends(svc(ip), view, allowed), 'backend-ip', ip)
  t.is(checkBackends(svc('127.0.0.1', { Hostname: 'me' }), view, cidrList([])), undefined, 'our own records')
  t.is(checkBackends(svc('127.0.0.1', { Status: ServiceStatus.TOMBSTONE }), view, cidrList([])), undefined, 'tombstones route nothing')
  t.true(isLocalOnly('127.5.5.5'))
  t.false(isLocalOnly('10.0.0.1'))
  t.throws(() => cidrList(['10.0.0.0/33']), { message: /not a CIDR/ })
})

test('admission: records per host and in total are capped; updates of held records always pass', async t => {
  const f = await fixture(t, { maxRecordsPerHost: 3, maxRecords: 5 })
  const batch = Array.from({ length: 5 }, (_, i) => f.host1.seal(f.rec({ ID: `a${i}` }), false))
  const r = f.gate.admit(batch, 'host1', 'gossip')
  t.is(r.admitted.length, 3)
  f.merge(r, 'host1')
  f.clock.advance(1000)
  t.is(f.gate.admit([f.host1.seal(f.rec({ ID: 'a0' }), false)], 'host1', 'gossip').admitted.length, 1, 'an update of a held record')
  const two = Array.from({ length: 3 }, (_, i) => f.host2.seal(f.rec({ ID: `b${i}`, Hostname: 'host2', Ports: [{ Type: 'tcp', Port: 1, ServicePort: 0, IP: '10.0.0.6' }] }), false))
  t.is(f.gate.admit(two, 'host2', 'gossip').admitted.length, 2, 'the total cap')
  t.like(await f.reasons(), { 'cap-host': 2, 'cap-total': 1 })
})

test('admission: tombstones signed for hostnames never pinned here share one host\'s budget and never crowd out members\' new records', async t => {
  // the audit's flood: a key no node pinned (and a member, as observer) signs tombstones for
  // thousands of made-up hostnames; they used to count only against max_records, filling it, so
  // every member's new record was refused ('cap-total') for the tombstones' 3 h lifespan
  const f = await fixture(t, { maxRecordsPerHost: 100, maxRecords: 250 })
  const tomb = (host: string, id: string) => f.rec({ Hostname: host, ID: id, Status: ServiceStatus.TOMBSTONE })
  const stranger = await signer()
  // a host that left before we met it: its tombstones are learnt while under the budget
  const gone = f.gate.admit(Array.from({ length: 30 }, (_, i) => stranger.seal(tomb('gone', `g${i}`), false)), 'host2', 'anti-entropy')
  t.is(gone.admitted.length, 30, 'a departed host\'s origin tombstones, under the budget')
  f.merge(gone, 'host2')
  // 3,000 made-up hostnames, one tombstone each: 2,000 origin-signed by the stranger in gossip
  // messages of 100, 1,000 observer-signed by member host2 in one anti-entropy page
  for (let b = 0; b < 20; b++) {
    const flood = Array.from({ length: 100 }, (_, i) => stranger.seal(tomb(`made-up-${b * 100 + i}`, 'x'), false))
    const r = f.gate.admit(flood, 'host2', 'gossip')
    f.merge(r, 'host2')
  }
  const page = Array.from({ length: 1000 }, (_, i) => f.host2.seal(tomb(`observed-${i}`, 'x'), true))
  f.merge(await f.gate.admitSliced(page, 'host2', 'anti-entropy'), 'host2')
  // members' new records: host1 and host2 each up to their own cap, and then some
  const ips = (ip: string) => [{ Type: 'tcp', Port: 1, ServicePort: 0, IP: ip }]
  const one = f.gate.admit(Array.from({ length: 100 }, (_, i) => f.host1.seal(f.rec({ ID: `a${i}` }), false)), 'host1', 'gossip')
  t.is(one.admitted.length, 100, 'a member\'s new ALIVE records after the flood, up to its own cap')
  t.is(f.catalog.size, 100, 'the unpinned hostnames together hold one host\'s budget (max_records_per_host), not max_records')
  t.like(await f.reasons(), { 'cap-unknown': 2930 })
  t.false('cap-total' in await f.reasons(), 'no member was refused')
  // a held tombstone's update still passes at the budget
  f.clock.advance(1000)
  t.is(f.gate.admit([stranger.seal(tomb('gone', 'g0'), false)], 'host2', 'gossip').admitted.length, 1, 'an update of a held record')
  f.merge(one, 'host1')
  const two = f.gate.admit(Array.from({ length: 100 }, (_, i) => f.host2.seal(f.rec({ ID: `b${i}`, Hostname: 'host2', Ports: ips('10.0.0.6') }), false)), 'host2', 'gossip')
  t.is(two.admitted.length, 100, 'another member\'s, past max_records with the tombstones: they are not counted against members')
  f.merge(two, 'host2')
  // max_records still bounds the members' records (200 held: 50 more)
  const host3 = await signer()
  t.is(f.pins.claim('host3', host3.peer), 'new')
  f.members.set('host3', { peerId: host3.peer, ips: new Set(['10.0.0.7']) })
  const three = f.gate.admit(Array.from({ length: 100 }, (_, i) => host3.seal(f.rec({ ID: `c${i}`, Hostname: 'host3', Ports: ips('10.0.0.7') }), false)), 'host3', 'gossip')
  t.is(three.admitted.length, 50, 'members\' records are held to max_records')
  f.merge(three, 'host3')
  t.is(f.catalog.size, 350, 'at most max_records + max_records_per_host in all')
  t.like(await f.reasons(), { 'cap-total': 50 })
})

test('admission: the unpinned hostnames\' budget counts records already held and a batch\'s own; a host pinned since counts as a member', async t => {
  const f = await fixture(t, { maxRecordsPerHost: 10, maxRecords: 1000 })
  const stranger = await signer()
  const tomb = (host: string, id: string) => stranger.seal(f.rec({ Hostname: host, ID: id, Status: ServiceStatus.TOMBSTONE }), false)
  const first = f.gate.admit(Array.from({ length: 6 }, (_, i) => tomb(`h${i}`, 'x')), 'host2', 'gossip')
  t.is(first.admitted.length, 6)
  f.merge(first, 'host2')
  const second = f.gate.admit(Array.from({ length: 6 }, (_, i) => tomb(`k${i}`, 'x')), 'host2', 'gossip')
  t.is(second.admitted.length, 4, '6 held + 4 of the batch')
  f.merge(second, 'host2')
  t.is(f.gate.admit([tomb('k5', 'x')], 'host2', 'gossip').admitted.length, 0, 'at the budget')
  // h0 proves itself: its record now counts as that member's, which frees one place
  t.is(f.pins.claim('h0', stranger.peer), 'new')
  t.deepEqual(f.gate.admit([tomb('k4', 'x'), tomb('k5', 'x'), tomb('k6', 'x')], 'host2', 'gossip').admitted.map(s => s.Hostname), ['k4'])
  t.like(await f.reasons(), { 'cap-unknown': 5 })
})

test('admission: tombstones of unpinned hostnames are refused once the catalog holds max_records; members\' records then still pass', async t => {
  const f = await fixture(t, { maxRecordsPerHost: 10, maxRecords: 12 })
  const stranger = await signer()
  const tomb = (host: string) => stranger.seal(f.rec({ Hostname: host, ID: 'x', Status: ServiceStatus.TOMBSTONE }), false)
  f.merge(f.gate.admit(Array.from({ length: 10 }, (_, i) => f.host1.seal(f.rec({ ID: `a${i}` }), false)), 'host1', 'gossip'), 'host1')
  const r = f.gate.admit(Array.from({ length: 5 }, (_, i) => tomb(`h${i}`)), 'host2', 'gossip')
  t.is(r.admitted.length, 2, '10 held + 2 of the batch: max_records')
  f.merge(r, 'host2')
  const ports = [{ Type: 'tcp', Port: 1, ServicePort: 0, IP: '10.0.0.6' }]
  t.is(f.gate.admit(Array.from({ length: 3 }, (_, i) => f.host2.seal(f.rec({ ID: `b${i}`, Hostname: 'host2', Ports: ports }), false)), 'host2', 'gossip').admitted.length, 2,
    'members hold 10 of max_records 12: the 2 tombstones do not count against them')
  t.like(await f.reasons(), { 'cap-total': 4 })
})

test('admission: admitSliced() gives admit()\'s verdicts, caps included, without holding the event loop for the batch', async t => {
  const f = await fixture(t, { maxRecordsPerHost: 1500, maxRecords: 1500 })
  // 2,000 records, none verified ahead: each signature is checked on the main thread (tens of
  // microseconds each), so the batch is tens of milliseconds of work; 100 are altered, 500 over the cap
  const batchOf = (x: typeof f) => Array.from({ length: 2000 }, (_, i) => {
    const sealed = x.host1.seal(x.rec({ ID: `s${i}` }), false)
    return i % 20 === 7 ? { svc: withFields(sealed.svc, { Name: 'altered' }), proof: sealed.proof } : sealed
  })
  const first = batchOf(f)
  const t0 = performance.now()
  const whole = f.gate.admit(first, 'host1', 'anti-entropy')
  const wholeMs = performance.now() - t0
  const other = await fixture(t, { maxRecordsPerHost: 1500, maxRecords: 1500 })
  const batch = batchOf(other)
  // which turn of the event loop judged each record (the gate asks for the host's membership once a
  // record's signature verified): counted, not timed, so a loaded machine cannot make or hide a stall
  const perTurn = new Map<number, number>()
  let turn = 0
  let ticking = true
  const tick = (): void => { turn++; if (ticking) setImmediate(tick) }
  setImmediate(tick)
  const get = other.members.get.bind(other.members)
  other.members.get = (h: string) => { perTurn.set(turn, (perTurn.get(turn) ?? 0) + 1); return get(h) }
  const sliced = await other.gate.admitSliced(batch, 'host1', 'anti-entropy')
  ticking = false
  const most = Math.max(...perTurn.values())
  t.log(`admit() held the event loop ${wholeMs.toFixed(0)} ms for the batch; admitSliced() judged it over ${perTurn.size} turns, at most ${most} records in one`)
  t.deepEqual(sliced.admitted.map(s => s.ID), whole.admitted.map(s => s.ID), 'the same records admitted, in order')
  t.deepEqual({ refused: sliced.refused, forged: sliced.forged }, { refused: whole.refused, forged: whole.forged })
  t.is(whole.admitted.length, 1500, 'the cap counts the batch\'s own admissions')
  t.like(await other.reasons(), { signature: 100, 'cap-host': 400 })
  t.is([...perTurn.values()].reduce((a, b) => a + b, 0), 1900, 'every record with a valid signature was judged')
  // slices are 8 ms: the batch is many times that (admit(): hundreds of ms), so no turn judges half of it
  t.true(perTurn.size >= 4 && most < 950, `admitSliced() judged ${most} records in one turn, over ${perTurn.size} turns`)
})

test('admission: seal() output round-trips through the wire and admit(); a held version is not verified again', async t => {
  const f = await fixture(t)
  const theirs = f.host1.seal(f.rec(), false)
  const msg = encodeRecords([theirs])[0]
  const got = decodeSealedMessage(msg, f.now())
  t.is(encodeService(got[0].svc), encodeService(theirs.svc))
  const admitted = f.gate.admit(got, 'host1', 'gossip').admitted
  t.is(admitted.length, 1)
  f.catalog.merge(admitted[0], 'host1')
  // held with a DRAINING status locally (sticky): relayed as signed, so it still verifies elsewhere
  const relayed = f.gate.seal([withFields(admitted[0], { Status: ServiceStatus.DRAINING })])
  t.is(relayed[0].svc.Status, ServiceStatus.ALIVE)
  t.is(relayed[0].proof?.peer, f.host1.peer)
  const n = f.verifier.computed
  t.is(f.gate.admit(decodeSealedMessage(encodeRecords(relayed)[0], f.now()), 'host2', 'anti-entropy').admitted.length, 1)
  t.is(f.verifier.computed, n, 'no second verification of an unchanged record')
  // our own records are signed as origin; another host's tombstone we made as observer; a version nobody signed is not sent
  const own = f.gate.seal([f.rec({ Hostname: 'me' })])[0]
  t.deepEqual([own.proof?.peer, own.proof?.observer], [f.self.peer, false])
  const obs = f.gate.seal([withFields(admitted[0], { Status: ServiceStatus.TOMBSTONE, Updated: f.now().plusMillis(5) })])[0]
  t.deepEqual([obs.proof?.peer, obs.proof?.observer], [f.self.peer, true])
  t.is(f.gate.seal([withFields(admitted[0], { Updated: f.now().plusMillis(9) })]).length, 0)
})

test('admission: sealAsync() (signatures on the thread pool) sends what seal() sends, in order, and what it signs verifies', async t => {
  const f = await fixture(t)
  const theirs = f.host1.seal(f.rec({ ID: 'theirs' }), false)
  t.is(f.gate.admit([theirs], 'host1', 'gossip').admitted.length, 1)
  f.catalog.merge(theirs.svc, 'host1')
  const records = [
    f.rec({ Hostname: 'me', ID: 'a' }),
    theirs.svc, // relayed with its origin's proof
    withFields(theirs.svc, { Updated: f.now().plusMillis(9) }), // a version nobody signed: left out
    f.rec({ Hostname: 'me', ID: 'b', Status: ServiceStatus.TOMBSTONE }),
    withFields(theirs.svc, { Status: ServiceStatus.TOMBSTONE, Updated: f.now().plusMillis(5) }), // our observer tombstone
  ]
  // sealAsync first, so it computes every signature itself (seal() would fill the shared cache)
  const viaPool = await f.gate.sealAsync(records)
  t.deepEqual(viaPool.map(r => [r.svc.ID, r.svc.Status, r.proof?.peer === f.self.peer, r.proof?.observer]), [
    ['a', ServiceStatus.ALIVE, true, false],
    ['theirs', ServiceStatus.ALIVE, false, false],
    ['b', ServiceStatus.TOMBSTONE, true, false],
    ['theirs', ServiceStatus.TOMBSTONE, true, true],
  ])
  t.is(viaPool[1].proof?.sig, theirs.proof?.sig, 'a relayed record keeps its origin\'s proof')
  // what it signed verifies where it arrives, and only for the record it signed
  const receiver = new ProofVerifier('c')
  for (const r of viaPool) t.true(receiver.check(encodeService(r.svc), r.proof!), `${r.svc.ID} ${r.svc.Status} verifies`)
  t.false(receiver.check(encodeService(withFields(viaPool[0].svc, { Image: 'other:1' })), viaPool[0].proof!))
  // seal() gives the same records with the same proofs
  t.deepEqual(f.gate.seal(records), viaPool)
})

test('admission: sealed records carry their canonical JSON, so the wire reuses it; the bytes are those of a fresh encoding, and a newer version replaces it', async t => {
  const f = await fixture(t)
  const theirs = Array.from({ length: 40 }, (_, i) => f.host1.seal(f.rec({ ID: `t${i}` }), false))
  const got = decodeSealedMessage(encodeRecords(theirs)[0], f.now())
  t.true(got.every(r => r.canonical === undefined), 'a record from the wire brings no canonical of its own')
  await f.gate.prepare(got)
  for (const svc of f.gate.admit(got, 'host1', 'gossip').admitted) f.catalog.merge(svc, 'host1')
  const own = Array.from({ length: 40 }, (_, i) => f.rec({ Hostname: 'me', ID: `m${i}` })) // 40: sealMany's worker batch
  const records = [...own, ...theirs.map(r => r.svc), withFields(theirs[0].svc, { Status: ServiceStatus.TOMBSTONE, Updated: f.now().plusMillis(5) })]
  for (const sealed of [f.gate.seal(records), await f.gate.sealAsync(records), await f.self.sealMany(own.map(svc => ({ svc, observer: false })))]) {
    t.true(sealed.every(r => r.canonical?.of === r.svc && canonicalOf(r) === encodeService(r.svc)), 'canonical is the record\'s own encoding')
    const fresh = sealed.map(r => ({ svc: r.svc, ...(r.proof !== undefined ? { proof: r.proof } : {}) }))
    t.deepEqual(encodeRecords(sealed), encodeRecords(fresh), 'the same bytes as encoding each record again')
  }
  // a newer version of a relayed record: its own canonical, not the older one's
  const v2 = f.host1.seal(withFields(theirs[1].svc, { Image: 'img:2', Updated: f.now().plusMillis(7) }), false)
  t.is(f.gate.admit(decodeSealedMessage(encodeRecords([v2])[0], f.now()), 'host1', 'gossip').admitted.length, 1)
  f.catalog.merge(v2.svc, 'host1')
  const relayed = f.gate.seal([v2.svc])[0]
  t.is(canonicalOf(relayed), encodeService(v2.svc))
  t.regex(canonicalOf(relayed) ?? '', /img:2/)
  // and what goes out verifies at a receiver that never saw it
  const receiver = new ProofVerifier('c')
  const arrived = decodeSealedMessage(encodeRecords([relayed])[0], f.now())[0]
  t.true(receiver.check(encodeService(arrived.svc), arrived.proof!))
  // a copy with another record ({ ...sealed, svc }) does not carry the original's text with it:
  // what goes out is the record it holds (here altered after signing, so it fails to verify)
  const altered = { ...relayed, svc: withFields(relayed.svc, { Ports: [{ Type: 'tcp', Port: 22, ServicePort: 2222, IP: '10.0.0.5' }] }) }
  t.is(canonicalOf(altered), undefined)
  const sent = decodeSealedMessage(encodeRecords([altered])[0], f.now())[0]
  t.is(encodeService(sent.svc), encodeService(altered.svc))
  t.false(receiver.check(encodeService(sent.svc), sent.proof!))
})

test('pins: first claim wins, survives a reload, conflicts are reported; own name is always ours', async t => {
  const f = await fixture(t)
  const conflicts: string[] = []
  await f.pins.flush()
  const again = new HostPins({ logger: silentLogger(), onConflict: (h, pinned, claimed) => { conflicts.push(`${h}:${pinned === f.host1.peer}:${claimed === f.host2.peer}`) } }, { dataDir: f.dir, hostname: 'me', peerId: f.self.peer })
  await again.load()
  t.is(again.peerOf('host1'), f.host1.peer)
  t.is(again.claim('host1', f.host2.peer), 'conflict')
  t.is(again.claim('me', f.host1.peer), 'conflict')
  t.is(again.claim('host1', f.host1.peer), 'pinned')
  t.is(again.hostnameOf(f.host2.peer), 'host2')
  t.deepEqual(conflicts, ['host1:true:true', 'me:false:false'])
  const doc = JSON.parse(await readFile(path.join(f.dir, PINS_FILE), 'utf8')) as { pins: Record<string, string> }
  t.deepEqual(Object.keys(doc.pins), ['host1', 'host2', 'me'])
})

test('admission: prune() forgets the proofs of records the catalog does not hold and keeps the others', async t => {
  const f = await fixture(t, { maxRecordsPerHost: 5000, maxRecords: 10_000 })
  const sealed = Array.from({ length: 2000 }, (_, i) => f.host1.seal(f.rec({ ID: `r${i}` }), false))
  const admitted = f.gate.admit(sealed, 'host1', 'gossip').admitted
  t.is(admitted.length, 2000)
  for (const svc of admitted.slice(0, 1500)) f.catalog.merge(svc, 'host1') // the last 500 never reach the catalog (as if forgotten)
  t.is(f.gate.seal(admitted).length, 2000, 'before: every admitted record can be relayed with its proof')
  await f.gate.prune()
  const kept = f.gate.seal(admitted.slice(0, 1500))
  t.is(kept.length, 1500)
  t.true(kept.every(r => r.proof?.peer === f.host1.peer && r.proof.observer === false), 'held records keep their origin\'s proof')
  t.is(f.gate.seal(admitted.slice(1500)).length, 0, 'the proofs of records not held are gone')
})
