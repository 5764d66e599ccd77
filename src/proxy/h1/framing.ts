// Message framing (RFC 9112 §6): how long a body is, decided from a parsed head, and a reader
// that says how many bytes of each incoming buffer belong to the current body.
import { lowerEq } from './names.ts'
import { ChunkedBody, type Head } from './parser.ts'

export type Framing =
  | { readonly kind: 'none' }
  | { readonly kind: 'length', readonly length: number }
  | { readonly kind: 'chunked' }
  /** A response delimited by the backend closing its connection. */
  | { readonly kind: 'close' }

const NONE: Framing = { kind: 'none' }
const CHUNKED: Framing = { kind: 'chunked' }
const CLOSE: Framing = { kind: 'close' }

/** A request that cannot be framed safely. */
export class FramingError extends Error {}

interface FramingHeaders { te: string | undefined, cl: string | undefined }

function framingHeaders (raw: readonly string[]): FramingHeaders {
  let te: string | undefined
  let cl: string | undefined
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i]
    if (lowerEq(n, 'transfer-encoding')) te = te === undefined ? raw[i + 1] : `${te},${raw[i + 1]}`
    else if (lowerEq(n, 'content-length')) cl = raw[i + 1]
  }
  return { te, cl }
}

/** The last coding of a Transfer-Encoding list is chunked. */
function endsChunked (te: string): boolean {
  const parts = te.split(',')
  return parts[parts.length - 1].trim().toLowerCase() === 'chunked'
}

/**
 * A request's body: chunked when Transfer-Encoding ends in chunked, the Content-Length, or
 * none. llhttp (strict) already refused CL with TE, duplicate or malformed Content-Length;
 * any other Transfer-Encoding cannot be framed (RFC 9112 §6.3: 400).
 */
export function requestFraming (head: Head): Framing {
  const { te, cl } = framingHeaders(head.headers)
  if (te !== undefined) {
    if (head.versionMinor === 0 || !endsChunked(te)) throw new FramingError(`transfer-encoding "${te}" cannot be framed: only chunked (last) is accepted on HTTP/1.1`)
    return CHUNKED
  }
  if (cl !== undefined) {
    const n = Number(cl.trim())
    return n > 0 ? { kind: 'length', length: n } : NONE
  }
  return NONE
}

/** A response's body, given the request method (RFC 9112 §6.3). */
export function responseFraming (head: Head, requestMethod: string): Framing {
  const s = head.status
  if (requestMethod === 'HEAD' || s < 200 || s === 204 || s === 304) return NONE
  const { te, cl } = framingHeaders(head.headers)
  if (te !== undefined) return endsChunked(te) ? CHUNKED : CLOSE
  if (cl !== undefined) {
    const n = Number(cl.trim())
    return n > 0 ? { kind: 'length', length: n } : NONE
  }
  return CLOSE
}

/** Counts one body through its framing; the chunked validator is kept for reuse. */
export class BodyReader {
  #kind: Framing['kind'] = 'none'
  #remaining = 0
  #chunked: ChunkedBody | undefined
  #done = true

  start (f: Framing): void {
    this.#kind = f.kind
    this.#done = f.kind === 'none'
    if (f.kind === 'length') this.#remaining = f.length
    else if (f.kind === 'chunked') {
      if (this.#chunked === undefined) this.#chunked = new ChunkedBody()
      else this.#chunked.reset()
    }
  }

  get done (): boolean { return this.#done }

  /** Frees the chunk validator's native parser, if one was made. */
  close (): void {
    this.#chunked?.close()
    this.#chunked = undefined
  }

  get kind (): Framing['kind'] { return this.#kind }

  /** Gives back n bytes just taken from a length-framed body (they will be taken again). */
  untake (n: number): void {
    if (this.#kind !== 'length') return
    this.#remaining += n
    this.#done = false
  }

  /** How many bytes at the start of buf belong to the body (throws HttpParseError on bad chunks). */
  take (buf: Buffer): number {
    switch (this.#kind) {
      case 'none': return 0
      case 'close': return buf.length
      case 'length': {
        const n = Math.min(buf.length, this.#remaining)
        this.#remaining -= n
        if (this.#remaining === 0) this.#done = true
        return n
      }
      case 'chunked': {
        const c = this.#chunked as ChunkedBody
        const n = c.feed(buf)
        if (c.done) this.#done = true
        return n
      }
    }
  }
}
