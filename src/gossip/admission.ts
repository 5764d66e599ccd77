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
//              it holds one; new keys admitted and not merged yet count until settle() (admission-caps.ts)
// Refusals are counted by reason (sidecar_gossip_records_refused_total) and logged rate-limited.
import type { Catalog, MergeRoom } from '../catalog/index.ts'
import type { Clock } from '../service/clock.ts'
import type { Logger } from '../lib/logger.ts'
import { Slicer } from '../lib/slicer.ts'
import { encodeService, recordKey, type Service } from '../service/index.ts'
import { cidrList } from '../lib/backend-ips.ts'
import { Caps, CapsBatch } from './admission-caps.ts'
import { AdmittedProofs } from './admission-proofs.ts'
import { checkBackends, checkSigner, checkTimes, explainRefusal, FORGERY_REASONS, type HostView, type RefuseReason } from './admission-rules.ts'
import type { GossipMetrics } from './metrics.ts'
import type { HostPins } from './pins.ts'
import type { Proof, ProofVerifier, RecordSigner, SealedRecord } from './proof.ts'

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

/** Refusal log lines per minute at most: a hostile peer must not flood the log. */
const REFUSE_LOGS_PER_MINUTE = 10
const NO_IPS: ReadonlySet<string> = new Set()

export class Admission {
  readonly #c: AdmissionComponents
  readonly #init: AdmissionInit
  readonly #allowed
  /** The proof of the newest admitted version of each remote record, so it can be relayed as it was signed. */
  readonly #proofs: AdmittedProofs
  /** The caps on records held, with every batch's new keys in flight. */
  readonly #caps: Caps
  /**
   * Canonical JSON prepare() encoded, by batch and position, for admit() of the same batch to
   * reuse. One entry per batch, not per record: a weak table grows with every key it ever held
   * until a collection clears the dead ones, and is rehashed in one piece each time it doubles
   * (tens of ms at a few hundred thousand entries, as many as a join decodes).
   */
  readonly #canonical = new WeakMap<readonly SealedRecord[], Array<string | undefined>>()
  #log = { minute: 0, count: 0 }

  constructor (components: AdmissionComponents, init: AdmissionInit) {
    this.#c = components
    this.#init = init
    this.#allowed = cidrList(init.backendCidrs)
    this.#proofs = new AdmittedProofs(components, init.hostname)
    this.#caps = new Caps(components, init)
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
      const held = this.#proofs.of(recordKey(r.svc))
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
    const caps = new CapsBatch()
    const out: AdmitResult = { admitted: [], refused: 0, forged: 0, room: svc => this.#caps.room(svc, caps), settle: () => { this.#caps.settle(caps) } }
    let now = this.#c.clock.now()
    const encoded = this.#canonical.get(records)
    this.#canonical.delete(records)
    const judge = (i: number): void => {
      const r = records[i]
      const canonical = encoded?.[i] ?? encodeService(r.svc)
      const key = recordKey(r.svc)
      const reason = this.#judge(r, key, canonical, now) ?? this.#caps.bound(r.svc, caps)
      if (r.svc.Hostname === this.#init.hostname && (reason === undefined || !FORGERY_REASONS.has(reason))) this.#c.ownRecord?.(r.svc, from)
      if (reason === undefined) {
        out.admitted.push(r.svc)
        this.#proofs.keep(key, r, canonical)
        return
      }
      out.refused++
      if (FORGERY_REASONS.has(reason)) out.forged++
      if (reason === 'not-departed') this.#reportDeparture(r)
      this.#refuse(reason, r, from, kind)
    }
    const resume = (): void => {
      now = this.#c.clock.now()
      caps.recount()
    }
    const end = (): AdmitResult => {
      this.#c.verifier.clearPrepared(records.flatMap(r => r.proof === undefined ? [] : [r.proof.sig]))
      return out
    }
    return { judge, resume, end }
  }

  /**
   * Records as they go on the wire (gossip messages, anti-entropy chunks): this host's own signed
   * as origin, another host's with the proof it was admitted with, a tombstone this node made for
   * another host signed as observer; one no proof covers is not sent (AdmittedProofs.seal).
   */
  seal (records: readonly Service[]): SealedRecord[] {
    return this.#proofs.seal(records)
  }

  /** seal(), with the signatures it must compute made off the main thread; same records, same order. */
  sealAsync (records: readonly Service[]): Promise<SealedRecord[]> {
    return this.#proofs.sealAsync(records)
  }

  /** Forgets proofs and signatures of records the catalog no longer holds, in time slices (AdmittedProofs.prune). */
  prune (): Promise<void> {
    return this.#proofs.prune()
  }

  /** The proof, membership, clock and backend rules for r (key: its recordKey, canonical: its canonical JSON). */
  #judge (r: SealedRecord, key: string, canonical: string, now: ReturnType<Clock['now']>): RefuseReason | undefined {
    const { svc, proof } = r
    if (proof === undefined) return 'unsigned'
    // the same version with the same proof as one already admitted: its signature was checked then
    const held = this.#proofs.of(key)
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
    const msg = `refused ${what} from ${from} (${kind}, ${signer}): ${explainRefusal(reason, this.#init)}`
    if (reason === 'not-member' || reason === 'not-departed' || reason === 'unknown-host' || reason === 'superseded') this.#c.logger.debug(msg)
    else this.#c.logger.warn(msg)
  }
}
