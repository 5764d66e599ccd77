import test from 'ava'
import { defaultRouteRule } from '../../../src/api/explain.ts'
import { ServiceStatus } from '../../../src/service/index.ts'
import { at, BASE_TIME, makeTestService } from '../../helpers/factories.ts'

const rule = defaultRouteRule({ aliveLifespanMs: 80_000, drainingLifespanMs: 600_000, tombstoneLifespanMs: 10_800_000 })

test('route rule: an ALIVE, fresh instance with a ServicePort is routable', t => {
  t.deepEqual(rule(makeTestService(), BASE_TIME), { routable: true, reasons: [] })
})

for (const [status, words] of [[ServiceStatus.UNHEALTHY, 'Unhealthy'], [ServiceStatus.UNKNOWN, 'Unknown'], [ServiceStatus.DRAINING, 'drained'], [ServiceStatus.TOMBSTONE, 'gone']] as const) {
  test(`route rule: status ${status} is not routable, and says why`, t => {
    const v = rule(makeTestService({ Status: status }), BASE_TIME)
    t.false(v.routable)
    t.is(v.reasons.length, 1)
    t.true(v.reasons[0].includes(words), v.reasons[0])
  })
}

test('route rule: an instance without any ServicePort is not carried by a proxy', t => {
  const v = rule(makeTestService({ Ports: [{ Type: 'tcp', Port: 9000, ServicePort: 0, IP: '10.0.0.5' }] }), BASE_TIME)
  t.deepEqual(v, { routable: false, reasons: ['no port has a ServicePort, so no proxy listener carries it'] })
  t.false(rule(makeTestService({ Ports: null }), BASE_TIME).routable)
})

test('route rule: a record past its lifespan is not trusted; a draining one has the longer lifespan', t => {
  const v = rule(makeTestService({ Updated: at(-81_000) }), BASE_TIME)
  t.false(v.routable)
  t.deepEqual(v.reasons, ['not refreshed for 81 s, past its 80 s lifespan: it is about to be tombstoned'])
  t.true(rule(makeTestService({ Updated: at(-80_000) }), BASE_TIME).routable, 'at the lifespan, still fine')
  t.is(rule(makeTestService({ Status: ServiceStatus.DRAINING, Updated: at(-81_000) }), BASE_TIME).reasons.length, 1)
})
