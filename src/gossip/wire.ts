// The gossip wire format: bytes <-> records. Every gossip message and every anti-entropy
// frame is one envelope:
//
//   byte 0     format version (WIRE_VERSION)
//   byte 1     kind (KIND.*)
//   bytes 2..  UTF-8 JSON: an array of Service records (records, chunk) or a header object
//
// Decoding treats its input as untrusted: size, version, kind, JSON shape, every record
// (service/codec.ts decodeService) and timestamps absurdly far in the future are checked;
// anything wrong throws a WireError that names a reason, for the rejection metric.
import { InvalidRecordError } from '../lib/errors.ts'
import { decodeService, encodeService, RECORD_LIMITS, type Service, type Time } from '../service/index.ts'
import type { Proof, SealedRecord } from './proof.ts'

/** 2: records carry origin proofs (proof.ts); a node of version 1 sent none and is refused with a clear reason. */
export const WIRE_VERSION = 2

export const KIND = {
  /** A gossip message: records published by their origin (or an observer's tombstones). */
  records: 1,
  /** Anti-entropy: the sender's identity and member list, first frame of a state transfer. */
  header: 2,
  /** Anti-entropy: a slice of the sender's records. */
  chunk: 3,
  /** Anti-entropy: the sender's state is complete. */
  end: 4,
} as const
export type Kind = typeof KIND[keyof typeof KIND]

export const WIRE_LIMITS = {
  /** One gossip message: twice the largest valid record, so any valid record fits alone. */
  maxMessageBytes: 2 * RECORD_LIMITS.maxRecordBytes,
  /** One anti-entropy frame: far below the size at which one libp2p stream write hangs (3 MB). */
  maxFrameBytes: 1024 * 1024,
  /** Records per anti-entropy chunk: parsing and merging one takes a few ms, so the event loop stays free. */
  recordsPerChunk: 250,
  /**
   * A frame holding a record stamped further ahead than this is garbage as a whole. The
   * per-record bound is much tighter (admission.ts MAX_FUTURE_SKEW_MS) and refuses only the record.
   */
  maxFutureMs: 5 * 60_000,
  /** Members listed in one header; far above any cluster this is built for. */
  maxMembers: 4096,
  /** Addresses per listed member. */
  maxAddrs: 16,
  maxAddrLength: 256,
} as const

export type RejectReason = 'size' | 'version' | 'kind' | 'json' | 'shape' | 'record' | 'future'

/** A message or frame that is not a valid envelope; reason feeds the rejection metric. */
export class WireError extends InvalidRecordError {
  readonly reason: RejectReason
  constructor (reason: RejectReason, message: string, options?: ErrorOptions) {
    super(message, options)
    this.reason = reason
  }
}

/** One peer as an anti-entropy header lists it. */
export interface MemberInfo {
  /** libp2p peer id (base58). */
  readonly id: string
  readonly addrs: readonly string[]
}

export interface Header {
  readonly hostname: string
  readonly clusterName: string
  readonly members: readonly MemberInfo[]
  /** How many records the chunks that follow hold. */
  readonly records: number
}

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

function envelope (kind: Kind, json: string): Uint8Array {
  const body = encoder.encode(json)
  const out = new Uint8Array(body.byteLength + 2)
  out[0] = WIRE_VERSION
  out[1] = kind
  out.set(body, 2)
  return out
}

/** Anything encodeRecords takes: a bare record (sent without a proof) or a sealed one. */
export type WireRecord = Service | SealedRecord

function isSealed (r: WireRecord): r is SealedRecord {
  return (r as SealedRecord).svc !== undefined
}

/** One record's wire JSON: the record's fields, then its proof (a field the JSON API never shows). */
export function encodeWireRecord (r: WireRecord): string {
  if (!isSealed(r)) return encodeService(r)
  const json = encodeService(r.svc)
  if (r.proof === undefined) return json
  return `${json.slice(0, -1)},"Proof":${JSON.stringify({ Peer: r.proof.peer, Sig: r.proof.sig, Observer: r.proof.observer })}}`
}

/** The proof of a wire record, or undefined when it has none or a malformed one (admission refuses those). */
function decodeProof (value: unknown): Proof | undefined {
  if (typeof value !== 'object' || value === null) return undefined
  const p = (value as Record<string, unknown>).Proof
  if (typeof p !== 'object' || p === null) return undefined
  const { Peer, Sig, Observer } = p as Record<string, unknown>
  if (typeof Peer !== 'string' || Peer.length === 0 || Peer.length > 128) return undefined
  if (typeof Sig !== 'string' || Sig.length === 0 || Sig.length > 128) return undefined
  if (typeof Observer !== 'boolean') return undefined
  return { peer: Peer, sig: Sig, observer: Observer }
}

/**
 * Packs records into as few envelopes of `kind` as fit maxBytes each (and at most
 * maxRecords each); record order is kept. A record too large for maxBytes on its own
 * cannot happen for valid records (see WIRE_LIMITS) and is sent alone.
 */
export function encodeRecords (records: readonly WireRecord[], kind: Kind = KIND.records, maxBytes: number = WIRE_LIMITS.maxMessageBytes, maxRecords = Infinity): Uint8Array[] {
  const out: Uint8Array[] = []
  let batch: string[] = []
  let size = 4 // version, kind, '[' and ']'
  for (const r of records) {
    const json = encodeWireRecord(r)
    const bytes = Buffer.byteLength(json) + 1
    if (batch.length > 0 && (size + bytes > maxBytes || batch.length >= maxRecords)) {
      out.push(envelope(kind, `[${batch.join(',')}]`))
      batch = []
      size = 4
    }
    batch.push(json)
    size += bytes
  }
  if (batch.length > 0) out.push(envelope(kind, `[${batch.join(',')}]`))
  return out
}

export function encodeHeader (h: Header): Uint8Array {
  return envelope(KIND.header, JSON.stringify({ Hostname: h.hostname, ClusterName: h.clusterName, Members: h.members.map(m => ({ ID: m.id, Addrs: m.addrs })), Records: h.records }))
}

export function encodeEnd (): Uint8Array {
  return envelope(KIND.end, 'null')
}

/** Checks the envelope and parses its JSON; throws WireError. */
export function openEnvelope (data: Uint8Array, maxBytes: number): { kind: Kind, body: unknown } {
  if (data.byteLength > maxBytes) throw new WireError('size', `${data.byteLength} bytes, at most ${maxBytes} allowed`)
  if (data.byteLength < 3) throw new WireError('size', `${data.byteLength} bytes is too short for an envelope`)
  if (data[0] !== WIRE_VERSION) throw new WireError('version', `wire format version ${data[0]}, this node speaks ${WIRE_VERSION}`)
  const kind = data[1]
  if (!(Object.values(KIND) as number[]).includes(kind)) throw new WireError('kind', `unknown message kind ${kind}`)
  let body: unknown
  try {
    body = JSON.parse(decoder.decode(data.subarray(2)))
  } catch (err) {
    throw new WireError('json', `not valid UTF-8 JSON (${(err as Error).message})`, { cause: err })
  }
  return { kind: kind as Kind, body }
}

/**
 * Decodes the records of an envelope body (an array) with their proofs, rejecting any
 * record stamped more than maxFutureMs after now. maxRecords bounds the work a single
 * message can cause. Proofs are parsed, not checked: that is the admission gate's job.
 */
export function decodeSealedList (body: unknown, now: Time, maxRecords: number): SealedRecord[] {
  if (!Array.isArray(body)) throw new WireError('shape', 'records must be a JSON array')
  if (body.length > maxRecords) throw new WireError('size', `${body.length} records, at most ${maxRecords} allowed`)
  const limit = now.plusMillis(WIRE_LIMITS.maxFutureMs)
  return body.map((value, i) => {
    let svc: Service
    try {
      svc = decodeService(value, `record ${i}`)
    } catch (err) {
      throw new WireError('record', (err as Error).message, { cause: err })
    }
    if (svc.Updated.isAfter(limit)) throw new WireError('future', `record ${i} (${svc.Hostname}/${svc.ID}) is stamped ${svc.Updated.toString()}, more than ${WIRE_LIMITS.maxFutureMs / 1000} s ahead of this node's clock`)
    const proof = decodeProof(value)
    return proof === undefined ? { svc } : { svc, proof }
  })
}

/** decodeSealedList without the proofs. */
export function decodeRecordList (body: unknown, now: Time, maxRecords: number): Service[] {
  return decodeSealedList(body, now, maxRecords).map(r => r.svc)
}

/** Most records one gossip message may hold: no valid record is under 64 bytes. */
const MAX_MESSAGE_RECORDS = Math.floor(WIRE_LIMITS.maxMessageBytes / 64)

/** A gossip message: its records and their proofs. Throws WireError. */
export function decodeSealedMessage (data: Uint8Array, now: Time): SealedRecord[] {
  const { kind, body } = openEnvelope(data, WIRE_LIMITS.maxMessageBytes)
  if (kind !== KIND.records) throw new WireError('kind', `message kind ${kind} is not a records message`)
  return decodeSealedList(body, now, MAX_MESSAGE_RECORDS)
}

/** A gossip message: its records. Throws WireError. */
export function decodeMessage (data: Uint8Array, now: Time): Service[] {
  return decodeSealedMessage(data, now).map(r => r.svc)
}

/** An anti-entropy header body. Throws WireError. */
export function decodeHeader (body: unknown): Header {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new WireError('shape', 'header must be a JSON object')
  const o = body as Record<string, unknown>
  const str = (name: string, max: number): string => {
    const v = o[name]
    if (typeof v !== 'string' || v.length > max) throw new WireError('shape', `header field ${name} must be a string of at most ${max} characters`)
    return v
  }
  const hostname = str('Hostname', RECORD_LIMITS.maxHostnameLength)
  const clusterName = str('ClusterName', 128)
  const records = o.Records
  if (typeof records !== 'number' || !Number.isInteger(records) || records < 0) throw new WireError('shape', 'header field Records must be a non-negative integer')
  const raw = o.Members
  if (!Array.isArray(raw) || raw.length > WIRE_LIMITS.maxMembers) throw new WireError('shape', `header field Members must be an array of at most ${WIRE_LIMITS.maxMembers}`)
  const members = raw.map((m: unknown, i): MemberInfo => {
    const mm = m as Record<string, unknown> | null
    const id = mm?.ID
    const addrs = mm?.Addrs
    if (typeof id !== 'string' || id.length === 0 || id.length > 128) throw new WireError('shape', `header Members[${i}].ID must be a peer id`)
    if (!Array.isArray(addrs) || addrs.length > WIRE_LIMITS.maxAddrs || !addrs.every(a => typeof a === 'string' && a.length <= WIRE_LIMITS.maxAddrLength)) {
      throw new WireError('shape', `header Members[${i}].Addrs must be at most ${WIRE_LIMITS.maxAddrs} multiaddr strings`)
    }
    return { id, addrs: addrs as string[] }
  })
  return { hostname, clusterName, members, records }
}
