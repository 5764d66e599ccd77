// POST /api/services/<id>/drain (reference §5.6) and /undrain: only this host's instances.
// The announcer holds the drain and merges the new record at once, so the change reaches
// the catalog's 'change' event (and from there the streams and gossip) before the reply; the
// reply also waits for the drain to be kept in data_dir (kept()), so a 202 survives a crash
// of the daemon right after it.
import type Router from '@koa/router'
import type Koa from 'koa'
import type { Metrics } from '../lib/metrics.ts'
import type { Service } from '../service/service.ts'
import { statusString } from '../service/status.ts'
import { sendError, sendIndented } from './respond.ts'

/** What the drain routes need of the local announcer. */
export interface Drainer {
  drain (id: string): Service | undefined
  undrain (id: string): Service | undefined
  isDrained (svc: Pick<Service, 'Hostname' | 'ID'>): boolean
  /** Resolves once the drains so far are kept in data_dir, or that failed (warned), or took too long (bounded). Never rejects. */
  kept (): Promise<void>
}

type Ctx = Koa.Context & { params: Record<string, string> }

export function drainHandlers (drainer: Drainer, metrics: Metrics): { drain: (ctx: Ctx) => Promise<void>, undrain: (ctx: Ctx) => Promise<void> } {
  const requests = metrics.counter('sidecar_drain_requests_total', 'Drain and undrain requests, by action and result', ['action', 'result'])
  const handler = (action: 'drain' | 'undrain') => async (ctx: Ctx): Promise<void> => {
    const id = ctx.params.id
    const svc = action === 'drain' ? drainer.drain(id) : drainer.undrain(id)
    if (svc === undefined) {
      requests.inc({ action, result: 'not_found' })
      sendError(ctx, 404, `Not Found - Service ID ${JSON.stringify(id)} not found`)
      return
    }
    await drainer.kept()
    requests.inc({ action, result: 'ok' })
    const message = action === 'drain'
      ? `Service ${JSON.stringify(svc.Name)} instance ${JSON.stringify(svc.ID)} set to DRAINING`
      : `Service ${JSON.stringify(svc.Name)} instance ${JSON.stringify(svc.ID)} is no longer DRAINING (now ${statusString(svc.Status).toUpperCase()})`
    sendIndented(ctx, { Message: message }, 202)
  }
  return { drain: handler('drain'), undrain: handler('undrain') }
}

/** POST /api/services/:id/drain and /undrain, each behind `guard` (the API's write guard). */
export function addDrainRoutes (router: Router, c: { drainer: Drainer, metrics: Metrics }): void {
  const { drain, undrain } = drainHandlers(c.drainer, c.metrics)
  router.post('/api/services/:id/drain', drain)
  router.post('/api/services/:id/undrain', undrain)
}
