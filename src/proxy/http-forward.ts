// The http-mode hot path: one client request -> one backend request over keep-alive
// connections, with retries on another backend, passive health, timeouts, X-Forwarded-*
// headers, and a JSON 503 when no backend is available.
// Requests without a body (most of them) go through undici's per-backend pools: side by
// side on this machine they served 1.3-1.5x the requests/s of node:http's client at
// concurrency 64 (README, bench/proxy). Requests with a body go through node:http, which
// lets the body wait until the backend connection is up, so a failed connect can still be
// retried elsewhere (undici would have consumed the body stream). http-proxy-3 serves
// upgrades (upgrade.ts).
import http from 'node:http'
import type { Dispatcher } from 'undici'
import { clientAddress, ConnectTimeoutError, IDEMPOTENT, isConnectError, type ListenerContext } from './context.ts'
import { requestHead, responseHeaderObject, responseHeaders, type RequestHead } from './headers.ts'
import type { Backend, Unavailable } from './pool.ts'

const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET'])
/** undici's names for "could not connect": nothing was sent. */
const UNDICI_CONNECT = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_CONNECT'])

export function forwardHttp (ctx: ListenerContext, req: http.IncomingMessage, res: http.ServerResponse): void {
  new Exchange(ctx, req, res).attempt()
}

/** One client request and its attempts. */
class Exchange {
  readonly #ctx: ListenerContext
  readonly #req: http.IncomingMessage
  readonly #res: http.ServerResponse
  readonly #head: RequestHead
  readonly #t0 = performance.now()
  #tried: Set<Backend> | undefined
  #retries = 0
  /** Number of the current attempt: callbacks of earlier ones are ignored. */
  #attempt = 0
  /** Cancels the current attempt's backend request. */
  #cancel: (() => void) | undefined
  /** The backend whose in-flight count this request holds. */
  #holding: Backend | undefined
  #lastBackend: Backend | undefined
  #status = 0
  #bytes = 0
  #timer: NodeJS.Timeout | undefined
  #closed = false

  constructor (ctx: ListenerContext, req: http.IncomingMessage, res: http.ServerResponse) {
    this.#ctx = ctx
    this.#req = req
    this.#res = res
    this.#head = requestHead(req.rawHeaders, clientAddress(req.socket.remoteAddress))
    ctx.stats.begin()
    res.once('close', () => { this.#onClose() })
    if (ctx.opts.requestTimeoutMs > 0) this.#timer = setTimeout(() => { this.#onRequestTimeout() }, ctx.opts.requestTimeoutMs)
  }

  attempt (): void {
    const ctx = this.#ctx
    const b = ctx.pool.pick(ctx.nowMs(), this.#tried)
    if (b === undefined) {
      this.#unavailable(ctx.pool.unavailable(ctx.nowMs(), this.#tried))
      return
    }
    this.#hold(b)
    b.requests++
    const n = ++this.#attempt
    if (!this.#head.hasBody) {
      try {
        this.#viaUndici(n, b)
        return
      } catch {
        // a request undici refuses to send as given (an unusual header): node:http takes it
      }
    }
    this.#viaNode(n, b)
  }

  #viaUndici (n: number, b: Backend): void {
    const res = this.#res
    let controller: Dispatcher.DispatchController | undefined
    let started = false
    this.#cancel = () => { controller?.abort(new Error('cancelled')) }
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart: (c) => { controller = c },
      onResponseStart: (c, status, headers, message) => {
        if (n !== this.#attempt || this.#closed) { c.abort(new Error('stale')); return }
        started = true
        this.#response(b, status)
        res.writeHead(status, message ?? '', responseHeaderObject(headers))
      },
      onResponseData: (c, chunk) => {
        if (!started) return
        this.#bytes += chunk.length
        if (!res.write(chunk)) {
          c.pause()
          res.once('drain', () => { c.resume() })
        }
      },
      onResponseEnd: () => { if (started) res.end() },
      onResponseError: (_c, err: NodeJS.ErrnoException) => {
        const code = err.code ?? ''
        const connected = !(UNDICI_CONNECT.has(code) || isConnectError(err))
        this.#onError(n, b, err, connected, false)
      },
    }
    this.#ctx.dispatcherFor(b).dispatch({ method: this.#req.method ?? 'GET', path: this.#req.url ?? '/', headers: this.#head.headers, body: null }, handler)
  }

  #viaNode (n: number, b: Backend): void {
    const ctx = this.#ctx
    const up = http.request({ host: b.spec.ip, port: b.spec.port, method: this.#req.method, path: this.#req.url, headers: this.#head.headers, agent: ctx.agent })
    this.#cancel = () => { up.destroy() }
    let connected = false
    const onConnected = (): void => {
      connected = true
      if (this.#head.hasBody) this.#req.pipe(up)
      else up.end()
    }
    up.once('socket', (sock) => {
      if (!sock.connecting) { onConnected(); return }
      const ms = ctx.opts.connectTimeoutMs
      const timer = setTimeout(() => { up.destroy(new ConnectTimeoutError(b.address, ms)) }, ms)
      sock.once('connect', () => { clearTimeout(timer); onConnected() })
      sock.once('close', () => { clearTimeout(timer) })
    })
    up.once('response', (pres) => {
      if (n !== this.#attempt || this.#closed) { pres.resume(); return }
      this.#response(b, pres.statusCode ?? 502)
      this.#res.writeHead(this.#status, pres.statusMessage, responseHeaders(pres.rawHeaders))
      if (ctx.accessLog.enabled) pres.on('data', (chunk: Buffer) => { this.#bytes += chunk.length })
      pres.on('error', () => { this.#res.destroy() })
      pres.pipe(this.#res)
    })
    up.on('error', (err) => { this.#onError(n, b, err, connected, up.reusedSocket) })
  }

  #hold (b: Backend): void {
    this.#release()
    b.inFlight++
    this.#holding = b
    this.#lastBackend = b
  }

  #release (): void {
    if (this.#holding !== undefined) this.#holding.inFlight--
    this.#holding = undefined
  }

  /** A response head arrived from b. */
  #response (b: Backend, status: number): void {
    clearTimeout(this.#timer)
    this.#status = status
    if (this.#ctx.pool.response(b, status, this.#ctx.nowMs())) this.#ejected(b, `${status} responses in a row`)
  }

  /**
   * A backend request failed. Before any response byte: a failed connect is retried on
   * another backend (nothing was sent); a reset is retried for idempotent requests without
   * a body. Both count for passive health, except a reset on a reused keep-alive connection
   * (the backend closing an idle connection as we sent: not its health).
   */
  #onError (n: number, b: Backend, err: NodeJS.ErrnoException, connected: boolean, reusedSocket: boolean): void {
    if (n !== this.#attempt || this.#closed) return
    const ctx = this.#ctx
    if (this.#status !== 0) {
      this.#res.destroy() // the response had started: the client sees a cut response
      return
    }
    this.#release()
    const reset = connected && RESET_CODES.has(err.code ?? '')
    if (!connected || (reset && !reusedSocket)) {
      if (ctx.pool.failure(b, ctx.nowMs())) this.#ejected(b, err.message)
    }
    const retryable = !connected || (reset && IDEMPOTENT.has(this.#req.method ?? '') && !this.#head.hasBody)
    if (retryable && this.#retries < ctx.opts.retries) {
      (this.#tried ??= new Set()).add(b)
      this.#retries++
      ctx.stats.retry()
      ctx.logger.debug({ backend: b.address, err: err.message }, `${ctx.name}:${ctx.port}: retrying ${this.#req.method} ${this.#req.url} on another backend`)
      this.attempt()
      return
    }
    this.#sendError(502, 'backend failed', `${ctx.name} backend ${b.address} failed: ${err.message}`)
  }

  #ejected (b: Backend, why: string): void {
    this.#ctx.stats.ejection()
    this.#ctx.logger.warn({ backend: b.address }, `${this.#ctx.name}:${this.#ctx.port}: ejected ${b.address} (${b.spec.hostname}/${b.spec.id}) for ${Math.round((b.outlier.ejectedUntil - this.#ctx.nowMs()) / 1000)} s: ${why}`)
  }

  #unavailable (why: Unavailable): void {
    const ctx = this.#ctx
    if (this.#tried !== undefined) {
      this.#sendError(502, 'all backends failed', `${ctx.name}: every backend tried failed (${this.#tried.size} tried)`)
      return
    }
    const ignored = ctx.ignored()
    if (why === 'no healthy instance' && ignored.length > 0) {
      this.#sendError(503, 'port conflict', `no healthy instance of ${ctx.name} on port ${ctx.port}, which it keeps in a port conflict with ${ignored.join(', ')} (not proxied here)`)
      return
    }
    this.#sendError(503, why, `no backend available for ${ctx.name} on port ${ctx.port}: ${why}`)
  }

  #onRequestTimeout (): void {
    if (this.#status !== 0 || this.#closed) return
    this.#attempt++ // whatever the backend does now is ignored
    this.#cancel?.()
    this.#release()
    this.#sendError(504, 'request timeout', `${this.#ctx.name}: no response within ${this.#ctx.opts.requestTimeoutMs} ms`)
  }

  #sendError (status: number, reason: string, message: string): void {
    if (this.#res.headersSent || this.#closed) { this.#res.destroy(); return }
    this.#status = status
    const body = JSON.stringify({ message, reason, service: this.#ctx.name, port: this.#ctx.port, status: 'error' })
    this.#bytes = Buffer.byteLength(body)
    this.#res.writeHead(status, { 'content-type': 'application/json', 'content-length': this.#bytes, ...(status === 503 ? { 'retry-after': '1' } : {}) })
    this.#res.end(body)
  }

  #onClose (): void {
    if (this.#closed) return
    this.#closed = true
    clearTimeout(this.#timer)
    const complete = this.#res.writableFinished
    if (!complete) this.#cancel?.()
    this.#release()
    const ctx = this.#ctx
    const ms = performance.now() - this.#t0
    ctx.stats.end(this.#status, ms / 1000, !complete || this.#status === 0)
    if (ctx.accessLog.enabled) {
      ctx.accessLog.write({
        service: ctx.name, port: ctx.port, backend: this.#lastBackend?.address ?? '-', method: this.#req.method ?? '-', path: this.#req.url ?? '-',
        status: complete ? this.#status : 0, bytes: this.#bytes, durationMs: ms, retries: this.#retries, client: clientAddress(this.#req.socket.remoteAddress),
      })
    }
  }
}
