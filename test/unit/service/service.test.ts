import test from 'ava'
import {
  formatPorts, isNewer, isServiceStatus, listenerName, makePort, makeService, parseStatus, portFor,
  recordKey, SERVICE_FIELDS, serviceVersion, ServiceStatus, statusString, Time, withFields,
} from '../../../src/service/index.ts'
import { at, makeTestService } from '../../helpers/factories.ts'

test('service: makeService fills zero values and freezes the record and its ports', t => {
  const svc = makeService({ ID: 'a', Name: 'web', Hostname: 'h', Ports: [{ Port: 80 }] as never })
  t.is(svc.Image, '')
  t.true(svc.Created.equals(Time.EPOCH))
  t.true(svc.Updated.equals(Time.EPOCH))
  t.is(svc.Status, ServiceStatus.UNKNOWN)
  t.deepEqual(svc.Ports, [{ Type: 'tcp', Port: 80, ServicePort: 0, IP: '' }])
  t.true(Object.isFrozen(svc))
  t.true(Object.isFrozen(svc.Ports))
  t.true(Object.isFrozen(svc.Ports?.[0]))
})

test('service: makeService puts fields in wire order', t => {
  const svc = makeService({ Status: 0, Hostname: 'h', Name: 'web', ID: 'a' })
  t.deepEqual(Object.keys(svc), [...SERVICE_FIELDS])
  t.deepEqual(Object.keys(makePort({ IP: 'x', Port: 1, Type: 'udp' })), ['Type', 'Port', 'ServicePort', 'IP'])
})

test('service: withFields replaces fields and keeps the original unchanged', t => {
  const a = makeTestService()
  const b = withFields(a, { Status: ServiceStatus.TOMBSTONE })
  t.is(b.Status, ServiceStatus.TOMBSTONE)
  t.is(a.Status, ServiceStatus.ALIVE)
  t.deepEqual(Object.keys(b), [...SERVICE_FIELDS])
})

test('service: isNewer is true only for a strictly newer Updated, or when there is no other', t => {
  const old = makeTestService({ Updated: at(0) })
  t.true(isNewer(makeTestService({ Updated: at(0).plusNanos(1n) }), old))
  t.false(isNewer(makeTestService({ Updated: at(0) }), old))
  t.false(isNewer(makeTestService({ Updated: at(-1) }), old))
  t.true(isNewer(old, undefined))
})

test('service: serviceVersion is the part of Image after the first colon', t => {
  t.is(serviceVersion(makeTestService({ Image: 'a:b:c' })), 'b')
  t.is(serviceVersion(makeTestService({ Image: 'nginx' })), 'nginx')
  t.is(serviceVersion(makeTestService({ Image: 'nginx:' })), '')
})

test('service: listenerName is Service(<Name>-<ID>)', t => {
  t.is(listenerName(makeTestService()), 'Service(web-abc123def456)')
})

test('service: portFor finds the first port with that ServicePort and type', t => {
  const svc = makeTestService({ Ports: [{ Type: 'udp', Port: 1, ServicePort: 53, IP: '' }, { Type: 'tcp', Port: 2, ServicePort: 53, IP: '' }, { Type: 'tcp', Port: 3, ServicePort: 53, IP: '' }] })
  t.is(portFor(svc, 53)?.Port, 2)
  t.is(portFor(svc, 53, 'udp')?.Port, 1)
  t.is(portFor(svc, 80), undefined)
  t.is(portFor(makeTestService({ Ports: null }), 80), undefined)
})

test('service: formatPorts shows ServicePort->Port, or the bare port when not exported', t => {
  const svc = makeTestService({ Ports: [{ Type: 'tcp', Port: 32768, ServicePort: 8080, IP: '' }, { Type: 'tcp', Port: 9000, ServicePort: 0, IP: '' }] })
  t.is(formatPorts(svc), '8080->32768,9000')
  t.is(formatPorts(makeTestService({ Ports: null })), '')
})

test('service: recordKey tells (Hostname, ID) pairs apart', t => {
  t.not(recordKey({ Hostname: 'a', ID: 'bc' }), recordKey({ Hostname: 'ab', ID: 'c' }))
  t.is(recordKey({ Hostname: 'a', ID: 'b' }), recordKey(makeTestService({ Hostname: 'a', ID: 'b' })))
})

test('status: the integers are those of the original', t => {
  t.deepEqual(ServiceStatus, { ALIVE: 0, TOMBSTONE: 1, UNHEALTHY: 2, UNKNOWN: 3, DRAINING: 4 })
})

test('status: statusString names each status and reads any other value as Tombstone', t => {
  t.deepEqual([0, 1, 2, 3, 4].map(statusString), ['Alive', 'Tombstone', 'Unhealthy', 'Unknown', 'Draining'])
  t.is(statusString(5), 'Tombstone')
  t.is(statusString(-1), 'Tombstone')
})

test('status: isServiceStatus accepts only the integers 0 to 4', t => {
  for (const n of [0, 1, 2, 3, 4]) t.true(isServiceStatus(n))
  for (const v of [-1, 5, 1.5, '0', null, undefined, Number.NaN]) t.false(isServiceStatus(v))
})

test('status: parseStatus reads names in any case and numbers', t => {
  t.is(parseStatus('alive'), ServiceStatus.ALIVE)
  t.is(parseStatus('Draining'), ServiceStatus.DRAINING)
  t.is(parseStatus('TOMBSTONE'), ServiceStatus.TOMBSTONE)
  t.is(parseStatus('2'), ServiceStatus.UNHEALTHY)
  t.is(parseStatus(''), undefined)
  t.is(parseStatus(' '), undefined)
  t.is(parseStatus('7'), undefined)
  t.is(parseStatus('dead'), undefined)
})

test('service: a new version shares its predecessor\'s port list; a list makeService did not build is still normalised', t => {
  const svc = makeService({ ID: 'a', Name: 'web', Hostname: 'h', Ports: [{ Port: 80 }] as never })
  const next = withFields(svc, { Status: ServiceStatus.ALIVE })
  t.is(next.Ports, svc.Ports, 'shared, not copied')
  const foreign = Object.freeze([Object.freeze({ Port: 81 })]) as never
  const other = makeService({ ID: 'b', Name: 'web', Hostname: 'h', Ports: foreign })
  t.not(other.Ports, foreign)
  t.deepEqual(other.Ports, [{ Type: 'tcp', Port: 81, ServicePort: 0, IP: '' }])
  t.deepEqual(makeService({ ID: 'c', Name: 'web', Hostname: 'h' }).Ports, [])
  t.true(Object.isFrozen(makeService({ ID: 'c', Name: 'web', Hostname: 'h' }).Ports))
  t.is(makeService({ ID: 'd', Name: 'web', Hostname: 'h', Ports: null }).Ports, null)
  // what marks a list as built shows nowhere and travels nowhere: a copy or a clone is normalised again
  t.deepEqual(Object.keys(svc.Ports ?? []), ['0'])
  t.is(JSON.stringify(svc.Ports), '[{"Type":"tcp","Port":80,"ServicePort":0,"IP":""}]')
  for (const copy of [[...svc.Ports ?? []], structuredClone(svc.Ports)] as never[]) t.not(makeService({ ID: 'e', Name: 'web', Hostname: 'h', Ports: copy }).Ports, copy)
})
