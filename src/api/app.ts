// The JSON API of reference §5: routes, shapes, indentation, CORS headers and error bodies
// as in the original, each route also under /api/. Handlers read frozen snapshots only.
import Router from '@koa/router'
import Koa from 'koa'
import { encodeState, type Catalog } from '../catalog/index.ts'
import type { ListenerView } from '../listeners/index.ts'
import type { Logger } from '../lib/logger.ts'
import type { Time } from '../service/time.ts'
import { addProxyRoute } from './proxy-route.ts'
import { addListenersRoute } from './listeners-route.ts'
import { allowCors, sendCompact, sendError, sendIndented } from './respond.ts'

export interface ClusterMember {
  readonly Name: string
  readonly LastUpdated: Time
  readonly ServiceCount: number
}

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

  const servicesJson = (ctx: Koa.Context): void => {
    allowCors(ctx)
    const members = c.members()
    const body: Record<string, unknown> = { Services: c.catalog.byService() }
    if (members.length > 0) {
      body.ClusterMembers = Object.fromEntries([...members].sort((a, b) => a.Name.localeCompare(b.Name)).map(m => [m.Name, m]))
    }
    body.ClusterName = c.catalog.clusterName
    sendIndented(ctx, body)
  }
  const stateJson = (ctx: Koa.Context): void => {
    sendCompact(ctx, encodeState(c.catalog.snapshot()))
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
  // CORS pre-flight for single-segment API paths (reference §5.7)
  router.options(['/api/:segment', '/v1/:segment'], (ctx) => {
    allowCors(ctx)
    ctx.status = 200
    ctx.body = ''
  })

  app.use(router.routes())
  app.use(router.allowedMethods())
  return app
}
