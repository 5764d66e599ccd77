// JSON codec for Service records, compatible with the Go original (reference §1):
// field order, integer statuses, nanosecond RFC 3339 timestamps. Decoding treats its
// input as untrusted: wrong types, absurd sizes and missing identity fields are rejected
// with an InvalidRecordError that names the field.
import { InvalidRecordError, InvalidTimeError } from '../lib/errors.ts'
import { makeService, makePort, type Port, type Service } from './service.ts'
import { isServiceStatus } from './status.ts'
import { Time } from './time.ts'

/** Size caps for untrusted records; a real record is far below each. */
export const RECORD_LIMITS = {
  maxRecordBytes: 64 * 1024, // one Service JSON; the original's were ~300 B and could not exceed 1.4 KB
  maxIdLength: 256,
  maxNameLength: 253, // a DNS name
  maxImageLength: 1024,
  maxHostnameLength: 253,
  maxProxyModeLength: 16,
  maxPorts: 256,
  maxIpLength: 64,
  maxSiteLength: 64,
} as const

type Json = Record<string, unknown>

/**
 * Looks a key up the way Go's encoding/json does: the exact name first, then a
 * case-insensitive match.
 */
export function field (obj: Json, name: string): unknown {
  if (Object.hasOwn(obj, name)) return obj[name]
  const lower = name.toLowerCase()
  for (const k of Object.keys(obj)) if (k.toLowerCase() === lower) return obj[k]
  return undefined
}

function str (obj: Json, name: string, max: number, required: boolean, where: string): string {
  const v = field(obj, name)
  if (v === undefined || v === null) {
    if (required) throw new InvalidRecordError(`${where}: missing field ${name}`)
    return ''
  }
  if (typeof v !== 'string') throw new InvalidRecordError(`${where}: field ${name} must be a string, got ${typeof v}`)
  if (v.length > max) throw new InvalidRecordError(`${where}: field ${name} is ${v.length} characters long, at most ${max} allowed`)
  return v
}

function int (obj: Json, name: string, min: number, max: number, where: string): number {
  const v = field(obj, name)
  if (v === undefined || v === null) return 0
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new InvalidRecordError(`${where}: field ${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`)
  }
  return v
}

function time (obj: Json, name: string, required: boolean, where: string): Time {
  const v = field(obj, name)
  if (v === undefined || v === null) {
    if (required) throw new InvalidRecordError(`${where}: missing field ${name}`)
    return Time.EPOCH
  }
  if (typeof v !== 'string') throw new InvalidRecordError(`${where}: field ${name} must be an RFC 3339 string`)
  try {
    return Time.parse(v)
  } catch (err) {
    if (err instanceof InvalidTimeError) throw new InvalidRecordError(`${where}: field ${name}: ${err.message}`, { cause: err })
    throw err
  }
}

export function decodePort (value: unknown, where = 'port'): Port {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidRecordError(`${where} must be an object`)
  const obj = value as Json
  const type = str(obj, 'Type', 8, false, where) || 'tcp'
  if (type !== 'tcp' && type !== 'udp') throw new InvalidRecordError(`${where}: field Type must be "tcp" or "udp", got ${JSON.stringify(type)}`)
  return makePort({
    Type: type,
    Port: int(obj, 'Port', 0, 65535, where),
    ServicePort: int(obj, 'ServicePort', 0, 65535, where),
    IP: str(obj, 'IP', RECORD_LIMITS.maxIpLength, false, where),
  })
}

/** Decodes one Service from parsed JSON. Throws InvalidRecordError. */
export function decodeService (value: unknown, where = 'service'): Service {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidRecordError(`${where} must be a JSON object`)
  const obj = value as Json
  const ID = str(obj, 'ID', RECORD_LIMITS.maxIdLength, true, where)
  const Hostname = str(obj, 'Hostname', RECORD_LIMITS.maxHostnameLength, true, where)
  if (ID === '') throw new InvalidRecordError(`${where}: field ID must not be empty`)
  if (Hostname === '') throw new InvalidRecordError(`${where}: field Hostname must not be empty`)
  const status = field(obj, 'Status')
  if (!isServiceStatus(status)) throw new InvalidRecordError(`${where}: field Status must be an integer from 0 to 4, got ${JSON.stringify(status)}`)
  const rawPorts = field(obj, 'Ports')
  let Ports: Port[] | null = null
  if (rawPorts !== undefined && rawPorts !== null) {
    if (!Array.isArray(rawPorts)) throw new InvalidRecordError(`${where}: field Ports must be an array`)
    if (rawPorts.length > RECORD_LIMITS.maxPorts) throw new InvalidRecordError(`${where}: ${rawPorts.length} ports, at most ${RECORD_LIMITS.maxPorts} allowed`)
    Ports = rawPorts.map((p, i) => decodePort(p, `${where}: Ports[${i}]`))
  }
  return makeService({
    ID,
    Name: str(obj, 'Name', RECORD_LIMITS.maxNameLength, true, where),
    Image: str(obj, 'Image', RECORD_LIMITS.maxImageLength, false, where),
    Created: time(obj, 'Created', false, where),
    Hostname,
    Ports,
    Updated: time(obj, 'Updated', true, where),
    ProxyMode: str(obj, 'ProxyMode', RECORD_LIMITS.maxProxyModeLength, false, where),
    Status: status,
    Site: str(obj, 'Site', RECORD_LIMITS.maxSiteLength, false, where),
  })
}

/** Parses and decodes one Service from JSON text or bytes, with the size cap. */
export function parseService (input: string | Uint8Array, where = 'service'): Service {
  const size = typeof input === 'string' ? Buffer.byteLength(input) : input.byteLength
  if (size > RECORD_LIMITS.maxRecordBytes) throw new InvalidRecordError(`${where}: ${size} bytes, at most ${RECORD_LIMITS.maxRecordBytes} allowed`)
  let value: unknown
  try {
    value = JSON.parse(typeof input === 'string' ? input : new TextDecoder('utf-8', { fatal: true }).decode(input))
  } catch (err) {
    throw new InvalidRecordError(`${where}: not valid JSON (${(err as Error).message})`, { cause: err })
  }
  return decodeService(value, where)
}

/** Compact JSON with the original's field order. */
export function encodeService (svc: Service): string {
  return JSON.stringify(makeService(svc))
}
