// Keep-alive connections to one backend (http mode): a LIFO stack of idle sockets, each with
// its response parser. A socket's listeners are installed once and forward to whichever
// exchange uses it now, so taking and returning a socket costs no listener churn.
//
// A socket reads with net's `onread` (read-buffer.ts): what the exchange gets is a view of a
// read buffer, copied or held when it is relayed.
import net from 'node:net'
import { ConnectTimeoutError } from './context.ts'
import { BodyReader } from './h1/framing.ts'
import { HeadParser } from './h1/parser.ts'
import type { IdleEntry, IdleSweep } from './idle.ts'
import { SocketReads } from './read-buffer.ts'

/**
 * An idle backend connection is closed after 4 s: well under the keep-alive timeout of common
 * servers (Node 5 s, nginx 75 s, Go none), so the proxy does not reuse a socket just as the
 * backend closes it.
 */
export const UPSTREAM_IDLE_MS = 4000
/** Idle sockets kept per backend beyond which released ones are closed. */
export const MAX_IDLE_PER_BACKEND = 256

/** What an exchange hears from its backend socket. */
export interface UpstreamUser {
  onUpConnect: () => void
  onUpData: (buf: Buffer) => void
  onUpEnd: () => void
  onUpDrain: () => void
  /** The socket closed (err set for errors and timeouts). */
  onUpClose: (err: NodeJS.ErrnoException | undefined) => void
}

export class Upstream implements IdleEntry {
  readonly socket: net.Socket
  readonly parser = new HeadParser('response')
  readonly body = new BodyReader()
  user: UpstreamUser | undefined
  /** Carries a tunnel (after a 101): never reused. */
  tunnel = false
  /** Served a request before (a reset on it may be the backend closing an idle connection). */
  reused = false
  /** When it last went back to the idle stack (Date.now()). */
  parkedAt = 0
  connected = false
  /** Activity for the idle timeout: its reads, and those of the client it serves (touch()). */
  lastActive = 0
  readonly onIdle: () => void
  readonly #idle: IdleSweep
  #error: NodeJS.ErrnoException | undefined
  #timer: NodeJS.Timeout | undefined
  readonly #pool: BackendConns
  readonly reads: SocketReads

  constructor (pool: BackendConns, ip: string, port: number, connectTimeoutMs: number, idle: IdleSweep) {
    this.#pool = pool
    this.#idle = idle
    this.reads = new SocketReads((view) => {
      this.touch()
      if (this.user === undefined) { pool.taint(); this.socket.destroy() } // an idle connection has nothing to say
      else this.user.onUpData(view)
    })
    const s = net.connect({ host: ip, port, noDelay: true, onread: this.reads.options })
    this.socket = s
    this.reads.attach(s)
    this.#timer = setTimeout(() => { s.destroy(new ConnectTimeoutError(`${ip}:${port}`, connectTimeoutMs)) }, connectTimeoutMs)
    // silent for the idle timeout (neither it nor its client sent a byte): an error the exchange sees as a timeout
    this.onIdle = () => {
      // a tunnel's: reset, as tcp mode does (a FIN would read as the client's clean end)
      if (this.tunnel) { s.resetAndDestroy(); return }
      const e: NodeJS.ErrnoException = new Error(this.user === undefined ? 'idle' : `backend ${ip}:${port} silent for ${idle.idleMs} ms`)
      e.code = 'ETIMEDOUT'
      s.destroy(e)
    }
    idle.add(this)
    s.on('connect', () => {
      clearTimeout(this.#timer)
      this.connected = true
      this.user?.onUpConnect()
    })
    s.on('end', () => {
      if (this.user !== undefined) this.user.onUpEnd()
      else s.destroy()
    })
    s.on('drain', () => { this.user?.onUpDrain() })
    s.on('error', (err: NodeJS.ErrnoException) => { this.#error = err })
    s.on('close', () => {
      clearTimeout(this.#timer)
      idle.delete(this)
      this.parser.close()
      this.body.close()
      pool.forget(this)
      const u = this.user
      this.user = undefined
      u?.onUpClose(this.#error)
    })
  }

  /** Bytes moved for it elsewhere (its client sent some): not idle. */
  touch (): void { this.lastActive = this.#idle.now }

  /** The backend sent bytes past the end of an answer: none of its connections is reused again (BackendConns.taint). */
  taint (): void { this.#pool.taint() }

  /** Back to the idle stack (or closed when the backend is gone or the stack is full). */
  release (): void {
    this.user = undefined
    this.reused = true
    this.parser.reset()
    // the client may still be sending bytes of this socket's buffer
    if (!this.reads.detach()) { this.socket.destroy(); return }
    this.#pool.park(this)
  }
}

/** The connections of one backend. */
export class BackendConns {
  readonly #idle: Upstream[] = []
  readonly #all = new Set<Upstream>()
  readonly #ip: string
  readonly #port: number
  readonly #connectTimeoutMs: number
  readonly #idleTimeout: IdleSweep
  #closed = false
  /**
   * The backend sent bytes no request asked for (past the end of an answer, or on an idle
   * connection). Such bytes are the answer to whatever request goes out on that connection
   * next when they come in a read of their own: a backend that sent an extra answer 1 ms after
   * each answer had it taken by 113-115 of 800 other clients. From then on every request of this
   * backend gets a connection of its own (for as long as it stays in the pool).
   */
  #tainted = false
  /**
   * Closes connections idle for UPSTREAM_IDLE_MS: one timer per backend, re-armed while any
   * connection is idle. (A socket timeout switched between the idle and the request value on
   * every request cost a new timer per request.)
   */
  #sweep: NodeJS.Timeout | undefined

  constructor (ip: string, port: number, connectTimeoutMs: number, idle: IdleSweep) {
    this.#ip = ip
    this.#port = port
    this.#connectTimeoutMs = connectTimeoutMs
    this.#idleTimeout = idle
  }

  /** An idle connection (most recently used first), else a new one (connecting); fresh: always a new one. */
  acquire (user: UpstreamUser, fresh = false): Upstream {
    const now = Date.now()
    let u = fresh ? undefined : this.#idle.pop()
    while (u !== undefined && (u.socket.destroyed || u.socket.readyState !== 'open' || now - u.parkedAt >= UPSTREAM_IDLE_MS)) {
      u.socket.destroy()
      u = this.#idle.pop()
    }
    if (u !== undefined) {
      u.user = user
      u.touch() // idle while parked, busy from now
      return u
    }
    u = new Upstream(this, this.#ip, this.#port, this.#connectTimeoutMs, this.#idleTimeout)
    u.user = user
    this.#all.add(u)
    return u
  }

  park (u: Upstream): void {
    if (this.#closed || this.#tainted || this.#idle.length >= MAX_IDLE_PER_BACKEND || u.socket.destroyed) { u.socket.destroy(); return }
    u.parkedAt = Date.now()
    this.#idle.push(u)
    if (this.#sweep === undefined) this.#sweep = setTimeout(() => { this.#sweepIdle() }, UPSTREAM_IDLE_MS).unref()
  }

  /** The idle stack is oldest first: closes from the bottom while they are stale. */
  #sweepIdle (): void {
    const now = Date.now()
    let stale = 0
    while (stale < this.#idle.length && now - this.#idle[stale].parkedAt >= UPSTREAM_IDLE_MS) stale++
    for (const u of this.#idle.splice(0, stale)) u.socket.destroy()
    if (this.#idle.length > 0 && !this.#closed) this.#sweep?.refresh()
    else this.#sweep = undefined
  }

  /** See #tainted; the idle connections close now. */
  taint (): void {
    if (this.#tainted) return
    this.#tainted = true
    for (const u of this.#idle.splice(0)) u.socket.destroy()
  }

  forget (u: Upstream): void {
    this.#all.delete(u)
    const i = this.#idle.indexOf(u)
    if (i >= 0) this.#idle.splice(i, 1)
  }

  get open (): number { return this.#all.size }

  /** Idle connections close now; busy ones when their exchange ends, or now with force. */
  close (force: boolean): void {
    this.#closed = true
    clearTimeout(this.#sweep)
    this.#sweep = undefined
    for (const u of this.#idle) u.socket.destroy()
    this.#idle.length = 0
    if (force) for (const u of this.#all) u.socket.destroy()
  }
}
