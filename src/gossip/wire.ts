// The gossip wire format: bytes <-> records. Every gossip message is one envelope (the
// anti-entropy frames of state-wire.ts use the same envelope with kinds of their own):
//
//   byte 0     format version (WIRE_VERSION)
//   byte 1     kind (KIND.*)
//   bytes 2..  UTF-8 JSON: an array of Service records, each with its proof
//
// Decoding treats its input as untrusted: size, version, kind, JSON shape, every record
// (service/codec.ts decodeService) and timestamps absurdly far in the future are checked;
// anything wrong throws a WireError that names a reason, for the rejection metric.
import { InvalidRecordError } from '../lib/errors.ts'
import { decodeService, encodeService, RECORD_LIMITS, type Service, type Time } from '../service/index.ts'
import { canonicalOf, type Proof, type SealedRecord } from './proof.ts'

/** 2: records carry origin proofs (proof.ts); a node of version 1 sent none and is refused with a clear reason. */
export const WIRE_VERSION = 2

export const KIND = {
  /** A gossip message: records published by their origin (or an observer's tombstones). */
  records: 1,
} as const
export type Kind = typeof KIND[keyof typeof KIND]

export const WIRE_LIMITS = {
  /** One gossip message: twice the largest valid record, so any valid record fits alone. */
  maxMessageBytes: 2 * RECORD_LIMITS.maxRecordBytes,
  /**
   * A frame holding a record stamped further ahead than this is garbage as a whole. The
   * per-record bound is much tighter (admission.ts MAX_FUTURE_SKEW_MS) and refuses only the record.
   */
  maxFutureMs: 5 * 60_000,
  /** Members listed in one anti-entropy hello (state-wire.ts); far above any cluster this is built for. */
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

/** One peer as an anti-entropy hello lists it. */
export interface MemberInfo {
  /** libp2p peer id (base58). */
  readonly id: string
  readonly addrs: readonly string[]
}

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

/** A frame: the wire version, the kind byte, then the UTF-8 JSON (gossip messages and anti-entropy frames alike). */
export function envelope (kind: number, json: string): Uint8Array {
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
  const json = canonicalOf(r) ?? encodeService(r.svc)
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
  const limit = futureLimit(now)
  return sealedList(body, maxRecords).map((value, i) => decodeSealedItem(value, i, limit))
}

/** The records array of an envelope body, checked for shape and count (decodeSealedList's first step). */
export function sealedList (body: unknown, maxRecords: number): unknown[] {
  if (!Array.isArray(body)) throw new WireError('shape', 'records must be a JSON array')
  if (body.length > maxRecords) throw new WireError('size', `${body.length} records, at most ${maxRecords} allowed`)
  return body
}

/** The latest Updated a record decoded at now may carry. */
export function futureLimit (now: Time): Time {
  return now.plusMillis(WIRE_LIMITS.maxFutureMs)
}

/** Record i of an envelope body with its proof, stamped no later than limit (futureLimit). Throws WireError. */
export function decodeSealedItem (value: unknown, i: number, limit: Time): SealedRecord {
  let svc: Service
  try {
    svc = decodeService(value, `record ${i}`)
  } catch (err) {
    throw new WireError('record', (err as Error).message, { cause: err })
  }
  if (svc.Updated.isAfter(limit)) throw new WireError('future', `record ${i} (${svc.Hostname}/${svc.ID}) is stamped ${svc.Updated.toString()}, more than ${WIRE_LIMITS.maxFutureMs / 1000} s ahead of this node's clock`)
  const proof = decodeProof(value)
  return proof === undefined ? { svc } : { svc, proof }
}

/** decodeSealedList without the proofs. */
export function decodeRecordList (body: unknown, now: Time, maxRecords: number): Service[] {
  return decodeSealedList(body, now, maxRecords).map(r => r.svc)
}

/** Most records one gossip message may hold: no valid record is under 64 bytes. */
const MAX_MESSAGE_RECORDS = Math.floor(WIRE_LIMITS.maxMessageBytes / 64)

/** A gossip message: its records and their proofs. Throws WireError. */
export function decodeSealedMessage (data: Uint8Array, now: Time): SealedRecord[] {
  const { body } = openEnvelope(data, WIRE_LIMITS.maxMessageBytes) // (records is the only kind)
  return decodeSealedList(body, now, MAX_MESSAGE_RECORDS)
}

/** A gossip message: its records. Throws WireError. */
export function decodeMessage (data: Uint8Array, now: Time): Service[] {
  return decodeSealedMessage(data, now).map(r => r.svc)
}
