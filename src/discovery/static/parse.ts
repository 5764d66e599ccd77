// The static discovery file (reference §3.3): a JSON array of targets
//   { "Service": {...}, "Check": { "Type": "HttpGet", "Args": "..." }, "ListenPort": 9999 }
// Parsing is strict: the first bad entry is named with its index, and nothing is half-applied.
import { createHash } from 'node:crypto'
import { isIP } from 'node:net'
import { didYouMean } from '../../lib/suggest.ts'
import { isCheckType, CHECK_TYPES } from '../../health/checks.ts'
import { decodePort, field, RECORD_LIMITS } from '../../service/codec.ts'
import { InvalidRecordError, StaticFileError } from '../../lib/errors.ts'
import { Slicer } from '../../lib/slicer.ts'
import { makeService, type Port, type Service } from '../../service/service.ts'
import { ServiceStatus } from '../../service/status.ts'
import { Time } from '../../service/time.ts'
import type { Discovered } from '../types.ts'
import { warnLocalOnly } from './warnings.ts'

export interface StaticContext {
  /** This daemon's hostname: the default Hostname, and the host of ListenPort URLs. */
  hostname: string
  /** IP given to ports that name none. */
  advertiseIp: string
  /** Created time of entries not seen before. */
  now: Time
  /** Created times of IDs already known, so a reload keeps them. */
  created?: ReadonlyMap<string, Time>
  /** [sidecar] backend_cidrs: port IPs peers admit besides advertiseIp (for the warning of one they refuse). */
  backendCidrs?: readonly string[]
  /** Told what is accepted but will not work as the file may mean (an entry for another host, a port IP peers refuse). */
  warn?: (message: string) => void
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
 * The file is read in slices of SLICE_MS, one per turn of the event loop: 10,000 entries were
 * one 100-200 ms step at start, with the API already answering, and a JSON.parse of the whole
 * file one of 15-40 ms (garbage collection included). So its top-level array is cut into the
 * entries' texts (ArrayScanner), each entry is given to JSON.parse on its own, and only then
 * are the entries checked. JSON.parse still judges every byte of every entry; a file that is
 * not valid JSON, or not an array, goes to JSON.parse whole, so its error reads as before, and
 * nothing is checked before the whole file is known to be JSON, as before.
 */
export async function parseStaticFile (text: string, file: string, ctx: StaticContext): Promise<Discovered[]> {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1) // a byte order mark, as some editors write
  if (Buffer.byteLength(text) > MAX_FILE_BYTES) throw new StaticFileError(file, `file is larger than ${MAX_FILE_BYTES} bytes`)
  const slicer = new Slicer()
  let doc = await parseArraySliced(text, slicer)
  if (doc === undefined) {
    let whole: unknown
    try {
      whole = JSON.parse(text)
    } catch (err) {
      throw new StaticFileError(file, `not valid JSON: ${(err as Error).message}`, { cause: err })
    }
    if (!Array.isArray(whole)) throw new StaticFileError(file, 'expected a JSON array of entries like [{"Service": {...}, "Check": {...}}]')
    if (whole.length > MAX_ENTRIES) throw new StaticFileError(file, `${whole.length} entries, at most ${MAX_ENTRIES} allowed`)
    doc = whole // not expected (the sliced parse gave up on a valid array of few enough entries), but the whole parse stands
  }
  const out: Discovered[] = []
  const ids = new Map<string, number>()
  for (const [i, entry] of doc.entries()) {
    if (slicer.due()) await slicer.next()
    const d = parseEntry(entry, i, file, ctx)
    const key = `${d.service.Hostname}/${d.service.ID}`
    const dup = ids.get(key)
    if (dup !== undefined) {
      // an ID that is not the one derived from the entry was given in the file
      const given = d.service.ID !== stableId(d.service.Name, d.service.Hostname, d.service.Ports ?? [])
      throw new StaticFileError(file, given
        ? `entry ${i} (${d.service.Name}) has the ID ${JSON.stringify(d.service.ID)} of entry ${dup}: IDs must differ`
        : `entry ${i} (${d.service.Name}) duplicates entry ${dup}: same name, host and ports (give one an "ID")`)
    }
    ids.set(key, i)
    out.push(d)
  }
  warnLocalOnly(out.map((d, i) => ({ where: entryName(i, d.service.Name), service: d.service })), file, ctx)
  return out
}

function entryName (i: number, name: string): string {
  return `entry ${i} (${name})`
}

/**
 * The elements of a top-level JSON array, each parsed by JSON.parse, in slices; undefined when
 * the text is not a valid array of at most MAX_ENTRIES (the caller then asks JSON.parse why).
 */
async function parseArraySliced (text: string, slicer: Slicer): Promise<unknown[] | undefined> {
  const scanner = new ArrayScanner(text)
  const out: unknown[] = []
  for (let range = scanner.next(); range !== undefined; range = scanner.next()) {
    if (out.length === MAX_ENTRIES) return undefined
    try {
      out.push(JSON.parse(text.slice(range[0], range[1])))
    } catch {
      return undefined
    }
    if (slicer.due()) await slicer.next()
  }
  return scanner.valid ? out : undefined
}

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]) // JSON's whitespace
const [QUOTE, BACKSLASH, COMMA, OPEN_ARRAY, CLOSE_ARRAY, OPEN_OBJECT, CLOSE_OBJECT] = [...'"\\,[]{}'].map(c => c.charCodeAt(0))

/**
 * Cuts the text of a top-level JSON array into its elements' texts, without judging them:
 * it follows only brackets, braces, commas and strings (a quote inside a string is escaped).
 * Whatever it lets through, JSON.parse rejects if it is not JSON: an element with a stray
 * bracket or an unclosed string is cut wrong, and a text cut wrong does not parse. `valid`
 * turns true once the closing bracket was reached with only whitespace after it.
 */
export class ArrayScanner {
  readonly #text: string
  #pos = 0
  #started = false
  #done = false
  valid = false

  constructor (text: string) {
    this.#text = text
  }

  /** The next element's [start, end), or undefined at the end (or at a text that is no array). */
  next (): [number, number] | undefined {
    if (this.#done) return undefined
    const t = this.#text
    if (!this.#started) {
      this.#started = true
      this.#skipSpace()
      if (t.charCodeAt(this.#pos) !== OPEN_ARRAY) return this.#stop(false)
      this.#pos++
      this.#skipSpace()
      if (t.charCodeAt(this.#pos) === CLOSE_ARRAY) { this.#pos++; return this.#stop(this.#restIsSpace()) }
    }
    const start = this.#pos
    let depth = 0
    for (let i = this.#pos; i < t.length; i++) {
      const c = t.charCodeAt(i)
      if (c === QUOTE) {
        i = this.#stringEnd(i)
        if (i < 0) return this.#stop(false)
      } else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
        depth++
      } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) {
        if (depth === 0) {
          if (c !== CLOSE_ARRAY) return this.#stop(false)
          this.#pos = i + 1
          this.#done = true
          this.valid = this.#restIsSpace()
          return [start, i]
        }
        depth--
      } else if (c === COMMA && depth === 0) {
        this.#pos = i + 1
        return [start, i]
      }
    }
    return this.#stop(false) // no closing bracket
  }

  /** The index of the quote that closes the string opened at `open`, or -1. */
  #stringEnd (open: number): number {
    const t = this.#text
    for (let q = t.indexOf('"', open + 1); q >= 0; q = t.indexOf('"', q + 1)) {
      let backslashes = 0
      while (t.charCodeAt(q - 1 - backslashes) === BACKSLASH) backslashes++
      if (backslashes % 2 === 0) return q
    }
    return -1
  }

  #skipSpace (): void {
    while (WS.has(this.#text.charCodeAt(this.#pos))) this.#pos++
  }

  #restIsSpace (): boolean {
    this.#skipSpace()
    return this.#pos === this.#text.length
  }

  #stop (valid: boolean): undefined {
    this.#done = true
    this.valid = valid
    return undefined
  }
}

// The keys of an entry and of its objects. Matched whatever their case, as the original's JSON
// decoding does; any other key is an error (a typo such as "Chek" would otherwise leave a
// service with no check, reported ALIVE).
export const ENTRY_KEYS = ['Service', 'Check', 'ListenPort'] as const
/** Created, Updated, Status and Site are a record's fields that the daemon sets itself: accepted (a record copied from /services.json) and ignored. */
export const SERVICE_KEYS = ['ID', 'Name', 'Image', 'Hostname', 'Ports', 'ProxyMode', 'Created', 'Updated', 'Status', 'Site'] as const
export const CHECK_KEYS = ['Type', 'Args'] as const

/**
 * obj with its keys in their canonical case; an unknown or repeated key is an error
 * (`fail` gets the message).
 */
function canonical (obj: Record<string, unknown>, keys: readonly string[], what: string, fail: (msg: string) => never): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(obj)) {
    const key = keys.find(c => c.toLowerCase() === k.toLowerCase())
    if (key === undefined) return fail(`unknown key ${JSON.stringify(k)} in ${what}${didYouMean(k, keys.map(c => c.toLowerCase()), c => JSON.stringify(keys.find(x => x.toLowerCase() === c)))} (known: ${keys.join(', ')})`)
    if (Object.hasOwn(out, key)) return fail(`${what} has ${JSON.stringify(key)} twice (keys are matched whatever their case)`)
    out[key] = v
  }
  return out
}

function parseEntry (rawEntry: unknown, i: number, file: string, ctx: StaticContext): Discovered {
  const fail = (msg: string, cause?: unknown): never => {
    throw new StaticFileError(file, `entry ${i}: ${msg}`, cause === undefined ? undefined : { cause })
  }
  if (!isObject(rawEntry)) return fail('must be an object with a "Service" field')
  const entry = canonical(rawEntry, ENTRY_KEYS, 'the entry', fail)
  if (!isObject(entry.Service)) return fail('missing "Service" object')
  const svc = canonical(entry.Service, SERVICE_KEYS, 'Service', fail)
  const name = svc.Name
  if (typeof name !== 'string' || name.trim() === '') return fail('Service.Name must be a non-empty string')
  if (name.length > RECORD_LIMITS.maxNameLength) return fail(`Service.Name is ${name.length} characters long, at most ${RECORD_LIMITS.maxNameLength} allowed (peers refuse a longer one)`)
  const where = entryName(i, name)
  const bad = (msg: string, cause?: unknown): never => { throw new StaticFileError(file, `${where}: ${msg}`, cause === undefined ? undefined : { cause }) }
  const optString = (v: unknown, field: string, max = 1024): string | undefined => {
    if (v === undefined || v === null) return undefined
    if (typeof v !== 'string' || v.length > max) return bad(`${field} must be a string of at most ${max} characters`)
    return v
  }
  // another host's name is taken (the original's services "for a third party"), with a warning: warnings.ts
  const hostname = optString(svc.Hostname, 'Service.Hostname', 253) || ctx.hostname
  const rawPorts = svc.Ports ?? []
  if (!Array.isArray(rawPorts)) return bad('Service.Ports must be an array')
  if (rawPorts.length > RECORD_LIMITS.maxPorts) return bad(`${rawPorts.length} ports, at most ${RECORD_LIMITS.maxPorts} allowed (peers refuse a record with more)`)
  const ports: Port[] = rawPorts.map((p: unknown, j) => {
    try {
      const given = isObject(p) ? field(p, 'Port') : undefined
      if (typeof given === 'number' && (given < 1 || given > 65535)) bad(`Service.Ports[${j}].Port must be from 1 to 65535, got ${given}`)
      const port = decodePort(p, `Service.Ports[${j}]`)
      if (port.Port < 1) bad(`Service.Ports[${j}].Port must be from 1 to 65535`)
      if (port.IP !== '' && isIP(port.IP) === 0) bad(`Service.Ports[${j}].IP must be an IPv4 or IPv6 address, got ${JSON.stringify(port.IP)}`)
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
  // a path segment "." or ".." (also as %2E) is resolved away before routing, as Go's ServeMux did: no drain URL could name it
  if (givenId === '.' || givenId === '..') bad(`Service.ID may not be ${JSON.stringify(givenId)}: /api/services/<id>/drain could not name it (the URL path is cleaned of "." and ".." segments); give it a letter or digit`)
  const id = givenId ?? stableId(name, hostname, ports)

  let check: Discovered['check']
  if (entry.Check !== undefined && entry.Check !== null) {
    if (!isObject(entry.Check)) return bad('Check must be an object like {"Type": "HttpGet", "Args": "http://:8080/"}')
    const checkObj = canonical(entry.Check, CHECK_KEYS, 'Check', bad)
    const type = checkObj.Type
    if (typeof type !== 'string' || !isCheckType(type)) return bad(`Check.Type must be one of ${CHECK_TYPES.join(', ')}, got ${JSON.stringify(type)}`)
    const args = optString(checkObj.Args, 'Check.Args', 4096) ?? ''
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
