// The JSON API of reference §5: routes, shapes, indentation, CORS headers and error bodies
// as in the original, each route also under /api/. Handlers read frozen snapshots only.
// Beside it: the web UI, /watch and SSE streams, drain, explain, /servers and /metrics.
import Router from '@koa/router'
import Koa from 'koa'
import type { Catalog } from '../catalog/index.ts'
import type { ListenerView } from '../listeners/index.ts'
import type { Logger } from '../lib/logger.ts'
import { addProxyRoute } from './proxy-route.ts'
import { addListenersRoute } from './listeners-route.ts'
import type { CheckState } from '../health/monitor.ts'
import type { Clock } from '../lib/clock.ts'
import type { Metrics } from '../lib/metrics.ts'
import { drainHandlers, type Drainer } from './drain.ts'
import type { EventHub } from './events.ts'
import { defaultRouteRule, explainService, type Lifespans, type RouteRule } from './explain.ts'
import { allowCors, sendCompact, sendError, sendIndented } from './respond.ts'
import { serversPage } from './servers.ts'
import { sseHandler, wantsEventStream } from './sse.ts'
import { uiMiddleware } from './ui.ts'
import { DocumentCache, type ClusterMember } from './views.ts'
import { watchHandler } from './watch.ts'

export type { ClusterMember } from './views.ts'

export interface ApiComponents {
  catalog: Catalog
  logger: Logger
  /** Current cluster members (this host included). */
  members: () => readonly ClusterMember[]
  /** Problems a discoverer reports (a bad static file edit), by discoverer name. */
  discoveryErrors: () => Record<string, string>
  startedAt: number
  /** The embedded proxy's state for /api/proxy.json. */
  proxy?: () => unknown
  /** Webhook listeners, for /api/listeners.json (absent: no such route). */
  listeners?: () => readonly ListenerView[]
  /** Change events for /watch and SSE (one catalog subscription for all clients). */
  hub: EventHub
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
}

/** Splits "name.json" into name and extension (the last dot), as the original's route did. */
function splitExtension (file: string): { name: string, ext: string } {
  const dot = file.lastIndexOf('.')
  return dot <= 0 ? { name: file, ext: '' } : { name: file.slice(0, dot), ext: file.slice(dot + 1) }
}

export function createApp (c: ApiComponents): Koa {
  const app = new Koa()
  const router = new Router()

  app.use(async (ctx, next) => {
    try {
      await next()
    } catch (err) {
      c.logger.error({ err, path: ctx.path }, 'API handler failed')
      sendError(ctx, 500, 'Internal Server Error - Something went terribly wrong')
    }
    if (ctx.status === 404 && ctx.body === undefined) sendError(ctx, 404, `Not Found - no route for ${ctx.method} ${ctx.path}`)
    else if (ctx.status === 405 && (ctx.body === undefined || ctx.body === null || ctx.body === '')) sendError(ctx, 405, `Method Not Allowed - ${ctx.method} is not allowed on ${ctx.path}`)
  })

  // Serialised once per catalog version, not per request (views.ts DocumentCache).
  const documents = new DocumentCache(c.catalog)
  const servicesJson = (ctx: Koa.Context): void => {
    allowCors(ctx)
    sendCompact(ctx, documents.services(c.members(), { indent: true }))
  }
  const stateJson = async (ctx: Koa.Context): Promise<void> => {
    sendCompact(ctx, await documents.stateBytes())
    allowCors(ctx)
  }
  const oneService = (ctx: Koa.Context & { params: Record<string, string> }): void => {
    allowCors(ctx)
    const { name, ext } = splitExtension(ctx.params.file)
    if (ext !== 'json') { sendError(ctx, 404, 'Not Found - Invalid content type extension'); return }
    const instances = c.catalog.byService()[name]
    if (instances === undefined || instances.length === 0) { sendError(ctx, 404, `no instances of ${name} found`); return }
    sendIndented(ctx, { Services: { [name]: instances }, ClusterName: c.catalog.clusterName })
  }
  const health = (ctx: Koa.Context): void => {
    const errors = c.discoveryErrors()
    sendIndented(ctx, {
      status: Object.keys(errors).length === 0 ? 'ok' : 'degraded',
      hostname: c.catalog.hostname,
      clusterName: c.catalog.clusterName,
      uptimeSeconds: Math.round((Date.now() - c.startedAt) / 1000),
      ...(Object.keys(errors).length > 0 ? { discoveryErrors: errors } : {}),
    })
  }

  for (const prefix of ['', '/api']) {
    router.get(`${prefix}/services.json`, servicesJson)
    router.get(`${prefix}/state.json`, stateJson)
    router.get(`${prefix}/services/:file`, oneService)
  }
  if (c.proxy !== undefined) addProxyRoute(router, c.proxy)
  router.get('/health', health)
  router.get('/api/health', health)
  if (c.listeners !== undefined) addListenersRoute(router, c.listeners)

  const sse = sseHandler({ hub: c.hub, catalog: c.catalog, members: c.members, logger: c.logger, documents }, { queueBytes: c.streamQueueBytes })
  const watch = watchHandler({ hub: c.hub, documents })
  for (const path of ['/watch', '/api/watch']) router.get(path, ctx => { if (wantsEventStream(ctx)) sse(ctx); else watch(ctx) })
  router.get('/api/events', sse)

  const { drain, undrain } = drainHandlers(c.drainer, c.metrics)
  router.post('/api/services/:id/drain', drain)
  router.post('/api/services/:id/undrain', undrain)

  const explainComponents = { catalog: c.catalog, lifespans: c.lifespans, route: c.route ?? defaultRouteRule(c.lifespans), check: c.check, isDrained: c.drainer.isDrained.bind(c.drainer), now: () => c.clock.now() }
  router.get('/api/services/:name/explain.json', (ctx) => {
    allowCors(ctx)
    const doc = explainService(explainComponents, ctx.params.name)
    if (doc === undefined) { sendError(ctx, 404, `no instances of ${ctx.params.name} found`); return }
    sendIndented(ctx, doc)
  })

  router.get('/servers', (ctx) => {
    ctx.type = 'text/html; charset=utf-8'
    ctx.body = serversPage(c.catalog.snapshot(), c.members().map(m => m.Name), c.clock.nowMs())
  })

  router.get('/metrics', async (ctx) => {
    const text = await c.metrics.text()
    ctx.body = text
    ctx.set('Content-Type', c.metrics.contentType)
  })
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
