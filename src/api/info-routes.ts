// Routes for people and tools beside the original's API: explain (why an instance is or is
// not routed), the /servers page and Prometheus /metrics.
import type Router from '@koa/router'
import type { Catalog, ClusterMember } from '../catalog/index.ts'
import type { Metrics } from '../lib/metrics.ts'
import type { Clock } from '../service/clock.ts'
import { explainService, type ExplainComponents } from './explain.ts'
import { allowCors, sendError, sendIndented } from './respond.ts'
import { serversPage } from './servers.ts'

export function addExplainRoute (router: Router, c: ExplainComponents): void {
  router.get('/api/services/:name/explain.json', (ctx) => {
    allowCors(ctx)
    const doc = explainService(c, ctx.params.name)
    if (doc === undefined) { sendError(ctx, 404, `no instances of ${ctx.params.name} found`); return }
    sendIndented(ctx, doc)
  })
}

export function addServersRoute (router: Router, c: { catalog: Catalog, members: () => readonly ClusterMember[], clock: Clock }): void {
  router.get('/servers', (ctx) => {
    ctx.type = 'text/html; charset=utf-8'
    ctx.body = serversPage(c.catalog.snapshot(), c.members().map(m => m.Name), c.clock.nowMs())
  })
}

export function addMetricsRoute (router: Router, metrics: Metrics): void {
  router.get('/metrics', async (ctx) => {
    const text = await metrics.text()
    ctx.body = text
    ctx.set('Content-Type', metrics.contentType)
  })
}
