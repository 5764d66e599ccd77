// Who may change state through the API (drain, undrain, any future write): pure rules, unit
// tested. A browser tells where a request comes from (Origin, Sec-Fetch-Site); a page on
// another origin must never change anything, token or not, because it can send a "simple"
// POST (form, fetch no-cors) without a CORS pre-flight. Clients that are not browsers send
// neither header and are judged by the token alone.
import { createHash, timingSafeEqual } from 'node:crypto'
import { foreignForwardedName, foreignHostName, NOT_ALLOWED_NAME, type AllowedNames } from './host-names.ts'

/** Methods that only read; everything else is a write. */
export const READ_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS'])

export function isWrite (method: string): boolean {
  return !READ_METHODS.has(method.toUpperCase())
}

export interface OriginHeaders {
  origin?: string
  secFetchSite?: string
  host?: string
  /**
   * Set by a reverse proxy in front of the API; a page on another origin cannot set it without a
   * pre-flight (a same-origin one can: it is judged besides Host, never instead, in hostNameVerdict).
   */
  forwardedHost?: string
}

export type Verdict = { readonly ok: true } | { readonly ok: false, readonly reason: string }

const OK: Verdict = { ok: true }

/** host[:port] as a URL would write it (lowercase, default port dropped); undefined if unparsable. */
function normalHost (host: string, scheme = 'http:'): string | undefined {
  try {
    return new URL(`${scheme}//${host.trim()}`).host
  } catch {
    return undefined
  }
}

/**
 * A write is same-origin when the browser says so (Sec-Fetch-Site: same-origin or none)
 * and its Origin, if any, names the host the request was sent to. Sec-Fetch-Site
 * "same-site" is refused: another port of the same host is another origin.
 */
export function sameOriginVerdict (h: OriginHeaders): Verdict {
  const site = h.secFetchSite?.trim().toLowerCase()
  if (site !== undefined && site !== '' && site !== 'same-origin' && site !== 'none') {
    return { ok: false, reason: `Sec-Fetch-Site is ${JSON.stringify(site)}: write endpoints accept only same-origin browser requests` }
  }
  const origin = h.origin?.trim()
  if (origin === undefined || origin === '') return OK
  if (origin === 'null') return { ok: false, reason: 'Origin is "null" (a sandboxed or file page): write endpoints accept only same-origin browser requests' }
  let from: URL
  try {
    from = new URL(origin)
  } catch {
    return { ok: false, reason: `Origin ${JSON.stringify(origin.slice(0, 200))} is not a URL` }
  }
  const targets = [h.host, h.forwardedHost?.split(',')[0]]
    .flatMap(t => t === undefined || t.trim() === '' ? [] : [normalHost(t, from.protocol)])
  if (targets.includes(from.host)) return OK
  return { ok: false, reason: `Origin ${from.origin} does not match the host ${JSON.stringify((h.host ?? '').slice(0, 200))} the request was sent to: write endpoints accept only same-origin browser requests` }
}

/**
 * DNS rebinding (host-names.ts): a page under a name its owner points at this host is
 * same-origin with the API, so Origin and Sec-Fetch-Site look right. Without a token, a
 * browser's write (it has an Origin) is taken only when the Host it was sent to, and each name
 * of X-Forwarded-Host when a reverse proxy sets it (the Host the browser sent it: a proxy that
 * sends its upstream's address as Host hides the name otherwise), is a name nobody else can
 * point here (foreignHostName; `allowed`: hostNameSet of [api] allowed_hosts and this host's
 * names). Clients that are not browsers send no Origin and are not judged here.
 */
export function hostNameVerdict (h: OriginHeaders, allowed: AllowedNames): Verdict {
  const origin = h.origin?.trim()
  if (origin === undefined || origin === '') return OK
  const host = h.host?.trim() ?? ''
  const name = (host === '' ? '' : foreignHostName(host, allowed)) ?? foreignForwardedName(h.forwardedHost, allowed)
  if (name === undefined) return OK
  return { ok: false, reason: `a browser sent this write to the name ${JSON.stringify(name)}, ${NOT_ALLOWED_NAME}: without [api] token such writes are refused (a DNS-rebinding page would look same-origin); add the name to [api] allowed_hosts or set [api] token` }
}

function digest (s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest()
}

/**
 * Checks "Authorization: Bearer <token>" in constant time (digests of equal length are
 * compared, so neither the token's length nor a matching prefix shows in the timing).
 */
export function tokenVerdict (authorization: string | undefined, token: string): Verdict {
  if (token === '') return OK
  const m = /^\s*bearer\s+(\S+)\s*$/i.exec(authorization ?? '')
  if (m === null) {
    return { ok: false, reason: authorization === undefined || authorization.trim() === '' ? 'this endpoint needs the API token: send "Authorization: Bearer <token>" ([api] token)' : 'the Authorization header must be "Bearer <token>"' }
  }
  return timingSafeEqual(digest(m[1]), digest(token)) ? OK : { ok: false, reason: 'the API token does not match' }
}
