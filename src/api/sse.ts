// Server-Sent Events: GET /api/events (or /watch with Accept: text/event-stream).
//   snapshot         first, unless Last-Event-ID can be resumed (the ring still holds every
//                    missed event, and they fit the client's queue): the /services.json
//                    document plus Hostname, with the id of the last change it reflects
//   service-changed  {"Service":..,"PreviousStatus":..,"Time":..}, id strictly increasing
//   stream           {"HeartbeatIntervalMs":..} once, after the snapshot or the replay (no id): a
//                    client that hears nothing for a few intervals can tell a hung daemon
//   members          {"ClusterMembers":..,"ClusterName":..} when members change and at each heartbeat (no id)
//   dropped/closing  {"reason":..} as the last event before the server ends the stream
// plus a ": heartbeat" comment every heartbeat interval. Each client has its own bounded
// queue: a client whose unsent events pass [api] stream_queue_bytes is dropped, so a client
// that stops reading can cost the daemon at most that much memory (plus the socket's buffer).
import type Koa from 'koa'
import type { ServerResponse } from 'node:http'
import type { Catalog } from '../catalog/index.ts'
import type { Logger } from '../lib/logger.ts'
import { sseFrame, sseFrameParts, type EventHub, type HubEvent, type Subscriber } from './events.ts'
import type { DocumentHolder, HeldDocuments } from './held-documents.ts'
import { endAtClientFin } from './respond.ts'
import type { ClusterMember, DocumentCache } from './views.ts'

/** How long a dropped client gets to read its final event before its socket is destroyed. */
const DROP_GRACE_MS = 10_000
/** The browser's reconnect delay after the stream ends (EventSource's default is about 3 s). */
const RETRY_MS = 1000
/** Snapshots built for a connecting client before it is dropped because the state changes faster than that. */
const SNAPSHOT_TRIES = 3

export interface SseComponents {
  hub: EventHub
  catalog: Catalog
  members: () => readonly ClusterMember[]
  logger: Logger
  /** Snapshots are serialised once per catalog version (views.ts). */
  documents: DocumentCache
  /** The documents stream clients' sockets hold unsent, bounded (held-documents.ts). */
  held: HeldDocuments
}

/**
 * True iff the request prefers an event stream to JSON documents (EventSource sends exactly
 * `Accept: text/event-stream`). Negotiated as HTTP says (RFC 9110 §12.5.1): media types in any
 * letter case, `q=0` is "not acceptable", a higher q wins, JSON on a tie or without Accept.
 */
export function wantsEventStream (ctx: Koa.Context): boolean {
  return ctx.accepts('application/json', 'text/event-stream') === 'text/event-stream'
}

class SseClient implements Subscriber, DocumentHolder {
  readonly kind = 'sse'
  readonly #res: ServerResponse
  readonly #limit: number
  readonly #onDrop: (reason: string, queued: number) => void
  /** Cuts the connection (set by the handler). */
  cut: (reason: string) => void = () => {}
  #queue: Array<string | Buffer> = []
  #queuedBytes = 0
  #blocked = false
  #done = false
  readonly #flush = (): void => { this.#drain() }

  constructor (res: ServerResponse, limit: number, onDrop: (reason: string, queued: number) => void) {
    this.#res = res
    this.#limit = limit
    this.#onDrop = onDrop
  }

  get queuedBytes (): number { return this.#queuedBytes }

  pending (): boolean { return this.#queuedBytes > 0 || this.#res.writableLength > 0 }

  change (e: HubEvent): void { this.send(e.frame) }

  members (json: string): void { this.send(sseFrame('members', json)) }

  heartbeat (): void {
    if (!this.#blocked) this.send(`: heartbeat ${new Date().toISOString()}\n\n`)
  }

  close (reason: string): void { this.end('closing', reason) }

  /** The connection is gone: forget the queue, write nothing more. */
  closed (): void {
    this.#done = true
    this.#queue = []
    this.#queuedBytes = 0
    this.#res.off('drain', this.#flush)
  }

  /**
   * Writes a frame, or queues it while the socket is full; past the limit, drops the client.
   * A frame in parts (the snapshot: the services document's shared Buffers between its head
   * and its end) is written part by part, each Buffer by reference, never copied per client.
   */
  send (frame: string | ReadonlyArray<string | Buffer>): void {
    if (this.#done) return
    const parts = typeof frame === 'string' ? [frame] : frame
    if (this.#blocked) {
      for (const part of parts) {
        this.#queue.push(part)
        this.#queuedBytes += Buffer.byteLength(part)
      }
      if (this.#queuedBytes > this.#limit) {
        const queued = this.#queuedBytes
        this.end('dropped', `too slow: ${queued} bytes of events were waiting for this client, more than the ${this.#limit} allowed ([api] stream_queue_bytes); reconnect with Last-Event-ID to resume`)
        this.#onDrop('fell behind', queued)
      }
      return
    }
    let more = true
    for (const part of parts) more = this.#res.write(part)
    if (!more) this.#block()
  }

  /** Ends the stream with a final event; a client that does not read it within the grace time is cut off. */
  end (event: 'dropped' | 'closing', reason: string): void {
    if (this.#done) return
    this.#done = true
    this.#queue = []
    this.#queuedBytes = 0
    this.#res.off('drain', this.#flush)
    this.#res.end(sseFrame(event, JSON.stringify({ reason })))
    setTimeout(() => { this.#res.destroy() }, DROP_GRACE_MS).unref()
  }

  #block (): void {
    this.#blocked = true
    this.#res.once('drain', this.#flush)
  }

  #drain (): void {
    this.#blocked = false
    let i = 0
    while (i < this.#queue.length && !this.#done) {
      const frame = this.#queue[i++]
      this.#queuedBytes -= Buffer.byteLength(frame)
      if (!this.#res.write(frame)) { this.#block(); break }
    }
    this.#queue.splice(0, i)
  }
}

/** The koa handler for one SSE connection; it takes over the response. */
export function sseHandler (c: SseComponents, opts: { queueBytes: number }): (ctx: Koa.Context) => Promise<void> {
  return async (ctx) => {
    const { req, res } = ctx
    if (ctx.method === 'HEAD') { ctx.status = 200; ctx.type = 'text/event-stream'; return }
    const query = ctx.query.lastEventId
    const lastEventId = ctx.get('Last-Event-ID') !== '' ? ctx.get('Last-Event-ID') : typeof query === 'string' ? query : undefined
    ctx.status = 200 // for the middleware that runs after this handler returns; the head is written below
    ctx.respond = false // the stream is written here, not by koa
    req.socket.setTimeout(0)
    endAtClientFin(req.socket)
    req.socket.setNoDelay(true)
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      'X-Accel-Buffering': 'no', // tells nginx-style proxies not to hold events back
      'Access-Control-Allow-Origin': '*',
    })
    let unsubscribe = (): void => {}
    let gone = false
    const dropped = (why: string, fields: Record<string, unknown> = {}): void => {
      unsubscribe()
      c.hub.countDrop()
      c.logger.warn({ remote: req.socket.remoteAddress, ...fields }, `SSE client ${req.socket.remoteAddress ?? ''} dropped: ${why}`)
    }
    const client = new SseClient(res, opts.queueBytes, (why, queued) => { dropped(`${why} (${queued} bytes waiting)`, { queued }) })
    client.cut = (why) => {
      client.closed()
      dropped(why)
      res.destroy()
    }
    res.once('close', () => {
      gone = true
      unsubscribe()
      client.closed()
      c.held.release(client)
    })
    client.send(`retry: ${RETRY_MS}\n\n`)
    // A replay bigger than the client's queue would only get it dropped; a snapshot is smaller.
    const replayable = (events: HubEvent[] | undefined): events is HubEvent[] => events !== undefined && events.reduce((n, e) => n + e.frame.length, 0) <= opts.queueBytes
    const missed = c.hub.since(lastEventId)
    if (replayable(missed)) {
      for (const e of missed) client.change(e)
      client.members(c.hub.membersJson())
    } else {
      // Built in time slices, once per catalog version and member list, however many clients
      // connect (views.ts). The changes made while it was built follow it, from the hub's ring.
      for (let tries = 1; ; tries++) {
        const snap = await c.documents.snapshot(c.members, () => c.hub.lastId)
        if (gone) return
        const after = c.hub.since(String(snap.id))
        if (replayable(after)) {
          client.send(sseFrameParts('snapshot', snap.parts, snap.id))
          c.held.hold(snap.parts, client) // until the socket has sent it
          for (const e of after) client.change(e)
          break
        }
        if (tries === SNAPSHOT_TRIES) {
          client.end('dropped', 'the state changed faster than a snapshot could be sent; reconnect')
          dropped(`the state changed faster than a snapshot could be sent (${SNAPSHOT_TRIES} tries: each time, the changes made while it was built were more than [api] event_buffer keeps or [api] stream_queue_bytes allows)`, { tries })
          return
        }
      }
    }
    // Subscribing in the same tick as the last event sent: no change can fall between the two.
    if (res.writableEnded) return
    client.send(sseFrame('stream', JSON.stringify({ HeartbeatIntervalMs: c.hub.heartbeatIntervalMs })))
    unsubscribe = c.hub.subscribe(client)
  }
}
