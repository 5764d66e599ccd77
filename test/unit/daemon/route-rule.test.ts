import test from 'ava'
import { proxyRouteRule } from '../../../src/daemon/route-rule.ts'
import type { ProxyReport } from '../../../src/proxy/report.ts'
import { makeService, Time } from '../../../src/service/index.ts'

const report = (over: Partial<ProxyReport>): ProxyReport => ({
  enabled: true, bindIp: '0.0.0.0', balance: 'roundrobin', preferLocal: false, site: '', siteFailover: false, siteOrder: [], servicePorts: [], listeners: [], conflicts: [], ...over,
})
const svc = makeService({ ID: 'a1', Name: 'api', Hostname: 'h', Ports: [{ Type: 'tcp', Port: 9000, ServicePort: 5432, IP: '10.0.0.1' }, { Type: 'tcp', Port: 9001, ServicePort: 18000, IP: '10.0.0.1' }] })
const routable = (): { routable: boolean, reasons: string[] } => ({ routable: true, reasons: [] })

test('route rule: a ServicePort outside [proxy] service_ports, and one that waits for a listener, are reasons not to route', t => {
  const rule = proxyRouteRule(routable, () => report({ servicePorts: ['18000-18999'], waiting: [{ port: 18000, service: 'api', hosts: ['h'] }] }))
  const v = rule(svc, Time.fromMillis(Date.now()))
  t.false(v.routable)
  t.deepEqual(v.reasons, [
    'port 5432 is outside this host\'s [proxy] service_ports (18000-18999): not proxied here',
    'port 18000 waits for a listener on this host: [proxy] max_listeners are open, for ports needed more (an instance on this host, or on more hosts)',
  ])
  t.true(proxyRouteRule(routable, () => report({})).call(undefined, svc, Time.fromMillis(Date.now())).routable, 'every port allowed and none waiting: routable')
})
