// GET /api/proxy.json: the embedded proxy's listeners, pools and counters (src/proxy/report.ts).
import type Router from '@koa/router'
import { jsonParts } from '../lib/json-parts.ts'
import { InFlight } from '../lib/shared-build.ts'
import { nextTurn } from '../lib/slicer.ts'
import { allowCors } from './respond.ts'
import { sendDocument } from './send-document.ts'

export function addProxyRoute (router: Router, report: () => unknown): void {
  // O(backends): the report is taken in a turn of its own and encoded in time slices (a
  // listener of 10,000 backends took 30-50 ms in one piece); readers who arrive meanwhile
  // share the build, so eight readers in a loop cost one build at a time.
  const builds = new InFlight<'report', Buffer[]>()
  router.get('/api/proxy.json', async (ctx) => {
    const parts = await builds.run('report', async () => { await nextTurn(); return await jsonParts(report(), { depth: 4 }) })
    allowCors(ctx)
    await sendDocument(ctx, parts)
  })
}
