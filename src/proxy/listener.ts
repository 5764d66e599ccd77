// One service port: a server on bind_ip:ServicePort in the listener's mode, its backend
// pool, and its lifecycle: listening, failed (port unavailable, retried by the manager),
// draining (closed to new connections, in-flight ones get a grace period), closed.
import net from 'node:net'
import { errorMessage } from '../lib/errors.ts'
import type { Logger } from '../lib/logger.ts'
import type { Startable } from '../lib/startable.ts'
import type { AccessLog } from './access-log.ts'
import type { ClientCap } from './client-cap.ts'
import type { ForwardOptions, ListenerContext } from './context.ts'
import { ClientConn } from './http-conn.ts'
import type { ProxyMode } from './plan.ts'
import { Pool, type PoolOptions } from './pool.ts'
import { RetryBudget } from './retry-budget.ts'
import { ListenerStats, type ProxyMetrics } from './stats.ts'
import { IdleSweep } from './idle.ts'
import { forwardTcp } from './tcp-forward.ts'
import { BackendConns } from './upstream.ts'

export type ListenerState = 'starting' | 'listening' | 'failed' | 'draining' | 'closed'

export interface ListenerComponents {
  logger: Logger
  accessLog: AccessLog
  metrics?: ProxyMetrics
  nowMs: () => number
  /** The cap all listeners share ([proxy] max_total_connections); none when absent. */
  clientCap?: ClientCap
}

export interface ListenerInit {
  name: string
  port: number
  mode: ProxyMode
  bindIp: string
  pool: PoolOptions
  forward: ForwardOptions
  /** Client connections open at once; more are refused (closed at accept) and counted. */
  maxConnections: number
  /** What of this daemon's own the port is, when it is one of its ports (the API port): said instead of "another program". */
  ownPort?: string
}

export class ProxyListener implements Startable {
  readonly name: string
  readonly port: number
  readonly mode: ProxyMode
  readonly pool: Pool
  readonly stats: ListenerStats
  state: ListenerState = 'starting'
  /** Why the port could not be opened (state failed). */
  error: string | undefined
  /** Names that lost this port in a conflict. */
  ignored: readonly string[] = []
  readonly #init: ListenerInit
  readonly #logger: Logger
  readonly #ctx: ListenerContext
  readonly #server: net.Server
  readonly #sockets = new Set<net.Socket>()
  readonly #conns = new Set<ClientConn>()
  readonly #metrics: ProxyMetrics | undefined

  constructor (c: ListenerComponents, init: ListenerInit) {
    this.name = init.name
    this.port = init.port
    this.mode = init.mode
    this.#init = init
    this.#logger = c.logger
    this.#metrics = c.metrics
    this.pool = new Pool(init.pool)
    this.stats = new ListenerStats(c.metrics, init.name, init.port, (line) => { c.logger.warn(line) })
    const idle = new IdleSweep(init.forward.idleTimeoutMs)
    this.#ctx = {
      name: init.name, port: init.port, pool: this.pool, stats: this.stats, budget: new RetryBudget(init.forward.retryBudget, init.forward.retryBudgetMin), accessLog: c.accessLog, logger: c.logger,
      opts: init.forward, nowMs: c.nowMs, ignored: () => this.ignored, idle,
      connsFor: (b) => (b.conns ??= new BackendConns(b.spec.ip, b.spec.port, init.forward.connectTimeoutMs, idle)),
    }
    const ctx = this.#ctx
    const gone = (conn: ClientConn): void => { this.#conns.delete(conn) }
    const cap = c.clientCap
    // every admitted socket is tracked: its close gives its place in the cap back
    const track = (s: net.Socket): void => {
      this.#sockets.add(s)
      s.once('close', () => { this.#sockets.delete(s); cap?.release() })
    }
    const admit = (accepted: net.Socket): boolean => {
      if (cap === undefined || cap.take()) return true
      const from = accepted.remoteAddress ?? '-' // before destroy(), which forgets it
      accepted.destroy()
      ctx.stats.reject('total connection cap', `${from}: ${cap.limit} client connections open on all proxy ports ([proxy] max_total_connections)`)
      return false
    }
    // pauseOnConnect: nothing is read before the connection is moved onto a socket that
    // reads into the proxy's buffers (read-buffer.ts's adopt())
    this.#server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, init.mode === 'tcp'
      ? (accepted) => { if (admit(accepted)) track(forwardTcp(ctx, accepted)) }
      : (accepted) => {
          if (!admit(accepted)) return
          ctx.stats.connection()
          const conn = new ClientConn(ctx, accepted, gone)
          this.#conns.add(conn)
          track(conn.socket)
        })
    this.#server.maxConnections = init.maxConnections
    this.#server.on('drop', (d?: { remoteAddress?: string }) => { ctx.stats.reject('connection cap', `${d?.remoteAddress ?? '-'}: ${init.maxConnections} connections open`) })
  }

  get address (): string {
    const ip = this.#init.bindIp
    return `${ip.includes(':') ? `[${ip}]` : ip}:${this.port}`
  }

  /** Open connections (client side). */
  get connections (): number { return this.#sockets.size }

  /** Opens the port; never throws: a failure leaves state 'failed' with the reason in error. */
  async start (): Promise<void> {
    if (this.state !== 'starting' && this.state !== 'failed') return
    this.state = 'starting'
    try {
      await new Promise<void>((resolve, reject) => {
        // both handlers go when either fires: a failed listen is tried again at later rebuilds
        const onError = (err: Error): void => { this.#server.off('listening', onListening); reject(err) }
        const onListening = (): void => { this.#server.off('error', onError); resolve() }
        this.#server.once('error', onError)
        this.#server.once('listening', onListening)
        this.#server.listen({ host: this.#init.bindIp, port: this.port, exclusive: true })
      })
      if (this.state !== 'starting') { this.#server.close(); return } // drained while opening
      this.state = 'listening'
      this.error = undefined
      this.#server.on('error', (err) => { this.#logger.error({ err }, `proxy ${this.name} on ${this.address}: ${err.message}`) })
      this.#logger.info(`proxying ${this.name} (${this.mode}) on ${this.address} to ${this.pool.candidates} healthy of ${this.pool.backends.length} instances`)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      const previous = this.error
      this.error = code === 'EADDRINUSE'
        ? `port ${this.port} is in use on ${this.#init.bindIp} by ${this.#init.ownPort !== undefined ? `this daemon itself: it is ${this.#init.ownPort}; choose another ServicePort or move that port` : 'another program'}`
        : code === 'EADDRNOTAVAIL' ? `${this.#init.bindIp} is not an address of this machine` : errorMessage(err)
      if (this.state === 'starting') this.state = 'failed'
      // retried every few seconds: say it once, not at every retry
      if (this.error !== previous) this.#logger.error(`cannot proxy ${this.name} on ${this.address}: ${this.error}`)
    }
  }

  /**
   * Stops accepting connections; requests and connections in progress get graceMs to finish,
   * then are cut. Idle keep-alive connections close at once. Resolves when all are gone.
   * Called again while draining, it can only shorten the grace (stop() drains with 0).
   */
  async drain (graceMs: number): Promise<void> {
    this.#drainDeadline = Math.min(this.#drainDeadline, Date.now() + graceMs)
    this.#drained ??= this.#drain()
    await this.#drained
  }

  /** Closes at once: drain with no grace. Never throws; idempotent. */
  async stop (): Promise<void> {
    await this.drain(0)
  }

  #drainDeadline = Infinity
  #drained: Promise<void> | undefined

  async #drain (): Promise<void> {
    const wasOpen = this.state === 'listening'
    this.state = 'draining'
    if (wasOpen) this.#server.close()
    while (this.#sockets.size > 0 && Date.now() < this.#drainDeadline) {
      for (const c of this.#conns) if (c.idle) c.socket.destroy()
      await new Promise(resolve => setTimeout(resolve, Math.max(0, Math.min(100, this.#drainDeadline - Date.now()))))
    }
    for (const s of this.#sockets) s.destroy()
    this.pool.closeAll(true)
    this.state = 'closed'
    this.#metrics?.untrack(this.name, String(this.port), this.stats)
  }
}
