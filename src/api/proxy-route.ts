// GET /api/proxy.json: the embedded proxy's listeners, pools and counters (src/proxy/report.ts).
import type Router from '@koa/router'
import { allowCors, sendIndented } from './respond.ts'

export function addProxyRoute (router: Router, report: () => unknown): void {
  router.get('/api/proxy.json', (ctx) => {
    allowCors(ctx)
    sendIndented(ctx, report())
  })
}
