import test from 'ava'
import { InvalidRecordError } from '../../../src/lib/errors.ts'
import { decodePort, decodeService, encodeService, parseService, RECORD_LIMITS, ServiceStatus, Time } from '../../../src/service/index.ts'
import { makeTestService } from '../../helpers/factories.ts'

// Reference §1.3: the example gossip message, byte for byte.
const GOSSIP_EXAMPLE = '{"ID":"d419fa7ad1a7","Name":"nginx","Image":"nginx:latest","Created":"2015-02-25T19:04:46Z","Hostname":"docker2","Ports":[{"Type":"tcp","Port":10234,"ServicePort":8080,"IP":"10.0.0.2"}],"Updated":"2015-03-04T01:12:46.669648453Z","ProxyMode":"http","Status":0}'

/** A valid record as parsed JSON, with fields replaced (undefined deletes one). */
function raw (changes: Record<string, unknown> = {}): Record<string, unknown> {
  const obj = JSON.parse(GOSSIP_EXAMPLE) as Record<string, unknown>
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined) delete obj[k]
    else obj[k] = v
  }
  return obj
}

test('codec: the reference gossip message round-trips byte for byte', t => {
  t.is(encodeService(parseService(GOSSIP_EXAMPLE)), GOSSIP_EXAMPLE)
  t.is(encodeService(parseService(new TextEncoder().encode(GOSSIP_EXAMPLE))), GOSSIP_EXAMPLE)
})

test('codec: decoding gives the typed fields', t => {
  const svc = parseService(GOSSIP_EXAMPLE)
  t.is(svc.ID, 'd419fa7ad1a7')
  t.is(svc.Hostname, 'docker2')
  t.is(svc.Status, ServiceStatus.ALIVE)
  t.true(svc.Updated.equals(Time.parse('2015-03-04T01:12:46.669648453Z')))
  t.deepEqual(svc.Ports, [{ Type: 'tcp', Port: 10234, ServicePort: 8080, IP: '10.0.0.2' }])
  t.true(Object.isFrozen(svc))
  t.true(Object.isFrozen(svc.Ports))
})

test('codec: encoding uses the original field order whatever order the input had', t => {
  const reordered = JSON.stringify({ Status: 0, ProxyMode: 'http', Updated: '2015-03-04T01:12:46.669648453Z', Ports: [{ IP: '10.0.0.2', ServicePort: 8080, Port: 10234, Type: 'tcp' }], Hostname: 'docker2', Created: '2015-02-25T19:04:46Z', Image: 'nginx:latest', Name: 'nginx', ID: 'd419fa7ad1a7' })
  t.is(encodeService(parseService(reordered)), GOSSIP_EXAMPLE)
})

test('codec: keys match case-insensitively, like Go encoding/json', t => {
  const svc = decodeService({ id: 'x1', NAME: 'web', hostName: 'h', updated: '2024-05-01T10:00:00Z', status: 2, ports: [{ type: 'udp', port: 53, serviceport: 53, ip: '10.0.0.1' }] })
  t.is(svc.ID, 'x1')
  t.is(svc.Name, 'web')
  t.is(svc.Hostname, 'h')
  t.is(svc.Status, ServiceStatus.UNHEALTHY)
  t.deepEqual(svc.Ports, [{ Type: 'udp', Port: 53, ServicePort: 53, IP: '10.0.0.1' }])
})

test('codec: an exact key wins over a case-insensitive one', t => {
  t.is(decodeService(raw({ id: 'lower' })).ID, 'd419fa7ad1a7')
})

test('codec: unknown keys are ignored', t => {
  const svc = decodeService(raw({ Extra: { deep: [1, 2] }, Version: 7 }))
  t.is(encodeService(svc), GOSSIP_EXAMPLE)
})

test('codec: Ports null and [] are kept apart, and missing Ports reads as null', t => {
  t.is(decodeService(raw({ Ports: null })).Ports, null)
  t.is(decodeService(raw({ Ports: undefined })).Ports, null)
  t.deepEqual(decodeService(raw({ Ports: [] })).Ports, [])
  t.regex(encodeService(decodeService(raw({ Ports: null }))), /"Ports":null/)
  t.regex(encodeService(decodeService(raw({ Ports: [] }))), /"Ports":\[\]/)
})

test('codec: Site is decoded and appended to the encoding only when set', t => {
  const svc = decodeService(raw({ Site: 'eu-1' }))
  t.is(svc.Site, 'eu-1')
  t.is(encodeService(svc), GOSSIP_EXAMPLE.slice(0, -1) + ',"Site":"eu-1"}')
})

for (const [name, value] of [['a number', 42], ['null', null], ['an array', []], ['a string', 'svc']] as const) {
  test(`codec: rejects ${name} as a record`, t => {
    t.throws(() => decodeService(value), { instanceOf: InvalidRecordError })
  })
}

for (const fieldName of ['ID', 'Hostname', 'Updated', 'Status', 'Name']) {
  test(`codec: rejects a record without ${fieldName}`, t => {
    t.throws(() => decodeService(raw({ [fieldName]: undefined })), { instanceOf: InvalidRecordError })
  })
}

for (const [fieldName, value] of [
  ['ID', ''], ['Hostname', ''],
  ['ID', 123], ['Name', 5], ['Image', true], ['Hostname', ['h']], ['ProxyMode', {}],
  ['Created', 1425000000], ['Updated', 'yesterday'], ['Updated', '2023-02-29T00:00:00Z'],
  ['Status', 5], ['Status', -1], ['Status', 1.5], ['Status', '0'], ['Status', null],
  ['Ports', {}], ['Ports', 'tcp:80'], ['Ports', [null]], ['Ports', [[80]]],
] as const) {
  test(`codec: rejects ${fieldName} = ${JSON.stringify(value)}`, t => {
    t.throws(() => decodeService(raw({ [fieldName]: value })), { instanceOf: InvalidRecordError })
  })
}

for (const [fieldName, max] of [
  ['ID', RECORD_LIMITS.maxIdLength], ['Name', RECORD_LIMITS.maxNameLength], ['Image', RECORD_LIMITS.maxImageLength],
  ['Hostname', RECORD_LIMITS.maxHostnameLength], ['ProxyMode', RECORD_LIMITS.maxProxyModeLength], ['Site', RECORD_LIMITS.maxSiteLength],
] as const) {
  test(`codec: ${fieldName} may be ${max} characters long but not ${max + 1}`, t => {
    t.notThrows(() => decodeService(raw({ [fieldName]: 'a'.repeat(max) })))
    t.throws(() => decodeService(raw({ [fieldName]: 'a'.repeat(max + 1) })), { instanceOf: InvalidRecordError })
  })
}

test(`codec: a record may have ${RECORD_LIMITS.maxPorts} ports but not more`, t => {
  const port = { Type: 'tcp', Port: 80, ServicePort: 0, IP: '' }
  t.is(decodeService(raw({ Ports: Array.from({ length: RECORD_LIMITS.maxPorts }, () => port) })).Ports?.length, RECORD_LIMITS.maxPorts)
  t.throws(() => decodeService(raw({ Ports: Array.from({ length: RECORD_LIMITS.maxPorts + 1 }, () => port) })), { instanceOf: InvalidRecordError })
})

for (const [fieldName, value] of [
  ['Port', 65536], ['Port', -1], ['Port', 80.5], ['Port', '80'], ['Port', true],
  ['ServicePort', 70000], ['ServicePort', -8080], ['ServicePort', Number.NaN],
  ['Type', 'sctp'], ['Type', 6], ['IP', 'x'.repeat(RECORD_LIMITS.maxIpLength + 1)],
] as const) {
  test(`codec: rejects a port with ${fieldName} = ${JSON.stringify(value).slice(0, 20)}`, t => {
    t.throws(() => decodePort({ Type: 'tcp', Port: 80, ServicePort: 8080, IP: '10.0.0.1', [fieldName]: value }), { instanceOf: InvalidRecordError })
    t.throws(() => decodeService(raw({ Ports: [{ Type: 'tcp', Port: 80, [fieldName]: value }] })), { instanceOf: InvalidRecordError })
  })
}

test('codec: port numbers 0 and 65535 are accepted, and a missing port Type reads tcp', t => {
  t.deepEqual(decodePort({ Port: 65535, ServicePort: 0 }), { Type: 'tcp', Port: 65535, ServicePort: 0, IP: '' })
  t.deepEqual(decodePort({ Type: 'udp', Port: 0 }), { Type: 'udp', Port: 0, ServicePort: 0, IP: '' })
})

test('codec: optional fields default to zero values', t => {
  const svc = decodeService({ ID: 'x', Name: 'web', Hostname: 'h', Updated: '2024-05-01T10:00:00Z', Status: 3 })
  t.is(svc.Image, '')
  t.is(svc.ProxyMode, '')
  t.true(svc.Created.equals(Time.EPOCH))
  t.is(svc.Site, undefined)
})

test('codec: parseService rejects malformed JSON, invalid UTF-8 and oversize input', t => {
  t.throws(() => parseService('{"ID":'), { instanceOf: InvalidRecordError })
  t.throws(() => parseService(new Uint8Array([0x7b, 0xff, 0x7d])), { instanceOf: InvalidRecordError })
  const big = JSON.stringify(raw({ Padding: 'x'.repeat(RECORD_LIMITS.maxRecordBytes) }))
  t.throws(() => parseService(big), { instanceOf: InvalidRecordError })
})

test('codec: the error message names the field', t => {
  const err = t.throws(() => decodeService(raw({ Status: 9 }), 'gossip'), { instanceOf: InvalidRecordError })
  t.regex(err.message, /^gossip: .*Status/)
})

test('codec: a factory record encodes and decodes to the same record', t => {
  const svc = makeTestService({ Status: ServiceStatus.DRAINING })
  t.deepEqual(parseService(encodeService(svc)), svc)
})
