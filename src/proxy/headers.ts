// Header rules of the http path (pure): the head sent to the backend and the one sent back
// to the client, as text. Only X-Forwarded-* and hop-by-hop fields change; the framing
// fields (Content-Length, Transfer-Encoding) and Host pass unchanged and can never be removed
// by naming them in Connection (a smuggling trick: "Connection: content-length").

/** Hop-by-hop fields (RFC 9110 §7.6.1), never forwarded as such. */
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'upgrade'])
/** Never dropped, even when Connection names them. */
const PROTECTED = new Set(['content-length', 'transfer-encoding', 'host'])

/** Lower-case names a Connection value lists (besides keep-alive/close/upgrade), minus protected ones. */
function namedIn (connection: string | undefined): Set<string> | undefined {
  if (connection === undefined) return undefined
  // the usual values name no field: skip the split (a measurable share of the hot path)
  if (connection.length <= 10) {
    const c = connection.toLowerCase()
    if (c === 'keep-alive' || c === 'close' || c === 'upgrade') return undefined
  }
  let named: Set<string> | undefined
  for (const part of connection.split(',')) {
    const n = part.trim().toLowerCase()
    if (n === '' || n === 'keep-alive' || n === 'close' || n === 'upgrade' || PROTECTED.has(n)) continue
    (named ??= new Set()).add(n)
  }
  return named
}

function connectionOf (raw: readonly string[]): string | undefined {
  let c: string | undefined
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].length === 10 && raw[i].toLowerCase() === 'connection') c = c === undefined ? raw[i + 1] : `${c},${raw[i + 1]}`
  }
  return c
}

export interface RequestLine { method: string, url: string, versionMinor: number }

/**
 * The head for the backend: the client's request line and fields without hop-by-hop ones
 * (Upgrade and "Connection: Upgrade" kept for an upgrade), X-Forwarded-For appended to,
 * X-Forwarded-Proto and -Host added when absent.
 */
export function requestHeadText (line: RequestLine, raw: readonly string[], client: string, upgrade: boolean): string {
  const named = namedIn(connectionOf(raw))
  let out = `${line.method} ${line.url} HTTP/1.${line.versionMinor}\r\n`
  let xff: string | undefined
  let proto = false
  let fwdHost = false
  let host: string | undefined
  let upgradeValue: string | undefined
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]
    const value = raw[i + 1]
    const lower = name.toLowerCase()
    if (HOP.has(lower)) {
      if (lower === 'upgrade') upgradeValue = value
      continue
    }
    if (named?.has(lower) === true) continue
    switch (lower) {
      case 'x-forwarded-for': xff = xff === undefined ? value : `${xff}, ${value}`; continue
      case 'x-forwarded-proto': proto = true; break
      case 'x-forwarded-host': fwdHost = true; break
      case 'host': host = value; break
    }
    out += `${name}: ${value}\r\n`
  }
  out += `X-Forwarded-For: ${xff === undefined ? client : `${xff}, ${client}`}\r\n`
  if (!proto) out += 'X-Forwarded-Proto: http\r\n'
  if (!fwdHost && host !== undefined) out += `X-Forwarded-Host: ${host}\r\n`
  if (upgrade && upgradeValue !== undefined) out += `Connection: Upgrade\r\nUpgrade: ${upgradeValue}\r\n`
  else if (line.versionMinor === 0) out += 'Connection: close\r\n'
  return out + '\r\n'
}

/** How the proxy ends the client's connection after a response. */
export type ClientConnection = 'keep-alive-1.1' | 'keep-alive-1.0' | 'close' | 'upgrade'

/** The head for the client: the backend's status and fields without hop-by-hop ones, plus the proxy's own Connection. */
export function responseHeadText (status: number, reason: string, raw: readonly string[], conn: ClientConnection): string {
  const named = namedIn(connectionOf(raw))
  let out = `HTTP/1.1 ${status} ${reason}\r\n`
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i].toLowerCase()
    if (HOP.has(lower)) {
      if (lower === 'upgrade' && conn === 'upgrade') out += `Upgrade: ${raw[i + 1]}\r\n`
      continue
    }
    if (named?.has(lower) === true) continue
    out += `${raw[i]}: ${raw[i + 1]}\r\n`
  }
  if (conn === 'close') out += 'Connection: close\r\n'
  else if (conn === 'keep-alive-1.0') out += 'Connection: keep-alive\r\n'
  else if (conn === 'upgrade') out += 'Connection: Upgrade\r\n'
  return out + '\r\n'
}

/** A response the proxy makes itself (errors): JSON body, always with its length. */
export function ownResponse (status: number, reason: string, body: string, close: boolean, extra = ''): string {
  return `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}${close ? 'connection: close\r\n' : ''}\r\n${body}`
}
