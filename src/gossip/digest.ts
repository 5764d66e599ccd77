// Digests of a catalog for anti-entropy: small pure rules. A record's version is its
// (Hostname, ID, Updated); two nodes hold the same version of a host's records iff the
// host's digests (record count and the XOR of 64-bit record hashes) are equal. Within a
// host, records fall into buckets by a hash of their ID alone, so both sides put a record
// in the same bucket whatever version they hold, and a difference is narrowed to the
// buckets it touches. Status is not part of a version: a DRAINING record stored for a
// relayed ALIVE of the same Updated is the same version (the merge rule made it so).
//
// The hashes are not cryptographic: a peer can only hurt itself by forging one (its own
// state would not be repaired); every record still passes decode and admission.
import type { Service } from '../service/index.ts'

/** One host's records as a digest: how many, and the XOR of their version hashes (16 hex digits). */
export interface HostDigest {
  readonly host: string
  readonly count: number
  readonly hash: string
}

/** Records per bucket aimed at: a difference of one record costs about this many versions on the wire. */
export const RECORDS_PER_BUCKET = 16
/** Buckets per host at most (4096 x 8 bytes = 32 KB of bucket hashes for the largest host). */
export const MAX_BUCKETS = 4096

const versionHashes = new WeakMap<Service, readonly [number, number]>()

/** 32-bit FNV-1a of a string's UTF-16 units, from a seed, with a final avalanche. */
function fnv (s: string, seed: number): number {
  let h = seed >>> 0
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** The 64-bit hash (two 32-bit halves) of a record's version; cached per frozen record. */
export function versionHash (svc: Service): readonly [number, number] {
  let h = versionHashes.get(svc)
  if (h === undefined) {
    const s = `${svc.ID}\u0000${svc.Updated.ns}`
    h = [fnv(s, 0x811c9dc5), fnv(s, 0x2a5f0e3b)] as const
    versionHashes.set(svc, h)
  }
  return h
}

/** The bucket of a record ID among n (a power of two). */
export function bucketOf (id: string, n: number): number {
  return n <= 1 ? 0 : fnv(id, 0x9e3779b9) & (n - 1)
}

/** Buckets for a host both sides know, from the larger of the two record counts: a power of two in 1..MAX_BUCKETS. */
export function bucketCount (maxRecords: number): number {
  let n = 1
  while (n < MAX_BUCKETS && n * RECORDS_PER_BUCKET < maxRecords) n *= 2
  return n
}

function hex (a: number, b: number): string {
  return a.toString(16).padStart(8, '0') + b.toString(16).padStart(8, '0')
}

/** A host's digest over its records. */
export function hostDigest (host: string, records: readonly Service[]): HostDigest {
  const d = new DigestBuilder()
  for (const svc of records) d.add(svc)
  return d.digest(host)
}

/** hostDigest fed one record at a time, for a caller that hashes a large host in slices. */
export class DigestBuilder {
  #a = 0
  #b = 0
  #count = 0

  add (svc: Service): void {
    const [x, y] = versionHash(svc)
    this.#a ^= x
    this.#b ^= y
    this.#count++
  }

  digest (host: string): HostDigest {
    return { host, count: this.#count, hash: hex(this.#a >>> 0, this.#b >>> 0) }
  }
}

/** Bucket hashes of a host's records: n x 8 bytes (two big-endian uint32 per bucket). */
export function bucketHashes (records: readonly Service[], n: number): Uint8Array {
  const words = new Uint32Array(n * 2)
  for (const svc of records) {
    const i = bucketOf(svc.ID, n)
    const [x, y] = versionHash(svc)
    words[2 * i] ^= x
    words[2 * i + 1] ^= y
  }
  const out = new Uint8Array(n * 8)
  const view = new DataView(out.buffer)
  for (let i = 0; i < n * 2; i++) view.setUint32(i * 4, words[i])
  return out
}

/** Indexes of the buckets whose hashes differ (both arrays n x 8 bytes). */
export function differingBuckets (mine: Uint8Array, theirs: Uint8Array): number[] {
  const out: number[] = []
  for (let i = 0; i * 8 < mine.length; i++) {
    for (let j = i * 8; j < i * 8 + 8; j++) {
      if (mine[j] !== theirs[j]) { out.push(i); break }
    }
  }
  return out
}

/**
 * Hosts whose digests differ, sorted: listed by one side only, or with another count or
 * hash. Each comes with both counts (0 for a side that lacks it).
 */
export function differingHosts (mine: ReadonlyMap<string, HostDigest>, theirs: ReadonlyMap<string, HostDigest>): Array<{ host: string, mine: number, theirs: number }> {
  const out: Array<{ host: string, mine: number, theirs: number }> = []
  for (const host of new Set([...mine.keys(), ...theirs.keys()])) {
    const m = mine.get(host)
    const t = theirs.get(host)
    if (m !== undefined && t !== undefined && m.count === t.count && m.hash === t.hash) continue
    out.push({ host, mine: m?.count ?? 0, theirs: t?.count ?? 0 })
  }
  return out.sort((x, y) => (x.host < y.host ? -1 : x.host > y.host ? 1 : 0))
}

/**
 * The records to push to a peer: those of ours in the compared buckets that the peer
 * lacks, or holds in an older version. `theirs` maps ID -> the peer's Updated (ns).
 */
export function recordsToPush (mine: readonly Service[], theirs: ReadonlyMap<string, bigint>): Service[] {
  return mine.filter(svc => {
    const t = theirs.get(svc.ID)
    return t === undefined || t < svc.Updated.ns
  })
}
