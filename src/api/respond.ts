import { Readable } from 'node:stream'
import type { Context } from 'koa'

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

/**
 * A document held as parts (a large /state.json, /services.json): sent one part after the other
 * with its Content-Length, each reader with a stream of its own over the shared parts.
 */
export function sendParts (ctx: Context, parts: readonly Buffer[], type = 'application/json'): void {
  ctx.status = 200
  ctx.type = type
  ctx.body = Readable.from(parts)
  ctx.length = parts.reduce((n, b) => n + b.length, 0) // after the body: a stream body drops Content-Length
}

export function allowCors (ctx: Context): void {
  ctx.set('Access-Control-Allow-Origin', '*')
  ctx.set('Access-Control-Allow-Methods', 'GET')
}
