// Whether this host's proxy routes to an instance, for explain and the UI: the static rule
// (status, ports, lifespan) plus what only the live proxy knows (passive-health ejections,
// a listener that could not open, a port held by another service, a port that waits for a
// listener or is outside [proxy] service_ports, the proxy turned off).
import type { RouteRule } from '../api/explain.ts'
import { PortRanges } from '../lib/port-ranges.ts'
import type { ProxyReport } from '../proxy/report.ts'

export function proxyRouteRule (base: RouteRule, report: () => ProxyReport | undefined): RouteRule {
  return (svc, now) => {
    const verdict = base(svc, now)
    const ports = (svc.Ports ?? []).filter(p => p.ServicePort > 0 && p.Type === 'tcp').map(p => p.ServicePort)
    if (ports.length === 0) return verdict
    const r = report()
    if (r === undefined || !r.enabled) return { routable: false, reasons: [...verdict.reasons, 'the proxy is turned off on this host ([proxy] enabled = false)'] }
    const reasons = [...verdict.reasons]
    const allowed = new PortRanges(r.servicePorts)
    for (const port of ports) {
      if (!allowed.has(port)) { reasons.push(`port ${port} is outside this host's [proxy] service_ports (${r.servicePorts.join(', ')}): not proxied here`); continue }
      const conflict = r.conflicts.find(c => c.port === port && c.ignored.includes(svc.Name))
      if (conflict !== undefined) { reasons.push(`port ${port} belongs to ${conflict.owner} (an older service on the same ServicePort)`); continue }
      if (r.waiting?.some(w => w.port === port && w.service === svc.Name) === true) { reasons.push(`port ${port} waits for a listener on this host: [proxy] max_listeners are open, for ports needed more (an instance on this host, or on more hosts)`); continue }
      const listener = r.listeners.find(l => l.port === port && l.service === svc.Name)
      if (listener === undefined) continue // not opened yet, or the static rule already says why
      if (listener.state === 'failed') reasons.push(`this host's listener on port ${port} could not open: ${listener.error ?? 'unknown error'}`)
      const backend = listener.backends.find(b => b.hostname === svc.Hostname && b.id === svc.ID)
      if (backend?.state === 'ejected') reasons.push(`ejected from port ${port} by passive health (failed requests) until ${backend.ejectedUntil ?? 'its back-off ends'}`)
    }
    return { routable: reasons.length === 0, reasons }
  }
}
