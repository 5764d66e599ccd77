// [proxy] max_listeners: which service ports get a listener when not all can, on an in-process
// proxy over a real catalog (listeners bind real sockets on 127.0.12.63).
import test from 'ava'
import { ServiceStatus } from '../../../src/service/index.ts'
import { harness, instance, proxyConfig } from './setup.ts'

const IP = '127.0.12.63'

test('max_listeners: the most needed ports get listeners (this host, then more hosts); a tie never closes an open one; a freed place goes to the next waiting port', async (t) => {
  const h = await harness(t, { proxy: proxyConfig(IP, { max_listeners: 2 }) })
  const open = (): number[] => h.proxy.listeners().map(l => l.port)
  const waiting = (): number[] => h.proxy.waiting().map(w => w.port)

  h.put(instance('x1', 'a', IP, 1, 18611))
  h.put(instance('x2', 'a', IP, 1, 18612))
  await h.settle()
  t.deepEqual(open(), [18611, 18612])

  // a service on two hosts outranks one host's port: the higher port of the two gives way
  h.put(instance('shared', 'b', IP, 1, 18613))
  h.put(instance('shared', 'c', IP, 2, 18613))
  await h.settle()
  t.deepEqual(open(), [18611, 18613])
  t.deepEqual(waiting(), [18612])
  t.deepEqual(h.proxy.report().waiting, [{ port: 18612, service: 'x2', hosts: ['a'] }])

  // as needed as the open ones (one host): it waits, nothing is closed for it
  h.put(instance('y', 'd', IP, 1, 18614))
  await h.settle()
  t.deepEqual(open(), [18611, 18613])
  t.deepEqual(waiting(), [18612, 18614])

  // this host's own instance outranks every other
  h.put(instance('mine', 'proxyhost', IP, 1, 18615))
  await h.settle()
  t.deepEqual(open(), [18613, 18615], 'the least needed open port (one host) gave way')
  t.deepEqual(waiting(), [18611, 18612, 18614])

  // the shared service goes: its place goes to the lowest waiting port
  h.put({ ...instance('shared', 'b', IP, 1, 18613), Status: ServiceStatus.TOMBSTONE })
  h.put({ ...instance('shared', 'c', IP, 2, 18613), Status: ServiceStatus.TOMBSTONE })
  await h.settle()
  await h.settle() // the waiting ports are planned again in the turn after a place frees
  t.deepEqual(open(), [18611, 18615])
  t.deepEqual(waiting(), [18612, 18614])
  t.is(h.proxy.report().waiting?.length, 2)

  // a waiting port whose records go is no longer waiting
  h.put({ ...instance('y', 'd', IP, 1, 18614), Status: ServiceStatus.TOMBSTONE })
  await h.settle()
  t.deepEqual(waiting(), [18612])
})

test('service_ports: only the listed ports and ranges get listeners, whoever claims the others (this host included)', async (t) => {
  const h = await harness(t, { proxy: proxyConfig(IP, { service_ports: ['18640-18645', '18660'] }) })
  h.put({ ...instance('db', 'a', IP, 1, 18641), Ports: [{ Type: 'tcp', Port: 1, ServicePort: 18641, IP }, { Type: 'tcp', Port: 2, ServicePort: 18650, IP }] })
  h.put(instance('cache', 'proxyhost', IP, 3, 18651))
  h.put(instance('web', 'b', IP, 4, 18660))
  await h.settle()
  t.deepEqual(h.proxy.listeners().map(l => l.port), [18641, 18660])
  t.deepEqual(h.proxy.report().servicePorts, ['18640-18645', '18660'])
  t.is(h.proxy.report().waiting, undefined)
})
