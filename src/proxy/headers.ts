// Header rules of the http path (pure): the head sent to the backend and the one sent back
// to the client, as text. Only X-Forwarded-* and hop-by-hop fields change; the framing
// fields (Content-Length, Transfer-Encoding) and Host pass unchanged and can never be removed
// by naming them in Connection (a smuggling trick: "Connection: content-length").
import { http } from '../lib/node-http.ts'
import { lowerEq } from './h1/names.ts'

// Hop-by-hop fields (RFC 9110 §7.6.1), never forwarded as such: Connection, Keep-Alive,
// Proxy-Connection, TE, Upgrade (fieldKind knows them).
/** Never dropped, even when Connection names them. */
const PROTECTED = new Set(['content-length', 'transfer-encoding', 'host'])

/** Lower-case names a Connection value lists (besides keep-alive/close/upgrade), minus protected ones. */
function namedIn (connection: string | undefined): Set<string> | undefined {
  if (connection === undefined) return undefined
  // the usual values name no field: skip the split (a measurable share of the hot path)
  if (lowerEq(connection, 'keep-alive') || lowerEq(connection, 'close') || lowerEq(connection, 'upgrade')) return undefined
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
    if (lowerEq(raw[i], 'connection')) c = c === undefined ? raw[i + 1] : `${c},${raw[i + 1]}`
  }
  return c
}

/** What the rewrite does with a field (see fieldKind). */
const Kind = { Other: 0, Hop: 1, Upgrade: 2, ForwardedFor: 3, ForwardedProto: 4, ForwardedHost: 5, Host: 6 } as const
type Kind = typeof Kind[keyof typeof Kind]

/** The field's kind by its name, case-insensitively: hop-by-hop (Upgrade apart), X-Forwarded-*, Host, or another. */
function fieldKind (name: string): Kind {
  switch (name.length) {
    case 2: return lowerEq(name, 'te') ? Kind.Hop : Kind.Other
    case 4: return lowerEq(name, 'host') ? Kind.Host : Kind.Other
    case 7: return lowerEq(name, 'upgrade') ? Kind.Upgrade : Kind.Other
    case 10: return lowerEq(name, 'connection') || lowerEq(name, 'keep-alive') ? Kind.Hop : Kind.Other
    case 15: return lowerEq(name, 'x-forwarded-for') ? Kind.ForwardedFor : Kind.Other
    case 16: return lowerEq(name, 'proxy-connection') ? Kind.Hop : lowerEq(name, 'x-forwarded-host') ? Kind.ForwardedHost : Kind.Other
    case 17: return lowerEq(name, 'x-forwarded-proto') ? Kind.ForwardedProto : Kind.Other
    default: return Kind.Other
  }
}

export interface RequestLine { method: string, url: string, versionMinor: number }

// Heads are written straight into one Buffer (no string concatenation: on the hot path the
// intermediate strings were most of what a request allocated, and each young-generation
// collection costs the proxy). Field names and values come from llhttp as latin1 strings,
// one character per byte, so a string's length is its size on the wire.

/** At most the bytes a head made of these fields takes after the rewrite: the fields, plus room for what the proxy adds (its own fields, and X-Forwarded-For/-Host values that repeat the client's). */
function headBound (first: number, raw: readonly string[], extra: number): number {
  let n = 0
  for (let i = 0; i < raw.length; i++) n += raw[i].length + 2
  return first + 2 * n + extra + 2
}

/** Writes `name: value\r\n` at o; returns the offset after it. */
function field (out: Buffer, o: number, name: string, value: string): number {
  o += out.write(name, o, 'latin1')
  out[o++] = 0x3a // ':'
  out[o++] = 0x20
  o += out.write(value, o, 'latin1')
  out[o++] = 0x0d
  out[o++] = 0x0a
  return o
}

function crlf (out: Buffer, o: number): number {
  out[o++] = 0x0d
  out[o++] = 0x0a
  return o
}

/** Room the proxy's own request fields take besides the client's (X-Forwarded-*, Connection, Upgrade). */
const REQUEST_EXTRA = 200

/**
 * The head for the backend: the client's request line and fields without hop-by-hop ones
 * (Upgrade and "Connection: Upgrade" kept for an upgrade), X-Forwarded-For appended to,
 * X-Forwarded-Proto and -Host added when absent.
 */
export function requestHead (line: RequestLine, raw: readonly string[], client: string, upgrade: boolean): Buffer {
  const named = namedIn(connectionOf(raw))
  const out = Buffer.allocUnsafe(headBound(line.method.length + line.url.length + 12, raw, REQUEST_EXTRA + client.length))
  let o = out.write(line.method, 0, 'latin1')
  out[o++] = 0x20
  o += out.write(line.url, o, 'latin1')
  o += out.write(line.versionMinor === 0 ? ' HTTP/1.0\r\n' : ' HTTP/1.1\r\n', o, 'latin1')
  let xff: string | undefined
  let proto = false
  let fwdHost = false
  let host: string | undefined
  let upgradeValue: string | undefined
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]
    const value = raw[i + 1]
    const kind = fieldKind(name)
    if (kind === Kind.Hop) continue
    if (kind === Kind.Upgrade) { upgradeValue = value; continue }
    if (named !== undefined && named.has(name.toLowerCase())) continue
    switch (kind) {
      case Kind.ForwardedFor: xff = xff === undefined ? value : `${xff}, ${value}`; continue
      case Kind.ForwardedProto: proto = true; break
      case Kind.ForwardedHost: fwdHost = true; break
      case Kind.Host: host = value; break
    }
    o = field(out, o, name, value)
  }
  if (xff === undefined) o = field(out, o, 'X-Forwarded-For', client)
  else {
    o += out.write('X-Forwarded-For: ', o, 'latin1')
    o += out.write(xff, o, 'latin1')
    o += out.write(', ', o, 'latin1')
    o += out.write(client, o, 'latin1')
    o = crlf(out, o)
  }
  if (!proto) o += out.write('X-Forwarded-Proto: http\r\n', o, 'latin1')
  if (!fwdHost && host !== undefined) o = field(out, o, 'X-Forwarded-Host', host)
  if (upgrade && upgradeValue !== undefined) {
    o += out.write('Connection: Upgrade\r\n', o, 'latin1')
    o = field(out, o, 'Upgrade', upgradeValue)
  } else if (line.versionMinor === 0) o += out.write('Connection: close\r\n', o, 'latin1')
  return out.subarray(0, crlf(out, o))
}

/** How the proxy ends the client's connection after a response. */
export type ClientConnection = 'keep-alive-1.1' | 'keep-alive-1.0' | 'close' | 'upgrade'

/** Room the proxy's own response fields take (Connection, and the Upgrade value written again). */
const RESPONSE_EXTRA = 64

/** At most the bytes responseHead writes for these fields (see writeResponseHead). */
export function responseHeadBound (reason: string, raw: readonly string[]): number {
  return headBound(reason.length + 16, raw, RESPONSE_EXTRA)
}

/**
 * The head for the client, written into out at o (which has responseHeadBound bytes there):
 * the backend's status and fields without hop-by-hop ones, plus the proxy's own Connection.
 * Returns the offset after the head.
 */
export function writeResponseHead (out: Buffer, o: number, status: number, reason: string, raw: readonly string[], conn: ClientConnection): number {
  const named = namedIn(connectionOf(raw))
  o += out.write('HTTP/1.1 ', o, 'latin1')
  // llhttp gives 100-999: three digits
  out[o++] = 0x30 + Math.floor(status / 100) % 10
  out[o++] = 0x30 + Math.floor(status / 10) % 10
  out[o++] = 0x30 + status % 10
  out[o++] = 0x20
  o += out.write(reason, o, 'latin1')
  o = crlf(out, o)
  for (let i = 0; i < raw.length; i += 2) {
    const kind = fieldKind(raw[i])
    if (kind === Kind.Hop) continue
    if (kind === Kind.Upgrade) {
      // a 426 must say what to upgrade to (RFC 9110 §15.5.22)
      if (conn === 'upgrade' || status === 426) o = field(out, o, 'Upgrade', raw[i + 1])
      continue
    }
    if (named !== undefined && named.has(raw[i].toLowerCase())) continue
    o = field(out, o, raw[i], raw[i + 1])
  }
  if (conn === 'close') o += out.write('Connection: close\r\n', o, 'latin1')
  else if (conn === 'keep-alive-1.0') o += out.write('Connection: keep-alive\r\n', o, 'latin1')
  else if (conn === 'upgrade') o += out.write('Connection: Upgrade\r\n', o, 'latin1')
  return crlf(out, o)
}

/** The head for the client as its own Buffer (see writeResponseHead). */
export function responseHead (status: number, reason: string, raw: readonly string[], conn: ClientConnection): Buffer {
  const out = Buffer.allocUnsafe(responseHeadBound(reason, raw))
  return out.subarray(0, writeResponseHead(out, 0, status, reason, raw, conn))
}

/** A response the proxy makes itself (errors): JSON body, always with its length; the reason phrase is HTTP's for the status. */
export function ownResponse (status: number, body: string, close: boolean, extra = ''): string {
  return `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}${close ? 'connection: close\r\n' : ''}\r\n${body}`
}
