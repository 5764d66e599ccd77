import test from 'ava'
import { encodeHostsParts, encodeState } from '../../../src/catalog/index.ts'
import { ServiceStatus, Time, type Service } from '../../../src/service/index.ts'
import { at, makeTestService } from '../../helpers/factories.ts'
import { randomStep, setup, SHORT_LIFESPANS } from './setup.ts'
import { compareGoStrings } from '../../../src/catalog/rules.ts'
import { prng } from '../../helpers/prng.ts'

const { ALIVE, TOMBSTONE, UNHEALTHY } = ServiceStatus

test('snapshot: an empty catalog has no servers, epoch LastChanged and its own names', t => {
  const { catalog } = setup({ hostname: 'me', clusterName: 'prod' })
  const s = catalog.snapshot()
  t.deepEqual(Object.keys(s), ['Servers', 'LastChanged', 'ClusterName', 'Hostname'])
  t.deepEqual(Object.keys(s.Servers), [])
  t.true(s.LastChanged.equals(Time.EPOCH))
  t.is(s.ClusterName, 'prod')
  t.is(s.Hostname, 'me')
})

test('snapshot: is frozen all the way down', t => {
  const { catalog } = setup()
  catalog.merge(makeTestService())
  const s = catalog.snapshot()
  const server = s.Servers.host1
  t.true(Object.isFrozen(s))
  t.true(Object.isFrozen(s.Servers))
  t.true(Object.isFrozen(server))
  t.true(Object.isFrozen(server.Services))
  t.true(Object.isFrozen(server.Services.abc123def456))
  t.true(Object.isFrozen(server.Services.abc123def456.Ports))
  t.throws(() => { (s.Servers as Record<string, unknown>).evil = 1 }, { instanceOf: TypeError })
})

test('snapshot: does not change when the catalog later changes', t => {
  const { catalog, clock } = setup()
  catalog.merge(makeTestService())
  const before = catalog.snapshot()
  const beforeServer = catalog.server('host1')
  catalog.merge(makeTestService({ Status: UNHEALTHY, Updated: at(1) }))
  catalog.merge(makeTestService({ Hostname: 'host2' }))
  clock.set(at(200_000))
  catalog.expire()
  t.deepEqual(Object.keys(before.Servers), ['host1'])
  t.is(before.Servers.host1.Services.abc123def456.Status, ALIVE)
  t.is(beforeServer?.Services.abc123def456.Status, ALIVE)
  t.true(before.LastChanged.equals(at(0)))
  const after = catalog.snapshot()
  t.not(after, before)
  t.is(after.Servers.host1.Services.abc123def456.Status, TOMBSTONE)
})

test('snapshot: the same object is returned until something changes', t => {
  const { catalog } = setup()
  catalog.merge(makeTestService())
  const a = catalog.snapshot()
  t.is(catalog.snapshot(), a)
  catalog.merge(makeTestService({ Updated: at(0) }))
  t.is(catalog.snapshot(), a, 'an ignored record changes nothing')
  catalog.merge(makeTestService({ Updated: at(1) }))
  t.not(catalog.snapshot(), a, 'a refresh changes LastUpdated')
})

test('snapshot: an unchanged server keeps its snapshot object when another server changes', t => {
  const { catalog } = setup()
  catalog.merge(makeTestService({ Hostname: 'host1' }))
  catalog.merge(makeTestService({ Hostname: 'host2' }))
  const host1 = catalog.snapshot().Servers.host1
  catalog.merge(makeTestService({ Hostname: 'host2', Updated: at(1) }))
  t.is(catalog.snapshot().Servers.host1, host1)
  t.is(catalog.server('host1'), host1)
})

test('snapshot: servers and services carry their names, times and records', t => {
  const { catalog } = setup()
  const svc = makeTestService({ Updated: at(2_000) })
  catalog.merge(svc)
  const server = catalog.server('host1')
  t.deepEqual(Object.keys(server ?? {}), ['Name', 'Services', 'LastUpdated', 'LastChanged'])
  t.is(server?.Name, 'host1')
  t.is(server?.Services.abc123def456, svc)
  t.true(server?.LastUpdated.equals(at(2_000)))
  t.true(server?.LastChanged.equals(at(2_000)))
})

test('snapshot: a name like "constructor" or "__proto__" is an ordinary key', t => {
  const { catalog } = setup()
  catalog.merge(makeTestService({ Hostname: '__proto__', ID: 'constructor', Name: 'toString' }))
  const s = catalog.snapshot()
  const [ctor, proto, toStr]: string[] = ['constructor', '__proto__', 'toString']
  t.false(ctor in s.Servers)
  t.deepEqual(Object.keys(s.Servers), ['__proto__'])
  t.is(s.Servers[proto].Services[ctor].Name, 'toString')
  t.false(ctor in catalog.byService())
  t.is(catalog.byService()[toStr].length, 1)
  t.true(encodeState(s).includes('"Servers":{"__proto__":{"Name":"__proto__","Services":{"constructor":{'))
})

test('byService: groups every instance of every host and status under its name, names sorted', t => {
  const { catalog } = setup()
  catalog.merge(makeTestService({ Name: 'web', ID: 'w1', Hostname: 'host2' }))
  catalog.merge(makeTestService({ Name: 'api', ID: 'a1' }))
  catalog.merge(makeTestService({ Name: 'web', ID: 'w2', Status: TOMBSTONE }))
  catalog.merge(makeTestService({ Name: 'db', ID: 'd1', Status: UNHEALTHY }))
  const groups = catalog.byService()
  t.deepEqual(Object.keys(groups), ['api', 'db', 'web'])
  t.is(groups.web.length, 2)
  t.is(groups.db[0].Status, UNHEALTHY)
})

test('byService: each list is in ascending Updated order, ties by hostname then ID', t => {
  const { catalog } = setup()
  catalog.merge(makeTestService({ ID: 'late', Updated: at(3_000) }))
  catalog.merge(makeTestService({ ID: 'early', Hostname: 'host9', Updated: at(1_000) }))
  catalog.merge(makeTestService({ ID: 'tie-b', Hostname: 'host2', Updated: at(2_000) }))
  catalog.merge(makeTestService({ ID: 'tie-a', Hostname: 'host2', Updated: at(2_000) }))
  catalog.merge(makeTestService({ ID: 'tie-z', Hostname: 'host1', Updated: at(2_000) }))
  t.deepEqual(catalog.byService().web.map(s => s.ID), ['early', 'tie-z', 'tie-a', 'tie-b', 'late'])
})

test('byService: returns a fresh object each time', t => {
  const { catalog } = setup()
  catalog.merge(makeTestService())
  const a = catalog.byService()
  a.web.pop()
  t.is(catalog.byService().web.length, 1)
})

test('services and hostnames: every record, hosts sorted then IDs sorted', t => {
  const { catalog } = setup()
  catalog.merge(makeTestService({ Hostname: 'b', ID: '2' }))
  catalog.merge(makeTestService({ Hostname: 'a', ID: 'z' }))
  catalog.merge(makeTestService({ Hostname: 'b', ID: '10' }))
  catalog.merge(makeTestService({ Hostname: 'a', ID: 'y', Status: TOMBSTONE }))
  t.deepEqual(catalog.hostnames(), ['a', 'b'])
  t.deepEqual(catalog.services().map(s => `${s.Hostname}/${s.ID}`), ['a/y', 'a/z', 'b/10', 'b/2'])
})

test('hostVersion: moves with every record stored or forgotten for that host alone, never repeats across a host that left and came back', t => {
  const { catalog, clock } = setup()
  t.is(catalog.hostVersion('host1'), undefined, 'unknown host')
  catalog.merge(makeTestService({ ID: 'a' }))
  catalog.merge(makeTestService({ ID: 'b', Hostname: 'host2' }))
  const v1 = catalog.hostVersion('host1') as number
  const v2 = catalog.hostVersion('host2')
  t.is(typeof v1, 'number')
  t.is(catalog.merge(makeTestService({ ID: 'a' })), 'ignored')
  t.is(catalog.hostVersion('host1'), v1, 'an ignored record changes nothing')
  t.is(catalog.merge(makeTestService({ ID: 'a', Updated: at(5) })), 'refreshed')
  const v1r = catalog.hostVersion('host1') as number
  t.true(v1r > v1, 'a refresh (no event) still moves it')
  t.is(catalog.hostVersion('host2'), v2, 'another host\'s records did not change')
  // host1's record expires to a tombstone, then the tombstone is forgotten with the host
  clock.set(at(80_006))
  t.is(catalog.expire().length, 2)
  const tombed = catalog.hostVersion('host1') as number
  t.true(tombed > v1r)
  clock.set(at(80_006 + 10_800_000 + 2000))
  catalog.expire()
  t.is(catalog.hostVersion('host1'), undefined, 'forgotten with its last record')
  catalog.merge(makeTestService({ ID: 'a', Updated: at(80_006 + 10_800_000 + 2000) }))
  t.true((catalog.hostVersion('host1') as number) > tombed, 'back again: a version it never had')
})

test('sampleRecords: up to n of a host\'s records, none of another host', t => {
  const { catalog } = setup()
  for (let i = 0; i < 10; i++) catalog.merge(makeTestService({ ID: `s${i}` }))
  catalog.merge(makeTestService({ ID: 'other', Hostname: 'host2' }))
  const some = catalog.sampleRecords('host1', 4)
  t.is(some.length, 4)
  t.true(some.every(s => s.Hostname === 'host1' && catalog.get('host1', s.ID) === s))
  t.is(catalog.sampleRecords('host2', 4).length, 1)
  t.deepEqual(catalog.sampleRecords('nobody', 4), [])
})

test('services() lists each host\'s records by ID in Go string order, and snapshots hold them all, through 3,000 adds, updates and removals (the sorted IDs are kept between changes)', t => {
  const { catalog, clock } = setup()
  const r = prng(0x1d5)
  // IDs that JS's default order would put elsewhere: a surrogate pair against U+E000..U+FFFF
  const ID_CHARS = ['a', 'b', 'Z', '0', '\uE000', '\uFFFD', '\uD83D\uDE00', '-']
  const id = (): string => Array.from({ length: 1 + Math.floor(r() * 4) }, () => ID_CHARS[Math.floor(r() * ID_CHARS.length)]).join('')
  const sorted = (ids: Iterable<string>): string[] => [...ids].sort(compareGoStrings)
  let ms = 0
  for (let step = 0; step < 3000; step++) {
    ms += 10
    clock.set(at(ms))
    const host = `host${Math.floor(r() * 3)}`
    const roll = r()
    if (roll < 0.5) catalog.merge(makeTestService({ Hostname: host, ID: id(), Updated: at(ms) })) // new or a new version
    else if (roll < 0.8) {
      const existing = catalog.hostRecords(host)
      const pick = existing[Math.floor(r() * existing.length)]
      if (pick !== undefined) catalog.merge(makeTestService({ Hostname: host, ID: pick.ID, Updated: at(ms), Status: r() < 0.5 ? TOMBSTONE : UNHEALTHY }))
    } else if (roll < 0.81) {
      // every tombstone older than its lifespan + 1 min (tombstoneKeptMs) goes: IDs leave
      ms += 10_800_001 + 60_000
      clock.set(at(ms))
      catalog.expire()
    }
    if (step % 10 !== 0) continue
    const services = catalog.services()
    for (const h of catalog.hostnames()) {
      const ids = services.filter(s => s.Hostname === h).map(s => s.ID)
      t.deepEqual(ids, sorted(catalog.hostRecords(h).map(s => s.ID)), `services() of ${h} at step ${step}`)
      // (an object puts integer-like keys such as "0" first whatever the order they were added in; the state codec sorts them itself)
      t.deepEqual(sorted(Object.keys(catalog.snapshot().Servers[h].Services)), ids, `snapshot of ${h} at step ${step}`)
    }
  }
  t.true(catalog.services().length > 100)
})

test('stateLists(): encoded, the very bytes of encodeState(snapshot()) through 1,500 random changes on 3 hosts; the same object while nothing changes, and a host\'s list made again only once it changed', async t => {
  const { catalog, clock } = setup()
  const r = prng(0x5717)
  let ms = 0
  let checked = 0
  for (let step = 0; step < 1500; step++) {
    ms += 10
    clock.set(at(ms))
    const host = `host${Math.floor(r() * 3)}`
    const before = catalog.stateLists()
    const other = before.hosts.find(h => h.name !== host)
    // names with characters Go escapes, IDs that sort differently in UTF-16
    catalog.merge(makeTestService({ Hostname: host, ID: `${Math.floor(r() * 200)}${r() < 0.1 ? '\uD83D\uDE00' : r() < 0.2 ? '\uE000' : ''}`, Name: r() < 0.1 ? 'a<b>&c\u2028' : 'web', Updated: at(ms), Status: r() < 0.1 ? TOMBSTONE : ALIVE }))
    const after = catalog.stateLists()
    t.is(catalog.stateLists(), after, 'the same object while nothing changes')
    if (other !== undefined) t.is(after.hosts.find(h => h.name === other.name)?.blocks, other.blocks, 'an unchanged host\'s list is kept')
    if (step % 25 === 0) {
      t.is(Buffer.concat(await encodeHostsParts(after.hosts, after)).toString(), encodeState(catalog.snapshot()))
      checked++
    }
  }
  t.is(checked, 60)
  t.true(Object.isFrozen(catalog.stateLists().hosts[0].records))
})

test('stateLists(): each host\'s list holds exactly its current records in ID order after every change, expiry and removal, and a list handed out never changes afterwards', t => {
  const f = setup(SHORT_LIFESPANS)
  const { catalog } = f
  const r = prng(0x1157)
  let ms = 0
  const kept: Array<{ records: readonly unknown[], copy: string }> = []
  for (let step = 0; step < 3000; step++) {
    ms = randomStep(f, r, ms, { hosts: 2, ids: 300 })
    const lists = catalog.stateLists()
    for (const host of lists.hosts) {
      const ids = catalog.hostRecords(host.name).map(s => s.ID).sort(compareGoStrings)
      t.deepEqual(host.records.map(s => s.ID), ids, `${host.name} at step ${step}: its IDs in order`)
      t.true(host.records.every(s => catalog.get(host.name, s.ID) === s), `${host.name} at step ${step}: each record the stored version`)
    }
    if (step % 100 === 0) kept.push(...lists.hosts.map(h => ({ records: h.records, copy: JSON.stringify(h.records) })))
  }
  for (const k of kept) t.is(JSON.stringify(k.records), k.copy, 'a list handed out earlier is unchanged')
  t.true(kept.length >= 30)
})

test('stateLists(): a host\'s records come in frozen blocks of 128; a change makes only its own block again, an ID that comes makes the blocks from its own on, one that goes the same', t => {
  // only tombstones expire here (after 2 s)
  const { catalog, clock } = setup({ aliveLifespanMs: 1e9, drainingLifespanMs: 1e9, tombstoneLifespanMs: 2000 })
  const id = (i: number): string => `id${String(i).padStart(4, '0')}`
  for (let i = 0; i < 1000; i++) catalog.merge(makeTestService({ ID: id(i), Updated: at(0) }))
  const blocksOf = (): ReadonlyArray<readonly Service[]> => catalog.stateLists().hosts[0].blocks
  const first = blocksOf()
  t.deepEqual(first.map(b => b.length), [128, 128, 128, 128, 128, 128, 128, 104])
  t.true(first.every(b => Object.isFrozen(b)) && Object.isFrozen(first))
  const same = (a: ReadonlyArray<readonly unknown[]>, b: ReadonlyArray<readonly unknown[]>): boolean[] => a.map((block, i) => block === b[i])

  // a new version of id0300 (block 2) and of id0999 (block 7)
  catalog.merge(makeTestService({ ID: id(300), Status: UNHEALTHY, Updated: at(1) }))
  catalog.merge(makeTestService({ ID: id(999), Status: UNHEALTHY, Updated: at(1) }))
  const second = blocksOf()
  t.deepEqual(same(second, first), [true, true, false, true, true, true, true, false])
  t.true(second[2][300 - 256] === catalog.get('host1', id(300)), 'the new version in its place')

  // id0500a sorts after id0500 (block 3): blocks 0-2 stay, 3 on are made again, one more block at the end
  catalog.merge(makeTestService({ ID: `${id(500)}a`, Updated: at(2) }))
  const third = blocksOf()
  t.deepEqual(third.map(b => b.length), [128, 128, 128, 128, 128, 128, 128, 105])
  t.deepEqual(same(third, second), [true, true, true, false, false, false, false, false])
  t.deepEqual(catalog.stateLists().hosts[0].records.map(s => s.ID), [...Array.from({ length: 501 }, (_, i) => id(i)), `${id(500)}a`, ...Array.from({ length: 499 }, (_, i) => id(i + 501))])

  // id0700 (at 701, block 5) tombstoned, then forgotten by expire(): blocks 0-4 stay
  catalog.merge(makeTestService({ ID: id(700), Status: TOMBSTONE, Updated: at(3) }))
  const fourth = blocksOf()
  t.deepEqual(same(fourth, third), [true, true, true, true, true, false, true, true])
  clock.set(at(3 + 2000 + 60_000 + 1000)) // kept for its lifespan + 1 min
  catalog.expire()
  const fifth = blocksOf()
  t.is(catalog.get('host1', id(700)), undefined, 'forgotten')
  t.deepEqual(fifth.map(b => b.length), [128, 128, 128, 128, 128, 128, 128, 104])
  t.deepEqual(same(fifth, fourth), [true, true, true, true, true, false, false, false])
  t.is(third[5][701 - 640].ID, id(700), 'blocks handed out earlier never change')
})
