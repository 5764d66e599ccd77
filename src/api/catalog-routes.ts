// The original's read routes (reference §5.3): /services.json, /state.json and
// /services/<name>.json, each also under /api/, plus /health. They read frozen snapshots.
import type Router from '@koa/router'
import type Koa from 'koa'
import type { Catalog, ClusterMember } from '../catalog/index.ts'
import { allowCors, sendError, sendIndented } from './respond.ts'
import { sendDocument } from './send-document.ts'
import type { Clock } from '../service/clock.ts'
import type { DocumentCache } from './views.ts'

/** Splits "name.json" into name and extension (the last dot), as the original's route did. */
function splitExtension (file: string): { name: string, ext: string } {
  const dot = file.lastIndexOf('.')
  return dot <= 0 ? { name: file, ext: '' } : { name: file.slice(0, dot), ext: file.slice(dot + 1) }
}

export function addCatalogRoutes (router: Router, c: { catalog: Catalog, members: () => readonly ClusterMember[], documents: DocumentCache }): void {
  // Documents that cost O(catalog) are built in time slices, once per catalog version (and
  // member list, or name): readers at once share a build, and /health answers between slices.
  const servicesJson = async (ctx: Koa.Context): Promise<void> => {
    await sendDocument(ctx, await c.documents.servicesIndented(c.members), { versioned: true })
    allowCors(ctx)
  }
  const stateJson = async (ctx: Koa.Context): Promise<void> => {
    await sendDocument(ctx, await c.documents.stateParts(), { versioned: true })
    allowCors(ctx)
  }
  const oneService = async (ctx: Koa.Context & { params: Record<string, string> }): Promise<void> => {
    allowCors(ctx)
    const { name, ext } = splitExtension(ctx.params.file)
    if (ext !== 'json') { sendError(ctx, 404, 'Not Found - Invalid content type extension'); return }
    const doc = await c.documents.service(name)
    if (doc === undefined) { sendError(ctx, 404, `no instances of ${name} found`); return }
    await sendDocument(ctx, doc, { versioned: true })
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
  /** Service ports the proxy cannot open (in use by another program), by port: "name: why". */
  proxyErrors?: () => Record<string, string>
  /** Why this node's identity is not kept across restarts, when it is not (an unwritable data_dir). */
  identityError?: () => string | undefined
  /** Peers that refuse this host (its hostname pinned to another peer id there), by peer: why, with the fix. */
  refusedBy?: () => Record<string, string>
  /** Hosts of this cluster speaking another gossip protocol version (a rolling upgrade), by hostname: why, and which to upgrade. */
  versionMismatch?: () => Record<string, string>
  startedAt: number
  /** Its correctionMs(), when it has one, is how far this host's clock is corrected to agree with the cluster's. */
  clock: Clock
  /** Where the daemon is in its life (absent: always running). */
  phase?: () => DaemonPhase
}

/**
 * `starting` until its gossip node listens (peers cannot reach it yet), `joining` from then
 * until its join is over (it pulled the members' state from a seed, or no seed answered within
 * the join timeout, or it is the first node), `stopping` from the start of its stop on: /health
 * then answers 503, so a HEALTHCHECK or a balancer in front of the API does not count a daemon
 * that is not (or no longer, or not yet fully) in the cluster as healthy.
 */
export type DaemonPhase = 'starting' | 'joining' | 'running' | 'stopping'

export function addHealthRoute (router: Router, c: HealthRouteComponents): void {
  const health = (ctx: Koa.Context): void => {
    const errors = c.discoveryErrors()
    const proxyErrors = c.proxyErrors?.() ?? {}
    const phase = c.phase?.() ?? 'running'
    const identityError = c.identityError?.()
    const refusedBy = c.refusedBy?.() ?? {}
    const versionMismatch = c.versionMismatch?.() ?? {}
    const problems = Object.keys(errors).length + Object.keys(proxyErrors).length + (identityError === undefined ? 0 : 1) + Object.keys(refusedBy).length + Object.keys(versionMismatch).length
    sendIndented(ctx, {
      status: phase !== 'running' ? phase : problems === 0 ? 'ok' : 'degraded',
      hostname: c.catalog.hostname,
      clusterName: c.catalog.clusterName,
      uptimeSeconds: Math.round((Date.now() - c.startedAt) / 1000),
      // How far this host's clock is corrected to agree with the cluster's (gossip/clock-offset.ts); 0 when it agrees.
      clockOffsetSeconds: -(c.clock.correctionMs?.() ?? 0) / 1000,
      ...(Object.keys(errors).length > 0 ? { discoveryErrors: errors } : {}),
      ...(Object.keys(proxyErrors).length > 0 ? { proxyErrors } : {}),
      ...(identityError !== undefined ? { identityError } : {}),
      ...(Object.keys(refusedBy).length > 0 ? { refusedBy } : {}),
      ...(Object.keys(versionMismatch).length > 0 ? { versionMismatch } : {}),
    }, phase === 'running' ? 200 : 503)
  }
  router.get('/health', health)
  router.get('/api/health', health)
}
