// GET /api/services/<name>/explain.json: for each instance of a service, why this host
// would or would not send it traffic. The first thing an operator asks when traffic does
// not reach an instance; the UI's details view shows it.
import { expiryAfterMs, type Catalog, type Report } from '../catalog/index.ts'
import type { CheckState } from '../health/monitor.ts'
import { ServiceStatus, statusString } from '../service/status.ts'
import type { Service } from '../service/service.ts'
import type { Time } from '../service/time.ts'
import { redactCheckArgs, redactText } from '../lib/redact.ts'
import { PartWriter } from '../lib/json-parts.ts'
import { Slicer } from '../lib/slicer.ts'

export interface Lifespans {
  aliveLifespanMs: number
  drainingLifespanMs: number
  tombstoneLifespanMs: number
}

export interface RouteVerdict {
  readonly routable: boolean
  /** Why not, for people; empty when routable. */
  readonly reasons: readonly string[]
}

/**
 * Decides whether this host routes to instances; the proxy may supply its own (passive health,
 * ...). Prepared once per document, at `now` (it may read the proxy's whole state then), and
 * then asked per instance: a service can have thousands of instances.
 */
export type RouteRule = (now: Time) => (svc: Service) => RouteVerdict

const STATUS_REASON: Record<number, string> = {
  [ServiceStatus.TOMBSTONE]: 'status Tombstone: the instance is gone',
  [ServiceStatus.UNHEALTHY]: 'status Unhealthy: its health check fails on its host',
  [ServiceStatus.UNKNOWN]: 'status Unknown: its host has no health check result for it yet',
  [ServiceStatus.DRAINING]: 'status Draining: an operator drained it',
}

function seconds (ms: number): number { return Math.round(ms / 100) / 10 }

/**
 * The original's proxy rule (reference §7.1): only ALIVE instances with at least one
 * exported port (ServicePort > 0) get traffic; and a record past its lifespan is about to
 * be tombstoned, so it is not trusted either.
 */
export function defaultRouteRule (lifespans: Lifespans): RouteRule {
  return now => svc => {
    const reasons: string[] = []
    const status = STATUS_REASON[svc.Status]
    if (status !== undefined) reasons.push(status)
    if (!(svc.Ports ?? []).some(p => p.ServicePort > 0)) reasons.push('no port has a ServicePort, so no proxy listener carries it')
    if (svc.Status !== ServiceStatus.TOMBSTONE) {
      const age = now.toMillis() - svc.Updated.toMillis()
      const lifespan = expiryAfterMs(svc, lifespans)
      if (age > lifespan) reasons.push(`not refreshed for ${seconds(age)} s, past its ${seconds(lifespan)} s lifespan: it is about to be tombstoned`)
    }
    return { routable: reasons.length === 0, reasons }
  }
}

export interface ExplainComponents {
  catalog: Catalog
  lifespans: Lifespans
  route: RouteRule
  /** The local health check of a service ID (local instances only). */
  check: (id: string) => CheckState | undefined
  /** True iff an operator drained this local instance. */
  isDrained: (svc: Service) => boolean
  now: () => Time
}

function checkView (state: CheckState | undefined): Record<string, unknown> | null {
  if (state === undefined) return null
  return {
    type: state.type,
    args: redactCheckArgs(state.type, state.args), // never a password, token or command line (redact.ts)
    ok: state.lastResult?.ok ?? null,
    error: state.lastResult?.error === undefined ? null : redactText(state.lastResult.error),
    checkedAt: state.lastCheckedAt ?? null,
    waiting: state.waiting ?? null,
    consecutiveFailures: state.consecutiveFailures,
    consecutiveSuccesses: state.consecutiveSuccesses,
  }
}

function reportView (report: Report | undefined): { reportedBy: string | null, reportedAt: Time | null } {
  return { reportedBy: report?.from ?? null, reportedAt: report?.at ?? null }
}

/** One instance's entry: its record, whether this host routes to it and why not, its check and age. */
function instanceView (c: ExplainComponents, route: (svc: Service) => RouteVerdict, now: Time, svc: Service): Record<string, unknown> {
  const isLocal = svc.Hostname === c.catalog.hostname
  const verdict = route(svc)
  const check = isLocal ? checkView(c.check(svc.ID)) : null
  const reasons = [...verdict.reasons]
  if (check?.error !== null && check?.error !== undefined && svc.Status !== ServiceStatus.ALIVE) reasons.push(`last check: ${String(check.error)}`)
  if (typeof check?.waiting === 'string' && svc.Status === ServiceStatus.UNKNOWN) reasons.push(`waiting: ${check.waiting}`)
  const lifespan = expiryAfterMs(svc, c.lifespans)
  const age = now.toMillis() - svc.Updated.toMillis()
  return {
    service: svc,
    status: statusString(svc.Status),
    local: isLocal,
    drained: isLocal && c.isDrained(svc),
    routable: verdict.routable,
    reasons,
    check,
    checkedBy: isLocal ? 'this host' : `${svc.Hostname} (checks run on the instance's own host)`,
    ...reportView(c.catalog.reportOf(svc.Hostname, svc.ID)),
    ageSeconds: seconds(age),
    lifespanSeconds: seconds(lifespan),
    expiresInSeconds: seconds(lifespan - age),
  }
}

/** The explain document of one service name, or undefined when no instance has that name. */
export function explainService (c: ExplainComponents, name: string): Record<string, unknown> | undefined {
  const instances = c.catalog.services().filter(s => s.Name === name)
  if (instances.length === 0) return undefined
  const now = c.now()
  const route = c.route(now)
  return { name, hostname: c.catalog.hostname, time: now, instances: instances.map(svc => instanceView(c, route, now, svc)) }
}

/**
 * explainService() as 2-space indented JSON, the same bytes, built in time slices (one
 * instance's entry at a time, yielding to the event loop between slices): a service of 9,000
 * instances is a 9 MB document that took 180-430 ms in one piece, during which the daemon
 * answered nothing, not even its health checks' sockets.
 */
export async function explainParts (c: ExplainComponents, name: string): Promise<Buffer[] | undefined> {
  const instances = c.catalog.services().filter(s => s.Name === name)
  if (instances.length === 0) return undefined
  const now = c.now()
  const route = c.route(now)
  const out = new PartWriter()
  out.add(`{\n  "name": ${JSON.stringify(name)},\n  "hostname": ${JSON.stringify(c.catalog.hostname)},\n  "time": ${JSON.stringify(now)},\n  "instances": [`)
  const slicer = new Slicer()
  for (const [i, svc] of instances.entries()) {
    if (slicer.due()) await slicer.next()
    out.add(`${i > 0 ? ',' : ''}\n    ${JSON.stringify(instanceView(c, route, now, svc), null, 2).replaceAll('\n', '\n    ')}`)
  }
  out.add('\n  ]\n}')
  return out.finish()
}
