// One-shot answers in the bound on documents held for clients (held-documents.ts). A document
// sent whole (respond.ts sendParts: /services.json, /state.json, /services/<name>.json,
// explain, /servers, /api/proxy.json, /metrics) stays in memory, all of it, until its
// client has taken it, and one whose client never reads stays until that client closes: 24
// GETs of a 12.8 MB /api/services.json, each after a drain or an undrain (writes any client
// may make without a token), held +270 MB; at [api] max_connections (an eighth of the
// open-file limit: 2,500 at 20,000) that is tens of GB, for anyone who reaches the port. Here
// these documents count with the stream clients' ones, a document shared by several clients
// (one version's Buffers) once, within MAX_HELD_BYTES together; past it, the clients still
// holding the oldest are cut off: their connections reset (they read nothing, so no answer
// could reach them), counted in sidecar_api_answers_cut_total and logged at most once a
// minute. A client that reads, however slowly, keeps its answer unless others leave more than
// the bound of newer documents unread meanwhile.
import type { Context } from 'koa'
import type { Logger } from '../lib/logger.ts'
import { LogThrottle } from '../lib/log-throttle.ts'
import type { Metrics } from '../lib/metrics.ts'
import { MAX_HELD_BYTES, type DocumentHolder, type HeldDocuments } from './held-documents.ts'
import { LOG_EVERY_MS } from './rejections.ts'

export interface HeldAnswersComponents {
  /** The bound, shared with the stream routes. */
  held: HeldDocuments
  metrics: Metrics
  logger: Logger
  /** Milliseconds; injected so tests of the rate limit never sleep. */
  nowMs?: () => number
}

export class HeldAnswers {
  readonly #held: HeldDocuments
  readonly #logger: Logger
  readonly #nowMs: () => number
  readonly #cuts
  readonly #throttle = new LogThrottle(LOG_EVERY_MS)

  constructor (c: HeldAnswersComponents) {
    this.#held = c.held
    this.#logger = c.logger
    this.#nowMs = c.nowMs ?? Date.now
    this.#cuts = c.metrics.counter('sidecar_api_answers_cut_total', `API answers (documents) cut off unsent, with their connections: their clients had not read them while newer documents, ${MAX_HELD_BYTES / 2 ** 20} MiB together, were held for other clients that did not read either`)
  }

  /**
   * ctx's answer, the document `doc`, is about to be written: it counts in the bound until its
   * response has been handed to the socket whole, or closed. Never throws; may cut off the
   * clients of older documents (not this one).
   */
  readonly hold = (ctx: Context, doc: readonly Buffer[]): void => {
    const { res, method, path } = ctx
    const socket = ctx.req.socket
    const holder: DocumentHolder = {
      pending: () => !res.writableFinished,
      cut: reason => {
        if (socket.destroyed) return // gone already: nothing to cut
        this.#cuts.inc()
        const count = this.#throttle.note(this.#nowMs())
        if (count !== undefined) this.#logger.warn({ remote: socket.remoteAddress, path }, `API client ${socket.remoteAddress ?? '-'} cut off (${method} ${path}): ${reason}${count > 1 ? ` (${count - 1} more cut off for this since the last such line)` : ''}; logged at most once a minute`)
        // a reset: what its socket still holds, in the kernel too, is dropped at once (a close
        // would leave the kernel sending it to a client that does not read, for minutes)
        try { socket.resetAndDestroy() } catch { socket.destroy() } // a socket that is no TCP socket
      },
    }
    this.#held.hold(doc, holder)
    res.once('close', () => { this.#held.release(holder) })
  }
}
