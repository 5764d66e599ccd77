// Leaf types of the service model. No I/O. Records are immutable values: the catalog
// freezes what it stores, and every change makes a new record.
import { Time } from './time.ts'
import { ServiceStatus } from './status.ts'

export interface Port {
  /** "tcp" or "udp". */
  readonly Type: string
  /** The port the instance is reachable on, at IP. */
  readonly Port: number
  /** The well-known port the proxy listens on for this service; 0 = not exported. */
  readonly ServicePort: number
  readonly IP: string
}

export interface Service {
  /** Instance id; unique per Hostname. */
  readonly ID: string
  /** Logical service name: the grouping key of proxies and the API. */
  readonly Name: string
  readonly Image: string
  readonly Created: Time
  /** The host that runs and announces the instance. */
  readonly Hostname: string
  /** null when the origin had no port list (Go's nil slice), [] when empty. */
  readonly Ports: readonly Port[] | null
  /** Version of this record, stamped by its origin; drives every merge decision. */
  readonly Updated: Time
  /** "http", "tcp", "ws", or "" when not given. */
  readonly ProxyMode: string
  readonly Status: ServiceStatus
  /** Failover site of the origin host (an extra field the original's decoders ignore). */
  readonly Site?: string
}

/** Field order of the JSON encoding (reference §1.3); Site is appended only when set. */
export const SERVICE_FIELDS = ['ID', 'Name', 'Image', 'Created', 'Hostname', 'Ports', 'Updated', 'ProxyMode', 'Status'] as const
export const PORT_FIELDS = ['Type', 'Port', 'ServicePort', 'IP'] as const

/**
 * Builds a frozen Service with its fields in wire order, so JSON.stringify of it (and of
 * anything holding it) gives the original's field order. Missing fields get zero values.
 */
export function makeService (fields: Partial<Service> & Pick<Service, 'ID' | 'Name' | 'Hostname'>): Service {
  const svc: Service = {
    ID: fields.ID,
    Name: fields.Name,
    Image: fields.Image ?? '',
    Created: fields.Created ?? Time.EPOCH,
    Hostname: fields.Hostname,
    Ports: fields.Ports === null ? null : isMadePorts(fields.Ports ?? EMPTY) ? fields.Ports ?? EMPTY : madePorts((fields.Ports ?? []).map(makePort)),
    Updated: fields.Updated ?? Time.EPOCH,
    ProxyMode: fields.ProxyMode ?? '',
    Status: fields.Status ?? ServiceStatus.UNKNOWN,
    ...(fields.Site !== undefined && fields.Site !== '' ? { Site: fields.Site } : {}),
  }
  return Object.freeze(svc)
}

/**
 * Port lists makeService built (frozen, every port made by makePort) carry this mark: a new
 * version of a record (withFields: every re-stamp, every status change) shares its
 * predecessor's list instead of copying it; 10,000 services make tens of thousands of versions
 * in their first seconds. A non-enumerable symbol property (JSON, spreads, structured clones
 * and Object.keys do not see it; no input can carry it) rather than a WeakSet: a weak table
 * with an entry per list made (dead ones too, until a collection clears them) is rehashed in
 * one piece each time it doubles, 15-75 ms at 175,000-350,000 entries (a join of 100,000 records
 * decodes that many).
 */
const MADE = Symbol('sidecar.madePorts')
const EMPTY: readonly Port[] = madePorts([])

function isMadePorts (ports: readonly Port[]): boolean {
  return (ports as { [MADE]?: true })[MADE] === true
}

function madePorts (ports: Port[]): readonly Port[] {
  Object.defineProperty(ports, MADE, { value: true })
  return Object.freeze(ports)
}

export function makePort (p: Partial<Port>): Port {
  return Object.freeze({ Type: p.Type ?? 'tcp', Port: p.Port ?? 0, ServicePort: p.ServicePort ?? 0, IP: p.IP ?? '' })
}

/** A copy of svc with some fields replaced; field order kept. */
export function withFields (svc: Service, changes: Partial<Service>): Service {
  return makeService({ ...svc, ...changes })
}

/** True iff a is strictly newer than b: the only way a record replaces another. */
export function isNewer (a: Service, b: Service | undefined): boolean {
  return b === undefined || a.Updated.isAfter(b.Updated)
}

/** The part of Image after the first ':', else the whole image ("a:b:c" -> "b"). */
export function serviceVersion (svc: Service): string {
  const parts = svc.Image.split(':')
  return parts.length > 1 ? parts[1] : svc.Image
}

/** "Service(<Name>-<ID>)": the name a discovered listener is known by. */
export function listenerName (svc: Service): string {
  return `Service(${svc.Name}-${svc.ID})`
}

/** The Port of the first port with this ServicePort and type, or undefined. */
export function portFor (svc: Service, servicePort: number, type = 'tcp'): Port | undefined {
  return svc.Ports?.find(p => p.ServicePort === servicePort && p.Type === type)
}

/** "8080->32768,9000->9000": ports as people read them. */
export function formatPorts (svc: Service): string {
  return (svc.Ports ?? []).map(p => p.ServicePort !== 0 ? `${p.ServicePort}->${p.Port}` : String(p.Port)).join(',')
}

/** A stable key for a record: (Hostname, ID). */
export function recordKey (svc: Pick<Service, 'Hostname' | 'ID'>): string {
  return `${svc.Hostname}\u0000${svc.ID}`
}
