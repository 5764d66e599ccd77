// One webhook attempt: a fresh POST of the given bytes, a deadline covering the whole
// exchange, and the response always read (to a cap) or its connection closed, so no socket
// is left behind (the original never closed response bodies: reference §12.19).
//
// node:http rather than fetch(): fetch copies a Buffer body twice before it sends it
// (a body holds the whole state, 2.7 MB at 10,000 services) and runs it through web
// streams; http.request() writes the body's parts as they are, at less than half the CPU.
import type { Agent, ClientRequest, IncomingMessage } from 'node:http'
import { http, https } from '../lib/node-http.ts'
import { redactText } from '../lib/redact.ts'

export interface PostRequest {
  /** An http: or https: URL without credentials (they travel in an Authorization header). */
  url: string
  /** The exact bytes sent on every attempt: these parts, one after the other. */
  body: readonly Uint8Array[]
  headers: Readonly<Record<string, string>>
  /** From sending the request until the response is read. */
  timeoutMs: number
  /** Aborted when the listener stops. */
  signal: AbortSignal
  /** The listener's own keep-alive connections (see postAgent); Node's global agent when absent. */
  agent?: Agent
}

export type PostResult =
  | { ok: true, status: number }
  | { ok: false, error: string }

/** A webhook answers with little or nothing; beyond this the response is not read, just closed. */
const MAX_RESPONSE_BYTES = 64 * 1024
/** How much of an error response is kept for /api/listeners.json and the log. */
const ERROR_SNIPPET_CHARS = 200

/**
 * The connections of one listener: kept alive between its POSTs (it sends one at a time,
 * hence one socket), and closed with agent.destroy() when the listener stops.
 */
export function postAgent (url: string): Agent {
  return new (client(new URL(url)).Agent)({ keepAlive: true, maxSockets: 1 })
}

/** node:https for an https: URL, else node:http. */
function client (url: URL): typeof http | ReturnType<typeof https> {
  return url.protocol === 'https:' ? https() : http
}

/** Node's error codes for a receiver's certificate that does not verify: OpenSSL's X509_V_ERR_ names, and the name check. */
const CERT_CODES = /^(ERR_TLS_CERT_ALTNAME_INVALID|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_[A-Z_]+|CERT_[A-Z_]+|INVALID_CA|INVALID_PURPOSE|PATH_LENGTH_EXCEEDED|HOSTNAME_MISMATCH)$/

/** The start of what a receiver answered, credentials masked: an echo of the request would show this listener's Authorization. */
function snippet (text: string): string {
  const t = redactText(text.replace(/\s+/g, ' ').trim())
  return t.length > ERROR_SNIPPET_CHARS ? `${t.slice(0, ERROR_SNIPPET_CHARS)}…` : t
}

/**
 * text without the colons and spaces it ends with, found by one scan from the end: the
 * message holds the receiver's certificate names, and /[: ]+$/ tried every start in a run of
 * them (16 K spaces in a name: 0.2 s, 64 K: 3.7 s).
 */
function trimColonsAndSpaces (text: string): string {
  let end = text.length
  while (end > 0 && (text[end - 1] === ':' || text[end - 1] === ' ')) end--
  return text.slice(0, end)
}

/**
 * A network error's message, with its code when the message does not already say it.
 * OpenSSL's own strings ("...:error:0A00010B:SSL routines:<function>:<reason>:<file>:<line>:")
 * are cut down to their reason.
 */
export function networkError (err: unknown): string {
  if (!(err instanceof Error)) return String(err)
  const tls = /SSL routines:[^:]*:([^:]+)/.exec(err.message)
  if (tls !== null) return `TLS handshake failed: ${tls[1]}`
  const code = (err as NodeJS.ErrnoException).code
  // a certificate that does not verify (self-signed, unknown CA, expired, another name): the
  // same kind of failure, without Node's advice about its own flags (a private CA goes in
  // NODE_EXTRA_CA_CERTS)
  if (code !== undefined && CERT_CODES.test(code)) return `TLS handshake failed: ${trimColonsAndSpaces(err.message.split(';')[0])} (${code})`
  return code === undefined || err.message.includes(code) ? err.message : `${code}: ${err.message}`
}

/** Sends one POST. Never throws; success is a 2xx status (redirects are not followed). */
export async function postOnce (req: PostRequest): Promise<PostResult> {
  return await new Promise<PostResult>(resolve => {
    let request: ClientRequest | undefined
    let response: IncomingMessage | undefined
    const chunks: Buffer[] = []
    let read = 0
    let settled = false

    const settle = (why?: string): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      req.signal.removeEventListener('abort', onStop)
      // An answer that came before the receiver read the whole body (a 202 at once, a 401 or 413
      // up front): the rest of the body can never go, so the connection can never carry another
      // POST. Left open, it was the listener's only socket (maxSockets 1), held by a request
      // that never finished, with the body it pinned: every later POST to that receiver waited
      // for it and failed with "no response within", for as long as the receiver kept it open.
      if (request !== undefined && !request.writableFinished) request.destroy()
      if (response === undefined) { resolve({ ok: false, error: why ?? 'connection failed: no response' }); return }
      const status = response.statusCode ?? 0
      // A 2xx means the receiver took the event, even if its own answer then broke off.
      if (status >= 200 && status < 300) { resolve({ ok: true, status }); return }
      const body = snippet(Buffer.concat(chunks).toString('utf8'))
      // the reason phrase is the receiver's to choose, up to Node's 16 KiB head: clipped like the body
      const text = snippet(response.statusMessage ?? '')
      // redirects are not followed (the listener's URL is what was configured): say where it pointed
      const location = status >= 300 && status < 400 ? response.headers.location : undefined
      const moved = location !== undefined ? ` to ${snippet(location)} (redirects are not followed: configure that URL)` : ''
      resolve({ ok: false, error: `HTTP ${status}${text !== '' ? ` ${text}` : ''}${moved}${body !== '' ? `: ${body}` : ''}${why !== undefined ? ` (${why})` : ''}` })
    }
    // Settled first, then the connection closed: the error that destroy() raises is not the cause.
    const abandon = (why: string): void => { settle(why); request?.destroy() }
    const timer = setTimeout(() => { abandon(`no response within ${req.timeoutMs} ms`) }, req.timeoutMs)
    const onStop = (): void => { abandon('listener stopped') }
    req.signal.addEventListener('abort', onStop, { once: true })
    if (req.signal.aborted) { onStop(); return }

    try {
      const url = new URL(req.url)
      request = client(url).request(url, {
        method: 'POST',
        agent: req.agent,
        headers: { ...req.headers, 'content-length': String(req.body.reduce((n, part) => n + part.byteLength, 0)) },
      })
    } catch (err) {
      settle(`connection failed: ${networkError(err)}`)
      return
    }
    request.on('error', err => { settle(`connection failed: ${networkError(err)}`) })
    request.on('response', res => {
      response = res
      res.on('data', (c: Buffer) => {
        if (read < MAX_RESPONSE_BYTES) chunks.push(c.subarray(0, MAX_RESPONSE_BYTES - read))
        read += c.byteLength
        // Not read further: the rest goes with the connection.
        if (read >= MAX_RESPONSE_BYTES) abandon(`answer longer than ${MAX_RESPONSE_BYTES} bytes, not read`)
      })
      res.on('end', () => { settle() })
      res.on('error', err => { settle(`connection failed: ${networkError(err)}`) })
    })
    // Corked, the parts go out in one writev with the head: no copy into one buffer.
    request.cork()
    for (const part of req.body) request.write(part)
    request.end()
  })
}
