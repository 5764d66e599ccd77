// Ed25519 verifications of record proofs in batches on up to VERIFY_THREADS worker threads,
// and of a lone record in the calling thread, with libsodium (the optional dependency
// sodium-native) when it is installed.
//
// Every record that arrives is verified, so verification is most of what a receiving daemon
// spends its CPU on: a 100,000-record join pull, every gossip message in a busy cluster.
// Measured here (docs/security-gossip.md has the figures): node:crypto's Ed25519 verify
// (OpenSSL) about 150 us of CPU, libsodium's about 75 us. node:crypto's callback form also
// costs the main thread a job, two buffers, a callback and a promise per signature; a batch
// posted to this worker costs it one message.
//
// A large batch (an anti-entropy page) is split over VERIFY_THREADS workers: with one, a
// 100,000-record join pull kept its worker 88 % busy and it was the pull's bottleneck.
//
// Without sodium-native (not installed, or no prebuilt binary for the platform) there is no
// worker: ProofVerifier verifies with node:crypto (on libuv's thread pool, a lone record in
// the main thread), as before. If the
// worker fails, verify() rejects, now and from then on, and ProofVerifier falls back the same way.
import { createRequire } from 'node:module'
import { availableParallelism } from 'node:os'
import { BatchWorker } from '../lib/batch-worker.ts'
import { WORKER_IDLE_MS } from './sign-worker.ts'

/** A batch: texts[i] signed by keys[keyOf[i]] (raw 32-byte Ed25519 public keys) as sigs[i] (base64). */
export interface VerifyBatch {
  texts: string[]
  sigs: string[]
  keys: Uint8Array[]
  keyOf: Uint32Array
}

// CommonJS (an eval'd worker is a script): sodium-native is loaded from the path the main
// thread resolved, so the worker finds it whatever the process's working directory.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const sodium = require(workerData.sodium)
parentPort.on('message', ({ id, req }) => {
  try {
    const keys = req.keys.map(k => Buffer.from(k.buffer, k.byteOffset, k.byteLength))
    const out = new Uint8Array(req.texts.length)
    for (let i = 0; i < out.length; i++) {
      const sig = Buffer.from(req.sigs[i], 'base64')
      const key = keys[req.keyOf[i]]
      out[i] = sig.byteLength === 64 && key !== undefined && key.byteLength === 32 && sodium.crypto_sign_verify_detached(sig, Buffer.from(req.texts[i]), key) ? 1 : 0
    }
    parentPort.postMessage({ id, res: out }, [out.buffer])
  } catch (err) {
    parentPort.postMessage({ id, error: String(err && err.message || err) })
  }
})
`

/** Worker threads at most: two (the main thread needs a core too), one on a single core. */
export const VERIFY_THREADS = Math.min(2, availableParallelism())
/**
 * A worker's own heap: it holds one batch at a time (a page of 1,000 texts is about 0.5 MB), so
 * a small heap suffices; V8 would otherwise size it like the main thread's.
 */
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 32 }
/** A batch is split over the threads only from this size: a few signatures cost less than a second message. */
const SPLIT_MIN = 64

export type SodiumVerify = (sig: Uint8Array, message: Uint8Array, key: Uint8Array) => boolean

const loaded = new Map<string, SodiumVerify | null>()

/**
 * libsodium's detached Ed25519 verify in the calling thread, from sodium-native's entry at
 * path (require.resolve), loaded once per path; null where it cannot load (no binary).
 */
export function sodiumVerifyAt (path: string): SodiumVerify | null {
  let fn = loaded.get(path)
  if (fn === undefined) {
    try {
      const sodium = createRequire(import.meta.url)(path) as { crypto_sign_verify_detached: SodiumVerify }
      fn = sodium.crypto_sign_verify_detached.bind(sodium)
    } catch {
      fn = null
    }
    loaded.set(path, fn)
  }
  return fn
}

export class VerifyWorker {
  readonly #workers: Array<BatchWorker<VerifyBatch, Uint8Array>>
  readonly #sodium: string

  /**
   * A worker verifying with sodium-native, or undefined when it is not installed. The module
   * itself is loaded in the worker only: a failure to load it (no binary for the platform)
   * fails the first batch, and the caller verifies another way from then on.
   */
  static create (idleMs: number = WORKER_IDLE_MS, threads: number = VERIFY_THREADS): VerifyWorker | undefined {
    let sodium: string
    try {
      sodium = createRequire(import.meta.url).resolve('sodium-native')
    } catch {
      return undefined
    }
    return new VerifyWorker(sodium, idleMs, threads)
  }

  /** sodium: the path of sodium-native's entry (require.resolve). */
  constructor (sodium: string, idleMs: number = WORKER_IDLE_MS, threads: number = VERIFY_THREADS) {
    this.#sodium = sodium
    this.#workers = Array.from({ length: Math.max(1, threads) }, () => new BatchWorker<VerifyBatch, Uint8Array>('verifying', WORKER_SOURCE, { sodium }, idleMs, WORKER_LIMITS))
  }

  /** How many worker threads exist now. */
  get running (): number { return this.#workers.filter(w => w.running).length }

  /** False once a worker failed or was closed. */
  get usable (): boolean { return this.#workers.every(w => w.usable) }

  /** One verdict per text (1 valid, 0 not), in order. Rejects if a worker fails or is closed. */
  async verify (batch: VerifyBatch): Promise<Uint8Array> {
    const n = batch.texts.length
    const parts = n < SPLIT_MIN ? 1 : this.#workers.length
    if (parts === 1) return await this.#workers[0].run(batch)
    const size = Math.ceil(n / parts)
    const verdicts = await Promise.all(this.#workers.map(async (w, i) => {
      const from = i * size
      return await w.run({ texts: batch.texts.slice(from, from + size), sigs: batch.sigs.slice(from, from + size), keys: batch.keys, keyOf: batch.keyOf.slice(from, from + size) })
    }))
    const out = new Uint8Array(n)
    for (const [i, v] of verdicts.entries()) out.set(v, i * size)
    return out
  }

  /**
   * One verification in the calling thread with libsodium (a lone record: a message to a
   * worker and back would cost more than the 75 us it takes): true or false, or undefined
   * where libsodium cannot load here (the caller verifies another way). Never throws.
   */
  verifyHere (sig: Uint8Array, message: Uint8Array, key: Uint8Array): boolean | undefined {
    const here = sodiumVerifyAt(this.#sodium)
    if (here === null) return undefined
    if (sig.byteLength !== 64 || key.byteLength !== 32) return false
    try {
      return here(sig, message, key)
    } catch {
      return false
    }
  }

  /** Ends the workers; batches still waiting reject. Never throws. */
  async close (): Promise<void> {
    await Promise.all(this.#workers.map(async w => { await w.close() }))
  }
}
