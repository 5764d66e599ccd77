import test from 'ava'
import { defaultRouteRule, explainParts, explainService, type ExplainComponents } from '../../../src/api/explain.ts'
import { Catalog } from '../../../src/catalog/index.ts'
import { ServiceStatus } from '../../../src/service/index.ts'
import { FakeClock } from '../../helpers/fake-clock.ts'
import { at, BASE_TIME, makeCatalogOptions, makeTestService } from '../../helpers/factories.ts'

const rule = defaultRouteRule({ aliveLifespanMs: 80_000, drainingLifespanMs: 600_000, tombstoneLifespanMs: 10_800_000 })

test('route rule: an ALIVE, fresh instance with a ServicePort is routable', t => {
  t.deepEqual(rule(BASE_TIME)(makeTestService()), { routable: true, reasons: [] })
})

for (const [status, words] of [[ServiceStatus.UNHEALTHY, 'Unhealthy'], [ServiceStatus.UNKNOWN, 'Unknown'], [ServiceStatus.DRAINING, 'drained'], [ServiceStatus.TOMBSTONE, 'gone']] as const) {
  test(`route rule: status ${status} is not routable, and says why`, t => {
    const v = rule(BASE_TIME)(makeTestService({ Status: status }))
    t.false(v.routable)
    t.is(v.reasons.length, 1)
    t.true(v.reasons[0].includes(words), v.reasons[0])
  })
}

test('route rule: an instance without any ServicePort is not carried by a proxy', t => {
  const v = rule(BASE_TIME)(makeTestService({ Ports: [{ Type: 'tcp', Port: 9000, ServicePort: 0, IP: '10.0.0.5' }] }))
  t.deepEqual(v, { routable: false, reasons: ['no port has a ServicePort, so no proxy listener carries it'] })
  t.false(rule(BASE_TIME)(makeTestService({ Ports: null })).routable)
})

test('route rule: a record past its lifespan is not trusted; a draining one has the longer lifespan', t => {
  const v = rule(BASE_TIME)(makeTestService({ Updated: at(-81_000) }))
  t.false(v.routable)
  t.deepEqual(v.reasons, ['not refreshed for 81 s, past its 80 s lifespan: it is about to be tombstoned'])
  t.true(rule(BASE_TIME)(makeTestService({ Updated: at(-80_000) })).routable, 'at the lifespan, still fine')
  t.is(rule(BASE_TIME)(makeTestService({ Status: ServiceStatus.DRAINING, Updated: at(-81_000) })).reasons.length, 1)
})

test('explain: the sliced document is byte for byte the indented one, with odd names, reasons and checks', async t => {
  const catalog = new Catalog({ clock: new FakeClock(BASE_TIME) }, makeCatalogOptions({ hostname: 'me' }))
  for (let i = 0; i < 4000; i++) {
    catalog.merge(makeTestService({ ID: `i${i}\n"<&>`, Hostname: i % 3 === 0 ? 'me' : `h${i % 5}`, Name: 'big\u2028"x"', Updated: BASE_TIME.plusNanos(BigInt(i)), Status: i % 4 === 0 ? ServiceStatus.UNHEALTHY : ServiceStatus.ALIVE }))
  }
  const c: ExplainComponents = {
    catalog,
    lifespans: { aliveLifespanMs: 80_000, drainingLifespanMs: 600_000, tombstoneLifespanMs: 10_800_000 },
    route: rule,
    check: id => id.endsWith('7\n"<&>') ? { type: 'HttpGet', args: 'http://user:pw@x/h', lastResult: { ok: false, error: 'status 500\nline two' }, consecutiveFailures: 2, consecutiveSuccesses: 0 } as never : undefined,
    isDrained: svc => svc.ID.startsWith('i1'),
    now: () => BASE_TIME.plusMillis(1500),
  }
  const parts = await explainParts(c, 'big\u2028"x"')
  if (parts === undefined) throw new Error('no document')
  t.true(parts.length > 1, 'a large document comes in several parts (the event loop ran between them)')
  t.is(Buffer.concat(parts).toString(), JSON.stringify(explainService(c, 'big\u2028"x"'), null, 2))
  t.is(await explainParts(c, 'nothing'), undefined)
})
