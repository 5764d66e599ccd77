// Routes for people and tools beside the original's API: explain (why an instance is or is
// not routed), the /servers page and Prometheus /metrics.
import type Router from '@koa/router'
import type Koa from 'koa'
import type { Catalog, ClusterMember, StateSnapshot } from '../catalog/index.ts'
import type { Metrics } from '../lib/metrics.ts'
import type { Clock } from '../service/clock.ts'
import { explainParts, type ExplainComponents } from './explain.ts'
import { allowCors, sendError } from './respond.ts'
import { sendDocument } from './send-document.ts'
import { serversPageParts } from './servers.ts'
import { InFlight, SharedBuild } from '../lib/shared-build.ts'

export function addExplainRoute (router: Router, c: ExplainComponents): void {
  // Readers who ask for the same name while its document is being built share that build:
  // eight clients in a loop on a 9,000-instance service cost one build at a time, not eight.
  const builds = new InFlight<string, Buffer[] | undefined>()
  const explain = async (ctx: Koa.Context, name: string): Promise<void> => {
    allowCors(ctx)
    const parts = await builds.run(name, async () => await explainParts(c, name))
    if (parts === undefined) { sendError(ctx, 404, `no instances of ${name} found`); return }
    await sendDocument(ctx, parts)
  }
  router.get('/api/services/:name/explain.json', async (ctx) => { await explain(ctx, ctx.params.name) })
  // The same for any name: a label may name a service "..", "." or "", which a URL path cannot
  // carry (clients and the API resolve such segments away, as Go's ServeMux did).
  router.get('/api/explain.json', async (ctx) => {
    const name = ctx.query.name
    if (typeof name !== 'string') { sendError(ctx, 400, 'give the service name once, as ?name=<name> (percent-encoded)'); return }
    await explain(ctx, name)
  })
}

export function addServersRoute (router: Router, c: { catalog: Catalog, members: () => readonly ClusterMember[], clock: Clock }): void {
  // The page depends on the snapshot, the member names and the second (its times are to the
  // second): readers within one second share it. It is built in time slices, one build at a
  // time (SharedBuild).
  interface Key { snap: StateSnapshot, members: readonly string[], membersKey: string, nowMs: number, second: number }
  const page = new SharedBuild<Key, Buffer[]>((a, b) => a.snap === b.snap && a.second === b.second && a.membersKey === b.membersKey)
  const key = (): Key => {
    const members = c.members().map(m => m.Name)
    const nowMs = c.clock.nowMs()
    return { snap: c.catalog.snapshot(), members, membersKey: members.join('\n'), nowMs, second: Math.round(nowMs / 1000) }
  }
  router.get('/servers', async (ctx) => {
    const parts = await page.get(key, async k => await serversPageParts(k.snap, k.members, k.nowMs))
    await sendDocument(ctx, parts, { type: 'text/html; charset=utf-8', versioned: true })
  })
}

export function addMetricsRoute (router: Router, metrics: Metrics): void {
  // Scrapes that come while one is being written share it (and its gzip form): at thousands of
  // proxy listeners a page is 15 MB, and eight scrapes at once held eight of them.
  const builds = new InFlight<'metrics', Buffer[]>()
  router.get('/metrics', async (ctx) => {
    await sendDocument(ctx, await builds.run('metrics', async () => await metrics.parts()), { type: metrics.contentType })
  })
}
