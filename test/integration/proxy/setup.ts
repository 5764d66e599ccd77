// An in-process proxy over a real catalog: records go in with catalog.merge, requests go
// through real sockets to real backends. Used where a test needs to set exact statuses.
import type { ExecutionContext } from 'ava'
import { Catalog } from '../../../src/catalog/index.ts'
import type { ProxySection } from '../../../src/config/types.ts'
import { systemClock } from '../../../src/service/clock.ts'
import { silentLogger } from '../../../src/lib/logger.ts'
import { Metrics } from '../../../src/lib/metrics.ts'
import { ProxyManager } from '../../../src/proxy/manager.ts'
import { makeService, ServiceStatus, Time, type Service } from '../../../src/service/index.ts'
import { makeCatalogOptions } from '../../helpers/factories.ts'
import { waitFor } from '../../helpers/wait.ts'
import { loggingBackend, type LoggingBackend } from './raw.ts'

export function proxyConfig (bindIp: string, overrides: Partial<ProxySection> = {}): ProxySection {
  return {
    enabled: true, bind_ip: bindIp, balance: 'roundrobin', prefer_local: false, site_failover: false, site_order: [],
    connect_timeout: 1000, idle_timeout: 60_000, request_timeout: 0, stall_timeout: 2000, header_timeout: 10_000, max_connections: 10_000, max_total_connections: 100_000, service_ports: [], max_listeners: 10_000, retries: 2, retry_budget: 0.2, retry_budget_min: 10, eject_after_5xx: 0,
    ejection_base: 10_000, ejection_max: 300_000, drain_grace: 10_000, access_log: 'off',
    ...overrides,
  }
}

export interface Harness {
  catalog: Catalog
  proxy: ProxyManager
  metrics: Metrics
  access: string[]
  /** Merges a record stamped now (so it always wins over the previous one). */
  put: (svc: Omit<Partial<Service>, 'Updated'> & Pick<Service, 'ID' | 'Name' | 'Hostname'>) => void
  /** Waits until the proxy has applied the catalog (rebuilds run on the next turn). */
  settle: () => Promise<void>
}

export async function harness (t: ExecutionContext, opts: { hostname?: string, site?: string, proxy: ProxySection }): Promise<Harness> {
  const catalog = new Catalog({ clock: systemClock }, makeCatalogOptions({ hostname: opts.hostname ?? 'proxyhost' }))
  const metrics = new Metrics({ defaultMetrics: false })
  const access: string[] = []
  const proxy = new ProxyManager({ catalog, clock: systemClock, logger: silentLogger(), metrics, accessSink: (l) => access.push(l) }, { hostname: opts.hostname ?? 'proxyhost', site: opts.site ?? '', proxy: opts.proxy })
  await proxy.start()
  t.teardown(async () => { await proxy.stop() })
  return {
    catalog,
    proxy,
    metrics,
    access,
    put: (svc) => {
      const prev = catalog.get(svc.Hostname, svc.ID)
      catalog.merge(makeService({ Status: ServiceStatus.ALIVE, ProxyMode: 'http', Created: Time.parse('2024-05-01T09:00:00Z'), ...prev, ...svc, Updated: systemClock.now() }))
    },
    settle: async () => { await new Promise(resolve => setImmediate(resolve)); await proxy.rebuild() },
  }
}

/** A record for one backend at ip:port exporting servicePort. */
export function instance (name: string, host: string, ip: string, port: number, servicePort: number, fields: Partial<Service> = {}): Omit<Partial<Service>, 'Updated'> & Pick<Service, 'ID' | 'Name' | 'Hostname'> {
  return { ID: `${name}-${host}`, Name: name, Hostname: host, Ports: [{ Type: 'tcp', Port: port, ServicePort: servicePort, IP: ip }], ...fields }
}

export async function waitListening (h: Harness, port: number): Promise<void> {
  await waitFor(() => h.proxy.listeners().some(l => l.port === port && l.state === 'listening'), { timeoutMs: 5000, message: `proxy listening on ${port}` })
}

/** A proxy on ip whose port sp leads to one instance of name at backendIp:backendPort, listening. */
export async function proxyTo (t: ExecutionContext, o: { ip: string, name: string, backendIp: string, backendPort: number, sp: number, proxy?: Partial<ProxySection> }): Promise<Harness> {
  const h = await harness(t, { proxy: proxyConfig(o.ip, o.proxy) })
  h.put(instance(o.name, 'host-a', o.backendIp, o.backendPort, o.sp))
  await h.settle()
  await waitListening(h, o.sp)
  return h
}

/** proxyTo a logging backend (raw.ts) of its own on backendIp: what reached the backend can be read. */
export async function proxyToLoggingBackend (t: ExecutionContext, o: { ip: string, name: string, backendIp: string, sp: number }): Promise<{ h: Harness, b: LoggingBackend }> {
  const b = await loggingBackend(o.backendIp)
  t.teardown(async () => { await b.close() })
  const h = await proxyTo(t, { ...o, backendPort: b.port })
  return { h, b }
}
