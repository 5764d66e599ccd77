import test from 'ava'
import { ServiceStatus, Time, withFields } from '../../../src/service/index.ts'
import { modeOf, normalizeMode, planListeners, planPort } from '../../../src/proxy/plan.ts'
import { at, makeTestService } from '../../helpers/factories.ts'

const port = (ServicePort: number, Port: number, Type = 'tcp', IP = '10.0.0.5'): { Type: string, Port: number, ServicePort: number, IP: string } => ({ Type, Port, ServicePort, IP })

test('plan: one listener per (name, TCP ServicePort != 0); UDP and unexported ports are not proxied', t => {
  const svc = makeTestService({ Ports: [port(8080, 32768), port(0, 32769), port(5353, 32770, 'udp'), port(9000, 32771)] })
  const plan = planListeners([svc])
  t.deepEqual(plan.listeners.map(l => [l.name, l.port]), [['web', 8080], ['web', 9000]])
  t.deepEqual(plan.listeners[0].backends.map(b => `${b.ip}:${b.port}`), ['10.0.0.5:32768'])
  t.deepEqual(plan.conflicts, [])
})

test('plan: instances on several hosts share the listener; tombstones hold no port', t => {
  const a = makeTestService({ Hostname: 'host1', ID: 'a' })
  const b = makeTestService({ Hostname: 'host2', ID: 'b', Ports: [port(8080, 40000, 'tcp', '10.0.0.6')], Status: ServiceStatus.UNHEALTHY })
  const dead = makeTestService({ Hostname: 'host3', ID: 'c', Status: ServiceStatus.TOMBSTONE })
  const plan = planListeners([a, b, dead])
  t.is(plan.listeners.length, 1)
  t.deepEqual(plan.listeners[0].backends.map(x => [x.hostname, x.status]), [['host1', ServiceStatus.ALIVE], ['host2', ServiceStatus.UNHEALTHY]])
  t.deepEqual(planListeners([dead]).listeners, [], 'only tombstones: no listener')
})

test('plan: instances whose port sets differ are each used where they match (§12.24)', t => {
  const both = makeTestService({ ID: 'a', Ports: [port(8080, 1), port(9000, 2)] })
  const fewer = makeTestService({ ID: 'b', Ports: [port(9000, 3)] })
  const plan = planListeners([both, fewer])
  t.deepEqual(plan.listeners.map(l => [l.port, l.backends.map(b => b.port)]), [[8080, [1]], [9000, [2, 3]]])
})

test('plan: a port without IP is dialled at its record\'s hostname', t => {
  const plan = planListeners([makeTestService({ Hostname: 'node-7', Ports: [port(8080, 31000, 'tcp', '')] })])
  t.is(plan.listeners[0].backends[0].ip, 'node-7')
})

test('conflict: the name whose oldest record is older keeps the port, on every host alike', t => {
  const old = makeTestService({ Name: 'billing', ID: 'x', Created: Time.parse('2024-01-01T00:00:00Z'), Updated: at(5000) })
  const young = makeTestService({ Name: 'auth', ID: 'y', Created: Time.parse('2024-03-01T00:00:00Z'), Updated: at(0) })
  const youngOld = makeTestService({ Name: 'auth', ID: 'z', Hostname: 'host2', Created: Time.parse('2024-02-01T00:00:00Z') })
  for (const order of [[old, young, youngOld], [youngOld, young, old]]) {
    const plan = planListeners(order)
    t.is(plan.listeners[0].name, 'billing')
    t.deepEqual(plan.listeners[0].backends.map(b => b.id), ['x'])
    t.deepEqual(plan.conflicts, [{ port: 8080, owner: 'billing', ignored: ['auth'] }])
  }
})

test('conflict: equal ages fall back to the name, not to Updated (a refresh moves it without a change event, so hosts would disagree)', t => {
  const b = makeTestService({ Name: 'b', ID: '1', Updated: at(5) })
  const a = makeTestService({ Name: 'a', ID: '2', Updated: at(10) })
  t.is(planListeners([b, a]).listeners[0].name, 'a')
  t.is(planListeners([b, withFields(a, { Updated: at(20) })]).listeners[0].name, 'a', 'a refresh of either changes nothing')
  t.is(planListeners([withFields(b, { Updated: at(30) }), a]).listeners[0].name, 'a')
})

test('mode: the newest ALIVE record (by Created) decides; empty or unknown modes are http', t => {
  t.is(modeOf([makeTestService({ ProxyMode: 'tcp', Created: at(1) }), makeTestService({ ProxyMode: 'http', Status: ServiceStatus.UNHEALTHY, Created: at(2) })]), 'tcp')
  t.is(modeOf([makeTestService({ ProxyMode: 'tcp', Created: at(1) }), makeTestService({ ProxyMode: 'ws', Created: at(2) })]), 'ws')
  // a refresh (Updated) changes nothing; a tie of Created goes to the first by Hostname, then ID
  t.is(modeOf([makeTestService({ ProxyMode: 'tcp', Created: at(1), Updated: at(50) }), makeTestService({ ProxyMode: 'ws', Created: at(2), Updated: at(3) })]), 'ws')
  t.is(modeOf([makeTestService({ ID: 'b', ProxyMode: 'tcp' }), makeTestService({ ID: 'a', ProxyMode: 'ws' })]), 'ws')
  t.is(modeOf([makeTestService({ ID: 'a', ProxyMode: 'ws' }), makeTestService({ ID: 'b', ProxyMode: 'tcp' })]), 'ws')
  t.is(modeOf([makeTestService({ ProxyMode: 'tcp', Status: ServiceStatus.UNHEALTHY })]), 'tcp', 'no ALIVE record: the newest any')
  t.deepEqual(['', 'HTTP', 'TCP', 'grpc'].map(normalizeMode), ['http', 'http', 'tcp', 'http'])
})

test('planPort: a record\'s backend is made once per ServicePort and reused while the record is the same; a new version of it gets its own', t => {
  const two = makeTestService({ ID: 'two', Ports: [{ Type: 'tcp', Port: 32768, ServicePort: 8080, IP: '10.0.0.5' }, { Type: 'tcp', Port: 32769, ServicePort: 9090, IP: '10.0.0.5' }] })
  const others = Array.from({ length: 3000 }, (_, i) => makeTestService({ ID: `i${i}`, Ports: [{ Type: 'tcp', Port: 20000 + i, ServicePort: 8080, IP: '10.0.0.6' }] }))
  const first = planPort(8080, [two, ...others])?.listener.backends ?? []
  const again = planPort(8080, [...others].reverse().concat(two))?.listener.backends ?? []
  t.is(first.length, 3001)
  t.deepEqual(again.map(b => b.key), first.map(b => b.key), 'the same backends, in key order, whatever the input order')
  t.true(again.every((b, i) => b === first[i]), 'the same objects: nothing rebuilt')
  const other = planPort(9090, [two])?.listener.backends[0]
  t.is(other?.port, 32769, 'the other ServicePort of the record has its own backend')
  t.is(planPort(8080, [two])?.listener.backends[0].port, 32768)
  const drained = withFields(two, { Status: ServiceStatus.DRAINING, Updated: Time.parse('2024-05-01T10:00:01Z') })
  const after = planPort(8080, [drained])?.listener.backends[0]
  t.not(after, first.find(b => b.id === 'two'), 'a new version of the record: a new backend spec')
  t.is(after?.status, ServiceStatus.DRAINING)
})
