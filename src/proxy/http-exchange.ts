// One client request and its attempts on backends: a keep-alive socket from the backend's
// pool, the rewritten head, the body bytes as they come (never copied, backpressure both
// ways), the response head parsed for status and framing, the body relayed, the socket
// handed back. Retries on another backend, passive health, 503/502/504 JSON answers,
// request and upgrade timeouts, stats and the access log live here.
import { budgetText, countFailure, IDEMPOTENT, isConnectError, logEjection } from './context.ts'
import { HttpParseError, type Head } from './h1/parser.ts'
import { responseFraming } from './h1/framing.ts'
import { ownResponse, requestHead, responseHead, responseHeadBound, writeResponseHead, type ClientConnection } from './headers.ts'
import type { ClientConn } from './http-conn.ts'
import type { Backend, Unavailable } from './pool.ts'
import type { Upstream, UpstreamUser } from './upstream.ts'

const RESET_CODES = new Set(['ECONNRESET', 'EPIPE'])
/** A response whose head and body arrive in one read and fit in this are sent in one write. */
const SMALL_RESPONSE_BYTES = 16 * 1024

export class Exchange implements UpstreamUser {
  readonly #conn: ClientConn
  readonly #head: Head
  readonly #hasBody: boolean
  readonly #headBytes: Buffer
  readonly #t0 = performance.now()
  #tried: Set<Backend> | undefined
  #retries = 0
  /** Sent again on a new connection to the same backend after a kept-alive one closed under it (once). */
  #staleRetried = false
  /** The last attempt's answer could not be read (its error), and it was retried: where no other backend is left, the client gets that 502. */
  #badAnswer: string | undefined
  /** An interim (1xx) answer went to the client: a bad answer after it is not retried. */
  #interimSent = false
  #holding: Backend | undefined
  /** #holding has not answered yet (Pool.waiting). */
  #awaiting = false
  #last: Backend | undefined
  #up: Upstream | undefined
  /** Request body bytes received before the backend socket was ready (copies). */
  #queue: Buffer[] = []
  #headSent = false
  #bodyDone: boolean
  #bodySent = false
  /** The client's socket should not be read (backend not ready, or the queued body not written yet). */
  bodyBlocked = false
  /** Final status (0 = no final response head yet). */
  #status = 0
  #respHead: Head | undefined
  /**
   * The final answer began before the whole request was handed to the kernel: whether the
   * backend reads what follows as the body or as its next request is unknown (a backend that
   * does the latter runs a request smuggled in the body and answers it to the next client of
   * the connection), so the connection is not reused.
   */
  #early = false
  #clientConn: ClientConnection = 'keep-alive-1.1'
  #tunnel = false
  #bytes = 0
  #finished = false

  constructor (conn: ClientConn, head: Head, hasBody: boolean) {
    this.#conn = conn
    this.#head = head
    this.#hasBody = hasBody
    this.#bodyDone = !hasBody
    this.#headBytes = requestHead(head, head.headers, conn.client, head.upgrade)
  }

  start (): void {
    const ctx = this.#conn.ctx
    ctx.stats.begin()
    const ms = this.#head.upgrade ? ctx.opts.headerTimeoutMs : ctx.opts.requestTimeoutMs
    if (ms > 0) this.#conn.armTimer(ms)
    const now = ctx.nowMs()
    ctx.budget.request(now)
    this.#attempt(now, ctx.pool.pick(now, this.#tried))
  }

  /** Sends the request to b (undefined: no backend left, the client gets #unavailable's answer); fresh: on a new connection (b once more). */
  #attempt (now: number, b: Backend | undefined, fresh = false): void {
    const ctx = this.#conn.ctx
    if (b === undefined) { this.#unavailable(ctx.pool.unavailable(now, this.#tried)); return }
    this.#release()
    b.inFlight++
    b.requests++
    ctx.pool.waiting(b, now)
    this.#awaiting = true
    this.#holding = b
    this.#last = b
    this.#headSent = false
    const up = ctx.connsFor(b).acquire(this, fresh)
    this.#up = up
    if (up.connected) this.onUpConnect()
    else if (this.#hasBody) { this.bodyBlocked = true; this.#conn.flow() }
  }

  onUpConnect (): void {
    const up = this.#up
    if (up === undefined || this.#headSent) return
    const s = up.socket
    this.#headSent = true
    let ok = true
    if (this.#queue.length === 0) {
      s.write(this.#headBytes)
    } else {
      s.cork()
      s.write(this.#headBytes)
      for (const q of this.#queue) ok = s.write(q)
      this.#bodySent = true
      this.#queue = []
      s.uncork()
    }
    this.bodyBlocked = !ok && !this.#bodyDone
    this.#conn.flow()
  }

  /** Body bytes from the client (last: the body is complete). */
  requestBody (chunk: Buffer, last: boolean): void {
    if (last) this.#bodyDone = true
    if (chunk.length === 0 || this.#finished) return
    const up = this.#up
    if (up === undefined || !this.#headSent) {
      this.#queue.push(Buffer.from(chunk)) // the client's read buffer is read into again
      this.bodyBlocked = true
      return
    }
    this.#bodySent = true
    // backpressure is the client's reads': they stop while this is queued
    const reads = this.#conn.reads
    reads.write(chunk, up.socket)
    reads.holdWhileQueued(up.socket)
  }

  onUpDrain (): void {
    if (!this.bodyBlocked) return
    this.bodyBlocked = false
    this.#conn.flow()
  }

  /** Sends a view of the backend socket's read (read-buffer.ts: copied, or held while queued). */
  #send (up: Upstream, view: Buffer): void {
    up.reads.write(view, this.#conn.socket)
    up.reads.holdWhileQueued(this.#conn.socket)
  }

  /** A backend connection is in use (connecting, or with a request in progress). */
  get hasBackend (): boolean { return this.#up !== undefined }

  /** The client sent bytes: its backend connection, which gets them, is not idle. */
  touchBackend (): void { this.#up?.touch() }

  onUpData (buf: Buffer): void {
    const up = this.#up
    if (up === undefined) return
    const client = this.#conn.socket
    if (this.#tunnel) {
      this.#send(up, buf)
      return
    }
    while (buf.length > 0) {
      if (this.#respHead === undefined) {
        let n: number
        try {
          n = up.parser.execute(buf)
        } catch (err) {
          this.#badResponse(up, err as HttpParseError)
          return
        }
        if (n < 0) return
        const head = up.parser.head as Head
        buf = buf.subarray(n)
        if (head.status < 200 && !(head.status === 101 && this.#head.upgrade)) {
          if (head.status === 101) { this.#badResponse(up, new HttpParseError('HPE_UNEXPECTED_101', 'switched protocols (101) for a request that offered no upgrade')); return }
          // 1xx (100-continue from the backend, 103): relayed, the final head follows; a
          // backend that sends them faster than the client reads waits for the client. Not to
          // an HTTP/1.0 client, which has no use for them (RFC 9110 §15.2; Node's
          // writeEarlyHints sends a 103 whatever the request's version)
          if (this.#head.versionMinor !== 0) {
            this.#interimSent = true
            if (!client.write(responseHead(head.status, head.reason, head.headers, 'keep-alive-1.1'))) up.reads.holdUntilDrained(client)
          }
          up.parser.reset()
          continue
        }
        this.#early = !this.#bodyDone || this.#queue.length > 0 || up.socket.writableLength > 0
        this.#respHead = head
        this.#onResponse(head)
        if (this.#tunnel) {
          client.write(responseHead(head.status, head.reason, head.headers, 'upgrade'))
          if (buf.length > 0) this.#send(up, buf)
          up.tunnel = true
          const early = this.#conn.startTunnel()
          if (early !== undefined) up.socket.write(early)
          // a client that half-closed before the 101 (with nothing sent after its request, it
          // was read then): the backend hears it now, as it would any later
          if (this.#conn.ended) this.tunnelClientEnd()
          return
        }
        up.body.start(responseFraming(head, this.#head.method))
        // a chunked answer to an HTTP/1.0 request breaks RFC 9112 §6.1 (a 1.0 client may not
        // read chunks): passed on as it came, but the connection closes after it, so a client
        // that reads until the close is not left waiting
        const conn = this.#clientConnection(head, up.body.kind === 'close' || (up.body.kind === 'chunked' && this.#head.versionMinor === 0))
        if (this.#whole(up, head, conn, buf)) return
        // this read's body bytes are checked before the head goes out: a chunk error among
        // them gets the client a 502, not a connection cut before any byte
        const n2 = this.#take(up, buf, true)
        if (n2 < 0) return
        client.cork()
        client.write(responseHead(head.status, head.reason, head.headers, conn))
        this.#relay(up, buf, n2)
        client.uncork()
        // checked after uncork: while corked, everything is queued
        up.reads.holdWhileQueued(client)
        if (up.body.done) this.#complete(n2 < buf.length)
        return
      }
      const n = this.#take(up, buf, false)
      if (n < 0) return
      this.#relay(up, buf, n)
      up.reads.holdWhileQueued(client)
      if (up.body.done) this.#complete(n < buf.length)
      return
    }
  }

  /**
   * The common small answer: head and whole body in this read. Sent as one buffer (one
   * write system call, no writev); the copy is of at most SMALL_RESPONSE_BYTES, never of
   * a large body.
   */
  #whole (up: Upstream, head: Head, conn: ClientConnection, buf: Buffer): boolean {
    if (up.body.kind !== 'length' || buf.length > SMALL_RESPONSE_BYTES) return false
    const n = up.body.take(buf)
    if (!up.body.done) { up.body.untake(n); return false }
    const out = Buffer.allocUnsafe(responseHeadBound(head.reason, head.headers) + n)
    const h = writeResponseHead(out, 0, head.status, head.reason, head.headers, conn)
    buf.copy(out, h, 0, n)
    this.#bytes += n
    this.#conn.socket.write(out.subarray(0, h + n))
    this.#complete(n < buf.length)
    return true
  }

  /**
   * How many bytes at the start of buf belong to the body, or -1 after a framing error (then
   * handled: a 502 when headless, the head not sent yet, else the client's connection cut).
   */
  #take (up: Upstream, buf: Buffer, headless: boolean): number {
    try {
      return up.body.take(buf)
    } catch (err) {
      if (headless) this.#status = 0 // no final head went out
      this.#badResponse(up, err as HttpParseError)
      return -1
    }
  }

  /**
   * Writes the n body bytes at the start of buf to the client (the caller then holds the
   * backend's reading while they are queued: up.reads.holdWhileQueued).
   */
  #relay (up: Upstream, buf: Buffer, n: number): void {
    if (n === 0) return
    this.#bytes += n
    up.reads.write(n === buf.length ? buf : buf.subarray(0, n), this.#conn.socket)
  }

  #clientConnection (resp: Head, untilClose: boolean): ClientConnection {
    const req = this.#head
    let c: ClientConnection
    // an upgrade offer answered with anything but 101 leaves the connection in HTTP/1.1 (RFC
    // 9110 §7.8: a server may ignore Upgrade), so it stays open like any other (a 101 never
    // comes here: it makes a tunnel)
    if (!req.keepAlive || untilClose || this.#conn.readingBody) c = 'close'
    else c = req.versionMinor === 0 ? 'keep-alive-1.0' : 'keep-alive-1.1'
    this.#clientConn = c
    void resp
    return c
  }

  #onResponse (head: Head): void {
    const ctx = this.#conn.ctx
    this.#conn.disarmTimer()
    this.#status = head.status
    if (head.status === 101) this.#tunnel = true
    const b = this.#holding
    if (b === undefined) return
    const now = ctx.nowMs()
    if (this.#awaiting) { this.#awaiting = false; ctx.pool.heard(b, now) }
    if (ctx.pool.response(b, head.status, now)) logEjection(ctx, b, `${head.status} responses in a row`)
  }

  /** The response body ended; extra: the backend sent bytes past it (not reused). */
  #complete (extra: boolean): void {
    const up = this.#up
    this.#up = undefined
    if (up !== undefined) {
      const reuse = !extra && !this.#early && this.#respHead?.keepAlive === true && !up.socket.destroyed
      if (reuse) up.release()
      else {
        if (extra) up.taint()
        up.user = undefined
        up.socket.destroy()
      }
    }
    this.#finish(true)
    this.#conn.next(this.#clientConn !== 'close')
  }

  onUpEnd (): void {
    const up = this.#up
    if (up === undefined) return
    if (this.#tunnel) { this.#conn.socket.end(); return }
    if (this.#respHead !== undefined && up.body.kind === 'close') {
      this.#up = undefined
      up.user = undefined
      up.socket.destroy()
      this.#finish(true)
      this.#conn.next(false)
      return
    }
    up.socket.destroy() // 'close' decides what happens
  }

  onUpClose (err: NodeJS.ErrnoException | undefined): void {
    const up = this.#up
    if (up === undefined || this.#finished) return
    this.#up = undefined
    if (this.#tunnel || this.#respHead !== undefined) {
      // a tunnel ends with either side, cleanly (a FIN) or not (a reset, after what the
      // backend sent: ClientConn.abort); a response cut by the backend is cut for the client
      // too, the same way, and counts against the backend as a reset before it would (not a
      // silence past idle_timeout: the client may be the one that stopped reading)
      if (this.#tunnel) {
        if (err === undefined) this.#conn.socket.end()
        else this.#conn.abort()
      } else {
        this.#conn.abort()
        if (this.#holding !== undefined && err?.code !== 'ETIMEDOUT') countFailure(this.#conn.ctx, this.#holding, err?.message ?? 'answer cut short')
      }
      this.#finish(this.#tunnel)
      return
    }
    const ctx = this.#conn.ctx
    const b = this.#holding as Backend
    this.#release()
    const connected = up.connected && (err === undefined || !isConnectError(err))
    const code = err?.code ?? 'ECONNRESET'
    if (connected && code === 'ETIMEDOUT') {
      // silent with the whole request in hand: a hung backend (deadlocked, stopped), which
      // counts against it as a reset does; not retried (the request may have run there)
      if (this.#requestDelivered()) countFailure(ctx, b, `no response within ${ctx.opts.idleTimeoutMs} ms`)
      this.#sendError(504, 'backend timeout', `${ctx.name} backend ${b.address} sent no response within ${ctx.opts.idleTimeoutMs} ms`)
      return
    }
    const reset = connected && RESET_CODES.has(code)
    if (!connected || (reset && !up.reused)) countFailure(ctx, b, err?.message ?? 'connection closed')
    const retryable = !connected || (reset && this.#resendable())
    if (retryable && reset && up.reused && !this.#staleRetried) {
      // the backend closed a kept-alive connection as the request went out (its keep-alive
      // timeout, 2 s for gunicorn, under the pool's 4 s): not the backend failing, and there
      // may be no other backend, so the same one again on a new connection, whatever the
      // retries setting and the retry budget (a race of the backend's timer, not a failure: it
      // adds one attempt at most per request, and only on a connection the backend kept alive), once
      this.#staleRetried = true
      ctx.stats.retry()
      ctx.logger.debug({ backend: b.address, err: err?.message }, `${ctx.name}:${ctx.port}: a kept-alive connection closed under ${this.#head.method} ${this.#head.url}: sending it again on a new one`)
      this.#attempt(ctx.nowMs(), b, true)
      return
    }
    const message = `${ctx.name} backend ${b.address} failed: ${err?.message ?? 'connection closed before a response'}`
    if (retryable && this.#retries < ctx.opts.retries && !(this.#bodySent && connected)) {
      this.#badAnswer = undefined
      if (this.#retryElsewhere(b, err?.message)) return
      this.#budgetSpent(message)
      return
    }
    this.#sendError(502, 'backend failed', message)
  }

  /** Tunnel (after a 101): client bytes (a view of its read) to the backend. */
  tunnelFromClient (view: Buffer): void {
    const up = this.#up
    if (up === undefined) return
    this.#conn.reads.write(view, up.socket)
    this.#conn.reads.holdWhileQueued(up.socket)
  }

  tunnelClientEnd (): void { this.#up?.socket.end() }

  /**
   * The client's socket closed: whatever is in progress is cancelled. A tunnel's backend
   * connection is reset when the client's was (aborted): a FIN would tell the backend the
   * client finished cleanly.
   */
  onClientClose (aborted: boolean): void {
    if (this.#finished) return
    this.#cancel(aborted && this.#tunnel)
    this.#finish(this.#tunnel)
  }

  /** The client's body broke its framing (bad chunk): 400 if nothing was answered yet. */
  abortRequest (err: Error): void {
    this.#conn.ctx.stats.reject('bad request', `${this.#conn.client}: ${err.message}`)
    this.#cancel()
    if (this.#status !== 0) { this.#conn.socket.destroy(); this.#finish(false); return }
    this.#sendError(400, 'bad request', err.message)
  }

  /**
   * An answer that cannot be read (a bad head or body framing) counts against its backend, as a
   * reset does, and its connection is closed. A response head that cannot be read, to a request
   * that would be sent again after a reset, is sent to another backend (within retries) while
   * nothing went to the client yet.
   */
  #badResponse (up: Upstream, err: HttpParseError): void {
    void up
    const ctx = this.#conn.ctx
    const b = this.#holding
    this.#cancel()
    if (b !== undefined) countFailure(ctx, b, err.message)
    if (this.#status !== 0) { this.#conn.socket.destroy(); this.#finish(false); return }
    const message = `${ctx.name} backend ${this.#last?.address ?? '-'} sent an invalid response: ${err.message}`
    if (b !== undefined && this.#respHead === undefined && !this.#interimSent && this.#resendable() && !this.#bodySent && this.#retries < ctx.opts.retries) {
      this.#badAnswer = message
      if (this.#retryElsewhere(b, err.message)) return
      this.#budgetSpent(message)
      return
    }
    this.#sendError(502, 'bad response', message)
  }

  /** Sent again after a reset before any response byte, or an answer that could not be read: a method that may run twice, with no body and no upgrade. */
  #resendable (): boolean {
    return IDEMPOTENT.has(this.#head.method) && !this.#hasBody && !this.#head.upgrade
  }

  /**
   * The request goes to a backend other than those tried (b now among them), as one of its
   * retries, if the listener's retry budget allows one; where no other backend is left, the
   * client gets the 503/502 of #unavailable as before. Returns false when the budget refused
   * the retry (the caller answers the client; nothing was sent anywhere).
   */
  #retryElsewhere (b: Backend, why: string | undefined): boolean {
    const ctx = this.#conn.ctx
    ;(this.#tried ??= new Set()).add(b)
    const now = ctx.nowMs()
    const next = ctx.pool.pick(now, this.#tried)
    // with no backend left nothing is sent, so the budget is not asked (#attempt answers)
    if (next !== undefined) {
      if (!ctx.budget.retry(now)) {
        ctx.stats.retryRefused()
        ctx.logger.debug({ backend: b.address, err: why }, `${ctx.name}:${ctx.port}: not retrying ${this.#head.method} ${this.#head.url}: retry budget spent`)
        return false
      }
      this.#retries++
      ctx.stats.retry()
      ctx.logger.debug({ backend: b.address, err: why }, `${ctx.name}:${ctx.port}: retrying ${this.#head.method} ${this.#head.url} on another backend`)
    }
    this.#attempt(now, next)
    return true
  }

  /** A failed request the retry budget did not let go to another backend: the 502 it would get with no retries left. */
  #budgetSpent (message: string): void {
    const { name, port, budget } = this.#conn.ctx
    this.#sendError(502, 'retry budget spent', `${message}; not retried: the retry budget of ${name}:${port} is spent (${budgetText(budget)})`)
  }

  /** No response head (or upgrade answer) within ms: 504. Called by the connection's timer (armTimer). */
  onTimeout (ms: number): void {
    if (this.#status !== 0 || this.#finished) return
    const b = this.#holding
    const delivered = this.#requestDelivered()
    this.#cancel()
    if (b !== undefined && delivered) countFailure(this.#conn.ctx, b, `no ${this.#head.upgrade ? 'upgrade answer' : 'response head'} within ${ms} ms`)
    const what = this.#head.upgrade ? 'upgrade handshake' : 'response'
    this.#sendError(504, this.#head.upgrade ? 'upgrade timeout' : 'request timeout', `${this.#conn.ctx.name}: no ${what} within ${ms} ms`)
  }

  /**
   * The backend has had the whole request (the client sent all of it and it went out): no
   * answer after that is the backend's doing, not a slow client's.
   */
  #requestDelivered (): boolean {
    return this.#headSent && this.#bodyDone && this.#queue.length === 0
  }

  /** Drops the backend socket of the current attempt (its bytes are no longer wanted). */
  #cancel (reset = false): void {
    const up = this.#up
    this.#up = undefined
    if (up !== undefined) {
      up.user = undefined
      if (reset && !up.socket.destroyed) up.socket.resetAndDestroy()
      else up.socket.destroy()
    }
    this.#release()
  }

  #release (): void {
    const b = this.#holding
    if (b === undefined) return
    b.inFlight--
    if (this.#awaiting) { this.#awaiting = false; this.#conn.ctx.pool.heard(b, undefined) }
    this.#holding = undefined
  }

  #unavailable (why: Unavailable): void {
    const ctx = this.#conn.ctx
    if (this.#badAnswer !== undefined) { this.#sendError(502, 'bad response', this.#badAnswer); return }
    if (this.#tried !== undefined) { this.#sendError(502, 'all backends failed', `${ctx.name}: every backend tried failed (${this.#tried.size} tried)`); return }
    const ignored = ctx.ignored()
    if (why === 'no healthy instance' && ignored.length > 0) {
      this.#sendError(503, 'port conflict', `no healthy instance of ${ctx.name} on port ${ctx.port}, which it keeps in a port conflict with ${ignored.join(', ')} (not proxied here)`)
      return
    }
    this.#sendError(503, why, `no backend available for ${ctx.name} on port ${ctx.port}: ${why}`)
  }

  #sendError (status: number, reason: string, message: string): void {
    const ctx = this.#conn.ctx
    if (this.#finished) return
    this.#status = status
    const close = !this.#head.keepAlive || this.#head.upgrade || !this.#bodyDone || this.#conn.readingBody
    const body = JSON.stringify({ message, reason, service: ctx.name, port: ctx.port, status: 'error' })
    this.#bytes = Buffer.byteLength(body)
    const extra = (status === 503 ? 'retry-after: 1\r\n' : '') + (!close && this.#head.versionMinor === 0 ? 'connection: keep-alive\r\n' : '')
    this.#conn.socket.write(ownResponse(status, body, close, extra), 'latin1')
    this.#finish(true)
    this.#conn.next(!close)
  }

  #finish (complete: boolean): void {
    if (this.#finished) return
    this.#finished = true
    this.#conn.disarmTimer()
    this.#release()
    const ctx = this.#conn.ctx
    const ms = performance.now() - this.#t0
    const failed = !complete || this.#status === 0
    ctx.stats.end(this.#status, ms / 1000, failed)
    if (ctx.accessLog.enabled) {
      ctx.accessLog.write({
        service: ctx.name, port: ctx.port, backend: this.#last?.address ?? '-', method: this.#head.upgrade ? 'UPGRADE' : this.#head.method, path: this.#head.url,
        status: complete ? this.#status : 0, bytes: this.#bytes, durationMs: ms, retries: this.#retries, client: this.#conn.client,
      })
    }
  }
}
