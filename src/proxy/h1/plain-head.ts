// The plain-head path: a scan in JS that recognises only the plainest heads, the ones a
// benchmark, a browser or a JSON backend sends (a common method, an origin-form target of
// plain characters, HTTP/1.0 or 1.1, one "Name: value" per line in printable ASCII, at most one
// Content-Length of digits, Connection only as keep-alive or close), and gives up on anything
// else, which llhttp then parses as before. It never refuses: whatever it does not recognise
// goes to llhttp, so llhttp stays the grammar, strictness and limits included. What it accepts,
// llhttp accepts with the same result (length, method, target, version, fields, status,
// reason, keep-alive): a differential test feeds both the same mutated heads. Why it exists:
// the call into llhttp's binding, its strings and its callback cost about 2 us per head on
// this machine, the largest share of the proxy's own CPU per request after the system calls;
// this scan makes about a third of that (docs/proxy.md).
import type { Head } from './parser.ts'

/** Heads longer than this go to llhttp (whose limit, MAX_HEAD_BYTES, is the one that counts). */
export const PLAIN_HEAD_MAX_BYTES = 8 * 1024
/** Heads with more fields than this go to llhttp. */
const PLAIN_MAX_FIELDS = 64
/** Scratch for the field offsets of the head being scanned (the scan is synchronous: one is enough). */
const OFFSETS = new Int32Array(4 * PLAIN_MAX_FIELDS)

const REQUEST_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']

function table (chars: string): Uint8Array {
  const t = new Uint8Array(256)
  for (let i = 0; i < chars.length; i++) t[chars.charCodeAt(i)] = 1
  return t
}
const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'
/** RFC 9110 token characters (field names). */
const TCHAR = table(`${ALNUM}!#$%&'*+-.^_\`|~`)
/** Request-target characters taken here: RFC 3986 unreserved, sub-delims, ":", "@", "/", "?" and "%". */
const TARGET = table(`${ALNUM}-._~!$&'()*+,;=:@/?%`)
/** Printable ASCII and space (field values and reason phrases; no tab, no obs-text). */
const TEXT = new Uint8Array(256).fill(1, 0x20, 0x7f)

/** Buffer's own latin1 slice (undocumented, on Buffer.prototype since Node's early days): toString('latin1', ...) checks and looks up the encoding on each call. */
type Sliced = Buffer & { latin1Slice: (start: number, end: number) => string }

const CR = 13
const LF = 10
const SP = 32
const COLON = 58

/** b[i..] starts with "HTTP/1." followed by 0 or 1: the minor version, else -1. */
function version (b: Buffer, i: number): number {
  if (b[i] !== 0x48 || b[i + 1] !== 0x54 || b[i + 2] !== 0x54 || b[i + 3] !== 0x50 || b[i + 4] !== 0x2f || b[i + 5] !== 0x31 || b[i + 6] !== 0x2e) return -1
  const m = b[i + 7]
  return m === 0x30 ? 0 : m === 0x31 ? 1 : -1
}

/** Lower-case ASCII compare of b[s..e) with a lower-case name. */
function nameIs (b: Buffer, s: number, e: number, lower: string): boolean {
  if (e - s !== lower.length) return false
  for (let k = 0; k < lower.length; k++) if ((b[s + k] | 0x20) !== lower.charCodeAt(k)) return false
  return true
}

/** Field names llhttp gives meaning to (framing, keep-alive, upgrade): only the forms handled below are taken. */
function special (b: Buffer, s: number, e: number): 'cl' | 'connection' | 'other' | undefined {
  if (nameIs(b, s, e, 'content-length')) return 'cl'
  if (nameIs(b, s, e, 'connection')) return 'connection'
  if (nameIs(b, s, e, 'transfer-encoding') || nameIs(b, s, e, 'upgrade') || nameIs(b, s, e, 'proxy-connection')) return 'other'
  return undefined
}

/**
 * The head at the start of b if it is plain (see above) and complete within b: the head and
 * its length, else undefined (the caller hands b to llhttp).
 */
export function plainHead (buf: Buffer, kind: 'request' | 'response'): { head: Head, length: number } | undefined {
  const b = buf as Sliced
  const n = Math.min(b.length, PLAIN_HEAD_MAX_BYTES)
  let i = 0
  let method = ''
  let url = ''
  let minor: number
  let status = 0
  let reason = ''
  if (kind === 'request') {
    while (i < n && b[i] >= 0x41 && b[i] <= 0x5a) i++
    if (i === 0 || b[i] !== SP) return undefined
    method = b.latin1Slice(0, i)
    if (!REQUEST_METHODS.includes(method)) return undefined
    const ts = ++i
    if (b[i] !== 0x2f) return undefined // origin-form only
    while (i < n && TARGET[b[i]] === 1) i++
    if (b[i] !== SP) return undefined
    url = b.latin1Slice(ts, i)
    i++
    minor = version(b, i)
    if (minor < 0 || b[i + 8] !== CR || b[i + 9] !== LF) return undefined
    i += 10
  } else {
    minor = version(b, 0)
    if (minor < 0 || b[8] !== SP) return undefined
    const d0 = b[9] - 0x30
    const d1 = b[10] - 0x30
    const d2 = b[11] - 0x30
    // 1xx (interim answers, 101) go to llhttp
    if (d0 < 2 || d0 > 5 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9 || b[12] !== SP) return undefined
    status = d0 * 100 + d1 * 10 + d2
    i = 13
    const rs = i
    while (i < n && TEXT[b[i]] === 1) i++
    if (i === rs || b[i] !== CR || b[i + 1] !== LF || b[rs] === SP || b[i - 1] === SP) return undefined
    reason = b.latin1Slice(rs, i)
    i += 2
  }
  // field offsets (name start, name end, value start, value end), made strings at the end:
  // one slice of the head and substrings of it cost less than a slice per name and value
  const at = OFFSETS
  let fields = 0
  let cl = false
  let close = false
  let keepAlive = false
  for (;;) {
    if (i + 1 >= n) return undefined
    if (b[i] === CR) {
      if (b[i + 1] !== LF) return undefined
      i += 2
      break
    }
    const ns = i
    while (i < n && TCHAR[b[i]] === 1) i++
    if (i === ns || b[i] !== COLON) return undefined
    const ne = i++
    if (b[i] === SP) i++
    const vs = i
    while (i < n && TEXT[b[i]] === 1) i++
    // an empty value, or one with space at either end, goes to llhttp (it trims)
    if (i === vs || b[i] !== CR || b[i + 1] !== LF || b[vs] === SP || b[i - 1] === SP) return undefined
    const sp = special(b, ns, ne)
    if (sp !== undefined) {
      if (sp === 'other') return undefined
      if (sp === 'cl') {
        if (cl || i - vs > 15) return undefined
        for (let k = vs; k < i; k++) if (b[k] < 0x30 || b[k] > 0x39) return undefined
        cl = true
      } else {
        if (close || keepAlive) return undefined
        if (nameIs(b, vs, i, 'close')) close = true
        else if (nameIs(b, vs, i, 'keep-alive')) keepAlive = true
        else return undefined
      }
    }
    if (fields === PLAIN_MAX_FIELDS) return undefined
    const f = 4 * fields++
    at[f] = ns
    at[f + 1] = ne
    at[f + 2] = vs
    at[f + 3] = i
    i += 2
  }
  const headers: string[] = new Array(2 * fields)
  if (fields > 0) {
    const text = b.latin1Slice(at[0], at[4 * fields - 1])
    const base = at[0]
    for (let k = 0; k < fields; k++) {
      const f = 4 * k
      headers[2 * k] = text.substring(at[f] - base, at[f + 1] - base)
      headers[2 * k + 1] = text.substring(at[f + 2] - base, at[f + 3] - base)
    }
  }
  // llhttp's verdict: HTTP/1.1 unless Connection: close, HTTP/1.0 only with keep-alive; and a
  // response whose body runs until the connection closes (no length; not 204 or 304) never
  let alive = minor === 1 ? !close : keepAlive
  if (kind === 'response' && !cl && status !== 204 && status !== 304) alive = false
  return {
    length: i,
    head: kind === 'request'
      ? { versionMajor: 1, versionMinor: minor, headers, method, url, status: undefined as unknown as number, reason: '', keepAlive: alive, upgrade: false }
      : { versionMajor: 1, versionMinor: minor, headers, method: '', url: '', status, reason, keepAlive: alive, upgrade: false },
  }
}
