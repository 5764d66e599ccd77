// Headers on every API answer that tell a browser what a page of this daemon may do. The UI
// has one-click drain buttons, so no other site may show it in a frame (clickjacking: a page
// that lays the UI, invisible, under a button of its own gets a same-origin click on drain).
// The policy also keeps the pages to their own scripts, styles and connections, and stops
// browsers from guessing a type other than the one sent (a JSON answer run as a script).
import type Koa from 'koa'

/** The UI's own files, its event stream and fetches; the favicon is a data: URL; nothing may frame it. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')

const HEADERS: ReadonlyArray<readonly [string, string]> = [
  ['Content-Security-Policy', CONTENT_SECURITY_POLICY],
  ['X-Frame-Options', 'DENY'], // frame-ancestors for browsers that predate it
  ['X-Content-Type-Options', 'nosniff'],
  ['Referrer-Policy', 'no-referrer'], // a link to another member's UI does not tell it which page it came from
]

/** Sets the headers before anything answers, so errors, refusals and streams carry them too. */
export function pageHeaders (): Koa.Middleware {
  return async (ctx, next) => {
    for (const [name, value] of HEADERS) ctx.set(name, value)
    await next()
  }
}
