// The tcp-mode path: a byte pipe between the client and one backend, with connect retries
// on other backends and half-close carried through (a client that shuts down its writing
// side still receives the backend's answer). Both sides read with net's `onread` and write
// views of their read buffers to the other (read-buffer.ts).
import net from 'node:net'
import { budgetText, clientAddress, ConnectTimeoutError, countFailure, type ListenerContext } from './context.ts'
import type { IdleEntry } from './idle.ts'
import type { Backend } from './pool.ts'
import { adopt, SocketReads } from './read-buffer.ts'
import { resetAfterFlush } from './reset-after-flush.ts'

/** Takes over a client socket accepted with pauseOnConnect and allowHalfOpen; returns the socket that carries it now (adopt()). */
export function forwardTcp (ctx: ListenerContext, accepted: net.Socket): net.Socket {
  const t0 = performance.now()
  let upstream: net.Socket | undefined
  // the idle timeout: the pair moved no bytes either way for that long
  // Silence is not a failure in tcp mode, however long: a protocol in which the backend never
  // writes (syslog, Graphite plaintext) looks the same as a hung backend here (docs/proxy.md).
  // (the backend's connection is reset then, as after a client's reset: a FIN would read as the
  // client's clean end, and a stalled upload as a complete one)
  const idle: IdleEntry = { lastActive: 0, onIdle: () => { finish(false, true) } }
  const fromClient = new SocketReads((view) => {
    idle.lastActive = ctx.idle.now
    if (upstream === undefined) return
    fromClient.write(view, upstream)
    fromClient.holdWhileQueued(upstream)
  })
  // not read until a backend is connected
  const client = adopt(accepted, fromClient, true)
  const remote = clientAddress(client.remoteAddress)
  let tried: Set<Backend> | undefined
  let retries = 0
  let holding: Backend | undefined
  let last: Backend | undefined
  let connected = false
  let done = false
  ctx.stats.begin()
  ctx.stats.connection()

  /**
   * aborted: the client's connection failed (reset) or went idle: the backend's is reset, not
   * closed with a FIN that reads as a clean end. backendAborted: the backend's connection failed
   * (a reset): the client's is reset the same way, once what the backend sent reached it
   * (reset-after-flush.ts; bounded by idle_timeout), and nothing more is read from it.
   */
  const finish = (failed: boolean, aborted = false, backendAborted = false): void => {
    if (done) return
    done = true
    ctx.idle.delete(idle)
    if (holding !== undefined) holding.inFlight--
    holding = undefined
    if (backendAborted) {
      fromClient.setBlocked(true)
      resetAfterFlush(client, ctx.opts.idleTimeoutMs)
    } else if (aborted && !client.destroyed && client.writableLength > 0) {
      // idle with bytes still queued for it (a client that stopped reading, whose backend may
      // have reset unseen: its socket is not read while the client takes nothing): they are
      // dropped, so a FIN would make what it got look complete
      client.resetAndDestroy()
    } else client.destroy()
    if (aborted && upstream !== undefined && !upstream.destroyed) upstream.resetAndDestroy()
    else upstream?.destroy()
    const ms = performance.now() - t0
    ctx.stats.end(0, ms / 1000, failed)
    if (ctx.accessLog.enabled) {
      const bytes = client.bytesWritten + (upstream?.bytesWritten ?? 0)
      ctx.accessLog.write({ service: ctx.name, port: ctx.port, backend: last?.address ?? '-', method: 'TCP', path: '-', status: 0, bytes, durationMs: ms, retries, client: remote })
    }
  }
  client.on('error', () => { finish(!connected, true) })
  client.on('close', () => { finish(!connected) })
  ctx.idle.add(idle)

  /** Connects to b; undefined: no backend left, the connection ends. */
  const attempt = (now: number, b: Backend | undefined): void => {
    if (b === undefined) {
      ctx.logger.debug(`${ctx.name}:${ctx.port}: no backend for a tcp connection from ${remote}: ${ctx.pool.unavailable(ctx.nowMs(), tried)}`)
      finish(true)
      return
    }
    holding = b
    last = b
    b.inFlight++
    b.requests++
    const reads = new SocketReads((view) => {
      idle.lastActive = ctx.idle.now
      reads.write(view, client)
      reads.holdWhileQueued(client)
    })
    const up = net.connect({ host: b.spec.ip, port: b.spec.port, allowHalfOpen: true, noDelay: true, onread: reads.options })
    reads.attach(up)
    upstream = up
    const timer = setTimeout(() => { up.destroy(new ConnectTimeoutError(b.address, ctx.opts.connectTimeoutMs)) }, ctx.opts.connectTimeoutMs)
    up.once('connect', () => {
      clearTimeout(timer)
      if (done) { up.destroy(); return }
      connected = true
      // a connect is tcp mode's success (ends a probation, resets the back-off): a protocol in
      // which the backend never writes (syslog, Graphite plaintext) would otherwise keep a
      // backend back from an ejection at one connection at a time for good
      ctx.pool.success(b, ctx.nowMs())
      client.on('end', () => { up.end() })
      up.on('end', () => { client.end() })
      fromClient.setBlocked(false)
    })
    up.on('error', (err) => {
      clearTimeout(timer)
      if (connected || done) { finish(false, false, true); return }
      // nothing was sent yet: try another backend
      b.inFlight--
      holding = undefined
      countFailure(ctx, b, err.message)
      if (retries < ctx.opts.retries) {
        (tried ??= new Set()).add(b)
        const now = ctx.nowMs()
        const next = ctx.pool.pick(now, tried)
        // the listener's retry budget, as http mode's (retry-budget.ts); with no backend left
        // nothing is sent, so it is not asked (attempt() ends the connection)
        if (next === undefined || ctx.budget.retry(now)) {
          if (next !== undefined) {
            retries++
            ctx.stats.retry()
          }
          attempt(now, next)
          return
        }
        ctx.stats.retryRefused()
        ctx.logger.debug(`${ctx.name}:${ctx.port}: a tcp connection from ${remote} not retried after ${b.address} failed (${err.message}): retry budget spent (${budgetText(ctx.budget)})`)
      }
      finish(true)
    })
  }
  const now = ctx.nowMs()
  ctx.budget.request(now)
  attempt(now, ctx.pool.pick(now, tried))
  return client
}
