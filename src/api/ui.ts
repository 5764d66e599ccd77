// The web UI: static files from ui/ (plain HTML, CSS and ES modules; no build step), served
// at / and /ui/. Files are small and change with upgrades, so browsers revalidate each time:
// a revalidation whose If-Modified-Since (or If-None-Match) still holds gets a 304 and no body.
import { send } from '@koa/send'
import type Koa from 'koa'
import { fileURLToPath } from 'node:url'
import { sendError } from './respond.ts'

/** ui/ at the package root: the same from src/api/ (tests) and dist/api/ (installed). */
export const UI_ROOT = fileURLToPath(new URL('../../ui/', import.meta.url))

export function uiMiddleware (root = UI_ROOT): Koa.Middleware {
  return async (ctx, next) => {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') { await next(); return }
    if (ctx.path === '/ui') { ctx.redirect('/ui/'); return }
    const file = ctx.path === '/' ? 'index.html' : ctx.path.startsWith('/ui/') ? ctx.path.slice('/ui/'.length) : undefined
    if (file === undefined) { await next(); return }
    try {
      await send(ctx, file === '' ? 'index.html' : file, { root, setHeaders: (res) => { res.setHeader('Cache-Control', 'no-cache') } })
      if (ctx.fresh) { // koa compares the request's validators with the Last-Modified send() set
        ctx.status = 304
        ctx.body = null // koa destroys the file stream send() opened
      }
    } catch (err) {
      const status = (err as { status?: number }).status
      if (status !== 404 && status !== 400 && status !== 403) throw err
      sendError(ctx, 404, `Not Found - no UI file ${ctx.path}`)
    }
  }
}
