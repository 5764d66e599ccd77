// GET /watch and /api/watch as the original (reference §5.5): one JSON document at once,
// then another after each change, concatenated with no separator, until the client goes
// away. Default payload: the bare name -> instances map; ?by_service=false: the whole state.
// Changes made together (one discovery sync, one gossip batch) give one document. A slow
// reader is never queued for: while its socket is full, changes only mark it stale, and it
// gets the then-current document when the socket drains (the original also dropped
// intermediate frames), so one client costs at most one document of memory.
import type Koa from 'koa'
import type { ServerResponse } from 'node:http'
import type { EventHub, Subscriber } from './events.ts'
import type { DocumentCache } from './views.ts'

class WatchClient implements Subscriber {
  readonly kind = 'watch'
  readonly #res: ServerResponse
  readonly #document: () => string
  #pending: NodeJS.Immediate | undefined
  #blocked = false
  #stale = false
  #done = false
  readonly #onDrain = (): void => {
    this.#blocked = false
    if (this.#stale) this.#write()
  }

  constructor (res: ServerResponse, document: () => string) {
    this.#res = res
    this.#document = document
  }

  get queuedBytes (): number { return this.#res.writableLength }

  change (): void {
    if (this.#done) return
    this.#stale = true
    // Wait for the rest of the same batch of changes, then send the state once.
    this.#pending ??= setImmediate(() => {
      this.#pending = undefined
      if (!this.#blocked) this.#write()
    })
  }

  members (): void {} // not part of the original's stream

  heartbeat (): void {} // the original's stream has none; bytes between documents could upset its clients

  close (): void {
    this.closed()
    this.#res.end()
  }

  closed (): void {
    this.#done = true
    if (this.#pending !== undefined) clearImmediate(this.#pending)
    this.#pending = undefined
    this.#res.off('drain', this.#onDrain)
  }

  #write (): void {
    if (this.#done) return
    this.#stale = false
    if (!this.#res.write(this.#document())) {
      this.#blocked = true
      this.#res.once('drain', this.#onDrain)
    }
  }

  start (): void { this.#write() }
}

export function watchHandler (c: { hub: EventHub, documents: DocumentCache }): (ctx: Koa.Context) => void {
  return (ctx) => {
    const { req, res } = ctx
    if (ctx.method === 'HEAD') { ctx.status = 200; ctx.type = 'application/json'; return }
    const byService = ctx.query.by_service !== 'false'
    ctx.status = 200 // for the middleware that runs after this handler returns; the head is written below
    ctx.respond = false
    req.socket.setTimeout(0)
    req.socket.setNoDelay(true)
    res.writeHead(200, { 'Content-Type': 'application/json' })
    const client = new WatchClient(res, byService ? () => c.documents.byService() : () => c.documents.state())
    client.start()
    const unsubscribe = c.hub.subscribe(client)
    res.once('close', () => {
      unsubscribe()
      client.closed()
    })
  }
}
