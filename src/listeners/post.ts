// One webhook attempt: a fresh POST of the given bytes, a deadline covering the whole
// exchange, and the response always read (to a cap) or cancelled, so no socket is left
// behind (the original never closed response bodies: reference §12.19).

export interface PostRequest {
  url: string
  /** The exact bytes sent on every attempt. */
  body: Uint8Array
  headers: Readonly<Record<string, string>>
  /** From sending the request until the response is read. */
  timeoutMs: number
  /** Aborted when the listener stops. */
  signal: AbortSignal
}

export type PostResult =
  | { ok: true, status: number }
  | { ok: false, error: string }

/** A webhook answers with little or nothing; beyond this the response is not read, just closed. */
const MAX_RESPONSE_BYTES = 64 * 1024
/** How much of an error response is kept for /api/listeners.json and the log. */
const ERROR_SNIPPET_CHARS = 200

/** Reads at most max bytes of the body, then cancels the rest (which releases the connection). */
async function readCapped (res: Response, max: number): Promise<string> {
  if (res.body === null) return ''
  const reader = res.body.getReader()
  const chunks: Uint8Array[] = []
  let n = 0
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      chunks.push(value.subarray(0, Math.max(0, max - n)))
      n += value.byteLength
      if (n >= max) { await reader.cancel(); break }
    }
  } finally {
    reader.releaseLock()
  }
  return Buffer.concat(chunks).toString('utf8')
}

function snippet (text: string): string {
  const t = text.replace(/\s+/g, ' ').trim()
  return t.length > ERROR_SNIPPET_CHARS ? `${t.slice(0, ERROR_SNIPPET_CHARS)}…` : t
}

/** What went wrong, in words: the deadline, a stop, or the network error's own message. */
function describeFailure (err: unknown, timedOut: boolean, req: PostRequest): string {
  if (timedOut) return `no response within ${req.timeoutMs} ms`
  if (req.signal.aborted) return 'listener stopped'
  const cause = (err as { cause?: unknown }).cause
  let detail = err instanceof Error ? err.message : String(err)
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code
    detail = code === undefined || cause.message.includes(code) ? cause.message : `${code}: ${cause.message}`
  }
  return `connection failed: ${detail}`
}

/** Sends one POST. Never throws; success is a 2xx status (redirects are not followed). */
export async function postOnce (req: PostRequest): Promise<PostResult> {
  const ctl = new AbortController()
  let timedOut = false
  const timer = setTimeout(() => { timedOut = true; ctl.abort() }, req.timeoutMs)
  const onStop = (): void => { ctl.abort() }
  req.signal.addEventListener('abort', onStop, { once: true })
  if (req.signal.aborted) ctl.abort()
  try {
    let res: Response
    try {
      // the cast: our bodies come from Buffer.from(string), never from a SharedArrayBuffer
      res = await fetch(req.url, { method: 'POST', body: req.body as Uint8Array<ArrayBuffer>, headers: req.headers, redirect: 'manual', signal: ctl.signal })
    } catch (err) {
      return { ok: false, error: describeFailure(err, timedOut, req) }
    }
    let text = ''
    let readError: string | undefined
    try {
      text = await readCapped(res, MAX_RESPONSE_BYTES)
    } catch (err) {
      readError = describeFailure(err, timedOut, req)
    }
    // A 2xx means the receiver took the event, even if its own answer then broke off.
    if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status }
    const body = snippet(text)
    return { ok: false, error: `HTTP ${res.status}${res.statusText !== '' ? ` ${res.statusText}` : ''}${body !== '' ? `: ${body}` : ''}${readError !== undefined ? ` (${readError})` : ''}` }
  } finally {
    clearTimeout(timer)
    req.signal.removeEventListener('abort', onStop)
  }
}
