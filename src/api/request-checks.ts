// Two refusals Node's HTTP server makes itself, with a plain-text body and none of the API's
// headers, made here instead (server.ts hands these requests to the app): an HTTP/1.1
// request without Host (400) and an Expect the server cannot meet (417). Both answer with
// the house JSON error body and are counted as bad_request (rejections.ts).
import type Koa from 'koa'
import type { ApiRejections } from './rejections.ts'
import { sendError } from './respond.ts'

/** Node's own test: an Expect naming 100-continue is met (Node sends the 100); any other is not. */
const CONTINUE = /(?:^|\W)100-continue(?:$|\W)/i

/**
 * What Node would refuse, or undefined. `host`: the Host header as received ('' when absent
 * or empty: Node refuses both); only HTTP/1.1 must send one (RFC 9112 §3.2).
 */
export function requestVerdict (httpVersion: string, host: string, expect: string | undefined): { status: 400 | 417, message: string } | undefined {
  if (httpVersion === '1.1' && host === '') return { status: 400, message: 'Bad Request - an HTTP/1.1 request must have a Host header' }
  if (expect !== undefined && !CONTINUE.test(expect)) return { status: 417, message: `Expectation Failed - the only Expect this server meets is 100-continue, not ${JSON.stringify(expect.slice(0, 100))}` }
  return undefined
}

export function requestChecks (rejections: ApiRejections): Koa.Middleware {
  return async (ctx, next) => {
    const expect = ctx.req.headers.expect
    const verdict = requestVerdict(ctx.req.httpVersion, ctx.req.headers.host ?? '', expect)
    if (verdict === undefined) { await next(); return }
    rejections.reject('bad_request', `${verdict.status} ${ctx.method} ${ctx.path.slice(0, 200)}: ${verdict.message}`)
    sendError(ctx, verdict.status, verdict.message)
    ctx.set('Connection', 'close')
  }
}
