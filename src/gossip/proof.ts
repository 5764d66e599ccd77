// Origin proofs: every record on the wire carries an Ed25519 signature by the libp2p key
// of the host that vouches for it, so a record relayed by a third party (anti-entropy,
// gossipsub forwarding) still proves who made it.
//
//   origin proof    the record's own host signed it (any status)
//   observer proof  another host signed a TOMBSTONE of it, saying "this host departed in my view"
//
// What is signed: a domain tag, the cluster name, the proof kind and the record's canonical
// JSON (service/codec.ts encodeService, the field order of the original), so a proof cannot be
// replayed into another cluster or turned from an observer's into an origin's. The peer id is
// an Ed25519 identity multihash: it carries the public key, so no key exchange is needed.
// Signing and verifying use node:crypto directly (about 20-50 us each). Signatures are cached
// here; verifications are skipped by the admission gate for a record it already admitted in
// the same version with the same proof (only admitted records are remembered, so a peer
// sending endless valid-but-refused records cannot grow any cache).
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { encodeService, recordKey, type Service } from '../service/index.ts'
import { SignWorker } from './sign-worker.ts'
import type { VerifyWorker } from './verify-worker.ts'

/** A record's proof as the wire carries it (never in the JSON API). */
export interface Proof {
  /** The signer's libp2p peer id (base58). */
  readonly peer: string
  /** Ed25519 signature, base64. */
  readonly sig: string
  /** true: an observer's departure tombstone; false: the origin's own record. */
  readonly observer: boolean
}

/** A record and its proof, as it travels. proof is undefined for a record that arrived without one. */
export interface SealedRecord {
  readonly svc: Service
  readonly proof?: Proof
  /**
   * encodeService(svc), when whoever sealed or admitted the record has it already (the signer
   * encodes to sign, admission to verify): the wire encoding reuses it instead of encoding the
   * record again for every message and anti-entropy page that carries it. It names the record
   * object it is the text of, so a copy with another svc ({ ...sealed, svc }) is encoded afresh
   * (canonicalOf), never sent as the text of the record it was copied from.
   */
  readonly canonical?: Canonical
}

/** A record's canonical JSON and the record object it was made from. */
export interface Canonical { readonly of: Service, readonly json: string }

/** r's canonical JSON if it carries that of r.svc itself, else undefined. */
export function canonicalOf (r: SealedRecord): string | undefined {
  return r.canonical?.of === r.svc ? r.canonical.json : undefined
}

/** A sealed record with json, which must be encodeService(svc), tied to svc. */
export function sealedWith (svc: Service, proof: Proof | undefined, json: string): SealedRecord {
  return { svc, proof, canonical: { of: svc, json } }
}

const DOMAIN = 'sidecar-record/1'
/**
 * Signatures sealMany() sends to the signing worker rather than the thread pool: below it
 * (a few status changes) the thread pool costs little, and a quiet daemon never starts the
 * worker; a send of hundreds (a start, a round of repeats) goes to the worker.
 */
export const WORKER_MIN_BATCH = 32
/** Proofs prepare() sends to the verifying worker at least (see prepare). */
export const WORKER_MIN_VERIFY = 16
/** Public keys kept (one per signer). */
const KEY_CACHE_MAX = 4096
/** Verdicts prepare() keeps at most: a few pages of concurrent exchanges. */
const PREPARED_MAX = 20_000

// DER prefixes that wrap a raw Ed25519 seed (PKCS#8) or public key (SPKI) for node:crypto
export const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex')
export const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex')

/** The exact bytes a proof signs. */
export function signedText (clusterName: string, observer: boolean, canonical: string): string {
  return `${DOMAIN}\0${clusterName}\0${observer ? 'observer' : 'origin'}\0${canonical}`
}

/** Signs records with this node's key; one signature per (record key, version, kind), cached. */
export class RecordSigner {
  readonly peer: string
  readonly #key: KeyObject
  readonly #clusterName: string
  readonly #cache = new Map<string, { canonical: string, proof: Proof }>()
  readonly #worker: SignWorker

  constructor (privateKey: PrivateKey, peer: string, clusterName: string) {
    if (privateKey.type !== 'Ed25519') throw new TypeError(`record signing needs an Ed25519 node key, got ${privateKey.type}`)
    const pkcs8 = Buffer.concat([PKCS8_ED25519, privateKey.raw.subarray(0, 32)])
    this.#key = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' })
    this.#worker = new SignWorker(pkcs8)
    this.peer = peer
    this.#clusterName = clusterName
  }

  /** Ends the signing worker (gossip's stop). Never throws; seal() and sealMany() still work after it. */
  async close (): Promise<void> {
    await this.#worker.close()
  }

  /** Signs svc (origin proof when it is this host's, observer proof otherwise). */
  seal (svc: Service, observer: boolean): SealedRecord {
    const key = recordKey(svc)
    const canonical = encodeService(svc)
    const hit = this.#cache.get(key)
    if (hit !== undefined && hit.canonical === canonical && hit.proof.observer === observer) return sealedWith(svc, hit.proof, canonical)
    const sig = sign(null, Buffer.from(signedText(this.#clusterName, observer, canonical)), this.#key)
    return sealedWith(svc, this.#remember(key, canonical, observer, sig.toString('base64')), canonical)
  }

  /**
   * seal() for many records, with the signatures not cached made off the main thread: a batch
   * of WORKER_MIN_BATCH or more on the signing worker (sign-worker.ts), fewer (or if the worker
   * fails) on the thread pool (sealAsync). Same cache, same proofs, same order.
   */
  async sealMany (items: ReadonlyArray<{ svc: Service, observer: boolean }>): Promise<SealedRecord[]> {
    const out: SealedRecord[] = []
    const misses: Array<{ i: number, key: string, canonical: string, observer: boolean }> = []
    for (const [i, { svc, observer }] of items.entries()) {
      const key = recordKey(svc)
      const canonical = encodeService(svc)
      const hit = this.#cache.get(key)
      out.push(sealedWith(svc, hit?.proof, canonical))
      if (hit === undefined || hit.canonical !== canonical || hit.proof.observer !== observer) misses.push({ i, key, canonical, observer })
    }
    if (misses.length === 0) return out
    if (misses.length >= WORKER_MIN_BATCH) {
      try {
        const sigs = await this.#worker.sign(misses.map(m => signedText(this.#clusterName, m.observer, m.canonical)))
        for (const [j, m] of misses.entries()) out[m.i] = sealedWith(items[m.i].svc, this.#remember(m.key, m.canonical, m.observer, sigs[j]), m.canonical)
        return out
      } catch {
        // the worker failed or is closed: the thread pool below
      }
    }
    await Promise.all(misses.map(async m => { out[m.i] = await this.sealAsync(items[m.i].svc, m.observer) }))
    return out
  }

  /**
   * seal(), with the signature computed on libuv's thread pool (node:crypto's sign with a
   * callback): the main thread only encodes the record and hands the job over (a few us
   * instead of 35-100 us per signature), so the sends of 10,000 records (each change is
   * repeated, re-stamped, for the alive rounds) no longer hold the event loop for seconds.
   * Same cache, same proof. Rejects only if node:crypto fails to sign.
   */
  async sealAsync (svc: Service, observer: boolean): Promise<SealedRecord> {
    const key = recordKey(svc)
    const canonical = encodeService(svc)
    const hit = this.#cache.get(key)
    if (hit !== undefined && hit.canonical === canonical && hit.proof.observer === observer) return sealedWith(svc, hit.proof, canonical)
    const sig = await new Promise<Buffer>((resolve, reject) => {
      sign(null, Buffer.from(signedText(this.#clusterName, observer, canonical)), this.#key, (err, out) => { if (err === null) resolve(out); else reject(err) })
    })
    return sealedWith(svc, this.#remember(key, canonical, observer, sig.toString('base64')), canonical)
  }

  #remember (key: string, canonical: string, observer: boolean, sig: string): Proof {
    const proof: Proof = { peer: this.peer, sig, observer }
    this.#cache.set(key, { canonical, proof })
    return proof
  }

  /** Forgets cached signatures of records no longer held (keep returns false). */
  prune (keep: (key: string) => boolean): void {
    for (const key of this.#cache.keys()) if (!keep(key)) this.#cache.delete(key)
  }

  get cached (): number { return this.#cache.size }
}

/** A signer's public key, in node:crypto's form and raw (for the verifying worker). */
interface SignerKey { readonly object: KeyObject, readonly raw: Uint8Array }

/** Checks proofs. */
export class ProofVerifier {
  readonly #clusterName: string
  readonly #keys = new Map<string, SignerKey | null>()
  /** Verdicts computed ahead by prepare(), by signature; each is used once, for the same text and signer only. */
  readonly #prepared = new Map<string, { peer: string, text: string, ok: boolean }>()
  readonly #worker: VerifyWorker | undefined
  /** Ed25519 verifications actually computed (for tests and the fuzz figures). */
  computed = 0

  /** worker: verifies prepare()'s batches (verify-worker.ts); without it, or once it failed, the thread pool does. */
  constructor (clusterName: string, worker?: VerifyWorker) {
    this.#clusterName = clusterName
    this.#worker = worker
  }

  /** Which way prepare() verifies now: 'worker' (libsodium on a worker thread) or 'thread pool' (node:crypto). */
  get backend (): 'worker' | 'thread pool' { return this.#worker?.usable === true ? 'worker' : 'thread pool' }

  /** Ends the verifying worker (gossip's stop). Never throws; the verifier still works after it, on the thread pool. */
  async close (): Promise<void> {
    await this.#worker?.close()
  }

  /**
   * Verifies a page of proofs ahead, off the main thread, so that check() finds the verdicts
   * ready: a 100,000-record join pull spent 60 % of its time in one-at-a-time verifications
   * on the main thread (about 105 us each here). A batch of WORKER_MIN_VERIFY or more goes to
   * the verifying worker when there is one; smaller ones, or all if the worker fails, to
   * libuv's thread pool (node:crypto's verify with a callback), from two up (check() verifies
   * a lone record). So the worker starts for bulk only (an anti-entropy page, a host's burst
   * of changes) and ends when that is over: a cluster's steady trickle of one-record messages
   * would otherwise keep a thread (a V8 isolate, several MB) alive on every daemon.
   * Only an optimisation: check() verifies itself whatever prepare() did not cover. Never throws.
   */
  async prepare (items: ReadonlyArray<{ canonical: string, proof: Proof }>): Promise<void> {
    if (items.length === 0) return
    if (items.length >= WORKER_MIN_VERIFY && this.#worker?.usable === true) {
      try {
        await this.#prepareOnWorker(this.#worker, items)
        return
      } catch {
        // the worker failed or is closed: the thread pool below
      }
    }
    if (items.length < 2) return
    await Promise.all(items.map(async ({ canonical, proof }) => {
      const text = signedText(this.#clusterName, proof.observer, canonical)
      const key = this.#publicKey(proof.peer)
      const sig = Buffer.from(proof.sig, 'base64')
      const ok = key !== null && sig.byteLength === 64 && await new Promise<boolean>(resolve => {
        try {
          verify(null, Buffer.from(text), key.object, sig, (err, valid) => { resolve(err === null && valid) })
        } catch {
          resolve(false)
        }
      })
      this.computed++
      this.#keep(proof, text, ok)
    }))
  }

  async #prepareOnWorker (worker: VerifyWorker, items: ReadonlyArray<{ canonical: string, proof: Proof }>): Promise<void> {
    const texts: string[] = []
    const sigs: string[] = []
    const keys: Uint8Array[] = []
    const keyOf: number[] = []
    const slot = new Map<string, number>()
    const sent: Proof[] = []
    for (const { canonical, proof } of items) {
      const text = signedText(this.#clusterName, proof.observer, canonical)
      const key = this.#publicKey(proof.peer)
      if (key === null) { this.#keep(proof, text, false); continue }
      let k = slot.get(proof.peer)
      if (k === undefined) { slot.set(proof.peer, k = keys.length); keys.push(key.raw) }
      texts.push(text)
      sigs.push(proof.sig)
      keyOf.push(k)
      sent.push(proof)
    }
    if (sent.length === 0) return
    const verdicts = await worker.verify({ texts, sigs, keys, keyOf: Uint32Array.from(keyOf) })
    for (const [i, proof] of sent.entries()) {
      this.computed++
      this.#keep(proof, texts[i], verdicts[i] === 1)
    }
  }

  #keep (proof: Proof, text: string, ok: boolean): void {
    if (this.#prepared.size < PREPARED_MAX) this.#prepared.set(proof.sig, { peer: proof.peer, text, ok })
  }

  /**
   * Forgets verdicts prepare() computed and check() did not use (the admission gate calls it
   * after each batch, with that batch's proofs: batches validated at the same time, gossip
   * messages on the thread pool, keep theirs). Without sigs, forgets them all.
   */
  clearPrepared (sigs?: Iterable<string>): void {
    if (sigs === undefined) { this.#prepared.clear(); return }
    for (const sig of sigs) this.#prepared.delete(sig)
  }

  /** True when proof is a valid signature by proof.peer over svc, whose canonical JSON is given. Never throws. */
  check (canonical: string, proof: Proof): boolean {
    const text = signedText(this.#clusterName, proof.observer, canonical)
    const pre = this.#prepared.get(proof.sig)
    if (pre !== undefined) {
      this.#prepared.delete(proof.sig)
      if (pre.peer === proof.peer && pre.text === text) return pre.ok
    }
    const key = this.#publicKey(proof.peer)
    if (key === null) return false
    let ok: boolean
    try {
      const sig = Buffer.from(proof.sig, 'base64')
      const message = Buffer.from(text)
      this.computed++
      ok = sig.byteLength === 64 && (this.#worker?.verifyHere(sig, message, key.raw) ?? verify(null, message, key.object, sig))
    } catch {
      ok = false
    }
    return ok
  }

  #publicKey (peer: string): SignerKey | null {
    let key = this.#keys.get(peer)
    if (key !== undefined) return key
    try {
      const pub = peerIdFromString(peer).publicKey
      key = pub?.type === 'Ed25519' ? { object: createPublicKey({ key: Buffer.concat([SPKI_ED25519, pub.raw]), format: 'der', type: 'spki' }), raw: pub.raw } : null
    } catch {
      key = null
    }
    if (this.#keys.size >= KEY_CACHE_MAX) this.#keys.clear()
    this.#keys.set(peer, key)
    return key
  }
}
