// One anti-entropy exchange, run the same way by both sides. It is a sequence of rounds:
// the initiator sends one frame, then the responder sends one, so at most one frame is in
// flight per direction (a large state can never overflow a reader's buffer, and a slow
// merge slows the sender instead). The phases, each as many rounds as the larger side
// needs (a side with nothing left sends an empty last page):
//
//   hello     identity, cluster, member list, each side's scope (one round)
//   hosts     per-host digests -> both compute the hosts that differ (stops here when none)
//   buckets   bucket hashes of differing hosts large enough to have buckets
//   versions  (ID, Updated) of the records in differing buckets
//   records   each side's records the other lacks or holds older; merged page by page
//
// Both sides derive every decision from what both have seen, so they always agree on the
// next phase. Work on large states is sliced with yields to the event loop.
import { setImmediate as yieldToLoop } from 'node:timers/promises'
import type { LengthPrefixedStream } from '@libp2p/utils'
import type { Catalog, MergeRoom } from '../catalog/index.ts'
import { MAX_STATE_RECORDS } from '../catalog/index.ts'
import type { Clock } from '../service/clock.ts'
import { Slicer } from '../lib/slicer.ts'
import { encodeService, type Service } from '../service/index.ts'
import { bucketCount, bucketHashes, bucketOf, differingBuckets, differingHosts, DigestBuilder, recordsToPush, type HostDigest } from './digest.ts'
import { decodeBucketsPage, decodeHello, decodeHostsPage, decodeRecordsPage, decodeVersionsPage, encodeHello, openStateFrame, Pager, STATE_KIND, STATE_LIMITS, type Hello, type StateKind } from './state-wire.ts'
import type { SealedRecord } from './proof.ts'
import { encodeWireRecord, WireError, type MemberInfo } from './wire.ts'

/** What the admission gate admitted of a page (admission.ts AdmitResult). */
export interface Admitted {
  readonly admitted: readonly Service[]
  /** Each record's room for catalog.merge (admission.ts AdmitResult.room); 'any' without it. */
  readonly room?: (svc: Service) => MergeRoom
  /** Called once the page is merged (or will not be). */
  readonly settle?: () => void
}

/** What a session reads from (and merges into) the catalog. */
export type SessionCatalog = Pick<Catalog, 'size' | 'count' | 'hostnames' | 'hostRecords' | 'hostVersion' | 'sampleRecords' | 'get' | 'merge'>

/**
 * Per catalog, each host's digest as of the host's version (Catalog.hostVersion): an exchange
 * hashes only the hosts that changed since the last one. Without it every exchange walked all
 * records (100,000 records: a 230-350 ms stall every push-pull interval on a 2-core machine).
 */
const digestCache = new WeakMap<SessionCatalog, Map<string, { version: number, digest: HostDigest }>>()

/**
 * Per catalog, hosts' bucket hashes and record counts per bucket (by host and bucket count) as of
 * the host's version: a peer that makes a large host differ at every exchange (claiming one
 * record of it) no longer has all its records hashed again each time, and the versions an
 * exchange would send are counted from the buckets before any is listed. The bucket count comes
 * from the larger of both sides' record counts, so a peer chooses it (claiming 100,000 records of
 * every host, say): the entries are kept in the order of their last use, BUCKET_CACHE_BYTES
 * together at most, the least recently used let go first.
 */
const bucketCache = new WeakMap<SessionCatalog, { bytes: number, entries: Map<string, { version: number, buckets: Buckets }> }>()
/** What bucketCache holds at most per catalog: 4 MiB (a host at MAX_BUCKETS takes 48 KiB). */
const BUCKET_CACHE_BYTES = 4 * 1024 * 1024
interface Buckets { hashes: Uint8Array, counts: Uint32Array }

export interface SessionComponents {
  lp: LengthPrefixedStream
  catalog: SessionCatalog
  clock: Clock
  memberInfos: () => Promise<MemberInfo[]>
  learn: (members: readonly MemberInfo[]) => void
  /** The admission gate: what it returns is merged, then settled (the caps count the new keys it admitted until then). */
  admit: (records: SealedRecord[], fromHostname: string, slicer: Slicer) => Admitted | Promise<Admitted>
  /**
   * Starts the admission gate's work that needs no catalog (signature checks, off the main
   * thread) for a page as soon as it arrives, while the page before it is still being merged.
   */
  prepare?: (records: SealedRecord[], slicer: Slicer) => Promise<void>
  /** A record with its proof, as sent (admission.ts seal); undefined for one that cannot be proved (another host's, held without its proof): not sent. */
  seal: (svc: Service) => SealedRecord | undefined
  /**
   * seal() for a page's worth of records, with the signatures it must make computed off the
   * main thread (admission.ts sealAsync): what it returns is what the page sends. Without it,
   * each record of ours whose current version the announcer had not signed yet was signed on
   * the main thread while the page was built (a daemon starting 10,000 services with a peer:
   * 20-50 ms of signing per page, the largest part of its longest stalls).
   */
  sealAsync?: (records: Service[]) => Promise<SealedRecord[]>
  /**
   * Of `wanted` records the peer lacks, how many this session may send (the peer's serving
   * budget, serve-limits.ts); the rest wait for a later exchange, which finds them missing
   * again by the digests. Absent: all.
   */
  sendable?: (wanted: number) => number
  /**
   * Whether this session may send the peer `n` versions (its serving budget, serve-limits.ts);
   * false ends the session with VersionsRefused before any version is sent. Absent: always.
   */
  versionsAllowed?: (n: number) => boolean
}

/** A session ended before its versions phase: the versions it would have sent are over the peer's budget. */
export class VersionsRefused extends Error {
  readonly versions: number
  constructor (versions: number) {
    super(`anti-entropy ended before its versions: ${versions} versions to send are over this peer's budget (serve-limits.ts); its next exchanges start again from the digests`)
    this.name = 'VersionsRefused'
    this.versions = versions
  }
}

export interface SessionInit {
  initiator: boolean
  /** Ends the whole exchange (stop, or the overall cap). */
  signal: AbortSignal
  /** A peer that sends or takes no frame for this long is given up on; a slow but moving exchange goes on. */
  idleMs: number
  hostname: string
  clusterName: string
  /**
   * Compare these hosts' records alone. Either side may name a scope in its hello; the
   * exchange covers the intersection of both (absent on both: the whole state).
   */
  scope?: readonly string[]
  /** Who the peer is, as the caller authenticated it: its records are merged as handed by this name. Default: the hostname its hello gives. */
  peerName?: string
}

export interface SessionResult {
  peerHostname: string
  /** Hosts in the union of both states, and how many of them differed. */
  hosts: number
  hostsDiffering: number
  versionsSent: number
  /** Records we sent, records the peer sent, and how many of those were added or changed ours. */
  sent: number
  /** Records the peer lacks that this session did not send (its serving budget was spent). */
  heldBack: number
  received: number
  merged: number
  bytesSent: number
  bytesReceived: number
  /** Encoded size of our state (records x average size), for comparing bytesSent with. */
  stateBytes: number
  rounds: number
}

/** Records hashed between two yields to the event loop: about 5 ms of work. */
const SLICE = 4000
/** Versions per versions item, so one host's list never outgrows a frame. */
const VERSIONS_PER_ITEM = 2000
/**
 * Records sealed ahead per batch (sealAsync): enough for the signing worker to pay off, few
 * enough that records of the 64 KB maximum held ahead stay at 8 MB per exchange.
 */
export const SEAL_AHEAD = 128

/** A differing host as both sides see it, with its bucket count and (after buckets) the buckets to compare. */
interface HostPlan { host: string, mine: number, theirs: number, buckets: number, compare: number[] | 'all' }

export class Session {
  readonly #c: SessionComponents
  readonly #init: SessionInit
  bytesSent = 0
  bytesReceived = 0
  #rounds = 0
  #peer = ''

  constructor (components: SessionComponents, init: SessionInit) {
    this.#c = components
    this.#init = init
  }

  async run (): Promise<SessionResult> {
    const { catalog } = this.#c
    const hello = await this.#hello()
    this.#peer = this.#init.peerName ?? hello.hostname
    const scope = intersect(this.#init.scope, hello.hosts)

    const mine = await this.#digests(scope)
    const theirs = new Map<string, HostDigest>()
    await this.#phase(STATE_KIND.hosts, new Pager(STATE_KIND.hosts, [...mine.values()], d => JSON.stringify([d.host, d.count, d.hash])), body => {
      for (const d of decodeHostsPage(body).items) {
        if (theirs.has(d.host)) throw new WireError('shape', `host ${d.host} listed twice`)
        if (scope !== undefined && !scope.has(d.host)) throw new WireError('shape', `host ${d.host} is outside the exchange's scope`)
        theirs.set(d.host, d)
      }
      if (theirs.size > STATE_LIMITS.maxHosts) throw new WireError('size', `more than ${STATE_LIMITS.maxHosts} hosts`)
    })
    const plans: HostPlan[] = differingHosts(mine, theirs).map(d => ({ ...d, buckets: bucketCount(Math.max(d.mine, d.theirs)), compare: 'all' }))
    const result: SessionResult = {
      peerHostname: this.#peer, hosts: new Set([...mine.keys(), ...theirs.keys()]).size, hostsDiffering: plans.length,
      versionsSent: 0, sent: 0, heldBack: 0, received: 0, merged: 0, bytesSent: 0, bytesReceived: 0, rounds: 0, stateBytes: 0,
    }
    let total = 0
    for (const d of mine.values()) total += d.count
    result.stateBytes = total * averageRecordBytes(catalog)
    if (plans.length > 0) {
      // Both sides hold records of these hosts: compare by buckets, then by versions.
      const compared = plans.filter(p => p.mine > 0 && p.theirs > 0)
      const bucketed = await this.#buckets(compared.filter(p => p.buckets > 1))
      if (this.#c.versionsAllowed !== undefined) {
        // what the versions phase would send, counted from the buckets: ended here when over the peer's budget
        let n = 0
        for (const p of compared) {
          if (p.compare === 'all') n += catalog.count(p.host)
          else { const counts = bucketed.get(p.host)?.counts; if (counts !== undefined) for (const b of p.compare) n += counts[b] }
        }
        if (!this.#c.versionsAllowed(n)) throw new VersionsRefused(n)
      }
      const theirVersions = await this.#versions(compared, result)
      // What the peer lacks, host by host: of a host it holds nothing of, every record, counted
      // and not listed; of the others, those its versions show it lacks or holds older. Only as
      // many as its budget allows are then read: a member that pulls in loops claiming to hold
      // nothing, its budget spent, had a daemon holding 100,000 records copy all of them twice
      // in each of its exchanges (up to 20 a second) to send a few dozen.
      const lacks: Array<{ host: string, count: number, records?: Service[] }> = []
      let wanted = 0
      for (const p of plans) {
        if (p.mine === 0) continue
        const records = p.theirs === 0 ? undefined : recordsToPush(this.#recordsIn(p), theirVersions.get(p.host) ?? new Map())
        const count = records?.length ?? catalog.count(p.host)
        lacks.push({ host: p.host, count, ...(records !== undefined ? { records } : {}) })
        wanted += count
      }
      let sendable = this.#c.sendable?.(wanted) ?? wanted
      result.heldBack = wanted - sendable
      const push: Service[] = []
      for (const l of lacks) {
        if (sendable <= 0) break
        const take = l.records !== undefined ? l.records.slice(0, sendable) : catalog.sampleRecords(l.host, Math.min(sendable, l.count))
        for (const svc of take) push.push(svc)
        sendable -= take.length
      }
      await this.#records(push, result)
    }
    result.bytesSent = this.bytesSent
    result.bytesReceived = this.bytesReceived
    result.rounds = this.#rounds
    return result
  }

  async #hello (): Promise<Hello> {
    const { catalog } = this.#c
    let hello: Hello | undefined
    const scope = this.#init.scope
    const frame = encodeHello({ hostname: this.#init.hostname, clusterName: this.#init.clusterName, members: await this.#c.memberInfos(), records: catalog.size, ...(scope !== undefined ? { hosts: scope } : {}) })
    await this.#round(() => frame, STATE_KIND.hello, body => {
      hello = decodeHello(body)
      if (hello.clusterName !== this.#init.clusterName) throw new WireError('shape', `peer ${hello.hostname} is in cluster ${JSON.stringify(hello.clusterName)}, not ${JSON.stringify(this.#init.clusterName)}`)
      return false
    })
    const h = hello as Hello
    this.#c.learn(h.members)
    return h
  }

  /**
   * Our per-host digests (of the hosts in scope, when given). A host unchanged since an earlier
   * exchange keeps its digest (digestCache); a changed one is hashed in slices, so a large first
   * exchange never stalls the loop.
   */
  async #digests (scope: ReadonlySet<string> | undefined): Promise<Map<string, HostDigest>> {
    const { catalog } = this.#c
    let cache = digestCache.get(catalog)
    if (cache === undefined) digestCache.set(catalog, cache = new Map())
    const out = new Map<string, HostDigest>()
    const hosts = catalog.hostnames()
    if (scope === undefined) for (const host of cache.keys()) if (catalog.hostVersion(host) === undefined) cache.delete(host) // gone hosts
    let n = 0
    for (const host of hosts) {
      if (scope !== undefined && !scope.has(host)) continue
      const version = catalog.hostVersion(host)
      const cached = cache.get(host)
      if (version !== undefined && cached?.version === version) {
        out.set(host, cached.digest)
        continue
      }
      const records = catalog.hostRecords(host)
      if (records.length === 0) continue
      const builder = new DigestBuilder()
      for (const svc of records) {
        builder.add(svc)
        if (++n % SLICE === 0) await yieldToLoop()
      }
      const digest = builder.digest(host)
      out.set(host, digest)
      // Cached only when no record of the host changed while it was hashed (the digest is of the records read).
      if (version !== undefined && catalog.hostVersion(host) === version) cache.set(host, { version, digest })
    }
    return out
  }

  /**
   * Exchanges bucket hashes of large differing hosts; narrows each plan's compare to the buckets
   * that differ. Returns ours, by host.
   */
  async #buckets (plans: HostPlan[]): Promise<Map<string, Buckets>> {
    const mine = new Map<string, Buckets>()
    if (plans.length === 0) return mine
    const byHost = new Map(plans.map(p => [p.host, p]))
    const theirs = new Map<string, Uint8Array>()
    const pager = new Pager(STATE_KIND.buckets, plans, p => {
      const b = this.#bucketsOf(p.host, p.buckets)
      mine.set(p.host, b)
      return JSON.stringify([p.host, Buffer.from(b.hashes).toString('base64')])
    })
    await this.#phase(STATE_KIND.buckets, pager, body => {
      for (const it of decodeBucketsPage(body).items) {
        const p = byHost.get(it.host)
        if (p === undefined || theirs.has(it.host)) throw new WireError('shape', `bucket hashes of ${it.host}, which was not asked for or was sent twice`)
        if (it.hashes.length !== p.buckets * 8) throw new WireError('shape', `${it.hashes.length / 8} bucket hashes of ${it.host}, expected ${p.buckets}`)
        theirs.set(it.host, it.hashes)
      }
    })
    for (const p of plans) {
      const m = mine.get(p.host)
      const t = theirs.get(p.host)
      if (m === undefined || t === undefined) throw new WireError('shape', `bucket hashes of ${p.host} missing`)
      p.compare = differingBuckets(m.hashes, t)
    }
    return mine
  }

  /** A host's bucket hashes and counts in n buckets, from bucketCache while the host is unchanged. */
  #bucketsOf (host: string, n: number): Buckets {
    const { catalog } = this.#c
    let cache = bucketCache.get(catalog)
    if (cache === undefined) bucketCache.set(catalog, cache = { bytes: 0, entries: new Map() })
    const version = catalog.hostVersion(host)
    const key = `${n}:${host}`
    const entry = cache.entries.get(key)
    if (entry !== undefined) {
      cache.entries.delete(key) // re-inserted below as the most recently used, or dropped as stale
      if (entry.version === version) { cache.entries.set(key, entry); return entry.buckets }
      cache.bytes -= bucketBytes(entry.buckets)
    }
    const records = catalog.hostRecords(host)
    const counts = new Uint32Array(n)
    for (const svc of records) counts[bucketOf(svc.ID, n)]++
    const b = { hashes: bucketHashes(records, n), counts }
    if (version === undefined) return b
    cache.entries.set(key, { version, buckets: b })
    cache.bytes += bucketBytes(b)
    for (const [k, e] of cache.entries) {
      if (cache.bytes <= BUCKET_CACHE_BYTES) break
      cache.entries.delete(k)
      cache.bytes -= bucketBytes(e.buckets)
    }
    return b
  }

  /** Exchanges the versions of the records in the buckets to compare; returns the peer's, host -> ID -> Updated ns. */
  async #versions (plans: HostPlan[], result: SessionResult): Promise<Map<string, Map<string, bigint>>> {
    const theirs = new Map<string, Map<string, bigint>>()
    const wanted = plans.filter(p => p.compare === 'all' || p.compare.length > 0)
    if (wanted.length === 0) return theirs
    const byHost = new Map(wanted.map(p => [p.host, p]))
    const items: Array<[string, Service[]]> = []
    for (const p of wanted) {
      const records = this.#recordsIn(p)
      for (let i = 0; i < records.length || i === 0; i += VERSIONS_PER_ITEM) items.push([p.host, records.slice(i, i + VERSIONS_PER_ITEM)])
      result.versionsSent += records.length
    }
    let count = 0
    await this.#phase(STATE_KIND.versions, new Pager(STATE_KIND.versions, items, ([host, rs]) => JSON.stringify([host, rs.map(s => [s.ID, String(s.Updated.ns)])])), body => {
      for (const it of decodeVersionsPage(body).items) {
        if (!byHost.has(it.host)) throw new WireError('shape', `versions of ${it.host}, which was not asked for`)
        count += it.versions.length
        if (count > MAX_STATE_RECORDS) throw new WireError('size', `more than ${MAX_STATE_RECORDS} versions`)
        let map = theirs.get(it.host)
        if (map === undefined) theirs.set(it.host, map = new Map())
        for (const [id, ns] of it.versions) map.set(id, ns)
      }
    })
    return theirs
  }

  /**
   * Sends what the peer lacks and merges what it sends, a page at a time. A page is merged
   * while the next round runs: the reply goes out as soon as a page is decoded, so the peer
   * encodes and sends the next page while this side checks and merges the last one (a join
   * pull of 100,000 records is about 100 rounds). At most one page is being merged and one
   * being read: the next page waits for the merge before it, which keeps the backpressure.
   */
  async #records (push: Service[], result: SessionResult): Promise<void> {
    result.sent = push.length
    let merging: Promise<void> | undefined
    // Each record goes out in its current version. With sealAsync, the records are sealed
    // ahead, SEAL_AHEAD at a time off the main thread, before any of them is encoded; a record
    // that changed since (or that sealAsync left out) is sealed as it is encoded.
    const current = (svc: Service): Service => this.#c.catalog.get(svc.Hostname, svc.ID) ?? svc
    const ahead = new Map<Service, SealedRecord>()
    const pager = new Pager(STATE_KIND.records, push, svc => {
      const now = current(svc)
      const sealed = ahead.get(now)
      if (sealed !== undefined) ahead.delete(now)
      const record = sealed ?? this.#c.seal(now)
      return record === undefined ? undefined : encodeWireRecord(record)
    }, STATE_LIMITS.recordsPerPage)
    const sealAsync = this.#c.sealAsync
    const next = sealAsync === undefined
      ? () => pager.next()
      : async () => await pager.nextAsync(async items => {
        ahead.clear() // every item of the batches before was encoded: what is left (a record replaced meanwhile) is not wanted
        for (const r of await sealAsync(items.map(current))) ahead.set(r.svc, r)
      }, SEAL_AHEAD)
    await this.#phase(STATE_KIND.records, { next, get done () { return pager.done } }, async body => {
      // Decoded, checked and merged in time slices: the longest work of a late joiner's turns
      // was a page in one piece (its decoding and canonical texts 32 ms at the median, up to 150
      // on a loaded host; its admission and merge 21 ms, up to 170).
      const slicer = new Slicer()
      const page = await decodeRecordsPage(body, this.#c.clock.now(), slicer)
      result.received += page.items.length
      if (result.received > MAX_STATE_RECORDS) throw new WireError('size', `more than ${MAX_STATE_RECORDS} records`)
      const checked = this.#c.prepare?.(page.items, slicer)
      const before = merging
      merging = (async () => {
        await before
        await checked
        const merge = new Slicer()
        const { admitted, room, settle } = await this.#c.admit(page.items, this.#peer, merge)
        try {
          for (let i = 0; i < admitted.length; i++) {
            if (merge.due()) await merge.next()
            // admitted: a live record's version is its origin's own (signed), whoever relays it
            const r = this.#c.catalog.merge(admitted[i], this.#peer, true, room?.(admitted[i]) ?? 'any')
            if (r === 'added' || r === 'changed') result.merged++
          }
        } finally {
          settle?.()
        }
        await yieldToLoop()
      })()
      merging.catch(() => {}) // awaited below or by the next page; a failed session may leave it unawaited
      await before
    })
    await merging
  }

  /** Our records of a planned host in the buckets it compares. */
  #recordsIn (p: HostPlan): Service[] {
    const records = this.#c.catalog.hostRecords(p.host)
    if (p.compare === 'all') return records
    const set = new Set(p.compare)
    return records.filter(svc => set.has(bucketOf(svc.ID, p.buckets)))
  }

  /** Rounds of one phase until both sides sent their last page in the same round. */
  async #phase (kind: StateKind, pager: { next: () => Uint8Array | Promise<Uint8Array>, readonly done: boolean }, handle: (body: unknown) => void | Promise<void>): Promise<void> {
    for (;;) {
      let theirMore = false
      await this.#round(() => pager.next(), kind, async body => {
        await handle(body)
        theirMore = (body as { More: boolean }).More
        const items = (body as { Items: unknown[] }).Items
        if (theirMore && items.length === 0) throw new WireError('shape', 'an empty page that announces more')
        return theirMore
      })
      if (pager.done && !theirMore) return
    }
  }

  /** One round: the initiator writes then reads, the responder reads then writes. */
  async #round (frame: () => Uint8Array | Promise<Uint8Array>, kind: StateKind, handle: (body: unknown) => boolean | Promise<boolean>): Promise<void> {
    this.#rounds++
    if (this.#init.initiator) {
      await this.#write(await frame())
      await this.#read(kind, handle)
    } else {
      await this.#read(kind, handle)
      await this.#write(await frame())
    }
  }

  #idle (): AbortSignal {
    return AbortSignal.any([this.#init.signal, AbortSignal.timeout(this.#init.idleMs)])
  }

  async #write (data: Uint8Array): Promise<void> {
    this.bytesSent += data.byteLength
    await this.#c.lp.write(data, { signal: this.#idle() })
  }

  async #read (kind: StateKind, handle: (body: unknown) => boolean | Promise<boolean>): Promise<void> {
    const data = (await this.#c.lp.read({ signal: this.#idle() })).subarray()
    this.bytesReceived += data.byteLength
    const frame = openStateFrame(data)
    if (frame.kind !== kind) throw new WireError('kind', `expected a frame of kind ${kind}, got ${frame.kind}`)
    await handle(frame.body)
  }
}

/** Average encoded record size, sampled from a few records (for the state-bytes figure). */
function averageRecordBytes (catalog: SessionCatalog): number {
  let bytes = 0
  let n = 0
  for (const host of catalog.hostnames()) {
    for (const svc of catalog.sampleRecords(host, 4)) { bytes += Buffer.byteLength(encodeService(svc)); n++ }
    if (n >= 32) break
  }
  return n === 0 ? 0 : Math.round(bytes / n)
}

/** Both sides' scopes combined: the hosts in both, or the one given, or undefined (every host). */
function intersect (a: readonly string[] | undefined, b: readonly string[] | undefined): ReadonlySet<string> | undefined {
  if (a === undefined) return b === undefined ? undefined : new Set(b)
  if (b === undefined) return new Set(a)
  const other = new Set(b)
  return new Set(a.filter(h => other.has(h)))
}

function bucketBytes (b: Buckets): number {
  return b.hashes.byteLength + b.counts.byteLength
}
