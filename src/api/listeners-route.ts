// GET /api/listeners.json: every webhook listener with its source, URL, last success, last
// error, consecutive failures and queue depth (issue 7), and the changes not yet handed to every
// listener's queue (backlog). Indented like the services routes.
import type Router from '@koa/router'
import type { ListenerView } from '../listeners/index.ts'
import { allowCors, sendIndented } from './respond.ts'

export function addListenersRoute (router: Router, list: () => readonly ListenerView[], backlog: () => number = () => 0): void {
  router.get('/api/listeners.json', (ctx) => {
    allowCors(ctx)
    sendIndented(ctx, { listeners: list(), backlog: backlog() })
  })
}
