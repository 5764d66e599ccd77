// One client connection in http mode, on a raw socket: parses each request head (llhttp,
// strict), frames its body, hands both to an Exchange, and takes the next pipelined request
// only when the previous response is done (responses go back in order) and the client takes
// its answers (see #waitingDrain). After a 101 the connection becomes a tunnel between the
// client and the backend. The socket reads into read-buffer.ts's buffers: what is kept past a
// read (a partial head, a pipelined request) is copied, body bytes go on as views.
import type net from 'node:net'
import { clientAddress, type ListenerContext } from './context.ts'
import { BodyReader, FramingError, requestFraming } from './h1/framing.ts'
import { HeadParser, HttpParseError, type RefusalStatus } from './h1/parser.ts'
import { forwardedRequest } from './h1/request.ts'
import { ownResponse } from './headers.ts'
import { Exchange } from './http-exchange.ts'
import type { IdleEntry } from './idle.ts'
import { adopt, SocketReads } from './read-buffer.ts'
import { resetAfterFlush } from './reset-after-flush.ts'
import type { Rejection } from './stats.ts'

type State = 'head' | 'body' | 'wait' | 'tunnel' | 'closing'

export class ClientConn implements IdleEntry {
  readonly socket: net.Socket
  readonly reads: SocketReads
  readonly ctx: ListenerContext
  readonly client: string
  readonly #parser = new HeadParser('request')
  readonly #body = new BodyReader()
  #state: State = 'head'
  /** Bytes received and not yet handled (a pipelined request waits here). */
  #pending: Buffer | undefined
  #exchange: Exchange | undefined
  #headTimer: NodeJS.Timeout | undefined
  /**
   * The timer of the exchange in progress (request or upgrade timeout), one per connection and
   * re-armed with refresh(): a new timer per request was a measurable share of what each
   * request allocated, and young-generation collections are much of the proxy's cost.
   */
  #timer: NodeJS.Timeout | undefined
  #timerMs = 0
  /** The current exchange is waiting for its response (a firing timer is ignored otherwise). */
  #timerArmed = false
  /** The client half-closed: finish the current response, then close. */
  #ended = false
  /** Inside #process: an exchange that ends at once (a 503) must not recurse into it. */
  #processing = false
  /**
   * The client is not reading its answers (its socket's write buffer is over its high-water
   * mark): no next request is taken, and nothing more read, until the socket drains. Without
   * this, a client that pipelines small requests and never reads made the proxy buffer every
   * answer in memory: 10 MB of requests held 345 MB.
   */
  #waitingDrain = false
  readonly #onDrain = (): void => {
    this.#waitingDrain = false
    this.lastActive = this.ctx.idle.now // reading its answers is activity too
    this.#process()
  }
  readonly #onGone: (c: ClientConn) => void
  /**
   * Activity for the idle timeout: its reads. While an exchange holds a backend connection,
   * that connection's timeout decides instead (504 when the backend stays silent).
   */
  lastActive = 0
  readonly onIdle = (): void => {
    // waiting on a backend: its own idle timeout ends the exchange with a 504, then this goes on
    if (this.#exchange?.hasBackend === true) { this.ctx.idle.add(this); return }
    this.socket.destroy()
  }

  /** accepted: from a server made with pauseOnConnect (see adopt()). */
  constructor (ctx: ListenerContext, accepted: net.Socket, onGone: (c: ClientConn) => void) {
    this.ctx = ctx
    this.#onGone = onGone
    this.reads = new SocketReads((view) => {
      this.lastActive = ctx.idle.now
      try {
        this.#onData(view)
      } catch (err) {
        // a bug here must cost one connection, never the daemon
        ctx.logger.error({ err }, `${ctx.name}:${ctx.port}: closing a client connection after an internal error`)
        this.socket.destroy()
      }
    })
    const socket = adopt(accepted, this.reads, false)
    this.socket = socket
    this.client = clientAddress(socket.remoteAddress)
    ctx.idle.add(this)
    socket.on('end', () => { this.#onEnd() })
    socket.on('error', () => { /* 'close' follows */ })
    socket.on('close', (hadError) => {
      ctx.idle.delete(this)
      clearTimeout(this.#headTimer)
      clearTimeout(this.#timer)
      this.#timerArmed = false
      this.#state = 'closing'
      this.#parser.close()
      this.#body.close()
      this.#exchange?.onClientClose(hadError)
      this.#exchange = undefined
      this.#onGone(this)
    })
  }

  /** Between requests with nothing received and every answer handed to the kernel: safe to close when draining. */
  get idle (): boolean { return this.#state === 'head' && this.#exchange === undefined && !this.#parser.started && this.#pending === undefined && !this.#waitingDrain && this.socket.writableLength === 0 }

  /** The request body is still arriving. */
  get readingBody (): boolean { return this.#state === 'body' }

  #onData (view: Buffer): void {
    this.#exchange?.touchBackend()
    if (this.#state === 'tunnel') { this.#exchange?.tunnelFromClient(view); return }
    if (this.#state === 'closing') return
    this.#pending = this.#pending === undefined ? view : Buffer.concat([this.#pending, view])
    this.#process()
    // the read buffer is read into again: bytes kept for later must be a copy
    if (this.#pending !== undefined && this.#pending.buffer === view.buffer) this.#pending = Buffer.from(this.#pending)
  }

  #onEnd (): void {
    this.#ended = true
    if (this.#state === 'tunnel') { this.#exchange?.tunnelClientEnd(); return }
    // a request complete before the half-close is still answered; a cut one never will be
    if (this.#state === 'body') { this.socket.destroy(); return }
    if (this.#exchange !== undefined || this.#state === 'closing') return // next() or #refuse ends it
    // between requests (a partial head is cut): the answers before may still be queued here
    // (under the high-water mark nothing waited for them), and destroy() would drop them: end()
    // sends them, then the FIN; with none queued, the FIN goes now
    this.#state = 'closing'
    this.#pending = undefined
    this.socket.end()
  }

  #process (): void {
    this.#processing = true
    try {
      this.#loop()
    } finally {
      this.#processing = false
    }
    this.flow()
  }

  #loop (): void {
    while (this.#pending !== undefined && this.#state !== 'closing' && !this.#waitingDrain && !this.socket.destroyed) {
      const buf = this.#pending
      if (this.#state === 'head') {
        let n: number
        try {
          n = this.#parser.execute(buf)
        } catch (err) {
          this.#reject(err as HttpParseError)
          return
        }
        if (n < 0) {
          this.#pending = undefined
          this.#headTimer ??= setTimeout(() => { this.#headTimeout() }, this.ctx.opts.headerTimeoutMs)
          break
        }
        clearTimeout(this.#headTimer)
        this.#headTimer = undefined
        this.#pending = n < buf.length ? buf.subarray(n) : undefined
        const parsed = this.#parser.head
        if (parsed === undefined) return
        let framing
        let head
        try {
          if (parsed.method === 'CONNECT') throw new FramingError('CONNECT is not supported: this is a reverse proxy')
          framing = requestFraming(parsed)
          head = forwardedRequest(parsed, framing.kind !== 'none')
        } catch (err) {
          this.#reject(err as Error)
          return
        }
        this.#body.start(framing)
        this.#state = this.#body.done ? 'wait' : 'body'
        this.#exchange = new Exchange(this, head, framing.kind !== 'none')
        this.#exchange.start()
        continue
      }
      if (this.#state === 'body') {
        let n: number
        try {
          n = this.#body.take(buf)
        } catch (err) {
          this.#exchange?.abortRequest(err as Error)
          return
        }
        this.#pending = n < buf.length ? buf.subarray(n) : undefined
        if (this.#body.done) this.#state = 'wait'
        this.#exchange?.requestBody(n === buf.length ? buf : buf.subarray(0, n), this.#body.done)
        continue
      }
      break // wait (the next request waits for this response) or tunnel
    }
  }

  /** Reads from the client only while there is somewhere to put the bytes. */
  flow (): void {
    this.reads.setBlocked(this.#waitingDrain || (this.#state === 'wait' && this.#pending !== undefined) || this.#exchange?.bodyBlocked === true)
  }

  /** The current exchange times out after ms unless disarmTimer() comes first. */
  armTimer (ms: number): void {
    this.#timerArmed = true
    if (this.#timer !== undefined && this.#timerMs === ms) {
      this.#timer.refresh()
      return
    }
    clearTimeout(this.#timer)
    this.#timerMs = ms
    this.#timer = setTimeout(() => {
      if (!this.#timerArmed) return
      this.#timerArmed = false
      this.#exchange?.onTimeout(ms)
    }, ms)
  }

  disarmTimer (): void { this.#timerArmed = false }

  /** The exchange is done; keep: the client may send another request. */
  next (keep: boolean): void {
    this.#exchange = undefined
    if (!keep || this.#ended || this.#state === 'body' || this.#state === 'closing') {
      this.#state = 'closing'
      this.socket.end()
      // a client that does not close its side is cut after the idle timeout
      return
    }
    this.#state = 'head'
    this.#parser.reset()
    if (this.socket.writableNeedDrain) {
      this.#waitingDrain = true
      this.socket.once('drain', this.#onDrain)
      this.flow()
      return
    }
    // an answer given at once (no backend: 503) comes back here from inside #process, whose loop goes on
    if (!this.#processing) this.#process()
  }

  /** The client half-closed (a tunnel passes that on once it starts). */
  get ended (): boolean { return this.#ended }

  /** After a 101: every later byte goes to the backend as is. */
  startTunnel (): Buffer | undefined {
    this.#state = 'tunnel'
    const rest = this.#pending
    this.#pending = undefined
    this.reads.setBlocked(false)
    return rest
  }

  /**
   * The backend aborted what it was sending (a tunnel's bytes, an answer cut short): nothing
   * more is read or answered here, and the connection is reset once what the backend did send
   * reached the client (bounded by idle_timeout): a FIN would read as a clean end, and a
   * close-delimited answer as a complete one.
   */
  abort (): void {
    this.#state = 'closing'
    this.#pending = undefined
    this.ctx.idle.delete(this)
    this.reads.setBlocked(true)
    resetAfterFlush(this.socket, this.ctx.opts.idleTimeoutMs)
  }

  /** A head the proxy refuses: 400, 414 or 431 (too large), 501 (a method without a name), or 408 (too slow); counted and logged. */
  #reject (err: Error): void {
    const status = err instanceof HttpParseError ? err.status : 400
    this.#refuse(status, status === 431 || status === 414 ? 'head too large' : 'bad request', err.message)
  }

  #headTimeout (): void {
    this.#headTimer = undefined
    if (this.#state !== 'head') return
    this.#refuse(408, 'header timeout', `request head not complete within ${this.ctx.opts.headerTimeoutMs} ms`)
  }

  #refuse (status: RefusalStatus | 408, reason: Rejection, message: string): void {
    this.#state = 'closing'
    this.#pending = undefined
    this.ctx.stats.reject(reason, `${this.client}: ${message}`)
    const body = JSON.stringify({ message, reason, service: this.ctx.name, port: this.ctx.port, status: 'error' })
    this.socket.end(ownResponse(status, body, true), 'latin1')
    // whatever the client still sends is not read: close for good after a short while
    setTimeout(() => { this.socket.destroy() }, 1000).unref()
  }
}
