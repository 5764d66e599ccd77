// Whether this host's proxy routes to an instance, for explain and the UI: the static rule
// (status, ports, lifespan) plus what only the live proxy knows (passive-health ejections, a
// backend stalled on requests it does not answer, a listener that could not open, a port held
// by another service, a port that waits for a listener or is outside [proxy] service_ports,
// the proxy turned off). The proxy's report is read once per document and indexed, so
// explaining a service of 10,000 instances costs O(instances), not one report (of every
// backend) per instance.
import type { RouteRule, RouteVerdict } from '../api/explain.ts'
import { PortRanges } from '../lib/port-ranges.ts'
import type { BackendReport, ListenerReport, ProxyReport } from '../proxy/report.ts'
import type { Service } from '../service/service.ts'

/** The parts of one report that a verdict looks up, by key. */
interface ReportIndex {
  report: ProxyReport
  allowed: PortRanges
  /** "port\0service" -> the service that holds the port. */
  conflicts: Map<string, string>
  waiting: Set<string>
  listeners: Map<string, ListenerReport>
  /** Each listener's backends by "hostname\0id", built when first asked for. */
  backends: Map<ListenerReport, Map<string, BackendReport>>
}

const k = (a: string | number, b: string): string => `${a}\u0000${b}`

function indexOf (report: ProxyReport): ReportIndex {
  const conflicts = new Map<string, string>()
  for (const c of report.conflicts) for (const name of c.ignored) if (!conflicts.has(k(c.port, name))) conflicts.set(k(c.port, name), c.owner)
  const listeners = new Map<string, ListenerReport>()
  for (const l of report.listeners) if (!listeners.has(k(l.port, l.service))) listeners.set(k(l.port, l.service), l)
  return {
    report,
    allowed: new PortRanges(report.servicePorts),
    conflicts,
    waiting: new Set((report.waiting ?? []).map(w => k(w.port, w.service))),
    listeners,
    backends: new Map(),
  }
}

function backendOf (ix: ReportIndex, listener: ListenerReport, svc: Service): BackendReport | undefined {
  let byKey = ix.backends.get(listener)
  if (byKey === undefined) {
    byKey = new Map()
    for (const b of listener.backends) if (!byKey.has(k(b.hostname, b.id))) byKey.set(k(b.hostname, b.id), b)
    ix.backends.set(listener, byKey)
  }
  return byKey.get(k(svc.Hostname, svc.ID))
}

export function proxyRouteRule (base: RouteRule, report: () => ProxyReport | undefined): RouteRule {
  return now => {
    const judge = base(now)
    let ix: ReportIndex | null | undefined // null: no report (the proxy is not running)
    return (svc): RouteVerdict => {
      const verdict = judge(svc)
      const ports = (svc.Ports ?? []).filter(p => p.ServicePort > 0 && p.Type === 'tcp').map(p => p.ServicePort)
      if (ports.length === 0) return verdict
      if (ix === undefined) {
        const r = report()
        ix = r === undefined ? null : indexOf(r)
      }
      if (ix === null || !ix.report.enabled) return { routable: false, reasons: [...verdict.reasons, 'the proxy is turned off on this host ([proxy] enabled = false)'] }
      const reasons = [...verdict.reasons]
      for (const port of ports) {
        if (!ix.allowed.has(port)) { reasons.push(`port ${port} is outside this host's [proxy] service_ports (${ix.report.servicePorts.join(', ')}): not proxied here`); continue }
        const owner = ix.conflicts.get(k(port, svc.Name))
        if (owner !== undefined) { reasons.push(`port ${port} belongs to ${owner} (an older service on the same ServicePort)`); continue }
        if (ix.waiting.has(k(port, svc.Name))) { reasons.push(`port ${port} waits for a listener on this host: [proxy] max_listeners are open, for ports needed more (an instance on this host, or on more hosts)`); continue }
        const listener = ix.listeners.get(k(port, svc.Name))
        if (listener === undefined) continue // not opened yet, or the static rule already says why
        if (listener.state === 'failed') reasons.push(`this host's listener on port ${port} could not open: ${listener.error ?? 'unknown error'}`)
        const backend = backendOf(ix, listener, svc)
        if (backend?.state === 'ejected') reasons.push(`ejected from port ${port} by passive health (failed requests) until ${backend.ejectedUntil ?? 'its back-off ends'}`)
        if (backend?.state === 'stalled') reasons.push(`stalled on port ${port}: requests wait on it with no answer from it since ${backend.silentSince ?? 'over [proxy] stall_timeout ago'}, so new ones go to another instance while one can take them`)
      }
      return { routable: reasons.length === 0, reasons }
    }
  }
}
