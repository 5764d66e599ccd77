// Routes for people and tools beside the original's API: explain (why an instance is or is
// not routed), the /servers page and Prometheus /metrics.
import type Router from '@koa/router'
import type { Catalog, ClusterMember, StateSnapshot } from '../catalog/index.ts'
import type { Metrics } from '../lib/metrics.ts'
import type { Clock } from '../service/clock.ts'
import { explainParts, type ExplainComponents } from './explain.ts'
import { allowCors, sendError, sendParts } from './respond.ts'
import { serversPageParts } from './servers.ts'

export function addExplainRoute (router: Router, c: ExplainComponents): void {
  // Readers who ask for the same name while its document is being built share that build:
  // eight clients in a loop on a 9,000-instance service cost one build at a time, not eight.
  const building = new Map<string, Promise<Buffer[] | undefined>>()
  router.get('/api/services/:name/explain.json', async (ctx) => {
    allowCors(ctx)
    const name = ctx.params.name
    let build = building.get(name)
    if (build === undefined) {
      const started = explainParts(c, name).finally(() => { if (building.get(name) === started) building.delete(name) })
      building.set(name, build = started)
    }
    const parts = await build
    if (parts === undefined) { sendError(ctx, 404, `no instances of ${name} found`); return }
    sendParts(ctx, parts)
  })
}

export function addServersRoute (router: Router, c: { catalog: Catalog, members: () => readonly ClusterMember[], clock: Clock }): void {
  // The page depends on the snapshot, the member names and the second (its times are to the
  // second): readers within one second share it, and readers who arrive while it is being
  // built (in time slices) share that build.
  let last: { snap: StateSnapshot, members: string, second: number, page: Promise<Buffer[]> } | undefined
  router.get('/servers', async (ctx) => {
    const snap = c.catalog.snapshot()
    const members = c.members().map(m => m.Name)
    const membersKey = members.join('\n')
    const nowMs = c.clock.nowMs()
    const second = Math.round(nowMs / 1000)
    if (last?.snap !== snap || last.second !== second || last.members !== membersKey) {
      last = { snap, members: membersKey, second, page: serversPageParts(snap, members, nowMs) }
    }
    sendParts(ctx, await last.page, 'text/html; charset=utf-8')
  })
}

export function addMetricsRoute (router: Router, metrics: Metrics): void {
  router.get('/metrics', async (ctx) => {
    const text = await metrics.text()
    ctx.body = text
    ctx.set('Content-Type', metrics.contentType)
  })
}
