// What a parsed request head becomes before it is forwarded (pure): the Host rules of RFC 9112
// §3.2 (exactly one Host on HTTP/1.1, whose value is a host[:port] or empty; an absolute-form target replaces Host with its
// authority and goes on in origin-form, or as "*" for an OPTIONS with no path, so the backend
// and X-Forwarded-Host see the one host the proxy judged), and an upgrade offer on a request
// with a body, which is ignored (RFC 9110 §7.8) rather than refused. A head that passes unchanged is returned as is (the hot path
// allocates nothing here).
import { lowerEq } from './names.ts'
import type { Head } from './parser.ts'

/** A request head the proxy refuses with 400 (never forwarded). */
export class RequestError extends Error {}

/** An http(s) absolute-form target: scheme, authority (no userinfo), then a path or query or nothing. */
const ABSOLUTE = /^https?:\/\/([^/?#@]*)([/?].*)?$/i
/** host [":" port]: a reg-name or IPv4 address, or an IP literal in brackets (RFC 3986 §3.2.2). */
const AUTHORITY = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+)(?::[0-9]*)?$/

/**
 * The head to forward for a request whose body framing is known (hasBody). Throws
 * RequestError for two Host fields, an HTTP/1.1 request without Host, a Host value that is
 * not a host[:port] (nor empty), and an absolute-form target that is not http(s) or not well
 * formed.
 */
export function forwardedRequest (head: Head, hasBody: boolean): Head {
  let hostAt = -1
  const raw = head.headers
  for (let i = 0; i < raw.length; i += 2) {
    if (!lowerEq(raw[i], 'host')) continue
    if (hostAt >= 0) throw new RequestError('a request with more than one Host field')
    hostAt = i
  }
  if (hostAt < 0 && head.versionMinor === 1) throw new RequestError('an HTTP/1.1 request without a Host field')
  // its value is an authority too (RFC 9112 §3.2: another is a 400), or empty for a target
  // without one; the backend and X-Forwarded-Host would otherwise get "a b/c@d" as the host
  if (hostAt >= 0) {
    const host = raw[hostAt + 1]
    if (host !== '' && !AUTHORITY.test(host)) throw new RequestError(`Host field "${host.slice(0, 100)}" is not a valid host`)
  }
  let out = head
  // origin-form ("/..."), and "*" for OPTIONS, go on as they are
  if (head.url.charCodeAt(0) !== 0x2f && head.url !== '*') out = originForm(head, hostAt)
  // a body makes the offer one the proxy cannot take up: the request goes on without it (the
  // head rewrite then drops Upgrade, Connection and the fields Connection names)
  if (head.upgrade && hasBody) out = { ...out, upgrade: false }
  return out
}

/** An absolute-form request as origin-form, Host replaced by (or, on HTTP/1.0 without one, set to) the target's authority. */
function originForm (head: Head, hostAt: number): Head {
  const m = ABSOLUTE.exec(head.url)
  if (m === null) throw new RequestError(`request target "${head.url.slice(0, 100)}" is neither origin-form nor an http(s) absolute URI`)
  const authority = m[1]
  if (!AUTHORITY.test(authority)) throw new RequestError(`request target "${head.url.slice(0, 100)}" has no valid host`)
  const rest = m[2] ?? ''
  // an empty path and no query: "/", or "*" for OPTIONS, which then asks about the server as a
  // whole (RFC 9112 §3.2.4: the last proxy on the chain must send "*")
  const url = rest === '' ? (head.method === 'OPTIONS' ? '*' : '/') : rest.charCodeAt(0) === 0x3f ? `/${rest}` : rest
  const headers = head.headers.slice()
  if (hostAt >= 0) headers[hostAt + 1] = authority
  else headers.push('Host', authority)
  return { ...head, url, headers }
}
