// GET /watch and /api/watch as the original (reference §5.5): one JSON document at once,
// then another after each change, concatenated with no separator, until the client goes
// away. Default payload: the bare name -> instances map; ?by_service=false: the whole state.
// Changes made together (one discovery sync, one gossip batch) give one document, and so do
// the changes made while a watcher's document was being built. A slow
// reader is never queued for: while its socket is full, changes only mark it stale, and it
// gets the then-current document when the socket drains (the original also dropped
// intermediate frames), so one client costs at most one document of memory. Documents are
// built in time slices, once per catalog version, and shared by every watcher (views.ts).
import type Koa from 'koa'
import type { ServerResponse } from 'node:http'
import type { Logger } from '../lib/logger.ts'
import type { EventHub, Subscriber } from './events.ts'
import type { DocumentHolder, HeldDocuments } from './held-documents.ts'
import { endAtClientFin } from './respond.ts'
import type { DocumentCache } from './views.ts'
import { nextTurn } from '../lib/slicer.ts'

class WatchClient implements Subscriber, DocumentHolder {
  readonly kind = 'watch'
  readonly #res: ServerResponse
  readonly #document: () => Promise<readonly Buffer[]>
  readonly #onError: (err: unknown) => void
  readonly #held: HeldDocuments
  readonly #onCut: (reason: string) => void
  #pending: NodeJS.Immediate | undefined
  #blocked = false
  #writing = false
  #stale = true // the first document is due at once
  #done = false
  readonly #first = Promise.withResolvers<void>()
  readonly #onDrain = (): void => {
    this.#blocked = false
    this.#next()
  }

  constructor (res: ServerResponse, document: () => Promise<readonly Buffer[]>, c: { onError: (err: unknown) => void, held: HeldDocuments, onCut: (reason: string) => void }) {
    this.#res = res
    this.#document = document
    this.#onError = c.onError
    this.#held = c.held
    this.#onCut = c.onCut
  }

  get queuedBytes (): number { return this.#res.writableLength }

  change (): void {
    if (this.#done) return
    this.#stale = true
    // Wait for the rest of the same batch of changes, then send the state once.
    this.#pending ??= setImmediate(() => {
      this.#pending = undefined
      this.#next()
    })
  }

  members (): void {} // not part of the original's stream

  heartbeat (): void {} // the original's stream has none; bytes between documents could upset its clients

  close (): void {
    this.closed()
    this.#res.end()
  }

  pending (): boolean { return this.#res.writableLength > 0 }

  cut (reason: string): void {
    this.closed()
    this.#onCut(reason)
  }

  closed (): void {
    this.#done = true
    this.#held.release(this)
    this.#first.resolve()
    if (this.#pending !== undefined) clearImmediate(this.#pending)
    this.#pending = undefined
    this.#res.off('drain', this.#onDrain)
  }

  start (): void { this.#next() }

  /** Settles once the first document was handed to the socket, or the client is gone. */
  get firstWritten (): Promise<void> { return this.#first.promise }

  /** Sends the current document when one is due, the socket takes more and none is being built for this client. */
  #next (): void {
    if (this.#done || !this.#stale || this.#blocked || this.#writing) return
    this.#stale = false
    this.#writing = true
    this.#document().then(async parts => {
      // one watcher's writes per turn of the event loop (nextTurn): the build resolves for
      // every watcher at once, and eight writing 2.6 MB each in one turn held it 10-25 ms
      await nextTurn()
      this.#writing = false
      if (this.#done) return
      let more = true
      for (const part of parts) more = this.#res.write(part)
      this.#held.hold(parts, this) // until the socket has sent it
      this.#first.resolve()
      if (!more) {
        this.#blocked = true
        this.#res.once('drain', this.#onDrain)
        return
      }
      this.#next() // changes made while it was built
    }).catch((err: unknown) => {
      this.#writing = false
      this.closed()
      this.#onError(err)
    })
  }
}

export function watchHandler (c: { hub: EventHub, documents: DocumentCache, logger: Logger, held: HeldDocuments }): (ctx: Koa.Context) => void {
  return (ctx) => {
    const { req, res } = ctx
    if (ctx.method === 'HEAD') { ctx.status = 200; ctx.type = 'application/json'; return }
    // the first value when the parameter repeats, as the original's Query().Get() reads it
    const asked = ctx.query.by_service
    const byService = (Array.isArray(asked) ? asked[0] : asked) !== 'false'
    ctx.status = 200 // for the middleware that runs after this handler returns; the head is written below
    ctx.respond = false
    req.socket.setTimeout(0)
    req.socket.setNoDelay(true)
    res.writeHead(200, { 'Content-Type': 'application/json' })
    // Built in time slices, once per catalog version, however many clients watch (views.ts).
    const document = byService ? async () => await c.documents.byServiceParts() : async () => await c.documents.stateParts()
    const client = new WatchClient(res, document, {
      onError: err => {
        c.logger.error({ err }, 'bug: a /watch document could not be built; the stream is ended')
        res.destroy()
      },
      held: c.held,
      onCut: reason => {
        c.hub.countDrop()
        c.logger.warn({ remote: req.socket.remoteAddress }, `/watch client ${req.socket.remoteAddress ?? ''} dropped: ${reason}`)
        res.destroy()
      },
    })
    client.start()
    endAtClientFin(req.socket, client.firstWritten)
    const unsubscribe = c.hub.subscribe(client)
    res.once('close', () => {
      unsubscribe()
      client.closed()
    })
  }
}
