// Requests the API refuses before any route runs: counted by reason in
// sidecar_api_rejected_requests_total and logged at most once per LOG_EVERY_MS per reason
// (with how many were left out), so a flood of bad requests cannot flood the log too.
// Also the HTTP server's parse errors (431 for oversized headers, 400 for malformed HTTP),
// which never reach koa.
import type { Duplex } from 'node:stream'
import type { Logger } from '../lib/logger.ts'
import { http } from '../lib/node-http.ts'
import { LogThrottle } from '../lib/log-throttle.ts'
import type { Metrics } from '../lib/metrics.ts'

export type RejectReason = 'cross_origin' | 'foreign_host' | 'unauthorized' | 'stream_limit' | 'header_too_large' | 'bad_request' | 'request_timeout' | 'connect_method' | 'connection_limit'

/** One log line per reason per minute at most: a flood stays visible without filling the disk. */
export const LOG_EVERY_MS = 60_000

export interface RejectionsComponents {
  metrics: Metrics
  logger: Logger
  /** Milliseconds; injected so tests of the rate limit never sleep. */
  nowMs?: () => number
}

export class ApiRejections {
  readonly #counter
  readonly #logger: Logger
  readonly #nowMs: () => number
  readonly #throttles = new Map<RejectReason, LogThrottle>()

  constructor (c: RejectionsComponents) {
    this.#counter = c.metrics.counter('sidecar_api_rejected_requests_total', 'API requests refused before any route ran, by reason', ['reason'])
    this.#logger = c.logger
    this.#nowMs = c.nowMs ?? Date.now
  }

  /** Counts a refusal and logs it unless this reason was logged within LOG_EVERY_MS. */
  reject (reason: RejectReason, detail: string): void {
    this.#counter.inc({ reason })
    let throttle = this.#throttles.get(reason)
    if (throttle === undefined) this.#throttles.set(reason, throttle = new LogThrottle(LOG_EVERY_MS))
    const count = throttle.note(this.#nowMs())
    if (count === undefined) return
    const skipped = count - 1
    this.#logger.warn({ reason }, `api request refused (${reason}): ${detail}${skipped > 0 ? ` (${skipped} more refused for this reason since the last such line)` : ''}`)
  }

  /** The http.Server 'drop' handler: a connection closed at accept, [api] max_connections being open. */
  readonly onDrop = (remoteAddress: string | undefined, maxConnections: number): void => {
    this.reject('connection_limit', `${remoteAddress ?? '-'}: ${maxConnections} client connections open ([api] max_connections)`)
  }

  /** The http.Server 'connect' handler: the API is no proxy; CONNECT gets 405 (Node would close the socket silently). */
  readonly onConnect = (_req: unknown, socket: Duplex): void => {
    this.reject('connect_method', 'CONNECT is not served')
    const body = JSON.stringify({ message: 'Method Not Allowed - CONNECT is not served by this API', status: 'error' })
    socket.end(`HTTP/1.1 405 Method Not Allowed\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
  }

  /**
   * The http.Server 'clientError' handler: Node's own answer (431 for headers past
   * --max-http-header-size, 400 for malformed HTTP, 408 for a request head that never
   * completed), counted and logged; a reset connection is only closed, and so is one whose
   * answer to an earlier request has begun (a stream, or a document still being sent, with a
   * malformed request pipelined behind it): an error head there would land inside that
   * answer's body, as Node's own handler knows (it writes nothing then).
   */
  readonly onClientError = (err: NodeJS.ErrnoException, socket: Duplex): void => {
    if (err.code === 'ECONNRESET' || !socket.writable) { socket.destroy(); return }
    // the response this socket is sending (Node's own field, which its default handler reads)
    const sending = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } | null })._httpMessage
    const [status, reason]: [number, RejectReason] = err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'header_too_large']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'request_timeout'] : [400, 'bad_request']
    this.reject(reason, `${status} ${http.STATUS_CODES[status]} (${err.code ?? err.message})`)
    if (sending?.headersSent === true) { socket.destroy(); return }
    const body = JSON.stringify({ message: `${http.STATUS_CODES[status]} - ${reason === 'header_too_large' ? 'the request headers are larger than the server accepts' : 'the request is not valid HTTP/1.1'}`, status: 'error' })
    socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
  }
}
