import test from 'ava'
import { fromInspect, healthOfAction, ownName, parsePortKey } from '../../../../src/discovery/docker/container.ts'
import { toDiscovered } from '../../../../src/discovery/docker/labels.ts'
import { CTX, inspectFixture } from './helpers.ts'

test('container: a recorded inspect answer gives name, image, labels and the published port', t => {
  const view = fromInspect(inspectFixture('web'))
  t.is(view.name, '/web-1')
  t.is(view.image, 'sidecar-test/httpd:1')
  t.regex(view.id, /^[0-9a-f]{64}$/)
  t.regex(view.created, /^\d{4}-\d\d-\d\dT[\d:.]+Z$/)
  t.is(view.labels.ServiceName, 'web')
  t.deepEqual(view.ports, [{ containerPort: 80, type: 'tcp', hostIp: '127.0.2.9', hostPort: 32768 }])
  t.false(view.hasHealthcheck)
  t.is(view.health, undefined)
  t.true(view.serving)
})

test('container: the recorded web container becomes the service its labels describe', t => {
  const v = toDiscovered(fromInspect(inspectFixture('web')), CTX)
  if (v.kind !== 'service') { t.fail(JSON.stringify(v)); return }
  t.like(v.discovered.service, { Name: 'web', Image: 'sidecar-test/httpd:1', ProxyMode: 'ws', Hostname: 'host1' })
  t.deepEqual(v.discovered.service.Ports, [{ Type: 'tcp', Port: 32768, ServicePort: 8080, IP: '127.0.2.9' }])
  t.deepEqual(v.discovered.check, { type: 'HttpGet', args: 'http://10.0.0.5:32768/health', reach: ['127.0.2.9:32768'] }, 'the port is bound to 127.0.2.9 only: the check may reach it there')
  t.is(v.discovered.listenerUrl, 'http://127.0.2.9:32768/sidecar/update')
  t.is(v.discovered.container, 'web-1')
})

test('container: an image HEALTHCHECK is seen, with Docker\'s health state as it moves', t => {
  const starting = fromInspect(inspectFixture('hc-starting'))
  t.true(starting.hasHealthcheck)
  t.is(starting.health, 'starting')
  const unhealthy = fromInspect(inspectFixture('hc-unhealthy'))
  t.is(unhealthy.health, 'unhealthy')
  t.true(unhealthy.serving)
})

test('container: a paused container is not serving', t => {
  t.false(fromInspect(inspectFixture('hc-paused')).serving)
})

test('container: HEALTHCHECK NONE is no health check', t => {
  const info = inspectFixture('hc-starting')
  info.Config.Healthcheck = { Test: ['NONE'] }
  t.false(fromInspect(info).hasHealthcheck)
})

test('container: exposed-only ports (no binding) and unbound bindings are left out', t => {
  const info = inspectFixture('web')
  info.NetworkSettings.Ports = { '80/tcp': null as never, '443/tcp': [{ HostIp: '', HostPort: '' }], '53/udp': [{ HostIp: '0.0.0.0', HostPort: '40053' }] }
  t.deepEqual(fromInspect(info).ports, [{ containerPort: 53, type: 'udp', hostIp: '0.0.0.0', hostPort: 40053 }])
})

test('container: port keys and health event actions parse as Docker writes them', t => {
  t.deepEqual(parsePortKey('80/tcp'), { port: 80, type: 'tcp' })
  t.deepEqual(parsePortKey('53/udp'), { port: 53, type: 'udp' })
  t.deepEqual(parsePortKey('8080'), { port: 8080, type: 'tcp' })
  t.is(parsePortKey('0/tcp'), undefined)
  t.is(parsePortKey('http'), undefined)
  t.is(healthOfAction('health_status: healthy'), 'healthy')
  t.is(healthOfAction('health_status: unhealthy'), 'unhealthy')
  t.is(healthOfAction('health_status: bogus'), undefined)
  t.is(healthOfAction('start'), undefined)
})

test('container: the own name of a list entry is the one without a link alias, wherever Docker lists it', t => {
  t.is(ownName(['/web-1']), '/web-1')
  t.is(ownName(['/app/db', '/db', '/zz/other']), '/db', 'legacy links add "/linker/alias" names, sorted before the own name when the linker sorts first')
  t.is(ownName([]), undefined)
  t.is(ownName(null), undefined)
})
