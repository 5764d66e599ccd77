import { createHmac } from 'node:crypto'
import test from 'ava'
import { encodeHostsParts, encodeState } from '../../../src/catalog/index.ts'
import { bodyMac, encodeStateChangedEvent, requestSigningText, signBody, signRequest, stateChangedEventBody } from '../../../src/listeners/payload.ts'
import { ServiceStatus, Time, withFields } from '../../../src/service/index.ts'
import { makeTestService } from '../../helpers/factories.ts'
import { setup } from '../catalog/setup.ts'

test('payload: the body is {"State":<encodeState>,"ChangeEvent":{...}} with the reference field order', t => {
  const { catalog, events } = setup()
  catalog.merge(makeTestService({ Status: ServiceStatus.ALIVE }))
  const state = catalog.snapshot()
  const body = encodeStateChangedEvent(state, events[0])
  const stateJson = encodeState(state)
  t.true(body.startsWith(`{"State":${stateJson},"ChangeEvent":{"Service":{"ID":"abc123def456","Name":"web",`), body)
  t.true(body.endsWith(`"PreviousStatus":3,"Time":"2024-05-01T10:00:00Z"}}`), body)
  const parsed = JSON.parse(body) as { State: unknown, ChangeEvent: Record<string, unknown> }
  t.deepEqual(Object.keys(parsed), ['State', 'ChangeEvent'])
  t.deepEqual(Object.keys(parsed.ChangeEvent), ['Service', 'PreviousStatus', 'Time'])
  t.deepEqual(Object.keys(parsed.ChangeEvent.Service as object), ['ID', 'Name', 'Image', 'Created', 'Hostname', 'Ports', 'Updated', 'ProxyMode', 'Status'])
  t.deepEqual(parsed.State, JSON.parse(stateJson))
})

test('payload: a status change carries the previous status and the record\'s Updated as Time', t => {
  const { catalog, events } = setup()
  const svc = makeTestService({ Status: ServiceStatus.ALIVE })
  catalog.merge(svc)
  catalog.merge(withFields(svc, { Status: ServiceStatus.UNHEALTHY, Updated: Time.parse('2024-05-01T10:00:01.000000001Z') }))
  const ev = JSON.parse(encodeStateChangedEvent(catalog.snapshot(), events[1])) as { ChangeEvent: { Service: { Status: number }, PreviousStatus: number, Time: string } }
  t.is(ev.ChangeEvent.Service.Status, ServiceStatus.UNHEALTHY)
  t.is(ev.ChangeEvent.PreviousStatus, ServiceStatus.ALIVE)
  t.is(ev.ChangeEvent.Time, '2024-05-01T10:00:01.000000001Z')
})

test('payload: the ChangeEvent escapes <, > and & as Go does, like the State part', t => {
  const { catalog, events } = setup()
  catalog.merge(makeTestService({ Name: 'a<b>&c' }))
  const body = encodeStateChangedEvent(catalog.snapshot(), events[0])
  t.false(/[<>&]/.test(body))
  t.is(body.split('"Name":"a\\u003cb\\u003e\\u0026c"').length - 1, 2, 'escaped in State and in ChangeEvent')
  t.is((JSON.parse(body) as { ChangeEvent: { Service: { Name: string } } }).ChangeEvent.Service.Name, 'a<b>&c')
})

test('payload: the signature is sha256=<hex HMAC-SHA256 of the exact bytes>', t => {
  const body = Buffer.from('{"State":{},"ChangeEvent":{"Name":"é"}}')
  const expected = createHmac('sha256', 'k3y').update(body).digest('hex')
  t.is(signBody(body, 'k3y'), `sha256=${expected}`)
  t.not(signBody(body, 'other'), signBody(body, 'k3y'))
  t.regex(signBody(body, 'k3y'), /^sha256=[0-9a-f]{64}$/)
  // a body in parts, cut anywhere (even inside the 2-byte é), signs as its bytes together
  for (const cut of [1, 9, body.length - 3, body.length - 2]) t.is(signBody([body.subarray(0, cut), body.subarray(cut)], 'k3y'), `sha256=${expected}`, `cut at ${cut}`)
})

test('payload: X-Sidecar-Request-Signature is t=<unix s>,v1=<HMAC of "v1:<t>:<id>:<hostname>:<body HMAC hex>">, a fixed vector', t => {
  const body = Buffer.from('{"State":{},"ChangeEvent":{"Name":"é"}}')
  const secret = 'k3y'
  // computed apart from this code: printf '%s' "$BODY" | openssl dgst -sha256 -hmac k3y, then the same over the text
  const mac = 'a76eb660e1d710f8acd96c9d6c6ab6c4012b92a73d332805a520eee33114e924'
  t.is(bodyMac(body, secret), mac)
  t.is(signBody(body, secret), `sha256=${mac}`, 'X-Sidecar-Signature is that MAC, as before')
  const stamp = { timestamp: 1765070000, eventId: 1765069990123456, hostname: 'host:1' }
  t.is(requestSigningText(stamp, mac), `v1:1765070000:1765069990123456:host:1:${mac}`)
  t.is(signRequest(stamp, mac, secret), 't=1765070000,v1=0ad6f45e211444918d53a57e880489eeb76a302880edee08c4323c3e369aa259')
  // each covered value changes it; so does the key
  const v1 = (s: typeof stamp, m = mac, k = secret): string => signRequest(s, m, k).split(',v1=')[1]
  const all = [v1(stamp), v1({ ...stamp, timestamp: stamp.timestamp + 1 }), v1({ ...stamp, eventId: stamp.eventId + 1 }), v1({ ...stamp, hostname: 'host:2' }),
    v1(stamp, bodyMac(Buffer.from('{"State":{},"ChangeEvent":{"Name":"è"}}'), secret)), v1(stamp, mac, 'other')]
  t.is(new Set(all).size, all.length, 'time, event id, hostname, body and key each change v1')
})

test('payload: the body from the state encoded in slices (the catalog\'s record lists, encodeHostsParts, as the listeners do) is the same bytes, for a state of 3 hosts and 6,000 records', async t => {
  const { catalog, events } = setup()
  for (let i = 0; i < 6000; i++) catalog.merge(makeTestService({ ID: `id${i}`, Name: i % 7 === 0 ? `a<b>&c${i % 50}` : `svc${i % 50}`, Hostname: `host${i % 3}`, Image: 'img\u2028:1' }))
  const state = catalog.snapshot()
  const lists = catalog.stateLists()
  const parts = await encodeHostsParts(lists.hosts, lists)
  t.true(parts.length > 3, `several parts (${parts.length})`)
  t.is(Buffer.concat(parts).toString(), encodeState(state), 'encodeState\'s bytes')
  for (const e of [events[0], events[5999]]) t.deepEqual(Buffer.concat(stateChangedEventBody(parts, e)), Buffer.from(encodeStateChangedEvent(state, e)))
})
