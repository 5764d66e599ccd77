// The original's read routes (reference §5.3): /services.json, /state.json and
// /services/<name>.json, each also under /api/, plus /health. They read frozen snapshots.
import type Router from '@koa/router'
import type Koa from 'koa'
import type { Catalog, ClusterMember } from '../catalog/index.ts'
import { nextTurn } from '../lib/slicer.ts'
import { allowCors, sendCompact, sendError, sendIndented, sendParts } from './respond.ts'
import type { Clock } from '../service/clock.ts'
import type { DocumentCache } from './views.ts'

/** Splits "name.json" into name and extension (the last dot), as the original's route did. */
function splitExtension (file: string): { name: string, ext: string } {
  const dot = file.lastIndexOf('.')
  return dot <= 0 ? { name: file, ext: '' } : { name: file.slice(0, dot), ext: file.slice(dot + 1) }
}

export function addCatalogRoutes (router: Router, c: { catalog: Catalog, members: () => readonly ClusterMember[], documents: DocumentCache }): void {
  // Answers that cost O(catalog) each wait a turn of the event loop of their own (nextTurn):
  // eight readers at once are eight turns with I/O and timers between them, not one turn of
  // eight documents (at 10,000 services that held /health for a second and more).
  const servicesJson = async (ctx: Koa.Context): Promise<void> => {
    await nextTurn()
    allowCors(ctx)
    sendCompact(ctx, c.documents.services(c.members(), { indent: true }))
  }
  const stateJson = async (ctx: Koa.Context): Promise<void> => {
    sendParts(ctx, await c.documents.stateParts())
    allowCors(ctx)
  }
  const oneService = async (ctx: Koa.Context & { params: Record<string, string> }): Promise<void> => {
    allowCors(ctx)
    const { name, ext } = splitExtension(ctx.params.file)
    if (ext !== 'json') { sendError(ctx, 404, 'Not Found - Invalid content type extension'); return }
    if (!c.documents.hasService(name)) await nextTurn() // a build (per catalog version and name) gets a turn of its own
    const doc = c.documents.service(name)
    if (doc === undefined) { sendError(ctx, 404, `no instances of ${name} found`); return }
    sendCompact(ctx, doc)
  }
  for (const prefix of ['', '/api']) {
    router.get(`${prefix}/services.json`, servicesJson)
    router.get(`${prefix}/state.json`, stateJson)
    router.get(`${prefix}/services/:file`, oneService)
  }
}

export interface HealthRouteComponents {
  catalog: Catalog
  /** Problems a discoverer reports (a bad static file edit), by discoverer name. */
  discoveryErrors: () => Record<string, string>
  startedAt: number
  /** Its correctionMs(), when it has one, is how far this host's clock is corrected to agree with the cluster's. */
  clock: Clock
}

export function addHealthRoute (router: Router, c: HealthRouteComponents): void {
  const health = (ctx: Koa.Context): void => {
    const errors = c.discoveryErrors()
    sendIndented(ctx, {
      status: Object.keys(errors).length === 0 ? 'ok' : 'degraded',
      hostname: c.catalog.hostname,
      clusterName: c.catalog.clusterName,
      uptimeSeconds: Math.round((Date.now() - c.startedAt) / 1000),
      // How far this host's clock is corrected to agree with the cluster's (gossip/clock-offset.ts); 0 when it agrees.
      clockOffsetSeconds: -(c.clock.correctionMs?.() ?? 0) / 1000,
      ...(Object.keys(errors).length > 0 ? { discoveryErrors: errors } : {}),
    })
  }
  router.get('/health', health)
  router.get('/api/health', health)
}
