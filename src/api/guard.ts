// The API's gate, in front of every route (one app.use in app.ts):
//  - writes (any method but GET/HEAD/OPTIONS): refused with 403 when a browser sends them
//    from another origin, and with 401 unless they carry [api] token when one is set;
//  - stream clients (/watch, /api/watch, /api/events): at most [api] max_stream_clients at
//    once, the next ones get 503;
//  - CORS: only the original's read routes (services, one service, state and their
//    pre-flight) keep "Access-Control-Allow-Origin: *"; every other answer loses it, so a
//    page on another origin can neither write nor read explain, proxy or listener details.
// Every refusal has the house JSON error body and is counted (rejections.ts).
import type Koa from 'koa'
import type { ApiRejections } from './rejections.ts'
import { sendError } from './respond.ts'
import { hostNameVerdict, isWrite, sameOriginVerdict, tokenVerdict } from './write-rules.ts'

export interface GuardInit {
  /** [api] token; '' = writes need no token (cross-origin ones are refused all the same). */
  token: string
  /**
   * Without a token: names a browser may send writes to besides IP addresses and localhost
   * ([api] allowed_hosts and this host's name; hostNameVerdict).
   */
  allowedHosts?: readonly string[]
  /** [api] max_stream_clients. */
  maxStreamClients: number
}

const STREAM_PATHS: ReadonlySet<string> = new Set(['/watch', '/api/watch', '/api/events'])
/** The original's routes with CORS (reference §5.1 and §5.7); the rest are this daemon's own. */
const CORS_READ = /^(?:\/api)?\/(?:services\.json|state\.json|services\/[^/]+)$/
const CORS_PREFLIGHT = /^\/(?:api|v1)\/[^/]+$/
const CORS_HEADERS = ['Access-Control-Allow-Origin', 'Access-Control-Allow-Methods']
/** Seconds a refused stream client is asked to wait (EventSource and watch clients reconnect). */
const STREAM_RETRY_AFTER_S = 5

/**
 * The path as the router matches it: letter case ignored, one trailing slash optional
 * (@koa/router's defaults). The gate judges that, not the path as sent: `/WATCH` and `/watch/`
 * are served as `/watch`, so they count against the stream cap as `/watch` does.
 */
export function routePath (path: string): string {
  const lower = path.toLowerCase()
  return lower.length > 1 && lower.endsWith('/') ? lower.slice(0, -1) : lower
}

/** True iff this answer may carry the original's CORS headers (path as the router matches it: routePath). */
export function corsAllowed (method: string, path: string): boolean {
  if (method === 'GET' || method === 'HEAD') return CORS_READ.test(path)
  return method === 'OPTIONS' && CORS_PREFLIGHT.test(path)
}

function header (ctx: Koa.Context, name: string): string | undefined {
  const v = ctx.get(name)
  return v === '' ? undefined : v
}

export function apiGuard (c: { rejections: ApiRejections }, init: GuardInit): Koa.Middleware {
  let streams = 0
  const allowedHosts = new Set((init.allowedHosts ?? []).map(h => h.toLowerCase().replace(/\.$/, '')))
  return async (ctx, next) => {
    if (isWrite(ctx.method)) {
      const headers = { origin: header(ctx, 'Origin'), secFetchSite: header(ctx, 'Sec-Fetch-Site'), host: header(ctx, 'Host'), forwardedHost: header(ctx, 'X-Forwarded-Host') }
      let origin = sameOriginVerdict(headers)
      if (origin.ok && init.token === '') origin = hostNameVerdict(headers, allowedHosts)
      if (!origin.ok) {
        c.rejections.reject('cross_origin', `${ctx.method} ${ctx.path.slice(0, 200)}: ${origin.reason}`)
        sendError(ctx, 403, `Forbidden - ${origin.reason}`)
        return
      }
      const token = tokenVerdict(header(ctx, 'Authorization'), init.token)
      if (!token.ok) {
        c.rejections.reject('unauthorized', `${ctx.method} ${ctx.path.slice(0, 200)}: ${token.reason}`)
        ctx.set('WWW-Authenticate', 'Bearer realm="sidecar"')
        sendError(ctx, 401, `Unauthorized - ${token.reason}`)
        return
      }
    } else if ((ctx.method === 'GET' || ctx.method === 'HEAD') && STREAM_PATHS.has(routePath(ctx.path))) {
      if (streams >= init.maxStreamClients) {
        c.rejections.reject('stream_limit', `${streams} stream clients connected, the most allowed`)
        ctx.set('Retry-After', String(STREAM_RETRY_AFTER_S))
        sendError(ctx, 503, `Service Unavailable - ${streams} stream clients are connected, the most allowed ([api] max_stream_clients); retry later`)
        return
      }
      streams++
      ctx.res.once('close', () => { streams-- })
    }
    await next()
    if (!ctx.res.headersSent && !corsAllowed(ctx.method, routePath(ctx.path))) for (const h of CORS_HEADERS) ctx.remove(h)
  }
}
