// Clients for the daemon's streams, as a tool would write them: an SSE reader built on
// eventsource-parser over fetch, and a reader of /watch's concatenated JSON documents.
import { createParser, type EventSourceMessage } from 'eventsource-parser'
import { waitFor } from './wait.ts'

export interface SseEvent extends EventSourceMessage {
  /** The parsed data. */
  json: unknown
}

export class SseReader {
  readonly events: SseEvent[] = []
  readonly comments: string[] = []
  status = 0
  ended = false
  readonly #abort = new AbortController()
  readonly done: Promise<void>

  constructor (url: string, opts: { lastEventId?: string, headers?: Record<string, string>, onEvent?: (e: SseEvent) => void } = {}) {
    const parser = createParser({
      onEvent: (e) => {
        const event = { ...e, json: JSON.parse(e.data) as unknown }
        this.events.push(event)
        opts.onEvent?.(event)
      },
      onComment: (c) => { this.comments.push(c) },
    })
    const headers: Record<string, string> = { Accept: 'text/event-stream', ...opts.headers }
    if (opts.lastEventId !== undefined) headers['Last-Event-ID'] = opts.lastEventId
    this.done = (async () => {
      try {
        const res = await fetch(url, { headers, signal: this.#abort.signal })
        this.status = res.status
        const decoder = new TextDecoder()
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) parser.feed(decoder.decode(chunk, { stream: true }))
      } catch (err) {
        if (!this.#abort.signal.aborted) throw err
      } finally {
        this.ended = true
      }
    })()
    this.done.catch(() => {}) // surfaced through waitFor's timeout message instead
  }

  of (type: string): SseEvent[] { return this.events.filter(e => e.event === type) }

  async waitFor<T> (fn: (r: SseReader) => T | undefined | false, message: string, timeoutMs = 15_000): Promise<T> {
    return await waitFor(() => fn(this), { timeoutMs, intervalMs: 20, message: () => `${message} (got ${this.events.length} events: ${this.events.slice(-5).map(e => e.event).join(', ')})` })
  }

  close (): void { this.#abort.abort() }
}

/**
 * Splits a stream of concatenated JSON values (no separators, as the original's /watch
 * writes them) into complete values; keeps the unfinished tail for the next chunk.
 */
export class ConcatenatedJson {
  readonly values: unknown[] = []
  #buf = ''
  #depth = 0
  #inString = false
  #escaped = false
  #start = 0
  #pos = 0

  feed (text: string): void {
    this.#buf += text
    for (; this.#pos < this.#buf.length; this.#pos++) {
      const c = this.#buf[this.#pos]
      if (this.#inString) {
        if (this.#escaped) this.#escaped = false
        else if (c === '\\') this.#escaped = true
        else if (c === '"') this.#inString = false
      } else if (c === '"') {
        this.#inString = true
      } else if (c === '{' || c === '[') {
        if (this.#depth++ === 0) this.#start = this.#pos
      } else if ((c === '}' || c === ']') && --this.#depth === 0) {
        this.values.push(JSON.parse(this.#buf.slice(this.#start, this.#pos + 1)))
        this.#buf = this.#buf.slice(this.#pos + 1)
        this.#pos = -1
      }
    }
  }
}

/** Reads GET url as a /watch stream of concatenated JSON documents. */
export class WatchReader {
  readonly docs = new ConcatenatedJson()
  readonly #abort = new AbortController()
  contentType = ''

  constructor (url: string) {
    void (async () => {
      try {
        const res = await fetch(url, { signal: this.#abort.signal })
        this.contentType = res.headers.get('content-type') ?? ''
        const decoder = new TextDecoder()
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) this.docs.feed(decoder.decode(chunk, { stream: true }))
      } catch {
        // closed by the test, or the daemon went away: the test's waits report it
      }
    })()
  }

  get values (): unknown[] { return this.docs.values }

  close (): void { this.#abort.abort() }
}
