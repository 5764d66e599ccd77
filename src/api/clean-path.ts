// Paths with empty, `.` or `..` segments are redirected to the cleaned path, as the original's
// Go ServeMux did (reference §5.1): `//services.json`, `/api/./state.json` and
// `/api/x/../services.json` lead to the document instead of a 404. Go answers every method
// but CONNECT with a 301 and keeps the query string; here GET and HEAD get Go's 301, and
// other methods a 308, which clients follow with the same method and body (after a 301 most
// clients send a POST again as a GET, so a drain at a doubled slash would end in a 405).
import type Koa from 'koa'

/** `.` and `..` as a segment, also percent-encoded (`%2e`): browsers and Go's decoded paths read them so. */
const DOT = /^(?:\.|%2e)$/i
const DOT_DOT = /^(?:\.|%2e){2}$/i

/**
 * Go's cleanPath on the path as sent (percent-encoding kept but for dots): empty, `.` and `..`
 * segments resolved, never above the root, a trailing slash kept. Pure.
 */
export function cleanPath (path: string): string {
  const out: string[] = []
  const segments = path.split('/')
  for (const s of segments) {
    if (s === '' || DOT.test(s)) continue
    if (DOT_DOT.test(s)) out.pop()
    else out.push(s)
  }
  const cleaned = `/${out.join('/')}`
  return path.endsWith('/') && cleaned !== '/' ? `${cleaned}/` : cleaned
}

/**
 * The Location for a cleaned path: a path on this host, never a URL that names another.
 * Browsers read a backslash as a slash, so `/\evil.example/x` (what `//\evil.example/x`
 * cleans to) would be the scheme-relative `//evil.example/x`: backslashes are encoded.
 */
export function localLocation (path: string, query: string): string {
  const local = path.replaceAll('\\', '%5C')
  return query === '' ? local : `${local}?${query}`
}

export function cleanPathRedirect (): Koa.Middleware {
  return async (ctx, next) => {
    const path = ctx.path
    const cleaned = path.startsWith('/') ? cleanPath(path) : path
    if (cleaned === path) { await next(); return }
    ctx.status = ctx.method === 'GET' || ctx.method === 'HEAD' ? 301 : 308
    ctx.redirect(localLocation(cleaned, ctx.querystring))
  }
}
