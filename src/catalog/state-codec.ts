// The whole-state JSON (reference §1.5): what /api/state.json serves and what anti-entropy
// exchanges. Encoding is byte-compatible with the Go original; decoding treats its input
// as untrusted (a peer's full state) and yields plain records for catalog.merge().
import { InvalidRecordError } from '../lib/errors.ts'
import { Slicer } from '../lib/slicer.ts'
import { decodeService, encodeService, RECORD_LIMITS, type Service, type Time } from '../service/index.ts'
import { compareGoStrings } from './rules.ts'
import type { ServerSnapshot, StateHost, StateSnapshot } from './types.ts'

/** Records accepted from one peer's state; far above any real cluster (the original had hundreds). */
export const MAX_STATE_RECORDS = 100_000

export interface DecodedState {
  /** Every record in the state, in document order; merge() keys them by their own Hostname and ID. */
  records: Service[]
  /** The sender's hostname ('' when absent). */
  hostname: string
  /** The sender's cluster name ('' when absent). */
  clusterName: string
}

type Json = Record<string, unknown>

// encoding/json escapes these inside strings (HTML safety and JS line terminators);
// they never occur outside strings in JSON, so replacing them over the whole text is safe.
const GO_ESCAPES: Record<string, string> = { '<': '\\u003c', '>': '\\u003e', '&': '\\u0026', '\u2028': '\\u2028', '\u2029': '\\u2029' }

/** Escapes <, >, &, U+2028 and U+2029 in JSON text as Go's encoding/json does. */
export function goEscape (json: string): string {
  return json.replace(/[<>&\u2028\u2029]/g, c => GO_ESCAPES[c])
}

function q (value: string | Time): string {
  return JSON.stringify(typeof value === 'string' ? value : value.toString())
}

function sortedKeys (obj: object): string[] {
  return Object.keys(obj).sort(compareGoStrings)
}

function encodeServer (server: ServerSnapshot): string {
  const services = sortedKeys(server.Services).map(id => `${q(id)}:${encodeService(server.Services[id])}`).join(',')
  return `{"Name":${q(server.Name)},"Services":{${services}},"LastUpdated":${q(server.LastUpdated)},"LastChanged":${q(server.LastChanged)}}`
}

/**
 * Compact JSON exactly as the original's ServicesState: field order Servers, LastChanged,
 * ClusterName, Hostname; Servers and each Services keyed and sorted like Go's map output
 * (by bytes, whatever the key's insertion order); no trailing newline.
 */
export function encodeState (s: StateSnapshot): string {
  const servers = sortedKeys(s.Servers).map(h => `${q(h)}:${encodeServer(s.Servers[h])}`).join(',')
  return goEscape(`{"Servers":{${servers}},"LastChanged":${q(s.LastChanged)},"ClusterName":${q(s.ClusterName)},"Hostname":${q(s.Hostname)}}`)
}

/**
 * encodeState's bytes, in parts, encoded in time slices (`slicer`, by default a Slicer) so that a state of 10,000
 * records (20-40 ms in one piece) or 100,000 never stalls the event loop. `hosts` come sorted by
 * name, each one's records by ID (both in compareGoStrings order, as catalog.stateLists() gives
 * them). The parts are the encoded blocks of each host's records (StateHost.blocks) and the text
 * between them, and they are never copied together: readers are sent them one after the other
 * (one string of 100,000 records converted at the end stalled the loop 370 ms on a 2-core
 * machine, and copying the parts into one buffer still 300 ms). A block that the last state
 * encoded with the same `memo` had as well is not encoded again (StateMemo); without one, every
 * block is.
 */
export async function encodeHostsParts (hosts: readonly StateHost[], head: StateHead, slicer: Pick<Slicer, 'due' | 'next'> = new Slicer(), memo: StateMemo = new StateMemo()): Promise<Buffer[]> {
  const out: Buffer[] = []
  let text = '{"Servers":{'
  const names = new Set<string>()
  for (const [h, host] of hosts.entries()) {
    text += `${h === 0 ? '' : ','}${q(host.name)}:{"Name":${q(host.name)},"Services":{`
    const before = memo.blocks(host.name)
    const blocks: EncodedBlock[] = []
    for (const [b, records] of host.blocks.entries()) {
      let block = before[b]
      if (block !== undefined && sameBlock(block.records, records)) {
        memo.reused++
      } else {
        let entries = ''
        for (const [i, svc] of records.entries()) {
          entries += `${b === 0 && i === 0 ? '' : ','}${q(svc.ID)}:${encodeService(svc)}`
          if (slicer.due()) await slicer.next()
        }
        block = { records, bytes: made(memo, entries) }
        memo.made++
      }
      blocks.push(block)
      if (text !== '') { out.push(made(memo, text)); text = '' }
      out.push(block.bytes)
      if (slicer.due()) await slicer.next()
    }
    memo.keep(host.name, blocks)
    names.add(host.name)
    text += `},"LastUpdated":${q(host.lastUpdated)},"LastChanged":${q(host.lastChanged)}}`
  }
  memo.retain(names)
  text += `},"LastChanged":${q(head.lastChanged)},"ClusterName":${q(head.clusterName)},"Hostname":${q(head.hostname)}}`
  out.push(made(memo, text))
  return out
}

interface StateHead { lastChanged: Time, clusterName: string, hostname: string }

interface EncodedBlock {
  /** The block of records (StateHost.blocks) the bytes encode: the very objects, as records are frozen and a change makes a new one. */
  readonly records: readonly Service[]
  /** Their entries of the host's "Services" object, escaped, with the comma before them unless the block is a host's first. */
  readonly bytes: Buffer
}

/**
 * What encodeHostsParts made last time, by host, for encoding the next state from it: a block
 * of a host's records (StateHost.blocks, STATE_BLOCK_RECORDS by position) that is the same
 * array, or holds the same record objects, as at the same position last time is sent as the
 * same bytes.
 * A state in which one record of 10,000 changed costs one block (0.06-0.3 ms, 35 KB) instead
 * of all of them (14-15 ms of CPU on a quiet machine, and 2.5 MB of garbage). A record that comes or goes shifts
 * the blocks after it, which are made again. Holds one state's bytes at most; safe to share
 * between encodings running at the same time (a block is reused only on an exact match).
 */
export class StateMemo {
  readonly #hosts = new Map<string, readonly EncodedBlock[]>()
  /** Blocks reused and made since the memo was created. */
  reused = 0
  made = 0
  /** Bytes of the Buffers made by encodings with this memo (new blocks and the text between them): what they left as garbage later. */
  madeBytes = 0

  blocks (host: string): readonly EncodedBlock[] { return this.#hosts.get(host) ?? [] }
  keep (host: string, blocks: readonly EncodedBlock[]): void { this.#hosts.set(host, blocks) }
  /** Forgets the hosts that the last state did not have. */
  retain (names: ReadonlySet<string>): void {
    for (const name of this.#hosts.keys()) if (!names.has(name)) this.#hosts.delete(name)
  }
}

/** True when block holds the very record objects of records[start, end) (the same array, or equal references). */
export function sameBlock (block: readonly Service[], records: readonly Service[], start = 0, end = records.length): boolean {
  if (block.length !== end - start) return false
  if (block === records) return true
  for (let i = start; i < end; i++) if (block[i - start] !== records[i]) return false
  return true
}

function made (memo: StateMemo, text: string): Buffer {
  const bytes = Buffer.from(goEscape(text))
  memo.madeBytes += bytes.length
  return bytes
}

function isObject (v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Key lookup as Go's encoding/json: exact name first, then case-insensitive. */
function field (obj: Json, name: string): unknown {
  if (Object.hasOwn(obj, name)) return obj[name]
  const lower = name.toLowerCase()
  for (const k of Object.keys(obj)) if (k.toLowerCase() === lower) return obj[k]
  return undefined
}

function optionalString (obj: Json, name: string, max: number): string {
  const v = field(obj, name)
  if (v === undefined || v === null) return ''
  if (typeof v !== 'string') throw new InvalidRecordError(`state: field ${name} must be a string, got ${typeof v}`)
  if (v.length > max) throw new InvalidRecordError(`state: field ${name} is ${v.length} characters long, at most ${max} allowed`)
  return v
}

/** A map key for error messages: quoted, and cut short so a hostile key cannot flood logs. */
function label (key: string): string {
  return JSON.stringify(key.length > 64 ? `${key.slice(0, 64)}…` : key)
}

/**
 * Decodes a peer's full state (parsed JSON). Throws InvalidRecordError naming the bad
 * entry: wrong shapes, any bad record, or more than maxRecords records (default
 * MAX_STATE_RECORDS). As in the original, the map keys are not checked against the
 * records: each record is keyed by its own Hostname and ID when merged. Servers or
 * Services that are null count as empty.
 */
export function decodeState (value: unknown, limits: { maxRecords?: number } = {}): DecodedState {
  const maxRecords = limits.maxRecords ?? MAX_STATE_RECORDS
  if (!Number.isInteger(maxRecords) || maxRecords < 0) throw new RangeError(`maxRecords must be a non-negative integer, got ${maxRecords}`)
  if (!isObject(value)) throw new InvalidRecordError('state must be a JSON object')
  const hostname = optionalString(value, 'Hostname', RECORD_LIMITS.maxHostnameLength)
  const clusterName = optionalString(value, 'ClusterName', RECORD_LIMITS.maxNameLength)
  const records: Service[] = []
  const servers = field(value, 'Servers')
  if (servers === undefined || servers === null) return { records, hostname, clusterName }
  if (!isObject(servers)) throw new InvalidRecordError('state: field Servers must be an object')
  for (const host of Object.keys(servers)) {
    const where = `state: Servers[${label(host)}]`
    const server = servers[host]
    if (server === null) continue
    if (!isObject(server)) throw new InvalidRecordError(`${where} must be an object`)
    const services = field(server, 'Services')
    if (services === undefined || services === null) continue
    if (!isObject(services)) throw new InvalidRecordError(`${where}: field Services must be an object`)
    for (const id of Object.keys(services)) {
      if (records.length >= maxRecords) throw new InvalidRecordError(`state: more than ${maxRecords} records, at most ${maxRecords} allowed`)
      records.push(decodeService(services[id], `${where}.Services[${label(id)}]`))
    }
  }
  return { records, hostname, clusterName }
}
