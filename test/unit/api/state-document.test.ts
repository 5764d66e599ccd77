import test from 'ava'
import { Catalog, encodeState } from '../../../src/catalog/index.ts'
import { encodeStateSliced } from '../../../src/api/state-document.ts'
import { DocumentCache, servicesDocument } from '../../../src/api/views.ts'
import { ServiceStatus } from '../../../src/service/index.ts'
import { FakeClock } from '../../helpers/fake-clock.ts'
import { BASE_TIME, makeCatalogOptions, makeTestService } from '../../helpers/factories.ts'

function filled (): Catalog {
  const catalog = new Catalog({ clock: new FakeClock(BASE_TIME) }, makeCatalogOptions({ hostname: 'me<&>', clusterName: 'c"1' }))
  // Odd keys: Go byte order differs from UTF-16 order for surrogates; <, >, & must be escaped.
  const ids = ['b', 'a', 'Z', '\u{1F600}x', '\uE000y', 'a<b>&c', ...Array.from({ length: 5000 }, (_, i) => `id${i}`)]
  const hosts = ['host-b', 'host-a', 'h<1>', '\u{1F600}']
  let i = 0
  for (const Hostname of hosts) {
    for (const ID of ids) catalog.merge(makeTestService({ ID, Hostname, Name: `n${i % 7}&`, Updated: BASE_TIME.plusNanos(BigInt(i++)), Status: i % 3 === 0 ? ServiceStatus.TOMBSTONE : ServiceStatus.ALIVE }))
  }
  return catalog
}

test('state document: the sliced encoding is byte for byte the snapshot encoding', async t => {
  const catalog = filled()
  t.is(Buffer.concat(await encodeStateSliced(catalog)).toString(), encodeState(catalog.snapshot()))
  t.is(Buffer.concat(await encodeStateSliced(new Catalog({ clock: new FakeClock(BASE_TIME) }, makeCatalogOptions()))).toString(), encodeState(new Catalog({ clock: new FakeClock(BASE_TIME) }, makeCatalogOptions()).snapshot()))
})

test('state document: readers of one catalog version share one build; a change makes a new one, from the blocks of the last that did not change', async t => {
  const catalog = filled()
  const docs = new DocumentCache(catalog)
  const [a, b] = await Promise.all([docs.stateParts(), docs.stateParts()])
  t.is(a, b, 'the same parts')
  t.true(a.length > 1, 'a large state comes in several parts')
  catalog.merge(makeTestService({ ID: 'new', Hostname: 'host-a', Updated: BASE_TIME.plusMillis(1) }))
  const c = await docs.stateParts()
  t.not(c, a)
  t.is(Buffer.concat(c).toString(), encodeState(catalog.snapshot()))
  // a status change in the middle of a host: that block is made again, the rest are the last document's Buffers
  catalog.merge(makeTestService({ ID: 'id2500', Hostname: 'host-b', Status: ServiceStatus.UNHEALTHY, Updated: BASE_TIME.plusMillis(2) }))
  const d = await docs.stateParts()
  t.is(Buffer.concat(d).toString(), encodeState(catalog.snapshot()))
  const blocks = d.filter(p => p.length > 4096)
  const kept = blocks.filter(p => c.includes(p))
  t.true(blocks.length > 100, `${blocks.length} blocks`)
  t.is(kept.length, blocks.length - 1, 'every block but the changed record\'s is the same Buffer as in the last document')
})

test('one service document: built once per catalog version and name, the indented JSON of its instances; none for an unknown name; /services.json the same way', async t => {
  const catalog = new Catalog({ clock: new FakeClock(BASE_TIME) }, makeCatalogOptions({ clusterName: 'c1' }))
  catalog.merge(makeTestService({ ID: 'a', Hostname: 'h1', Name: 'web' }))
  const docs = new DocumentCache(catalog)
  const [first, again] = await Promise.all([docs.service('web'), docs.service('web')])
  t.is(again, first, 'readers at once share the build')
  t.is(Buffer.concat(first ?? []).toString(), JSON.stringify({ Services: { web: catalog.byService().web }, ClusterName: 'c1' }, null, 2))
  t.is(await docs.service('web'), first, 'and later readers of the version its bytes')
  catalog.merge(makeTestService({ ID: 'b', Hostname: 'h1', Name: 'web', Updated: BASE_TIME.plusMillis(1) }))
  const second = await docs.service('web')
  t.not(second, first, 'a change is a new version')
  t.is((JSON.parse(Buffer.concat(second ?? []).toString()) as { Services: { web: unknown[] } }).Services.web.length, 2)
  t.is(await docs.service('nothing'), undefined)

  const members = [{ Name: 'h1', LastUpdated: BASE_TIME, ServiceCount: 2 }]
  const services = Buffer.concat(await docs.servicesIndented(() => members)).toString()
  t.is(services, JSON.stringify(servicesDocument(catalog, members), null, 2), '/services.json: the same bytes as the whole document')
})

test('one service document: a client asking for 20,000 different names, most of them absent, leaves at most 256 kept, and the documents stay right', async t => {
  const catalog = new Catalog({ clock: new FakeClock(BASE_TIME) }, makeCatalogOptions({ clusterName: 'c1' }))
  for (let i = 0; i < 2000; i++) catalog.merge(makeTestService({ ID: `s${i}`, Hostname: 'h1', Name: `name${i}` }))
  const docs = new DocumentCache(catalog)
  let most = 0
  for (let i = 0; i < 20_000; i++) {
    // absent names of every shape a URL can carry, and present ones
    const name = i % 10 === 0 ? `name${i / 10}` : `x${i}-${'\u{1F600}'.repeat(i % 5)}<&>${'y'.repeat(i % 300)}`
    const doc = await docs.service(name)
    if (i % 10 === 0) t.not(doc, undefined)
    else if (doc !== undefined) t.fail(`a document for the absent name ${name}`)
    most = Math.max(most, docs.serviceDocumentsKept)
  }
  t.true(most <= 256, `at most 256 names kept at any time, not ${most}`)
  const web = Buffer.concat(await docs.service('name7') ?? []).toString()
  t.is(web, JSON.stringify({ Services: { name7: catalog.byService().name7 }, ClusterName: 'c1' }, null, 2))
})
