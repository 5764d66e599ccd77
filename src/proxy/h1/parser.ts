// HTTP/1.1 grammar for the http data path: Node's own llhttp (the parser of node:http),
// used through its JS binding in strict mode. It parses heads only: each head callback
// returns 2 ("no body, stop here"), so llhttp hands back the exact length of the head and
// the proxy moves the body bytes itself, by their framing, without copying them. Chunked
// bodies go through a second llhttp instance (ChunkedBody) that validates the chunk grammar
// and finds where the body ends; it gets no body callback, so nothing is copied to JS.
import { createRequire } from 'node:module'
import { plainHead } from './plain-head.ts'

/** Largest request or response head (start line + header fields) accepted, and largest trailer
 * section: 32 KiB. Node's own default is 16 KiB and HAProxy's buffer 16 KiB; 32 KiB lets big
 * cookies and tokens (a 20 KB header) through while bounding memory per connection. Over it: 431. */
export const MAX_HEAD_BYTES = 32 * 1024

/** Most header fields in one head: 256. Browsers send about 20; HAProxy's default cap is 101; Node's
 * own server refuses about a thousand. Over it: 431, like an oversize head. */
export const MAX_HEADER_FIELDS = 256

interface Binding {
  close: () => void
  initialize: (type: number, resource: object, maxHeaderSize: number, lenient: number) => void
  execute: (buf: Buffer) => number | ParserFailure
  [k: number]: unknown
}
interface ParserFailure extends Error { code: string, reason: string, bytesParsed: number }
interface BindingClass {
  new (): Binding
  REQUEST: number
  RESPONSE: number
  kOnHeaders: number
  kOnHeadersComplete: number
  kOnMessageComplete: number
  kOnBody: number
  kLenientNone: number
}

const require = createRequire(import.meta.url)
const common = require('_http_common') as { HTTPParser: BindingClass, methods: string[] }
const HTTPParser = common.HTTPParser
/** Returned from the head callback: treat as an upgrade with no body, so llhttp stops right after the head. */
const STOP_AFTER_HEAD = 2
/** The async resource llhttp's binding is initialized with (each reset): one shared object, not one per message. */
const RESOURCE = {}
const LF = 0x0a

/**
 * Method names by llhttp's method index, built once at load: each name of Node's `methods`
 * list parsed by a fresh parser, which reports its index. The list itself is dense (35 names)
 * while llhttp's indexes are not (QUERY is 46 on Node 24), so indexing the list with them gave
 * QUERY no name; Node's own table of every index (`allMethods`) is not reachable from here.
 */
const METHOD_NAMES = methodTable(common.methods)

function methodTable (names: readonly string[]): ReadonlyArray<string | undefined> {
  const table: Array<string | undefined> = []
  for (const name of names) {
    const p = new HTTPParser()
    let index = -1
    p[HTTPParser.kOnHeaders] = () => {}
    p[HTTPParser.kOnHeadersComplete] = (_major: number, _minor: number, _headers: unknown, method: number) => { index = method; return STOP_AFTER_HEAD }
    p.initialize(HTTPParser.REQUEST, RESOURCE, MAX_HEAD_BYTES, HTTPParser.kLenientNone)
    // CONNECT takes an authority as its target, every other method an origin-form one
    const r = p.execute(Buffer.from(`${name} ${name === 'CONNECT' ? 'a:1' : '/'} HTTP/1.1\r\n\r\n`, 'latin1'))
    p.close()
    if (typeof r === 'number' && index >= 0) table[index] = name
  }
  return table
}

/** The name of llhttp's method index, or undefined for an index this table has no name for. */
export function methodName (index: number): string | undefined { return METHOD_NAMES[index] }

/** What a client is told about a head the proxy refuses. */
export type RefusalStatus = 400 | 414 | 431 | 501

/** A message llhttp rejected; `code` is llhttp's (HPE_...), `status` what a client is told. */
export class HttpParseError extends Error {
  readonly code: string
  readonly status: RefusalStatus
  constructor (code: string, reason: string, status?: RefusalStatus) {
    super(`invalid http message: ${reason.toLowerCase()} (${code})`)
    this.code = code
    this.status = status ?? (code === 'HPE_HEADER_OVERFLOW' ? 431 : 400)
  }
}

export interface Head {
  versionMajor: number
  versionMinor: number
  /** Raw header names and values, alternating, in order. */
  headers: string[]
  method: string
  url: string
  status: number
  reason: string
  /** llhttp's keep-alive verdict (version and Connection). */
  keepAlive: boolean
  /** A request with Upgrade and Connection: upgrade (or CONNECT). */
  upgrade: boolean
}

/** A reason phrase of RFC 9112 §4's characters: tab, space, visible ASCII and obs-text (no control bytes). */
function reasonOk (reason: string): boolean {
  for (let i = 0; i < reason.length; i++) {
    const c = reason.charCodeAt(i)
    if (c < 0x20 ? c !== 0x09 : c === 0x7f) return false
  }
  return true
}

/** Parses one head at a time; reset() before the next message. */
export class HeadParser {
  readonly #p: Binding
  readonly #type: number
  #head: Head | undefined
  /** Fields of a head with more than 32 (llhttp hands those over in batches before the rest). */
  #headers: string[] | undefined
  #url = ''
  /** Bytes of the current head seen so far (for the caller's limit checks). */
  started = false
  readonly #kind: 'request' | 'response'
  /** Try plain-head.ts's scan before llhttp (off only to compare the two in tests). */
  readonly #plain: boolean
  /** llhttp was fed since its last initialization (a head taken by the plain scan leaves it untouched). */
  #fed = false
  /** The head's request line (or status line) has ended in the bytes fed so far (414 or 431 on overflow). */
  #lineDone = false
  #closed = false

  constructor (kind: 'request' | 'response', plain = true) {
    this.#kind = kind
    this.#plain = plain
    this.#type = kind === 'request' ? HTTPParser.REQUEST : HTTPParser.RESPONSE
    const p = new HTTPParser()
    // llhttp hands over headers in batches of 32 when a head has more
    p[HTTPParser.kOnHeaders] = (headers: string[], url: string) => {
      const all = this.#headers ??= []
      for (const h of headers) all.push(h)
      this.#url += url
    }
    p[HTTPParser.kOnHeadersComplete] = (major: number, minor: number, headers: string[] | undefined, method: number, url: string | undefined, status: number, reason: string, upgrade: boolean, keepAlive: boolean) => {
      let all = headers ?? []
      if (this.#headers !== undefined) all = headers === undefined ? this.#headers : [...this.#headers, ...headers]
      this.#head = { versionMajor: major, versionMinor: minor, headers: all, method: METHOD_NAMES[method] ?? '', url: url ?? this.#url, status, reason: reason ?? '', keepAlive, upgrade }
      return STOP_AFTER_HEAD
    }
    // no message-complete callback: the binding skips the call into JS when there is none
    // (each head ended in one, about a fifth of a parse's cost)
    this.#p = p
    this.#p.initialize(this.#type, RESOURCE, MAX_HEAD_BYTES, HTTPParser.kLenientNone)
  }

  /**
   * Ready for the next message: re-initializes the native parser if it read this one. Needed
   * for every message it read, even on a keep-alive connection where llhttp would read on by
   * itself: the binding keeps the previous head's upgrade flag (which the stop set) until the
   * next head is complete, and under it reports an error in the next head (oversize,
   * obs-fold, a bad start line) as a short byte count instead of an error (checked on Node
   * 24.21; the test of strict refusals on a second message pins it).
   */
  reset (): void {
    if (this.#fed) this.#p.initialize(this.#type, RESOURCE, MAX_HEAD_BYTES, HTTPParser.kLenientNone)
    this.#fed = false
    this.#head = undefined
    this.#headers = undefined
    this.#url = ''
    this.#lineDone = false
    this.started = false
  }

  /**
   * Feeds bytes of a head. Returns the number of bytes of buf that complete the head (then
   * `head` is set), or -1 when all of buf was consumed and the head is not complete yet.
   * Throws HttpParseError.
   */
  execute (buf: Buffer): number {
    if (this.#closed) throw new HttpParseError('HPE_CLOSED', 'parser already closed')
    if (!this.started && this.#plain) {
      const plain = plainHead(buf, this.#kind)
      if (plain !== undefined) {
        this.started = true
        this.#head = plain.head
        return plain.length
      }
    }
    this.started = true
    this.#fed = true
    const r = this.#p.execute(buf) as number | ParserFailure | undefined
    if (r === undefined) throw new HttpParseError('HPE_CLOSED', 'parser already closed')
    if (typeof r !== 'number') throw this.#failure(r, buf)
    if (this.#head === undefined) {
      this.#lineDone ||= buf.includes(LF)
      return -1
    }
    // llhttp reads any digit pair (0.9, 2.0, ...); the proxy speaks HTTP/1.0 and 1.1 only
    if (this.#head.versionMajor !== 1 || this.#head.versionMinor > 1) throw new HttpParseError('HPE_INVALID_VERSION', `HTTP/${this.#head.versionMajor}.${this.#head.versionMinor} is not supported`)
    if (this.#head.headers.length > 2 * MAX_HEADER_FIELDS) throw new HttpParseError('HPE_HEADER_OVERFLOW', `more than ${MAX_HEADER_FIELDS} header fields`)
    // llhttp takes any three digits, and any byte but CR and LF in a reason phrase; both go to the client as they came
    if (this.#kind === 'response' && (this.#head.status < 100 || !reasonOk(this.#head.reason))) throw new HttpParseError('HPE_INVALID_STATUS', 'a status below 100 or a control character in the status line')
    // an index llhttp accepts but the table has no name for: refused, never forwarded nameless
    if (this.#kind === 'request' && this.#head.method === '') throw new HttpParseError('HPE_INVALID_METHOD', 'a method this proxy has no name for', 501)
    // llhttp takes a fragment in the target, which RFC 9112 §3.2's grammar has no room for (a
    // fragment is the client's own, RFC 9110 §7.1): forwarded, backends disagreed on the path
    // ("/a#b" or "/a"). Only heads llhttp read get here: the plain scan takes no "#".
    if (this.#kind === 'request' && this.#head.url.includes('#')) throw new HttpParseError('HPE_INVALID_URL', 'a fragment (#) in the request target')
    return r
  }

  /**
   * llhttp reports a head over the limit as HPE_HEADER_OVERFLOW whether the request line or
   * the fields made it too long: a line that had not ended by then is a target too long (414,
   * RFC 9110 §15.5.15), anything else a header section too large (431).
   */
  #failure (r: ParserFailure, buf: Buffer): HttpParseError {
    if (r.code === 'HPE_HEADER_OVERFLOW' && this.#kind === 'request' && !this.#lineDone && !buf.subarray(0, r.bytesParsed).includes(LF)) {
      return new HttpParseError(r.code, 'request target too long', 414)
    }
    return new HttpParseError(r.code, r.reason)
  }

  get head (): Head | undefined { return this.#head }

  /**
   * Frees the native parser now (about 8 KB each, which the garbage collector does not see:
   * without this, thousands of short connections grow the RSS). No use after this.
   */
  close (): void {
    this.#closed = true
    this.#p.close()
  }
}

/** A synthetic response head that puts the second parser in "chunked body, then nothing" state. */
const CHUNKED_PRELUDE = Buffer.from('HTTP/1.1 200 OK\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n')

/** Validates a chunked body (sizes, extensions, trailers) and finds its end. */
export class ChunkedBody {
  readonly #p: Binding
  #done = false

  constructor () {
    const p = new HTTPParser()
    p[HTTPParser.kOnHeaders] = () => {}
    p[HTTPParser.kOnHeadersComplete] = () => 0
    p[HTTPParser.kOnMessageComplete] = () => { this.#done = true }
    this.#p = p
    this.reset()
  }

  reset (): void {
    this.#done = false
    this.#p.initialize(HTTPParser.RESPONSE, {}, MAX_HEAD_BYTES, HTTPParser.kLenientNone)
    this.#p.execute(CHUNKED_PRELUDE)
  }

  get done (): boolean { return this.#done }

  /** How many bytes of buf belong to the body (all of it unless the body ends inside); throws HttpParseError. */
  feed (buf: Buffer): number {
    const r = this.#p.execute(buf) as number | ParserFailure | undefined
    if (r === undefined) throw new HttpParseError('HPE_CLOSED', 'parser already closed')
    if (typeof r === 'number') return r
    // after the last chunk the prelude's "Connection: close" makes the next byte an error,
    // counted in bytesParsed: the body ended one byte before
    if (this.#done && r.code === 'HPE_CLOSED_CONNECTION') return r.bytesParsed - 1
    throw new HttpParseError(r.code, r.reason)
  }

  /** Frees the native parser (see HeadParser.close). */
  close (): void { this.#p.close() }
}
