// One line per proxied request (http, ws) or connection (tcp), on stdout, as text or JSON.
// Off by default: nothing is formatted or written then.
import { escapeControls } from '../lib/controls.ts'
import type { AccessLogFormat } from './options.ts'

export interface AccessEntry {
  service: string
  port: number
  /** "ip:port" of the backend that answered (or was tried last); "-" when none. */
  backend: string
  /** HTTP method; "TCP" for a tcp-mode connection, "UPGRADE" for a WebSocket. */
  method: string
  path: string
  /** HTTP status sent to the client; 0 for a tcp connection or a connection closed without one. */
  status: number
  /** Body bytes sent to the client (tcp: bytes in both directions). */
  bytes: number
  durationMs: number
  retries: number
  client: string
}

export type AccessSink = (line: string) => void

export class AccessLog {
  readonly format: AccessLogFormat
  readonly #sink: AccessSink

  constructor (format: AccessLogFormat, sink: AccessSink = (line) => { process.stdout.write(line) }) {
    this.format = format
    this.#sink = sink
  }

  get enabled (): boolean { return this.format !== 'off' }

  write (e: AccessEntry): void {
    if (this.format === 'off') return
    const time = new Date().toISOString()
    if (this.format === 'json') {
      this.#sink(JSON.stringify({ time, ...e, durationMs: round(e.durationMs) }) + '\n')
      return
    }
    // one line per entry whatever a member named its service (the request line is printable ASCII already: h1/plain-head.ts)
    this.#sink(`${time} ${escapeControls(e.service)}:${e.port} ${e.client} -> ${e.backend} "${e.method} ${escapeControls(e.path)}" ${e.status || '-'} ${e.bytes}B ${round(e.durationMs)}ms retries=${e.retries}\n`)
  }
}

function round (ms: number): number { return Math.round(ms * 1000) / 1000 }
