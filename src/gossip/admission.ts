// The one admission gate for remote records: every record a peer hands us, by gossip
// message or anti-entropy frame, passes admit() before catalog.merge(). In order:
//   proof      signed by the record's pinned origin, or (tombstones only) by an observer
//              host when the record's host departed in the observer's view and in ours
//   membership a live record's host is a member now (it proved its hostname to us directly)
//   clock      Updated and Created within MAX_FUTURE_SKEW_MS of our clock, Created >= MIN_CREATED
//   backends   every port IP is the host's own address or in [sidecar] backend_cidrs
//   bounds     records per host and in total (new keys only: updates always pass); records of
//              hostnames not pinned here (tombstones only) share one host's budget, outside the total;
//              a host's new record beyond a cap takes the place of that host's oldest tombstone, if
//              it holds one; new keys admitted and not merged yet count until settle()
// Refusals are counted by reason (sidecar_gossip_records_refused_total) and logged rate-limited.
import type { Catalog, MergeRoom } from '../catalog/index.ts'
import type { Clock } from '../service/clock.ts'
import type { Logger } from '../lib/logger.ts'
import { Slicer } from '../lib/slicer.ts'
import { encodeService, recordKey, ServiceStatus, type Service } from '../service/index.ts'
import { cidrList } from '../lib/backend-ips.ts'
import { checkBackends, checkSigner, checkTimes, FORGERY_REASONS, type HostView, type RefuseReason } from './admission-rules.ts'
import type { GossipMetrics } from './metrics.ts'
import { Pending } from './admission-pending.ts'
import type { HostPins } from './pins.ts'
import { sealedWith, type Proof, type ProofVerifier, type RecordSigner, type SealedRecord } from './proof.ts'

/** A live member as the gate sees it. */
export interface MemberView {
  peerId: string
  /** Addresses the member reports for itself and connects from. */
  ips: ReadonlySet<string>
}

export interface AdmissionComponents {
  catalog: Catalog
  clock: Clock
  logger: Logger
  metrics: GossipMetrics
  pins: HostPins
  verifier: ProofVerifier
  signer: RecordSigner
  /** The live member (or one within its departure grace) that holds hostname, if any. */
  member: (hostname: string) => MemberView | undefined
  /**
   * Called with every authentic version of this host's own records a peer hands us (they are
   * never merged: this host is their only writer), so that the origin can refute a version
   * that contradicts its own (refuter.ts).
   */
  ownRecord?: (svc: Service, from: string) => void
  /**
   * Called when an authentic observer's tombstone, newer than the record we hold, says that a
   * host we count as a live member departed: the observer lost it, and we may not have yet
   * (membership.ts departureReported). The tombstone itself is refused.
   */
  departureReported?: (hostname: string, observer: string) => void
}

export interface AdmissionInit {
  hostname: string
  maxRecordsPerHost: number
  maxRecords: number
  /** CIDRs a remote record's backend IPs may be in besides its host's own address. */
  backendCidrs: readonly string[]
}

export type AdmitKind = 'gossip' | 'anti-entropy'

export interface AdmitResult {
  admitted: Service[]
  refused: number
  /** Refusals that mean a forgery (bad or missing proof): the sender relayed it. */
  forged: number
  /**
   * How catalog.merge may store each admitted record (its `room`): 'any' for a new key given a
   * place under the caps (and this node's own records), 'displace' for a new key beyond a cap
   * (it takes the place of its host's oldest tombstone), 'held' for a new version of a record
   * held when judged (dropped if that record is given up before the merge).
   */
  room: (svc: Service) => MergeRoom
  /**
   * Ends the batch's hold on the caps: the new keys it admitted count against them, besides the
   * catalog, until this is called. Call it once the admitted records are merged, or will not be.
   * Idempotent.
   */
  settle: () => void
}

/** A record sealAsync() must have signed (origin or observer proof). */
class ToSign {
  readonly svc: Service
  readonly observer: boolean
  constructor (svc: Service, observer: boolean) {
    this.svc = svc
    this.observer = observer
  }
}

/** Records held, counted once per batch (again after each yield) and only when a new key needs them. */
interface HeldCounts {
  total: () => number
  /** Of hostnames not pinned on this node. */
  unpinned: () => number
}

/** Refusal log lines per minute at most: a hostile peer must not flood the log. */
const REFUSE_LOGS_PER_MINUTE = 10
const NO_IPS: ReadonlySet<string> = new Set()

export class Admission {
  readonly #c: AdmissionComponents
  readonly #init: AdmissionInit
  readonly #allowed
  /** The proof of the newest admitted version of each remote record, so it can be relayed as it was signed. */
  readonly #proofs = new Map<string, { sealed: SealedRecord, canonical: string }>()
  /**
   * Canonical JSON prepare() encoded, by batch and position, for admit() of the same batch to
   * reuse. One entry per batch, not per record: a weak table grows with every key it ever held
   * until a collection clears the dead ones, and is rehashed in one piece each time it doubles
   * (tens of ms at a few hundred thousand entries, as many as a join decodes).
   */
  readonly #canonical = new WeakMap<readonly SealedRecord[], Array<string | undefined>>()
  #log = { minute: 0, count: 0 }
  /** New keys of every batch admitted and not settled yet: the caps count them besides the catalog (gossipsub validates the messages of an RPC without waiting for the merges of those before). */
  readonly #pending = new Pending()

  constructor (components: AdmissionComponents, init: AdmissionInit) {
    this.#c = components
    this.#init = init
    this.#allowed = cidrList(init.backendCidrs)
  }

  /**
   * Verifies, ahead and in parallel, the proofs admit() would verify for these records (the
   * ones not already admitted in this version with this proof); admit() then finds the
   * verdicts ready. Never throws; admit() stays correct without it. The records' canonical
   * texts are made in time slices of the slicer's (a page of 1,000: 12 ms at the median).
   */
  async prepare (records: readonly SealedRecord[], slicer: Slicer = new Slicer()): Promise<void> {
    const items: Array<{ canonical: string, proof: Proof }> = []
    const encoded: Array<string | undefined> = new Array(records.length)
    for (let i = 0; i < records.length; i++) {
      if (slicer.due()) await slicer.next()
      const r = records[i]
      const proof = r.proof
      if (proof === undefined) continue
      const held = this.#proofs.get(recordKey(r.svc))
      if (held !== undefined && held.sealed.proof?.sig === proof.sig) continue
      const canonical = encoded[i] = encodeService(r.svc)
      items.push({ canonical, proof })
    }
    this.#canonical.set(records, encoded)
    await this.#c.verifier.prepare(items)
  }

  /** Judges records a peer (hostname or peer id `from`) handed us; returns those to merge. Never throws. */
  admit (records: readonly SealedRecord[], from: string, kind: AdmitKind): AdmitResult {
    const run = this.#run(records, from, kind)
    try {
      for (let i = 0; i < records.length; i++) run.judge(i)
    } catch (err) {
      run.end().settle() // nothing of the batch is merged: its new keys count no more
      throw err
    }
    return run.end()
  }

  /**
   * admit() in time slices of the slicer's, for an anti-entropy page (1,000 records: 9 ms at
   * the median, up to 65 ms on a loaded host in one piece). Between slices the catalog may
   * change: the time and the record count are read again after each yield.
   */
  async admitSliced (records: readonly SealedRecord[], from: string, kind: AdmitKind, slicer: Slicer = new Slicer()): Promise<AdmitResult> {
    const run = this.#run(records, from, kind)
    try {
      for (let i = 0; i < records.length; i++) {
        if (slicer.due()) {
          await slicer.next()
          run.resume()
        }
        run.judge(i)
      }
    } catch (err) {
      run.end().settle() // nothing of the batch is merged: its new keys count no more
      throw err
    }
    return run.end()
  }

  /** One admit() of records: judge(i) each in order, then end(); resume() after a yield to the event loop. */
  #run (records: readonly SealedRecord[], from: string, kind: AdmitKind): { judge: (i: number) => void, resume: () => void, end: () => AdmitResult } {
    const mine = new Pending()
    const places = new Map<Service, MergeRoom>() // new keys; a record not in it was a held record's new version
    const self = this.#init.hostname
    const room = (svc: Service): MergeRoom => places.get(svc) ?? (svc.Hostname === self ? 'any' : 'held')
    let settled = false
    const settle = (): void => {
      if (settled) return
      settled = true
      this.#pending.release(mine)
    }
    const out: AdmitResult = { admitted: [], refused: 0, forged: 0, room, settle }
    let now = this.#c.clock.now()
    let total = -1 // counted on first need: most batches only update existing keys
    let unpinned = -1 // so are the records held for unpinned hostnames (few batches bring new ones)
    const held: HeldCounts = {
      total: () => (total = total < 0 ? this.#c.catalog.count() : total),
      unpinned: () => (unpinned = unpinned < 0 ? this.#unpinnedHeld() : unpinned),
    }
    const encoded = this.#canonical.get(records)
    this.#canonical.delete(records)
    const judge = (i: number): void => {
      const r = records[i]
      const canonical = encoded?.[i] ?? encodeService(r.svc)
      const reason = this.#judge(r, canonical, now)
        ?? this.#bound(r.svc, held, mine, places)
      if (r.svc.Hostname === this.#init.hostname && (reason === undefined || !FORGERY_REASONS.has(reason))) this.#c.ownRecord?.(r.svc, from)
      if (reason === undefined) {
        out.admitted.push(r.svc)
        const key = recordKey(r.svc)
        const held = this.#proofs.get(key)
        if (held === undefined || r.svc.Updated.isAfter(held.sealed.svc.Updated)) this.#proofs.set(key, { sealed: r, canonical })
        return
      }
      out.refused++
      if (FORGERY_REASONS.has(reason)) out.forged++
      if (reason === 'not-departed') this.#reportDeparture(r)
      this.#refuse(reason, r, from, kind)
    }
    const resume = (): void => {
      now = this.#c.clock.now()
      total = -1
      unpinned = -1
    }
    const end = (): AdmitResult => {
      this.#c.verifier.clearPrepared(records.flatMap(r => r.proof === undefined ? [] : [r.proof.sig]))
      return out
    }
    return { judge, resume, end }
  }

  /**
   * Records as they go on the wire (gossip messages, anti-entropy chunks): this host's own
   * signed as origin; another host's with the proof it came with (the version its signer
   * signed: a locally kept DRAINING status is not sent as such); a tombstone this node made
   * for another host (departure, expiry) signed as observer. A record held in a version no
   * proof covers is not sent (counted): whoever made it will send it.
   */
  seal (records: readonly Service[]): SealedRecord[] {
    return this.#sealWith(records, (svc, observer) => this.#c.signer.seal(svc, observer))
  }

  /** seal(), with the signatures it must compute made off the main thread (RecordSigner.sealMany); same records, same order. */
  async sealAsync (records: readonly Service[]): Promise<SealedRecord[]> {
    const planned = this.#sealWith(records, (svc, observer) => new ToSign(svc, observer))
    const toSign = planned.filter(p => p instanceof ToSign)
    if (toSign.length === 0) return planned as SealedRecord[]
    const signed = await this.#c.signer.sealMany(toSign)
    let j = 0
    return planned.map(p => p instanceof ToSign ? signed[j++] : p)
  }

  #sealWith<T> (records: readonly Service[], sign: (svc: Service, observer: boolean) => T): Array<T | SealedRecord> {
    const out: Array<T | SealedRecord> = []
    for (const svc of records) {
      if (svc.Hostname === this.#init.hostname) {
        out.push(sign(svc, false))
        continue
      }
      const held = this.#proofs.get(recordKey(svc))
      // relayed with the canonical JSON it was verified with, so it is not encoded again (made
      // here, per relay, rather than kept per admitted record: a join admits 100,000 at once)
      if (held !== undefined && held.sealed.svc.Updated.equals(svc.Updated)) out.push(sealedWith(held.sealed.svc, held.sealed.proof, held.canonical))
      else if (svc.Status === ServiceStatus.TOMBSTONE) out.push(sign(svc, true))
      else this.#c.metrics.unsealable.inc()
    }
    return out
  }

  /**
   * Forgets proofs and signatures of records the catalog no longer holds. It looks at the
   * proofs held when it starts, in time slices: 100,000 of them took 80-90 ms in one go. A
   * proof added meanwhile (its record admitted, its merge maybe still to come) is left alone.
   */
  async prune (): Promise<void> {
    const { catalog } = this.#c
    const held = (key: string): boolean => {
      const i = key.indexOf('\u0000')
      return catalog.get(key.slice(0, i), key.slice(i + 1)) !== undefined
    }
    // Two flat arrays, not [...this.#proofs]: a [key, value] pair per proof is 100,000 small arrays
    // for the young generation to copy and promote before the first slice (13 ms against 4-5 for
    // 100,000 proofs alone; 81 ms with its collections in a profiled join).
    const keys = [...this.#proofs.keys()]
    const proofs = [...this.#proofs.values()]
    const slicer = new Slicer()
    for (let i = 0; i < keys.length; i++) {
      if (i % 256 === 255 && slicer.due()) await slicer.next()
      const key = keys[i]
      if (this.#proofs.get(key) === proofs[i] && !held(key)) this.#proofs.delete(key)
    }
    this.#c.signer.prune(held)
  }

  #judge (r: SealedRecord, canonical: string, now: ReturnType<Clock['now']>): RefuseReason | undefined {
    const { svc, proof } = r
    if (proof === undefined) return 'unsigned'
    // the same version with the same proof as one already admitted: its signature was checked then
    const held = this.#proofs.get(recordKey(svc))
    const known = held !== undefined && held.sealed.proof?.sig === proof.sig && held.sealed.proof.peer === proof.peer && held.sealed.proof.observer === proof.observer && held.canonical === canonical
    if (!known && !this.#c.verifier.check(canonical, proof)) return 'signature'
    const member = svc.Hostname === this.#init.hostname ? undefined : this.#c.member(svc.Hostname)
    const pinnedPeer = this.#c.pins.peerOf(svc.Hostname)
    const view: HostView = {
      self: this.#init.hostname,
      pinnedPeer,
      signerHost: this.#c.pins.hostnameOf(proof.peer),
      isMember: member !== undefined && member.peerId === pinnedPeer,
      hostIps: member?.ips ?? NO_IPS,
    }
    return checkSigner(svc, proof, view) ?? checkTimes(svc, now) ?? checkBackends(svc, view, this.#allowed)
  }

  /**
   * Caps on records held: only a record for a key we do not hold yet can be refused. A pinned
   * host's record counts against max_records_per_host and against max_records. Records of
   * hostnames not pinned here (origin tombstones of hosts that left before we met them, observer
   * tombstones: any key can sign those for made-up hostnames) share one host's budget,
   * max_records_per_host for all of them together, and are also refused once the catalog holds
   * max_records; they are not counted against a pinned host's new record, so they can never
   * crowd members out (the catalog holds max_records + max_records_per_host at most).
   * New keys admitted and not merged yet (#pending, every batch in flight) count as held.
   * A new record beyond a cap is admitted still when its own host holds (or has in flight, as
   * new keys) a tombstone not already promised to another such record: merged in room
   * 'displace', it takes the oldest one's place, so no count grows (a host that starts and
   * removes instances faster than its tombstones expire is not locked out by them). Never for
   * this node's own records. `places` gets the room of each new key admitted.
   * All O(1) per record, but for the two totals counted once per batch (HeldCounts).
   */
  #bound (svc: Service, held: HeldCounts, mine: Pending, places: Map<Service, MergeRoom>): RefuseReason | undefined {
    const { catalog } = this.#c
    const host = svc.Hostname
    if (catalog.get(host, svc.ID) !== undefined) return undefined
    if (catalog.superseded(svc)) return 'superseded'
    const pending = this.#pending
    const unknown = this.#isUnpinned(host)
    const { maxRecords, maxRecordsPerHost } = this.#init
    let over: RefuseReason | undefined
    if (unknown) {
      if (held.unpinned() + pending.unpinned >= maxRecordsPerHost) over = 'cap-unknown'
      else if (held.total() + pending.all >= maxRecords) over = 'cap-total'
    } else if (catalog.count(host) + (pending.adding.get(host) ?? 0) >= maxRecordsPerHost) {
      over = 'cap-host'
    } else if (held.total() + pending.all >= maxRecords && held.total() - held.unpinned() + pending.all - pending.unpinned >= maxRecords) {
      // the unpinned hostnames' records are counted (a pass over the hostnames) only when they may make the difference
      over = 'cap-total'
    }
    let how: 'adding' | 'adding-unpinned' | 'displacing' = unknown ? 'adding-unpinned' : 'adding'
    if (over !== undefined) {
      if (host === this.#init.hostname || catalog.tombstoneCount(host) + (pending.tombstones.get(host) ?? 0) <= (pending.displacing.get(host) ?? 0)) return over
      how = 'displacing'
    }
    places.set(svc, how === 'displacing' ? 'displace' : 'any')
    const tombstone = svc.Status === ServiceStatus.TOMBSTONE
    pending.add(host, how, tombstone)
    mine.add(host, how, tombstone)
    return undefined
  }

  /** A hostname no peer has proved to this node (this node's own is always known). */
  #isUnpinned (hostname: string): boolean {
    return hostname !== this.#init.hostname && this.#c.pins.peerOf(hostname) === undefined
  }

  /** Records held for unpinned hostnames: O(hostnames held). */
  #unpinnedHeld (): number {
    const { catalog } = this.#c
    let n = 0
    for (const host of catalog.hostnames()) if (this.#isUnpinned(host)) n += catalog.count(host)
    return n
  }

  /** An observer says a live member departed: worth a look only when its tombstone is newer than what we hold (not a replay). */
  #reportDeparture ({ svc, proof }: SealedRecord): void {
    if (svc.Hostname === this.#init.hostname || proof === undefined || this.#c.departureReported === undefined) return
    const held = this.#c.catalog.get(svc.Hostname, svc.ID)
    if (held !== undefined && !svc.Updated.isAfter(held.Updated)) return
    const observer = this.#c.pins.hostnameOf(proof.peer)
    if (observer !== undefined) this.#c.departureReported(svc.Hostname, observer)
  }

  #refuse (reason: RefuseReason, r: SealedRecord, from: string, kind: AdmitKind): void {
    this.#c.metrics.refused.inc({ reason })
    const minute = Math.floor(Date.now() / 60_000)
    if (this.#log.minute !== minute) this.#log = { minute, count: 0 }
    if (++this.#log.count > REFUSE_LOGS_PER_MINUTE) return
    const { svc, proof } = r
    const what = `${svc.Name} (${svc.ID}) of ${svc.Hostname}`
    const signer = proof === undefined ? 'no proof' : `${proof.observer ? 'observer' : 'origin'} proof by ${proof.peer}`
    const msg = `refused ${what} from ${from} (${kind}, ${signer}): ${explain(reason, this.#init)}`
    if (reason === 'not-member' || reason === 'not-departed' || reason === 'unknown-host' || reason === 'superseded') this.#c.logger.debug(msg)
    else this.#c.logger.warn(msg)
  }
}

function explain (reason: RefuseReason, init: AdmissionInit): string {
  switch (reason) {
    case 'unsigned': return 'the record carries no origin proof'
    case 'signature': return 'its signature does not verify'
    case 'unknown-host': return 'its hostname has not proved itself to this node yet (not pinned)'
    case 'pin': return 'signed by a peer other than the one its hostname is pinned to'
    case 'not-member': return 'its host is not a live member in this node\'s view'
    case 'observer': return 'an observer may only sign a tombstone of another, departed host'
    case 'not-departed': return 'a tombstone by an observer for a host that has not departed in this node\'s view'
    case 'future': return 'Updated is too far ahead of this node\'s clock'
    case 'created': return 'Created is before 2013 or ahead of this node\'s clock'
    case 'backend-ip': return 'a backend IP is neither its host\'s own address nor in [sidecar] backend_cidrs'
    case 'cap-host': return `its host already has ${init.maxRecordsPerHost} records ([sidecar] max_records_per_host)`
    case 'cap-total': return `this node already holds ${init.maxRecords} records ([sidecar] max_records)`
    case 'cap-unknown': return `hostnames not pinned on this node already have ${init.maxRecordsPerHost} records together ([sidecar] max_records_per_host)`
    case 'superseded': return 'its host gave up a newer tombstone on this node to make room for a new record: this version is older than what that tombstone recorded'
  }
}
