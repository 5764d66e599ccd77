// The JSON API of reference §5: routes, shapes, indentation, CORS headers and error bodies
// as in the original, each route also under /api/. Handlers read frozen snapshots only.
// Beside it: the web UI, /watch and SSE streams, drain, explain, /servers and /metrics.
import type RouterClass from '@koa/router'
import Koa from 'koa'
import type { Catalog } from '../catalog/index.ts'
import type { ListenerView } from '../listeners/index.ts'
import type { Logger } from '../lib/logger.ts'
import type { CheckState } from '../health/monitor.ts'
import type { Metrics } from '../lib/metrics.ts'
import type { Clock } from '../service/clock.ts'
import type { ApiActivity } from './activity.ts'
import { addCatalogRoutes, addHealthRoute, type DaemonPhase } from './catalog-routes.ts'
import { cleanPathRedirect } from './clean-path.ts'
import { addDrainRoutes, type Drainer } from './drain.ts'
import type { EventHub } from './events.ts'
import { defaultRouteRule, type Lifespans, type RouteRule } from './explain.ts'
import { apiGuard, readHostGuard, type GuardInit } from './guard.ts'
import { HeldAnswers } from './held-answers.ts'
import { HeldDocuments } from './held-documents.ts'
import { addExplainRoute, addMetricsRoute, addServersRoute } from './info-routes.ts'
import { addListenersRoute } from './listeners-route.ts'
import { pageHeaders } from './page-headers.ts'
import { addProxyRoute } from './proxy-route.ts'
import type { ApiRejections } from './rejections.ts'
import { requestChecks } from './request-checks.ts'
import { allowCors, sendError, sendStreamBodies } from './respond.ts'
import { addStreamRoutes } from './stream-routes.ts'
import { uiMiddleware } from './ui.ts'
import { DocumentCache, type ClusterMember } from './views.ts'
import { nodeRequire } from '../lib/node-http.ts'

// @koa/router as CommonJS: its ES module build imports node:http, which loads Node's bundled
// undici into every daemon (see lib/node-http.ts); its CommonJS build requires it.
const Router = nodeRequire('@koa/router') as typeof RouterClass

export type { ClusterMember } from './views.ts'

export interface ApiComponents {
  catalog: Catalog
  logger: Logger
  /** Current cluster members (this host included). */
  members: () => readonly ClusterMember[]
  /** Problems a discoverer reports (a bad static file edit), by discoverer name. */
  discoveryErrors: () => Record<string, string>
  /** Service ports the proxy cannot open, by port, for /health (absent: none). */
  proxyErrors?: () => Record<string, string>
  /** Why this node's identity is not kept across restarts, for /health. */
  identityError?: () => string | undefined
  /** Peers that refuse this host, for /health. */
  refusedBy?: () => Record<string, string>
  /** Hosts of this cluster speaking another gossip protocol version, by hostname (for /health). */
  versionMismatch?: () => Record<string, string>
  startedAt: number
  /** Where the daemon is in its life, for /health (absent: always running). */
  phase?: () => DaemonPhase
  /** The embedded proxy's state for /api/proxy.json. */
  proxy?: () => unknown
  /** Webhook listeners, for /api/listeners.json (absent: no such route). */
  listeners?: () => readonly ListenerView[]
  /** Changes not yet handed to every listener's queue (Listeners.backlog), for /api/listeners.json. */
  listenerBacklog?: () => number
  /** Change events for /watch and SSE (one catalog subscription for all clients). */
  hub: EventHub
  /** Counts what the API serves, for the heap mode (activity.ts). */
  activity?: ApiActivity
  metrics: Metrics
  /** The local announcer: drains this host's instances. */
  drainer: Drainer
  /** This host's health check of a local service ID, for explain. */
  check: (id: string) => CheckState | undefined
  lifespans: Lifespans
  clock: Clock
  /** Bytes of events one SSE client may have waiting ([api] stream_queue_bytes). */
  streamQueueBytes: number
  /** Whether this host routes to an instance; default: the original's proxy rule. The proxy may supply its own. */
  route?: RouteRule
  /** Origins whose pages may show the UI in a frame ([api] frame_ancestors); none by default. */
  frameAncestors?: readonly string[]
  /** The write guard, stream-client cap and CORS policy (guard.ts): one middleware in front of every route. */
  guard: GuardInit & { rejections: ApiRejections }
}

/**
 * Errors of a response that had begun (a stream body, a write) when its client went away:
 * that client's business, not the daemon's.
 */
const CLIENT_GONE = new Set(['ERR_STREAM_PREMATURE_CLOSE', 'ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ECANCELED', 'ERR_STREAM_DESTROYED'])

export function createApp (c: ApiComponents): Koa {
  const app = new Koa()
  const router = new Router()
  // Errors after a response began reach here, not the handler's catch below. Koa's own
  // handler printed each one's stack to stderr: a client that pipelined 2,600 reads of
  // /state.json and went away left 2,600 stack traces in the daemon's output.
  app.on('error', (err: NodeJS.ErrnoException & { status?: number, expose?: boolean }, ctx?: Koa.Context) => {
    if (err.status === 404 || err.expose === true) return
    if (err.code !== undefined && CLIENT_GONE.has(err.code)) {
      c.logger.debug({ code: err.code, path: ctx?.path }, `API client went away before its answer was sent (${err.code})`)
      return
    }
    c.logger.warn({ err, path: ctx?.path }, `API answer failed: ${err.message}`)
  })

  // what clients hold unsent, answers and streams together, within one bound (held-documents.ts)
  const held = new HeldDocuments()
  app.use(sendStreamBodies(new HeldAnswers({ held, metrics: c.metrics, logger: c.logger }).hold))
  if (c.activity !== undefined) app.use(c.activity.middleware())
  app.use(pageHeaders(c.frameAncestors))
  app.use(async (ctx, next) => {
    try {
      await next()
    } catch (err) {
      c.logger.error({ err, path: ctx.path }, 'API handler failed')
      sendError(ctx, 500, 'Internal Server Error - Something went terribly wrong')
    }
    // a path matched only by the CORS pre-flight route (OPTIONS /api/<x>) is no route for another method
    const preflightOnly = ctx.status === 405 && ctx.response.get('Allow') === 'OPTIONS'
    if (preflightOnly) ctx.remove('Allow')
    const noBody = ctx.body === undefined || ctx.body === null || ctx.body === ''
    if ((ctx.status === 404 && ctx.body === undefined) || preflightOnly) sendError(ctx, 404, `Not Found - no route for ${ctx.method} ${ctx.path}`)
    else if (ctx.status === 405 && noBody) sendError(ctx, 405, `Method Not Allowed - ${ctx.method} is not allowed on ${ctx.path}`)
    else if (ctx.status === 501 && noBody) {
      // the router sends the path's methods in Allow; a path no route knows would get an empty one
      if (ctx.response.get('Allow') === '') ctx.remove('Allow')
      sendError(ctx, 501, `Not Implemented - the API serves no ${ctx.method} requests`)
    }
  })
  app.use(requestChecks(c.guard.rejections))
  app.use(apiGuard(c.guard, c.guard))
  // after the guard: a write it refuses is refused at any path, not redirected first
  app.use(cleanPathRedirect())
  // reads judged by the name they were sent to (DNS rebinding), on the path the router matches
  app.use(readHostGuard(c.guard, c.guard))

  // Serialised once per catalog version, not per request (views.ts DocumentCache), shared by every route.
  const documents = new DocumentCache(c.catalog)
  // Each module registers its routes and gets only what it uses.
  addCatalogRoutes(router, { catalog: c.catalog, members: c.members, documents })
  if (c.proxy !== undefined) addProxyRoute(router, c.proxy)
  addHealthRoute(router, { catalog: c.catalog, discoveryErrors: c.discoveryErrors, ...(c.proxyErrors !== undefined ? { proxyErrors: c.proxyErrors } : {}), ...(c.identityError !== undefined ? { identityError: c.identityError } : {}), ...(c.refusedBy !== undefined ? { refusedBy: c.refusedBy } : {}), ...(c.versionMismatch !== undefined ? { versionMismatch: c.versionMismatch } : {}), startedAt: c.startedAt, clock: c.clock, phase: c.phase })
  if (c.listeners !== undefined) addListenersRoute(router, c.listeners, c.listenerBacklog)
  addStreamRoutes(router, { documents, catalog: c.catalog, hub: c.hub, members: c.members, logger: c.logger, streamQueueBytes: c.streamQueueBytes, held })
  // Write routes: the app-wide guard above already refused any write without the token or from another origin.
  addDrainRoutes(router, { drainer: c.drainer, metrics: c.metrics })
  addExplainRoute(router, { catalog: c.catalog, lifespans: c.lifespans, route: c.route ?? defaultRouteRule(c.lifespans), check: c.check, isDrained: c.drainer.isDrained.bind(c.drainer), now: () => c.clock.now() })
  addServersRoute(router, { catalog: c.catalog, members: c.members, clock: c.clock })
  addMetricsRoute(router, c.metrics)
  // CORS pre-flight for single-segment API paths (reference §5.7)
  router.options(['/api/:segment', '/v1/:segment'], (ctx) => {
    allowCors(ctx)
    ctx.status = 200
    ctx.body = ''
  })

  // OPTIONS is a CORS pre-flight only on single-segment /api/ and /v1/ paths (reference §5.7);
  // elsewhere it is 405 on a known path and 404 otherwise, not the router's automatic answer.
  app.use(async (ctx, next) => {
    if (ctx.method !== 'OPTIONS' || /^\/(api|v1)\/[^/]+$/.test(ctx.path)) { await next(); return }
    const known = ['GET', 'POST'].some(m => router.match(ctx.path, m).path.length > 0)
    if (known) sendError(ctx, 405, `Method Not Allowed - OPTIONS is not allowed on ${ctx.path}`)
    else sendError(ctx, 404, `Not Found - no route for OPTIONS ${ctx.path}`)
  })
  app.use(uiMiddleware())
  app.use(router.routes())
  app.use(router.allowedMethods())
  return app
}
