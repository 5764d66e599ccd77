// One worker thread that takes batches of work, started on the first batch and ended after
// idleMs without one, so a quiet daemon holds no extra thread (a V8 isolate, several MB).
// The worker is an eval'd CommonJS script: it receives { id, req } and answers { id, res }
// or { id, error }. If it fails (a throw at start-up, an exit), every waiting batch rejects
// and so does every later one: the caller does the work another way from then on.
import { Worker, type ResourceLimits, type Transferable } from 'node:worker_threads'
import { errorMessage } from './errors.ts'

interface Reply<Res> { id: number, res?: Res, error?: string }

export class BatchWorker<Req, Res> {
  /** Names the worker in errors ("the signing worker failed: ..."). */
  readonly #name: string
  readonly #source: string
  readonly #workerData: unknown
  readonly #idleMs: number
  #worker: Worker | undefined
  readonly #waiting = new Map<number, PromiseWithResolvers<Res>>()
  #next = 0
  #idle: NodeJS.Timeout | undefined
  #closed = false

  readonly #limits: ResourceLimits | undefined

  /** limits: the worker's heap (a worker that outgrows it fails, and the caller does the work another way). */
  constructor (name: string, source: string, workerData: unknown, idleMs: number, limits?: ResourceLimits) {
    this.#name = name
    this.#source = source
    this.#workerData = workerData
    this.#idleMs = idleMs
    this.#limits = limits
  }

  /** True while the worker thread exists. */
  get running (): boolean { return this.#worker !== undefined }

  /** False once the worker failed or was closed: run() rejects from then on. */
  get usable (): boolean { return !this.#closed }

  /** The worker's answer to req. Rejects if the worker fails, is closed, or answers with an error. */
  async run (req: Req, transfer?: readonly Transferable[]): Promise<Res> {
    if (this.#closed) throw new Error(`the ${this.#name} worker is closed`)
    const worker = this.#worker ?? this.#spawn()
    clearTimeout(this.#idle)
    this.#idle = undefined
    const id = this.#next++
    const waiting = Promise.withResolvers<Res>()
    this.#waiting.set(id, waiting)
    worker.postMessage({ id, req }, transfer)
    return await waiting.promise
  }

  /** Ends the worker; batches still waiting reject. Never throws. */
  async close (): Promise<void> {
    this.#closed = true
    await this.#end(new Error(`the ${this.#name} worker is closed`))
  }

  #spawn (): Worker {
    const worker = new Worker(this.#source, { eval: true, workerData: this.#workerData, ...(this.#limits !== undefined ? { resourceLimits: this.#limits } : {}) })
    worker.unref() // never what keeps the process alive
    worker.on('message', (r: Reply<Res>) => {
      const waiting = this.#waiting.get(r.id)
      if (waiting === undefined) return
      this.#waiting.delete(r.id)
      if (r.error === undefined) waiting.resolve(r.res as Res)
      else waiting.reject(new Error(`the ${this.#name} worker failed: ${r.error}`))
      if (this.#waiting.size === 0 && this.#worker === worker) {
        this.#idle = setTimeout(() => { void this.#end(undefined) }, this.#idleMs)
        this.#idle.unref()
      }
    })
    worker.on('error', (err: unknown) => {
      this.#closed = true // a worker that fails once is not started again
      void this.#end(new Error(`the ${this.#name} worker failed: ${errorMessage(err)}`)) // a thrown value from another realm: its message
    })
    worker.on('exit', () => { if (this.#worker === worker) void this.#end(new Error(`the ${this.#name} worker exited`)) })
    this.#worker = worker
    return worker
  }

  async #end (err: Error | undefined): Promise<void> {
    clearTimeout(this.#idle)
    this.#idle = undefined
    const worker = this.#worker
    this.#worker = undefined
    for (const w of this.#waiting.values()) w.reject(err ?? new Error(`the ${this.#name} worker ended`))
    this.#waiting.clear()
    await worker?.terminate().catch(() => {})
  }
}
