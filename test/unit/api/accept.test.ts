// Which of /watch's two answers a client gets by its Accept header: a stream of JSON documents
// or Server-Sent Events.
import test from 'ava'
import Koa from 'koa'
import { IncomingMessage, ServerResponse } from 'node:http'
import { Socket } from 'node:net'
import { wantsEventStream } from '../../../src/api/sse.ts'

function ctxWith (accept: string | undefined): Koa.Context {
  const req = new IncomingMessage(new Socket())
  req.method = 'GET'
  req.url = '/watch'
  if (accept !== undefined) req.headers.accept = accept
  return new Koa().createContext(req, new ServerResponse(req))
}

test('/watch: SSE for EventSource\'s Accept in any letter case and when preferred; JSON without Accept, for */*, on a tie, and when SSE is q=0', t => {
  for (const a of ['text/event-stream', 'TEXT/EVENT-STREAM', 'application/json;q=0.5, text/event-stream']) t.true(wantsEventStream(ctxWith(a)), a)
  for (const a of [undefined, '*/*', 'application/json', 'text/event-stream;q=0', 'application/json, text/event-stream;q=0.1', 'text/event-stream;q=0, */*']) t.false(wantsEventStream(ctxWith(a)), String(a))
})
