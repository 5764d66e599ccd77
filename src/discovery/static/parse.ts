// The static discovery file (reference §3.3): a JSON array of targets
//   { "Service": {...}, "Check": { "Type": "HttpGet", "Args": "..." }, "ListenPort": 9999 }
// Parsing is strict: the first bad entry is named with its index, and nothing is half-applied.
import { createHash } from 'node:crypto'
import { isCheckType, CHECK_TYPES } from '../../health/checks.ts'
import { decodePort } from '../../service/codec.ts'
import { InvalidRecordError, StaticFileError } from '../../lib/errors.ts'
import { Slicer } from '../../lib/slicer.ts'
import { makeService, type Port, type Service } from '../../service/service.ts'
import { ServiceStatus } from '../../service/status.ts'
import { Time } from '../../service/time.ts'
import type { Discovered } from '../types.ts'

export interface StaticContext {
  /** This daemon's hostname: the default Hostname, and the host of ListenPort URLs. */
  hostname: string
  /** IP given to ports that name none. */
  advertiseIp: string
  /** Created time of entries not seen before. */
  now: Time
  /** Created times of IDs already known, so a reload keeps them. */
  created?: ReadonlyMap<string, Time>
}

const MAX_FILE_BYTES = 4 * 1024 * 1024
const MAX_ENTRIES = 10_000
const PROXY_MODES = ['http', 'tcp', 'ws']

/** A stable 12-hex-digit ID from what identifies the entry, so restarts keep IDs (§12.18). */
export function stableId (name: string, hostname: string, ports: readonly Port[]): string {
  const key = JSON.stringify([name, hostname, ports.map(p => [p.Type, p.IP, p.Port, p.ServicePort]).sort()])
  return createHash('sha256').update(key).digest('hex').slice(0, 12)
}

/**
 * The entries are checked in slices of SLICE_MS, one per turn of the event loop (8-10 us an
 * entry here): 10,000 entries were one 100-200 ms step at start, with the API already
 * answering. JSON.parse of the whole file (at most MAX_FILE_BYTES; 15-20 ms for 10,000
 * entries) stays one step.
 */
export async function parseStaticFile (text: string, file: string, ctx: StaticContext): Promise<Discovered[]> {
  if (Buffer.byteLength(text) > MAX_FILE_BYTES) throw new StaticFileError(file, `file is larger than ${MAX_FILE_BYTES} bytes`)
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch (err) {
    throw new StaticFileError(file, `not valid JSON: ${(err as Error).message}`, { cause: err })
  }
  if (!Array.isArray(doc)) throw new StaticFileError(file, 'expected a JSON array of entries like [{"Service": {...}, "Check": {...}}]')
  if (doc.length > MAX_ENTRIES) throw new StaticFileError(file, `${doc.length} entries, at most ${MAX_ENTRIES} allowed`)
  const out: Discovered[] = []
  const ids = new Map<string, number>()
  const slicer = new Slicer()
  for (const [i, entry] of (doc as unknown[]).entries()) {
    if (slicer.due()) await slicer.next()
    const d = parseEntry(entry, i, file, ctx)
    const key = `${d.service.Hostname}/${d.service.ID}`
    const dup = ids.get(key)
    if (dup !== undefined) throw new StaticFileError(file, `entry ${i} (${d.service.Name}) duplicates entry ${dup}: same name, host and ports (give one an "ID")`)
    ids.set(key, i)
    out.push(d)
  }
  return out
}

function parseEntry (entry: unknown, i: number, file: string, ctx: StaticContext): Discovered {
  const fail = (msg: string, cause?: unknown): never => {
    throw new StaticFileError(file, `entry ${i}: ${msg}`, cause === undefined ? undefined : { cause })
  }
  if (!isObject(entry)) return fail('must be an object with a "Service" field')
  const svc = entry.Service
  if (!isObject(svc)) return fail('missing "Service" object')
  const name = svc.Name
  if (typeof name !== 'string' || name.trim() === '') return fail('Service.Name must be a non-empty string')
  const where = `entry ${i} (${name})`
  const bad = (msg: string, cause?: unknown): never => { throw new StaticFileError(file, `${where}: ${msg}`, cause === undefined ? undefined : { cause }) }
  const optString = (v: unknown, field: string, max = 1024): string | undefined => {
    if (v === undefined || v === null) return undefined
    if (typeof v !== 'string' || v.length > max) return bad(`${field} must be a string of at most ${max} characters`)
    return v
  }
  const hostname = optString(svc.Hostname, 'Service.Hostname', 253) || ctx.hostname
  const rawPorts = svc.Ports ?? []
  if (!Array.isArray(rawPorts)) return bad('Service.Ports must be an array')
  const ports: Port[] = rawPorts.map((p: unknown, j) => {
    try {
      const port = decodePort(p, `Service.Ports[${j}]`)
      if (port.Port < 1) bad(`Service.Ports[${j}].Port must be from 1 to 65535`)
      return port.IP === '' ? { ...port, IP: ctx.advertiseIp } : port
    } catch (err) {
      if (err instanceof InvalidRecordError) return bad(err.message, err)
      throw err
    }
  })
  const proxyMode = optString(svc.ProxyMode, 'Service.ProxyMode', 16) ?? 'http'
  if (!PROXY_MODES.includes(proxyMode)) bad(`Service.ProxyMode must be one of ${PROXY_MODES.join(', ')}, got ${JSON.stringify(proxyMode)}`)
  const givenId = optString(svc.ID, 'Service.ID', 128)
  if (givenId !== undefined && !/^[A-Za-z0-9_.-]+$/.test(givenId)) bad('Service.ID may hold only letters, digits, "_", "." and "-"')
  const id = givenId ?? stableId(name, hostname, ports)

  let check: Discovered['check']
  if (entry.Check !== undefined && entry.Check !== null) {
    if (!isObject(entry.Check)) return bad('Check must be an object like {"Type": "HttpGet", "Args": "http://:8080/"}')
    const type = entry.Check.Type
    if (typeof type !== 'string' || !isCheckType(type)) return bad(`Check.Type must be one of ${CHECK_TYPES.join(', ')}, got ${JSON.stringify(type)}`)
    const args = optString(entry.Check.Args, 'Check.Args', 4096) ?? ''
    if (args === '' && (type === 'HttpGet' || type === 'TcpConnect' || type === 'External')) bad(`Check.Args is required for a ${type} check`)
    check = { type, args }
  }
  let listenerUrl: string | undefined
  const lp = entry.ListenPort
  if (lp !== undefined && lp !== null && lp !== 0) {
    if (typeof lp !== 'number' || !Number.isInteger(lp) || lp < 1 || lp > 65535) return bad(`ListenPort must be an integer from 1 to 65535, got ${JSON.stringify(lp)}`)
    // the advertise IP, not the hostname as in the original: a hostname need not resolve
    listenerUrl = `http://${ctx.advertiseIp.includes(':') ? `[${ctx.advertiseIp}]` : ctx.advertiseIp}:${lp}/sidecar/update`
  }
  const service: Service = makeService({
    ID: id,
    Name: name,
    Image: optString(svc.Image, 'Service.Image') ?? '',
    Created: ctx.created?.get(id) ?? ctx.now,
    Hostname: hostname,
    Ports: ports,
    Updated: ctx.now,
    ProxyMode: proxyMode,
    Status: ServiceStatus.UNKNOWN,
  })
  return { service, ...(check !== undefined ? { check } : {}), ...(listenerUrl !== undefined ? { listenerUrl } : {}) }
}

function isObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}
