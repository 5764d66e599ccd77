// The proofs of the records the admission gate admitted (admission.ts), kept so that each record
// is relayed as its signer signed it, and the sealing of records for the wire that needs them:
// the gate's seal(), sealAsync() and prune() are these.
import type { Catalog } from '../catalog/index.ts'
import { recordKey, ServiceStatus, type Service } from '../service/index.ts'
import type { GossipMetrics } from './metrics.ts'
import { sealedWith, type RecordSigner, type SealedRecord } from './proof.ts'
import { Slicer } from '../lib/slicer.ts'

/** The proof of an admitted version, with the canonical JSON it was verified with. */
export interface HeldProof {
  readonly sealed: SealedRecord
  readonly canonical: string
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

export class AdmittedProofs {
  readonly #c: { catalog: Catalog, metrics: GossipMetrics, signer: RecordSigner }
  /** This node's hostname: its own records are signed here, never relayed. */
  readonly #hostname: string
  /** The proof of the newest admitted version of each remote record, by record key. */
  readonly #proofs = new Map<string, HeldProof>()

  constructor (components: { catalog: Catalog, metrics: GossipMetrics, signer: RecordSigner }, hostname: string) {
    this.#c = components
    this.#hostname = hostname
  }

  /** The proof held for a record (key: recordKey), of the newest version admitted. */
  of (key: string): HeldProof | undefined {
    return this.#proofs.get(key)
  }

  /** r (key: recordKey(r.svc)) was admitted, verified with canonical: its proof is kept unless one of a newer version is. */
  keep (key: string, r: SealedRecord, canonical: string): void {
    const held = this.#proofs.get(key)
    if (held === undefined || r.svc.Updated.isAfter(held.sealed.svc.Updated)) this.#proofs.set(key, { sealed: r, canonical })
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
      if (svc.Hostname === this.#hostname) {
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
}
