// The API's gate, in front of every route (one app.use in app.ts):
//  - writes (any method but GET/HEAD/OPTIONS): refused with 403 when a browser sends them
//    from another origin, and with 401 unless they carry [api] token when one is set;
//  - stream clients (/watch, /api/watch, /api/events): at most [api] max_stream_clients at
//    once, the next ones get 503;
//  - CORS: only the original's read routes (services, one service, state and their
//    pre-flight) keep "Access-Control-Allow-Origin: *"; every other answer loses it, so a
//    page on another origin can neither write nor read explain, proxy or listener details.
// And, after the clean-path redirect, readHostGuard: a read of anything but those public
// documents, the streams and /servers, sent to a name that could be rebound, gets 403.
// Every refusal has the house JSON error body and is counted (rejections.ts).
import type Koa from 'koa'
import type { ApiRejections } from './rejections.ts'
import { sendError } from './respond.ts'
import { foreignForwardedName, foreignHostName, hostNameSet, NOT_ALLOWED_NAME } from './host-names.ts'
import { hostNameVerdict, isWrite, sameOriginVerdict, tokenVerdict } from './write-rules.ts'

export interface GuardInit {
  /** [api] token; '' = writes need no token (cross-origin ones are refused all the same). */
  token: string
  /**
   * Names the API may be reached by besides IP addresses and localhost ([api] allowed_hosts, whose
   * entries may name domains, and ownNames, this host's names, taken as they are): reads of the
   * non-public routes (readHostGuard) and, without a token, browsers' writes (hostNameVerdict).
   */
  allowedHosts?: readonly string[]
  ownNames?: readonly string[]
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
  /**
   * Connections whose stream is open. A stream never ends, so a request pipelined behind it on
   * the same connection can never be answered: one connection that pipelined 600 stream
   * requests took all 512 places, and every UI and dashboard got 503 while it was open (and
   * for about 25 s after it closed: Node emits no 'close' for answers still queued then).
   */
  const streaming = new WeakSet<object>()
  const allowedHosts = hostNameSet(init.allowedHosts ?? [], init.ownNames)
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
      const socket = ctx.req.socket
      if (streaming.has(socket)) {
        c.rejections.reject('stream_limit', 'a stream asked for on a connection whose stream is open')
        sendError(ctx, 503, 'Service Unavailable - this connection carries a stream, which does not end: a request sent after it on the same connection cannot be answered; open a connection for each stream')
        return
      }
      if (streams >= init.maxStreamClients) {
        c.rejections.reject('stream_limit', `${streams} stream clients connected, the most allowed`)
        ctx.set('Retry-After', String(STREAM_RETRY_AFTER_S))
        sendError(ctx, 503, `Service Unavailable - ${streams} stream clients are connected, the most allowed ([api] max_stream_clients); retry later`)
        return
      }
      // Only a GET, the stream, takes a place, and is its connection's last answer. A HEAD is
      // answered at once and holds nothing, but it held a place until its answer was sent: 40
      // pipelined behind an answer the client did not read took every place.
      if (ctx.method === 'GET') {
        streams++
        streaming.add(socket)
        ctx.res.once('close', () => {
          streams--
          streaming.delete(socket)
        })
      }
    }
    await next()
    if (!ctx.res.headersSent && !corsAllowed(ctx.method, routePath(ctx.path))) for (const h of CORS_HEADERS) ctx.remove(h)
  }
}

/**
 * Reads any page may make: the original's CORS documents, the streams (they carry what
 * /services.json does) and /servers (the same state as text), so rebinding adds nothing there.
 * Everything else (explain, proxy, listeners, /metrics, /health, the UI, any route to come) is
 * read only by a name that cannot be rebound.
 */
function publicRead (path: string): boolean {
  return CORS_READ.test(path) || STREAM_PATHS.has(path) || path === '/servers'
}

const ADD_NAME = 'add it to [api] allowed_hosts (environment API_ALLOWED_HOSTS) and restart the daemon'

/** The UI's paths, refused with a short text page rather than JSON. */
const UI_PATH = /^\/(?:ui(?:\/.*)?)?$/

/**
 * Whether a request comes from a web browser, the only client a rebound name can steer: every
 * browser sends a User-Agent beginning "Mozilla/", and those since 2020-2023 the Sec-Fetch-*
 * headers, which no page can remove or set (a page in Firefox may set its User-Agent, not
 * those). Scrapers, probes and scripts (Prometheus, kube-probe, curl, Docker's HEALTHCHECK)
 * send neither, and read by whatever name their configuration uses.
 */
function fromBrowser (ctx: Koa.Context): boolean {
  const h = ctx.req.headers
  return h['sec-fetch-site'] !== undefined || h['sec-fetch-mode'] !== undefined || h['sec-fetch-dest'] !== undefined || h.origin !== undefined || /^\s*Mozilla\//.test(h['user-agent'] ?? '')
}

/**
 * DNS rebinding on reads (host-names.ts): a page under a rebound name is same-origin with the
 * API, so missing CORS headers do not stop it. A browser's GET or HEAD of a non-public route
 * whose Host, or any name of X-Forwarded-Host (a reverse proxy's record of the Host the browser
 * sent, foreignForwardedName), could be rebound gets 403 naming the setting. A request with
 * neither (HTTP/1.0) or not from a browser (fromBrowser) passes. Path as the router matches it:
 * after cleanPathRedirect.
 */
export function readHostGuard (c: { rejections: ApiRejections }, init: Pick<GuardInit, 'allowedHosts' | 'ownNames'>): Koa.Middleware {
  const names = hostNameSet(init.allowedHosts ?? [], init.ownNames)
  return async (ctx, next) => {
    const host = ctx.req.headers.host ?? ''
    const forwarded = header(ctx, 'X-Forwarded-Host')
    if ((ctx.method !== 'GET' && ctx.method !== 'HEAD') || (host === '' && forwarded === undefined) || publicRead(routePath(ctx.path)) || !fromBrowser(ctx)) { await next(); return }
    const byHost = host === '' ? undefined : foreignHostName(host, names)
    const name = byHost ?? foreignForwardedName(forwarded, names)
    if (name === undefined) { await next(); return }
    const q = JSON.stringify(name)
    const field = byHost === undefined ? 'X-Forwarded-Host' : 'Host'
    c.rejections.reject('foreign_host', `${ctx.method} ${ctx.path.slice(0, 200)}: ${field} ${q} is not an allowed name`)
    // through a reverse proxy (X-Forwarded-Host), the daemon's address is not the browser's to use
    const proxied = field === 'X-Forwarded-Host' ? ' (as a reverse proxy in front of it passed on in X-Forwarded-Host)' : ''
    if (!UI_PATH.test(routePath(ctx.path))) {
      sendError(ctx, 403, `Forbidden - this API was reached by the name ${q}${proxied}, ${NOT_ALLOWED_NAME}; a web page under such a name could read this answer (DNS rebinding). If ${q} is a name of this host, ${ADD_NAME}, or use this host's IP address`)
      return
    }
    ctx.status = 403
    ctx.type = 'text/plain; charset=utf-8'
    ctx.body = `403 Forbidden\n\nSidecar's web UI was opened by the name ${q}${proxied}, ${NOT_ALLOWED_NAME}. A web page under a name pointed at this host by someone else could read the API through it (DNS rebinding), so the UI answers only to known names.\n\nTo open the UI by this name, ${ADD_NAME}. Or open it by this host's IP address, or as http://localhost:${ctx.req.socket.localPort ?? 7777}/ on the host itself.\n`
  }
}
