// Ed25519 signatures in batches on one worker thread. node:crypto's sign with a callback
// (the thread pool) still costs the main thread 12-25 us per signature here (a job object,
// its buffers, a callback and a promise each), and a host with 10,000 services signs tens
// of thousands of records in its first seconds (every change is sent five times, each
// re-stamped). A batch of texts posted to a worker costs the main thread about 1 us a
// signature, and the garbage of one message instead of hundreds of jobs.
// The worker starts on the first batch and ends after WORKER_IDLE_MS without work, so a
// quiet daemon holds no extra thread (lib/batch-worker.ts). If it fails, sign() rejects, now
// and from then on, and the caller signs another way (RecordSigner falls back to the thread pool).
import { BatchWorker } from '../lib/batch-worker.ts'

/** An idle worker (a V8 isolate, several MB) is ended after this long without a batch. */
export const WORKER_IDLE_MS = 30_000

// CommonJS (an eval'd worker is a script): the key arrives once, as PKCS#8 DER, in workerData.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const { createPrivateKey, sign } = require('node:crypto')
const key = createPrivateKey({ key: Buffer.from(workerData.pkcs8), format: 'der', type: 'pkcs8' })
parentPort.on('message', ({ id, req }) => {
  try {
    parentPort.postMessage({ id, res: req.map(t => sign(null, Buffer.from(t), key).toString('base64')) })
  } catch (err) {
    parentPort.postMessage({ id, error: String(err && err.message || err) })
  }
})
`

export class SignWorker {
  readonly #worker: BatchWorker<readonly string[], string[]>

  /** pkcs8: the Ed25519 private key, PKCS#8 DER (copied to the worker when it starts). */
  constructor (pkcs8: Uint8Array, idleMs: number = WORKER_IDLE_MS) {
    this.#worker = new BatchWorker('signing', WORKER_SOURCE, { pkcs8 }, idleMs)
  }

  /** True while the worker thread exists. */
  get running (): boolean { return this.#worker.running }

  /** Base64 Ed25519 signatures of texts (UTF-8), in order. Rejects if the worker fails or is closed. */
  async sign (texts: readonly string[]): Promise<string[]> {
    return await this.#worker.run(texts)
  }

  /** Ends the worker; batches still waiting reject. Never throws. */
  async close (): Promise<void> {
    await this.#worker.close()
  }
}
