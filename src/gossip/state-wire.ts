// The anti-entropy frames (protocol /sidecar/<cluster>/state/2.0.0). Each frame is one
// envelope as in wire.ts (byte 0 format version, byte 1 kind, then UTF-8 JSON), length-
// prefixed on the stream and at most STATE_LIMITS.maxFrameBytes long:
//
//   hello     {"Hostname","ClusterName","Members":[{"ID","Addrs"}],"Records"[,"Hosts":[host, ...]]}
//             Hosts (either side, optional): the exchange covers the hosts both sides name
//   hosts     {"Items":[[host, count, hash16hex], ...], "More"}      per-host digests
//   buckets   {"Items":[[host, base64 bucket hashes], ...], "More"}  for hosts that differ
//   versions  {"Items":[[host, [[id, updatedNs], ...]], ...], "More"} for buckets that differ
//   records   {"Items":[record, ...], "More"}                        what the peer lacks
//
// Decoding treats its input as untrusted and throws WireError (wire.ts) naming a reason.
import { Slicer } from '../lib/slicer.ts'
import { RECORD_LIMITS, type Time } from '../service/index.ts'
import { MAX_BUCKETS } from './digest.ts'
import type { SealedRecord } from './proof.ts'
import { decodeSealedItem, envelope, futureLimit, sealedList, WIRE_LIMITS, WIRE_VERSION, WireError, type MemberInfo } from './wire.ts'

export const STATE_KIND = {
  hello: 16,
  hosts: 17,
  buckets: 18,
  versions: 19,
  records: 20,
} as const
export type StateKind = typeof STATE_KIND[keyof typeof STATE_KIND]

export const STATE_LIMITS = {
  /** One frame on the wire: far below libp2p's 4 MB read buffer, and only one frame is ever in flight per direction. */
  maxFrameBytes: 1024 * 1024,
  /** What a sender packs into one frame: decoding and merging one takes ~10-20 ms. */
  pageBytes: 512 * 1024,
  /**
   * Records per records frame: merging them (and their change events) stays under 50 ms, and
   * each frame is one turn of the event loop for the catalog's consumers (proxy, API, listeners),
   * several of which still redo O(state) work per turn: fewer, fuller pages cost them less.
   */
  recordsPerPage: 1000,
  /** Hosts in one peer's state; far above any cluster this is built for. */
  maxHosts: 20_000,
  /** Hosts a scoped exchange may name (a new-member exchange names two). */
  maxScopeHosts: 16,
} as const

const decoder = new TextDecoder('utf-8', { fatal: true })

export function stateFrame (kind: StateKind, json: string): Uint8Array {
  return envelope(kind, json)
}

/** Checks an anti-entropy frame's envelope and parses its JSON; throws WireError. */
export function openStateFrame (data: Uint8Array): { kind: StateKind, body: unknown } {
  if (data.byteLength > STATE_LIMITS.maxFrameBytes) throw new WireError('size', `${data.byteLength} bytes, at most ${STATE_LIMITS.maxFrameBytes} allowed`)
  if (data.byteLength < 3) throw new WireError('size', `${data.byteLength} bytes is too short for a frame`)
  if (data[0] !== WIRE_VERSION) throw new WireError('version', `wire format version ${data[0]}, this node speaks ${WIRE_VERSION}`)
  const kind = data[1]
  if (!(Object.values(STATE_KIND) as number[]).includes(kind)) throw new WireError('kind', `unknown anti-entropy frame kind ${kind}`)
  try {
    return { kind: kind as StateKind, body: JSON.parse(decoder.decode(data.subarray(2))) }
  } catch (err) {
    throw new WireError('json', `not valid UTF-8 JSON (${(err as Error).message})`, { cause: err })
  }
}

export interface Hello {
  readonly hostname: string
  readonly clusterName: string
  readonly members: readonly MemberInfo[]
  /** Records the sender holds (informational; bounds nothing). */
  readonly records: number
  /** Either side may name hosts: the exchange covers those both sides name (absent: every host). */
  readonly hosts?: readonly string[]
}

export function encodeHello (h: Hello): Uint8Array {
  return stateFrame(STATE_KIND.hello, JSON.stringify({ Hostname: h.hostname, ClusterName: h.clusterName, Members: h.members.map(m => ({ ID: m.id, Addrs: m.addrs })), Records: h.records, ...(h.hosts !== undefined ? { Hosts: h.hosts } : {}) }))
}

function isObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function str (v: unknown, what: string, max: number): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > max) throw new WireError('shape', `${what} must be a string of 1 to ${max} characters`)
  return v
}

function count (v: unknown, what: string, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) throw new WireError('shape', `${what} must be an integer from 0 to ${max}`)
  return v
}

export function decodeHello (body: unknown): Hello {
  if (!isObject(body)) throw new WireError('shape', 'hello must be a JSON object')
  const hostname = str(body.Hostname, 'hello Hostname', RECORD_LIMITS.maxHostnameLength)
  const clusterName = typeof body.ClusterName === 'string' && body.ClusterName.length <= 128 ? body.ClusterName : undefined
  if (clusterName === undefined) throw new WireError('shape', 'hello ClusterName must be a string of at most 128 characters')
  const records = count(body.Records, 'hello Records', Number.MAX_SAFE_INTEGER)
  const raw = body.Members
  if (!Array.isArray(raw) || raw.length > WIRE_LIMITS.maxMembers) throw new WireError('shape', `hello Members must be an array of at most ${WIRE_LIMITS.maxMembers}`)
  const members = raw.map((m: unknown, i): MemberInfo => {
    const id = isObject(m) ? m.ID : undefined
    const addrs = isObject(m) ? m.Addrs : undefined
    if (typeof id !== 'string' || id.length === 0 || id.length > 128) throw new WireError('shape', `hello Members[${i}].ID must be a peer id`)
    if (!Array.isArray(addrs) || addrs.length > WIRE_LIMITS.maxAddrs || !addrs.every(a => typeof a === 'string' && a.length <= WIRE_LIMITS.maxAddrLength)) {
      throw new WireError('shape', `hello Members[${i}].Addrs must be at most ${WIRE_LIMITS.maxAddrs} multiaddr strings`)
    }
    return { id, addrs: addrs as string[] }
  })
  if (body.Hosts === undefined) return { hostname, clusterName, members, records }
  if (!Array.isArray(body.Hosts) || body.Hosts.length === 0 || body.Hosts.length > STATE_LIMITS.maxScopeHosts) throw new WireError('shape', `hello Hosts must be an array of 1 to ${STATE_LIMITS.maxScopeHosts} hostnames`)
  const hosts = (body.Hosts as unknown[]).map((h, i) => str(h, `hello Hosts[${i}]`, RECORD_LIMITS.maxHostnameLength))
  return { hostname, clusterName, members, records, hosts }
}

/** A page: its items and whether more pages of the same kind follow. */
export interface Page<T> { readonly items: T[], readonly more: boolean }

function page (body: unknown, what: string): { items: unknown[], more: boolean } {
  if (!isObject(body) || !Array.isArray(body.Items) || typeof body.More !== 'boolean') throw new WireError('shape', `${what} frame must be {"Items": [...], "More": boolean}`)
  return { items: body.Items, more: body.More }
}

export function decodeHostsPage (body: unknown): Page<{ host: string, count: number, hash: string }> {
  const p = page(body, 'hosts')
  return {
    more: p.more,
    items: p.items.map((it, i) => {
      if (!Array.isArray(it) || it.length !== 3) throw new WireError('shape', `hosts item ${i} must be [host, count, hash]`)
      const hash = it[2]
      if (typeof hash !== 'string' || !/^[0-9a-f]{16}$/.test(hash)) throw new WireError('shape', `hosts item ${i} hash must be 16 hex digits`)
      return { host: str(it[0], `hosts item ${i} host`, RECORD_LIMITS.maxHostnameLength), count: count(it[1], `hosts item ${i} count`, Number.MAX_SAFE_INTEGER), hash }
    }),
  }
}

export function decodeBucketsPage (body: unknown): Page<{ host: string, hashes: Uint8Array }> {
  const p = page(body, 'buckets')
  return {
    more: p.more,
    items: p.items.map((it, i) => {
      if (!Array.isArray(it) || it.length !== 2 || typeof it[1] !== 'string' || it[1].length > MAX_BUCKETS * 12) throw new WireError('shape', `buckets item ${i} must be [host, base64 of at most ${MAX_BUCKETS} bucket hashes]`)
      return { host: str(it[0], `buckets item ${i} host`, RECORD_LIMITS.maxHostnameLength), hashes: new Uint8Array(Buffer.from(it[1], 'base64')) }
    }),
  }
}

const NS = /^\d{1,30}$/

export function decodeVersionsPage (body: unknown): Page<{ host: string, versions: Array<[string, bigint]> }> {
  const p = page(body, 'versions')
  return {
    more: p.more,
    items: p.items.map((it, i) => {
      if (!Array.isArray(it) || it.length !== 2 || !Array.isArray(it[1])) throw new WireError('shape', `versions item ${i} must be [host, [[id, updatedNs], ...]]`)
      const host = str(it[0], `versions item ${i} host`, RECORD_LIMITS.maxHostnameLength)
      const versions = (it[1] as unknown[]).map((v, j): [string, bigint] => {
        if (!Array.isArray(v) || v.length !== 2 || typeof v[1] !== 'string' || !NS.test(v[1])) throw new WireError('shape', `versions item ${i}[${j}] must be [id, nanoseconds as a decimal string]`)
        return [str(v[0], `versions item ${i}[${j}] id`, RECORD_LIMITS.maxIdLength), BigInt(v[1])]
      })
      return { host, versions }
    }),
  }
}

/**
 * A page of records with their proofs (checked by the admission gate, not here), decoded in
 * time slices of the slicer's (given on to the page's next step, so the two share one
 * budget): a page of 1,000 records took 20 ms at the median and up to 95 ms on a loaded
 * host in one piece, the longest work of a late joiner's turns.
 */
export async function decodeRecordsPage (body: unknown, now: Time, slicer: Slicer = new Slicer()): Promise<Page<SealedRecord>> {
  const p = page(body, 'records')
  const list = sealedList(p.items, STATE_LIMITS.recordsPerPage)
  const limit = futureLimit(now)
  const items: SealedRecord[] = new Array<SealedRecord>(list.length)
  for (let i = 0; i < list.length; i++) {
    if (slicer.due()) await slicer.next()
    items[i] = decodeSealedItem(list[i], i, limit)
  }
  return { more: p.more, items }
}

/**
 * Hands out frames of one kind, packing lazily encoded items into pages of at most
 * pageBytes and maxItems; an empty source yields one empty last page. An item larger than
 * a page on its own is sent alone (valid items are far smaller than maxFrameBytes).
 */
export class Pager<T> {
  readonly #kind: StateKind
  readonly #items: readonly T[]
  /** An item's text on the page; undefined: the item is left out. */
  readonly #encode: (item: T) => string | undefined
  readonly #maxItems: number
  #next = 0
  /** The encoded item that did not fit the last page: the first of the next (never encoded twice). */
  #carry: string | undefined
  /** Items before this index went through nextAsync's prepare. */
  #prepared = 0
  #sentLast = false

  constructor (kind: StateKind, items: readonly T[], encode: (item: T) => string | undefined, maxItems = Infinity) {
    this.#kind = kind
    this.#items = items
    this.#encode = encode
    this.#maxItems = maxItems
  }

  /** True once the page with More = false was handed out. */
  get done (): boolean { return this.#sentLast }

  /** The next page (after the last, empty last pages again). */
  next (): Uint8Array {
    const page: PageParts = { parts: [], size: 32 }
    while (this.#fill(page));
    return this.#frame(page.parts)
  }

  /**
   * next(), with prepare() awaited for each run of `batch` items before any of them is encoded
   * (work ahead that need not block the event loop, such as signing them). Each item is
   * prepared once, also when it ends up on a later page.
   */
  async nextAsync (prepare: (items: T[]) => Promise<void>, batch: number): Promise<Uint8Array> {
    const page: PageParts = { parts: [], size: 32 }
    do {
      if (this.#next >= this.#prepared && this.#next < this.#items.length) {
        const end = Math.min(this.#items.length, this.#next + batch)
        await prepare(this.#items.slice(this.#next, end))
        this.#prepared = end
      }
    } while (this.#fill(page))
    return this.#frame(page.parts)
  }

  /** Adds the next item to the page if it fits; false once the page is complete. */
  #fill (page: PageParts): boolean {
    if (this.#next >= this.#items.length || page.parts.length >= this.#maxItems) return false
    const json = this.#carry ?? this.#encode(this.#items[this.#next])
    this.#carry = undefined
    if (json === undefined) {
      this.#next++
      return true
    }
    if (page.parts.length > 0 && page.size + json.length + 1 > STATE_LIMITS.pageBytes) {
      this.#carry = json
      return false
    }
    page.parts.push(json)
    page.size += json.length + 1
    this.#next++
    return true
  }

  #frame (parts: string[]): Uint8Array {
    const more = this.#next < this.#items.length
    if (!more) this.#sentLast = true
    return stateFrame(this.#kind, `{"Items":[${parts.join(',')}],"More":${more}}`)
  }
}

interface PageParts { parts: string[], size: number }
