import test from 'ava'
import { formatService, formatState, serversPage, serversPageParts, timeAgo } from '../../../src/api/servers.ts'
import { Catalog } from '../../../src/catalog/index.ts'
import { ServiceStatus } from '../../../src/service/index.ts'
import { FakeClock } from '../../helpers/fake-clock.ts'
import { at, BASE_TIME, makeCatalogOptions, makeTestService } from '../../helpers/factories.ts'

const ref = BASE_TIME.toMillis()

test('timeAgo: the original\'s examples (reference §10.3)', t => {
  const cases: Array<[number, string]> = [
    [0, '1.0 sec ago'], [1_000, '1.0 sec ago'], [5_000, '5.0 secs ago'], [300_000, '5.0 mins ago'],
    [5 * 3_600_000, '5.0 hours ago'], [36 * 3_600_000, '1.5 days ago'], [230 * 3_600_000, '1.4 weeks ago'],
  ]
  for (const [ago, text] of cases) t.is(timeAgo(at(-ago), ref), text, `${ago} ms`)
})

test('timeAgo: times are rounded to the second before the difference is taken', t => {
  t.is(timeAgo(at(-1_600), ref), '2.0 secs ago')
  t.is(timeAgo(at(-61_000), ref), '1.0 mins ago')
})

test('formatService: the original\'s column widths, ports as ServicePort->Port', t => {
  const line = formatService(makeTestService({ ID: 'd419fa7ad1a7', Name: 'nginx', Image: 'nginx:latest', Updated: at(-5_000) }), ref)
  t.is(line, '      d419fa7ad1a7 nginx                          8080->32768     nginx:latest                                   5.0 secs ago    Alive    \n')
})

test('formatState: servers by name, services by name, then the cluster hosts', t => {
  const catalog = new Catalog({ clock: new FakeClock() }, makeCatalogOptions())
  catalog.merge(makeTestService({ Hostname: 'b', ID: '2', Name: 'zeta' }))
  catalog.merge(makeTestService({ Hostname: 'b', ID: '1', Name: 'alpha', Status: ServiceStatus.DRAINING }))
  catalog.merge(makeTestService({ Hostname: 'a', ID: '3', Name: 'web' }))
  const text = formatState(catalog.snapshot(), ['a', 'b'], ref)
  const lines = text.split('\n')
  t.is(lines[0], 'Services ------------------------------')
  t.is(lines[1], '  a: (1.0 sec ago)')
  t.regex(lines[2], /^ {6}3 web /)
  t.is(lines[3], '')
  t.is(lines[4], '  b: (1.0 sec ago)')
  t.regex(lines[5], /^ {6}1 alpha .*Draining $/)
  t.regex(lines[6], /^ {6}2 zeta /)
  t.true(text.endsWith('\nCluster Hosts -------------------------\n    a\n    b\n---------------------------------------'))
})

test('serversPageParts: the same bytes as serversPage, in pieces', async t => {
  const catalog = new Catalog({ clock: new FakeClock() }, makeCatalogOptions())
  for (let i = 0; i < 3000; i++) catalog.merge(makeTestService({ Hostname: `h${i % 3}`, ID: `i${i}`, Name: i % 2 === 0 ? 'web' : '<script>&', Updated: at(-i * 10) }))
  const snap = catalog.snapshot()
  const members = ['h0', 'h<1>', 'h2']
  const parts = await serversPageParts(snap, members, ref)
  t.true(parts.length > 1, 'a 3,000-service page comes in more than one piece')
  t.is(Buffer.concat(parts).toString(), serversPage(snap, members, ref))
  t.false(Buffer.concat(parts).toString().includes('<script>'), 'names are escaped in every piece')
})
