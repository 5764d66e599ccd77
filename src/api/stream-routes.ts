// /watch and /api/watch (long-poll documents, or SSE when the client asks for an event
// stream) and /api/events (SSE): all fed by the one EventHub.
import type Router from '@koa/router'
import type { Catalog, ClusterMember } from '../catalog/index.ts'
import type { Logger } from '../lib/logger.ts'
import type { EventHub } from './events.ts'
import type { HeldDocuments } from './held-documents.ts'
import { sseHandler, wantsEventStream } from './sse.ts'
import type { DocumentCache } from './views.ts'
import { watchHandler } from './watch.ts'

export interface StreamRouteComponents {
  /** The documents cached per catalog version (shared with the read routes). */
  documents: DocumentCache
  catalog: Catalog
  hub: EventHub
  members: () => readonly ClusterMember[]
  logger: Logger
  /** Bytes of events one SSE client may have waiting ([api] stream_queue_bytes). */
  streamQueueBytes: number
  /** What clients' sockets hold unsent, bounded: shared with the one-shot answers (held-answers.ts). */
  held: HeldDocuments
}

export function addStreamRoutes (router: Router, c: StreamRouteComponents): void {
  // one bound for both kinds of stream, and for the one-shot answers: what clients' sockets hold unsent
  const held = c.held
  const sse = sseHandler({ hub: c.hub, catalog: c.catalog, members: c.members, logger: c.logger, documents: c.documents, held }, { queueBytes: c.streamQueueBytes })
  const watch = watchHandler({ hub: c.hub, documents: c.documents, logger: c.logger, held })
  for (const path of ['/watch', '/api/watch']) router.get(path, async ctx => { if (wantsEventStream(ctx)) await sse(ctx); else watch(ctx) })
  router.get('/api/events', sse)
}
