// The shape of /api/proxy.json: each listener with its pool and counters, and the port
// conflicts. Plain data, built on request from the live listeners.
import type { ProxyOptions } from './options.ts'
import { statusString } from '../service/status.ts'
import type { ProxyListener } from './listener.ts'
import { isEjected, onProbation } from './outlier.ts'
import type { Backend, Pool } from './pool.ts'
import type { PortConflict } from './plan.ts'

export interface BackendReport {
  hostname: string
  id: string
  address: string
  site: string
  /** The catalog's status: Alive, Unhealthy, Unknown, Draining. */
  status: string
  /**
   * active: takes new requests; ejected: passive health took it out until ejectedUntil;
   * stalled: a request has waited on it longer than stall_timeout with no answer from it since
   * silentSince, so new requests go to another backend while one can take them; probation:
   * back from an ejection and not answered since, so it takes one request at a time (while
   * another backend can take the rest); draining, unhealthy, unknown: not ALIVE in the catalog.
   */
  state: 'active' | 'ejected' | 'stalled' | 'probation' | 'draining' | 'unhealthy' | 'unknown'
  ejectedUntil?: string
  /** stalled: when it last answered, or when a request began to wait on it if none was waiting then. */
  silentSince?: string
  ejections: number
  inFlight: number
  requests: number
  failures: number
}

export interface ListenerReport {
  service: string
  port: number
  address: string
  mode: string
  state: string
  error?: string
  conflictsWith?: readonly string[]
  connections: number
  inFlight: number
  totals: { requests: number, errors: number, retries: number, retriesRefused: number, ejections: number, connections: number }
  backends: BackendReport[]
}

export interface ProxyReport {
  enabled: boolean
  bindIp: string
  balance: string
  preferLocal: boolean
  site: string
  siteFailover: boolean
  siteOrder: readonly string[]
  /** [proxy] service_ports: [] = every port. */
  servicePorts: readonly string[]
  listeners: ListenerReport[]
  conflicts: readonly PortConflict[]
  /** Service ports with no listener because [proxy] max_listeners are open (present when any). */
  waiting?: ReadonlyArray<{ port: number, service: string, hosts: readonly string[] }>
}

function backendReport (b: Backend, pool: Pool, nowMs: number): BackendReport {
  const status = statusString(b.spec.status)
  const ejected = isEjected(b.outlier, nowMs)
  const stalled = status === 'Alive' && !ejected && pool.stalled(b, nowMs)
  const state = status === 'Alive' ? (ejected ? 'ejected' : stalled ? 'stalled' : onProbation(b.outlier) ? 'probation' : 'active') : status === 'Draining' ? 'draining' : status === 'Unhealthy' ? 'unhealthy' : 'unknown'
  return {
    hostname: b.spec.hostname,
    id: b.spec.id,
    address: b.address,
    site: b.spec.site,
    status,
    state,
    ...(ejected ? { ejectedUntil: new Date(b.outlier.ejectedUntil).toISOString() } : {}),
    ...(stalled ? { silentSince: new Date(b.heardAt).toISOString() } : {}),
    ejections: b.outlier.ejections,
    inFlight: b.inFlight,
    requests: b.requests,
    failures: b.failures,
  }
}

export function listenerReport (l: ProxyListener, nowMs: number): ListenerReport {
  const s = l.stats
  return {
    service: l.name,
    port: l.port,
    address: l.address,
    mode: l.mode,
    state: l.state,
    ...(l.error !== undefined ? { error: l.error } : {}),
    ...(l.ignored.length > 0 ? { conflictsWith: l.ignored } : {}),
    connections: l.connections,
    inFlight: s.inFlight,
    totals: { requests: s.requests, errors: s.errors, retries: s.retries, retriesRefused: s.retriesRefused, ejections: s.ejections, connections: s.connections },
    backends: l.pool.backends.map(b => backendReport(b, l.pool, nowMs)),
  }
}

export function proxyReport (r: { bindIp: string, proxy: ProxyOptions, site: string, listeners: readonly ProxyListener[], conflicts: readonly PortConflict[], waiting: NonNullable<ProxyReport['waiting']>, nowMs: number }): ProxyReport {
  return {
    enabled: r.proxy.enabled,
    bindIp: r.bindIp,
    balance: r.proxy.balance,
    preferLocal: r.proxy.prefer_local,
    site: r.site,
    siteFailover: r.proxy.site_failover,
    siteOrder: r.proxy.site_order,
    servicePorts: r.proxy.service_ports,
    listeners: r.listeners.map(l => listenerReport(l, r.nowMs)),
    conflicts: r.conflicts,
    ...(r.waiting.length > 0 ? { waiting: r.waiting } : {}),
  }
}
