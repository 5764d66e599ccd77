// Ed25519 signatures in batches on one worker thread. node:crypto's sign with a callback
// (the thread pool) still costs the main thread 12-25 us per signature here (a job object,
// its buffers, a callback and a promise each), and a host with 10,000 services signs tens
// of thousands of records in its first seconds (every change is sent five times, each
// re-stamped). A batch of texts posted to a worker costs the main thread about 1 us a
// signature, and the garbage of one message instead of hundreds of jobs.
// The worker starts on the first batch and ends after WORKER_IDLE_MS without work, so a
// quiet daemon holds no extra thread. If it fails, sign() rejects, now and from then on, and
// the caller signs another way (RecordSigner falls back to the thread pool).
import { Worker } from 'node:worker_threads'
import { errorMessage } from '../lib/errors.ts'

/** An idle worker (a V8 isolate, several MB) is ended after this long without a batch. */
export const WORKER_IDLE_MS = 30_000

// CommonJS (an eval'd worker is a script): the key arrives once, as PKCS#8 DER, in workerData.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const { createPrivateKey, sign } = require('node:crypto')
const key = createPrivateKey({ key: Buffer.from(workerData.pkcs8), format: 'der', type: 'pkcs8' })
parentPort.on('message', ({ id, texts }) => {
  try {
    parentPort.postMessage({ id, sigs: texts.map(t => sign(null, Buffer.from(t), key).toString('base64')) })
  } catch (err) {
    parentPort.postMessage({ id, error: String(err && err.message || err) })
  }
})
`

interface Reply { id: number, sigs?: string[], error?: string }

export class SignWorker {
  readonly #pkcs8: Uint8Array
  readonly #idleMs: number
  #worker: Worker | undefined
  readonly #waiting = new Map<number, PromiseWithResolvers<string[]>>()
  #next = 0
  #idle: NodeJS.Timeout | undefined
  #closed = false

  /** pkcs8: the Ed25519 private key, PKCS#8 DER (copied to the worker when it starts). */
  constructor (pkcs8: Uint8Array, idleMs: number = WORKER_IDLE_MS) {
    this.#pkcs8 = pkcs8
    this.#idleMs = idleMs
  }

  /** True while the worker thread exists. */
  get running (): boolean { return this.#worker !== undefined }

  /** Base64 Ed25519 signatures of texts (UTF-8), in order. Rejects if the worker fails or is closed. */
  async sign (texts: readonly string[]): Promise<string[]> {
    if (this.#closed) throw new Error('the signing worker is closed')
    const worker = this.#worker ?? this.#spawn()
    clearTimeout(this.#idle)
    this.#idle = undefined
    const id = this.#next++
    const waiting = Promise.withResolvers<string[]>()
    this.#waiting.set(id, waiting)
    worker.postMessage({ id, texts })
    return await waiting.promise
  }

  /** Ends the worker; batches still waiting reject. Never throws. */
  async close (): Promise<void> {
    this.#closed = true
    await this.#end(new Error('the signing worker is closed'))
  }

  #spawn (): Worker {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { pkcs8: this.#pkcs8 } })
    worker.unref() // never what keeps the process alive
    worker.on('message', (r: Reply) => {
      const waiting = this.#waiting.get(r.id)
      if (waiting === undefined) return
      this.#waiting.delete(r.id)
      if (r.sigs !== undefined) waiting.resolve(r.sigs)
      else waiting.reject(new Error(`the signing worker failed: ${r.error ?? 'no reason given'}`))
      if (this.#waiting.size === 0 && this.#worker === worker) {
        this.#idle = setTimeout(() => { void this.#end(undefined) }, this.#idleMs)
        this.#idle.unref()
      }
    })
    worker.on('error', (err: unknown) => {
      this.#closed = true // a worker that fails once is not started again: callers sign another way from now on
      void this.#end(new Error(`the signing worker failed: ${errorMessage(err)}`)) // a thrown value from another realm: its message
    })
    worker.on('exit', () => { if (this.#worker === worker) void this.#end(new Error('the signing worker exited')) })
    this.#worker = worker
    return worker
  }

  async #end (err: Error | undefined): Promise<void> {
    clearTimeout(this.#idle)
    this.#idle = undefined
    const worker = this.#worker
    this.#worker = undefined
    for (const w of this.#waiting.values()) w.reject(err ?? new Error('the signing worker ended'))
    this.#waiting.clear()
    await worker?.terminate().catch(() => {})
  }
}
