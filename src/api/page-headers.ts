// Headers on every API answer that tell a browser what a page of this daemon may do. The UI
// has one-click drain buttons, so by default no other page may show it in a frame
// (clickjacking: a page that lays the UI, invisible, under a button of its own gets a
// same-origin click on drain); [api] frame_ancestors names the origins that may (a dashboard).
// The policy also keeps the pages to their own scripts, styles and connections, and stops
// browsers from guessing a type other than the one sent (a JSON answer run as a script).
import type Koa from 'koa'

/** The Content-Security-Policy: the UI's own files, its event stream and fetches; the favicon is a data: URL. */
export function contentSecurityPolicy (frameAncestors: readonly string[] = []): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    `frame-ancestors ${frameAncestors.length === 0 ? "'none'" : frameAncestors.map(o => o.replace(/\/$/, '')).join(' ')}`,
  ].join('; ')
}

/**
 * Sets the headers before anything answers, so errors, refusals and streams carry them too.
 * `frameAncestors`: origins (checked by the config: scheme://host[:port]) that may frame the pages.
 */
export function pageHeaders (frameAncestors: readonly string[] = []): Koa.Middleware {
  const headers: Array<readonly [string, string]> = [
    ['Content-Security-Policy', contentSecurityPolicy(frameAncestors)],
    ['X-Content-Type-Options', 'nosniff'],
    ['Referrer-Policy', 'no-referrer'], // a link to another member's UI does not tell it which page it came from
  ]
  // frame-ancestors for browsers that predate it; it cannot name origins, so only when none may frame
  if (frameAncestors.length === 0) headers.push(['X-Frame-Options', 'DENY'])
  return async (ctx, next) => {
    for (const [name, value] of headers) ctx.set(name, value)
    await next()
  }
}
