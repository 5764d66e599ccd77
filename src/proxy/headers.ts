// Header rules of the http path (pure): what goes to the backend and back to the client.
import type { IncomingHttpHeaders } from 'node:http'

/** Hop-by-hop headers (RFC 9110 §7.6.1) never forwarded; Transfer-Encoding of requests is kept for the body's framing. */
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade'])
/** Node frames the response body itself (chunked or not) for each client. */
const RESPONSE_DROP = new Set([...HOP, 'transfer-encoding'])

export interface RequestHead {
  readonly headers: string[]
  readonly hasBody: boolean
}

/** Headers for the backend from the client's raw headers, plus X-Forwarded-For/-Proto/-Host. */
export function requestHead (raw: readonly string[], client: string): RequestHead {
  const out: string[] = []
  let xff: string | undefined
  let proto = false
  let fwdHost = false
  let host: string | undefined
  let connection: string | undefined
  let hasBody = false
  let expect = false
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]
    const value = raw[i + 1]
    const lower = name.toLowerCase()
    if (HOP.has(lower)) {
      if (lower === 'connection') connection = connection === undefined ? value : `${connection},${value}`
      continue
    }
    switch (lower) {
      case 'x-forwarded-for': xff = xff === undefined ? value : `${xff}, ${value}`; continue
      case 'x-forwarded-proto': proto = true; break
      case 'x-forwarded-host': fwdHost = true; break
      case 'host': host = value; break
      case 'content-length':
        if (value === '0') continue // no body: each client library states an empty body its own way
        hasBody = true
        break
      case 'expect': expect = true; break
      case 'transfer-encoding': hasBody = true; break
    }
    out.push(name, value)
  }
  let headers = connection === undefined ? out : withoutNamed(out, connection)
  // "Expect: 100-continue" without a body asks for nothing (and undici refuses the header)
  if (expect && !hasBody) headers = withoutNamed(headers, 'expect')
  headers.push('X-Forwarded-For', xff === undefined ? client : `${xff}, ${client}`)
  if (!proto) headers.push('X-Forwarded-Proto', 'http')
  if (!fwdHost && host !== undefined) headers.push('X-Forwarded-Host', host)
  return { headers, hasBody }
}

/** The backend's response headers without hop-by-hop ones. */
export function responseHeaders (raw: readonly string[]): string[] {
  const out: string[] = []
  let connection: string | undefined
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i].toLowerCase()
    if (RESPONSE_DROP.has(lower)) {
      if (lower === 'connection') connection = raw[i + 1]
      continue
    }
    out.push(raw[i], raw[i + 1])
  }
  return connection === undefined ? out : withoutNamed(out, connection)
}

/** Drops the headers a Connection header names (besides keep-alive/close). */
function withoutNamed (headers: string[], connection: string): string[] {
  // the usual values name no header: skip the split (a measurable share of the hot path)
  if (connection.length <= 10) {
    const c = connection.toLowerCase()
    if (c === 'keep-alive' || c === 'close') return headers
  }
  const named = new Set(connection.split(',').map(s => s.trim().toLowerCase()).filter(s => s !== '' && s !== 'keep-alive' && s !== 'close'))
  if (named.size === 0) return headers
  const out: string[] = []
  for (let i = 0; i < headers.length; i += 2) if (!named.has(headers[i].toLowerCase())) out.push(headers[i], headers[i + 1])
  return out
}

/** The same rule for headers already parsed into an object (lowercase names). */
export function responseHeaderObject (h: IncomingHttpHeaders): IncomingHttpHeaders {
  const connection = h.connection
  for (const name of RESPONSE_DROP) delete h[name]
  if (typeof connection === 'string' && connection.length > 10) {
    for (const named of connection.split(',')) delete h[named.trim().toLowerCase()]
  }
  return h
}
