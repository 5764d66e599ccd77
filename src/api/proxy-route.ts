// GET /api/proxy.json: the embedded proxy's listeners, pools and counters (src/proxy/report.ts).
import type Router from '@koa/router'
import { nextTurn } from '../lib/slicer.ts'
import { allowCors, sendIndented } from './respond.ts'

export function addProxyRoute (router: Router, report: () => unknown): void {
  router.get('/api/proxy.json', async (ctx) => {
    await nextTurn() // O(backends): a turn of its own, so readers at once do not add up in one turn
    allowCors(ctx)
    sendIndented(ctx, report())
  })
}
