import type { Socket } from 'node:net'
import { pipeline, Readable } from 'node:stream'
import type Koa from 'koa'
import type { Context } from 'koa'

/**
 * An endless answer (/watch, SSE) ends when its client half-closes. The server answers what
 * was asked before a client's FIN (server.ts: `nc -N` gets its page), but a stream never
 * completes, so on a half-closed connection it would stay open, and a client that went away
 * would be let go only at the next write that fails (a heartbeat, seconds later). Ended
 * gracefully, as Node's server did at every FIN: what was written goes out, then the FIN.
 */
export function endAtClientFin (socket: Socket, firstWritten?: Promise<void>): void {
  // firstWritten: the stream's first part is written before the end (`nc -N` gets one document)
  const end = (): void => { if (firstWritten === undefined) socket.end(); else void firstWritten.then(() => { socket.end() }) }
  if (socket.readableEnded) { end(); return }
  socket.once('end', end)
}

/** The original's error body: {"message": ..., "status": "error"} (keys sorted, compact). */
export function sendError (ctx: Context, status: number, message: string): void {
  ctx.status = status
  ctx.type = 'application/json'
  ctx.body = JSON.stringify({ message, status: 'error' })
}

/** 2-space indented JSON, as the original's services endpoints (Go MarshalIndent). */
export function sendIndented (ctx: Context, value: unknown, status = 200): void {
  ctx.status = status
  ctx.type = 'application/json'
  ctx.body = JSON.stringify(value, null, 2)
}

/** The document of each body sendParts made, for the bound on what clients hold unsent (sendStreamBodies). */
const documents = new WeakMap<Readable, readonly Buffer[]>()

/**
 * A document held as parts (a large /state.json, /services.json): sent one part after the other
 * with its Content-Length, each reader with a stream of its own over the shared parts.
 */
export function sendParts (ctx: Context, parts: readonly Buffer[], type = 'application/json'): void {
  ctx.status = 200
  ctx.type = type
  const body = Readable.from(parts)
  documents.set(body, parts)
  ctx.body = body
  ctx.length = parts.reduce((n, b) => n + b.length, 0) // after the body: a stream body drops Content-Length
}

/** Statuses whose answers have no body (koa's statuses.empty). */
const NO_BODY = new Set([204, 205, 304])

/**
 * Sends a stream body (sendParts' documents, the UI's files) here instead of in koa. Koa's
 * respond() tests such a body with `instanceof Response` before anything else, and the first
 * read of that global makes Node load its bundled HTTP client, undici: 23-29 ms on the event
 * loop at the first document a daemon serves, and about 3 MB of RSS from then on, for a
 * client the daemon never uses (lib/node-http.ts). What koa does with a stream body is done
 * here: nothing when a handler took over the response or it can no longer be written, no body
 * for HEAD and for 204/205/304, else the stream piped, its failure reported as koa reports it.
 * A sendParts document is handed to `hold` first (held-answers.ts): the whole of it stays in
 * memory until the client has taken it.
 * The outermost middleware, so that it runs after every other one is done with the answer.
 */
export function sendStreamBodies (hold?: (ctx: Context, doc: readonly Buffer[]) => void): Koa.Middleware {
  return async (ctx, next) => {
    await next()
    const body: unknown = ctx.body
    if (!(body instanceof Readable) || ctx.respond === false) return
    ctx.respond = false
    if (!ctx.writable) return // koa's own hook destroys the stream when the response ends
    if (ctx.method === 'HEAD' || NO_BODY.has(ctx.status)) {
      body.destroy()
      ctx.res.end()
      return
    }
    const doc = documents.get(body)
    if (doc !== undefined) hold?.(ctx, doc)
    pipeline(body, ctx.res, (err) => { if (err !== null && err !== undefined && ctx.app.listenerCount('error') > 0) ctx.onerror(err) })
  }
}

export function allowCors (ctx: Context): void {
  ctx.set('Access-Control-Allow-Origin', '*')
  ctx.set('Access-Control-Allow-Methods', 'GET')
}
