// Upgrades (WebSocket) in http and ws mode, through http-proxy-3, which handles the
// handshake's edge cases (a backend that answers with plain HTTP, heads, half-closed sockets).
// No retries here: http-proxy-3 has consumed the client's head and closes the client socket
// on a backend error, so a failure is counted for passive health and the client reconnects.
import type http from 'node:http'
import type { Duplex } from 'node:stream'
import { createProxyServer, type ProxyServer } from 'http-proxy-3'
import { clientAddress, type ListenerContext } from './context.ts'

export function createUpgradeProxy (connectTimeoutMs: number): ProxyServer {
  const proxy = createProxyServer({ ws: true, xfwd: true, connectTimeout: connectTimeoutMs })
  // errors are handled by each call's callback; this keeps an unhandled 'error' from throwing
  proxy.on('error', () => {})
  return proxy
}

export function forwardUpgrade (ctx: ListenerContext, proxy: ProxyServer, req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
  const t0 = performance.now()
  const b = ctx.pool.pick(ctx.nowMs())
  if (b === undefined) {
    const why = ctx.pool.unavailable(ctx.nowMs())
    const body = JSON.stringify({ message: `no backend available for ${ctx.name} on port ${ctx.port}: ${why}`, reason: why, service: ctx.name, port: ctx.port, status: 'error' })
    socket.end(`HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`)
    ctx.stats.begin()
    ctx.stats.end(503, (performance.now() - t0) / 1000, false)
    return
  }
  b.inFlight++
  b.requests++
  ctx.stats.begin()
  let failed = false
  let done = false
  const finish = (): void => {
    if (done) return
    done = true
    b.inFlight--
    const ms = performance.now() - t0
    ctx.stats.end(failed ? 0 : 101, ms / 1000, failed)
    if (ctx.accessLog.enabled) {
      ctx.accessLog.write({ service: ctx.name, port: ctx.port, backend: b.address, method: 'UPGRADE', path: req.url ?? '-', status: failed ? 0 : 101, bytes: 0, durationMs: ms, retries: 0, client: clientAddress(req.socket.remoteAddress) })
    }
  }
  socket.once('close', finish)
  proxy.ws(req, socket, head, { target: { host: b.spec.ip, port: b.spec.port } }, (err) => {
    failed = true
    const code = (err as NodeJS.ErrnoException).code ?? ''
    if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH'].includes(code) && ctx.pool.failure(b, ctx.nowMs())) {
      ctx.stats.ejection()
      ctx.logger.warn({ backend: b.address }, `${ctx.name}:${ctx.port}: ejected ${b.address} (${b.spec.hostname}/${b.spec.id}): ${err.message}`)
    }
    socket.destroy()
  })
}
