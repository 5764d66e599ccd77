// Which listeners the catalog asks for (pure): one per (service name, TCP ServicePort != 0)
// held by a live record, with the backends that port points at, and the port-conflict rule.
import { compareGoStrings } from '../catalog/rules.ts'
import { ServiceStatus, type Port, type Service, type Time } from '../service/index.ts'

export type ProxyMode = 'http' | 'ws' | 'tcp'

/** One instance's address for one ServicePort, as the pool needs it. */
export interface BackendSpec {
  /** Stable across catalog updates: (Hostname, ID, IP:Port). */
  readonly key: string
  readonly hostname: string
  readonly id: string
  readonly ip: string
  readonly port: number
  /** '' when the origin host has none. */
  readonly site: string
  readonly status: ServiceStatus
}

export interface ListenerPlan {
  readonly port: number
  readonly name: string
  readonly mode: ProxyMode
  /** Every non-tombstone instance of `name` with a TCP port at this ServicePort, by key. */
  readonly backends: readonly BackendSpec[]
}

/** Two or more names on one ServicePort: owner keeps it, the others are not proxied there. */
export interface PortConflict {
  readonly port: number
  readonly owner: string
  readonly ignored: readonly string[]
}

export interface Plan {
  /** By ascending port. */
  readonly listeners: readonly ListenerPlan[]
  readonly conflicts: readonly PortConflict[]
}

/** '' and unknown values mean http, as the Docker and static discoverers default to. */
export function normalizeMode (mode: string): ProxyMode {
  const m = mode.toLowerCase()
  return m === 'tcp' || m === 'ws' ? m : 'http'
}

/** The address to dial: the port's IP, else the hostname (as the original's ipFor). */
export function backendSpec (svc: Service, port: number, ip: string): BackendSpec {
  const host = ip !== '' ? ip : svc.Hostname
  return {
    key: `${svc.Hostname}\u0000${svc.ID}\u0000${host}:${port}`,
    hostname: svc.Hostname,
    id: svc.ID,
    ip: host,
    port,
    site: svc.Site ?? '',
    status: svc.Status,
  }
}

/**
 * The backend spec of each record (immutable) at each ServicePort, made once: a port of 9,000
 * instances is planned again at every change of one of them, and making 9,000 specs (key
 * strings and all) each time was about half of that plan's time (8-17 ms, now about 5).
 */
const SPECS = new WeakMap<Service, { readonly servicePort: number, readonly spec: BackendSpec, more?: Map<number, BackendSpec> }>()

function specOf (svc: Service, servicePort: number, p: Port): BackendSpec {
  const made = SPECS.get(svc)
  if (made === undefined) {
    const spec = backendSpec(svc, p.Port, p.IP)
    SPECS.set(svc, { servicePort, spec })
    return spec
  }
  if (made.servicePort === servicePort) return made.spec
  made.more ??= new Map()
  let spec = made.more.get(servicePort)
  if (spec === undefined) made.more.set(servicePort, spec = backendSpec(svc, p.Port, p.IP))
  return spec
}

interface Claim {
  readonly name: string
  readonly port: number
  readonly records: Service[]
  readonly backends: BackendSpec[]
}

/**
 * Orders claims on one port: the name whose oldest record was created first wins, ties to the
 * name that sorts first, so every host picks the same owner. "Oldest" is by Created, not by
 * Updated as the original's Envoy mode did: live records are re-stamped every second (without
 * a change event), so Updated would hand the port back and forth, and hosts that planned the
 * port at different moments would disagree; for the same reason Updated does not break ties.
 */
export function compareClaims (a: { name: string, records: readonly Service[] }, b: { name: string, records: readonly Service[] }): number {
  return firstCreated(a.records).compare(firstCreated(b.records)) || compareGoStrings(a.name, b.name)
}

/** The earliest Created of some records (at least one). */
export function firstCreated (records: Iterable<Service>): Time {
  let best: Time | undefined
  for (const r of records) if (best === undefined || r.Created.isBefore(best)) best = r.Created
  return best as Time
}

/**
 * The mode of a name: the newest ALIVE record's ProxyMode, else the newest record's (the
 * original took an arbitrary record's, even a dead one's: §12.24). Newest by Created (the
 * instance deployed last), ties to the first by Hostname, then ID: not by Updated, which a
 * refresh moves without a change event, so the mode would depend on when a host last planned
 * the port.
 */
export function modeOf (records: readonly Service[]): ProxyMode {
  let best: Service | undefined
  for (const r of records) {
    const alive = r.Status === ServiceStatus.ALIVE
    const bestAlive = best?.Status === ServiceStatus.ALIVE
    if (best === undefined || (alive && !bestAlive) || (alive === bestAlive && newer(r, best))) best = r
  }
  return normalizeMode(best?.ProxyMode ?? '')
}

function newer (a: Service, b: Service): boolean {
  return a.Created.isAfter(b.Created) || (a.Created.equals(b.Created) && (compareGoStrings(a.Hostname, b.Hostname) || compareGoStrings(a.ID, b.ID)) < 0)
}

/**
 * The ServicePorts a record asks listeners for: each TCP ServicePort other than 0 with a
 * port behind it, once; none for a tombstone (it holds no port) and none for UDP.
 */
export function proxiedPorts (svc: Service): number[] {
  const out: number[] = []
  if (svc.Status === ServiceStatus.TOMBSTONE) return out
  for (const p of svc.Ports ?? []) {
    if (isProxied(p) && !out.includes(p.ServicePort)) out.push(p.ServicePort)
  }
  return out
}

/** A port a listener can forward to: TCP, with a ServicePort and a port behind it. */
function isProxied (p: Port): boolean {
  return p.Type === 'tcp' && p.ServicePort !== 0 && p.Port !== 0
}

/**
 * The backend a record gives the listener of one ServicePort (its first proxied port there),
 * or undefined when it gives none (a tombstone, or no such TCP port).
 */
export function portSpec (svc: Service, port: number): BackendSpec | undefined {
  if (svc.Status === ServiceStatus.TOMBSTONE) return undefined
  const p = (svc.Ports ?? []).find(x => x.ServicePort === port && isProxied(x))
  return p === undefined ? undefined : specOf(svc, port, p)
}

/**
 * The listener one ServicePort gets from the records that claim it (records that do not are
 * skipped), and the conflict when several names claim it; undefined when none does. A record
 * whose Ports hold that ServicePort twice is taken at the first.
 */
export function planPort (port: number, records: Iterable<Service>): { listener: ListenerPlan, conflict?: PortConflict } | undefined {
  const byName = new Map<string, Claim>()
  for (const svc of records) {
    const spec = portSpec(svc, port)
    if (spec === undefined) continue
    let claim = byName.get(svc.Name)
    if (claim === undefined) byName.set(svc.Name, claim = { name: svc.Name, port, records: [], backends: [] })
    claim.records.push(svc)
    claim.backends.push(spec)
  }
  if (byName.size === 0) return undefined
  const ranked = [...byName.values()].sort(compareClaims)
  const owner = ranked[0]
  const listener: ListenerPlan = { port, name: owner.name, mode: modeOf(owner.records), backends: owner.backends.sort((a, b) => compareGoStrings(a.key, b.key)) }
  return ranked.length > 1 ? { listener, conflict: { port, owner: owner.name, ignored: ranked.slice(1).map(c => c.name) } } : { listener }
}

/**
 * Builds the plan from every record (any order). Each port of each record is taken on its
 * own, so instances whose port sets differ are all used where they match (§12.24). UDP
 * ports and ServicePort 0 are never proxied; tombstones hold no port.
 */
export function planListeners (records: Iterable<Service>): Plan {
  const byPort = new Map<number, Service[]>()
  for (const svc of records) {
    for (const port of proxiedPorts(svc)) {
      let list = byPort.get(port)
      if (list === undefined) byPort.set(port, list = [])
      list.push(svc)
    }
  }
  const listeners: ListenerPlan[] = []
  const conflicts: PortConflict[] = []
  for (const port of [...byPort.keys()].sort((a, b) => a - b)) {
    const planned = planPort(port, byPort.get(port) as Service[])
    if (planned === undefined) continue
    listeners.push(planned.listener)
    if (planned.conflict !== undefined) conflicts.push(planned.conflict)
  }
  return { listeners, conflicts }
}
