import test from 'ava'
import { proxyRouteRule } from '../../../src/daemon/route-rule.ts'
import type { ProxyReport } from '../../../src/proxy/report.ts'
import { makeService, Time } from '../../../src/service/index.ts'

const report = (over: Partial<ProxyReport>): ProxyReport => ({
  enabled: true, bindIp: '0.0.0.0', balance: 'roundrobin', preferLocal: false, site: '', siteFailover: false, siteOrder: [], servicePorts: [], listeners: [], conflicts: [], ...over,
})
const svc = makeService({ ID: 'a1', Name: 'api', Hostname: 'h', Ports: [{ Type: 'tcp', Port: 9000, ServicePort: 5432, IP: '10.0.0.1' }, { Type: 'tcp', Port: 9001, ServicePort: 18000, IP: '10.0.0.1' }] })
const routable = () => (): { routable: boolean, reasons: string[] } => ({ routable: true, reasons: [] })

test('route rule: a ServicePort outside [proxy] service_ports, and one that waits for a listener, are reasons not to route', t => {
  const rule = proxyRouteRule(routable, () => report({ servicePorts: ['18000-18999'], waiting: [{ port: 18000, service: 'api', hosts: ['h'] }] }))
  const v = rule(Time.fromMillis(Date.now()))(svc)
  t.false(v.routable)
  t.deepEqual(v.reasons, [
    'port 5432 is outside this host\'s [proxy] service_ports (18000-18999): not proxied here',
    'port 18000 waits for a listener on this host: [proxy] max_listeners are open, for ports needed more (an instance on this host, or on more hosts)',
  ])
  t.true(proxyRouteRule(routable, () => report({}))(Time.fromMillis(Date.now()))(svc).routable, 'every port allowed and none waiting: routable')
})

test('route rule: the proxy report is read once per document, and each instance still gets its own conflict or ejection', t => {
  const n = 5000
  const instances = Array.from({ length: n }, (_, i) => makeService({ ID: `i${i}`, Name: i % 2 === 0 ? 'big' : 'late', Hostname: 'h', Ports: [{ Type: 'tcp', Port: 20000 + i, ServicePort: 8080, IP: '10.0.0.1' }] }))
  const backends = instances.filter(s => s.Name === 'big').map(s => ({ hostname: 'h', id: s.ID, address: '10.0.0.1:1', site: '', status: 'Alive', state: s.ID === 'i4998' ? 'ejected' as const : 'active' as const, ejectedUntil: '2026-12-04T19:00:00Z', ejections: 0, inFlight: 0, requests: 0, failures: 0 }))
  let reads = 0
  const rule = proxyRouteRule(routable, () => {
    reads++
    return report({
      conflicts: [{ port: 8080, owner: 'big', ignored: ['late'] }],
      listeners: [{ service: 'big', port: 8080, address: '0.0.0.0:8080', mode: 'http', state: 'listening', connections: 0, inFlight: 0, totals: { requests: 0, errors: 0, retries: 0, retriesRefused: 0, ejections: 0, connections: 0 }, backends }],
    })
  })
  const judge = rule(Time.fromMillis(Date.now()))
  const started = performance.now()
  const verdicts = instances.map(s => judge(s))
  t.log(`${n} verdicts in ${(performance.now() - started).toFixed(1)} ms`)
  t.is(reads, 1)
  t.deepEqual(verdicts.filter(v => v.routable).length, n / 2 - 1)
  t.deepEqual(verdicts[1].reasons, ['port 8080 belongs to big (an older service on the same ServicePort)'])
  t.deepEqual(verdicts[4998].reasons, ['ejected from port 8080 by passive health (failed requests) until 2026-12-04T19:00:00Z'])
})
