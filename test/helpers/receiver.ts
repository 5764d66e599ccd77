// A real HTTP server that records every request it gets, for webhook tests. Each request is
// answered by `respond` (default: 200 with an empty body), which may also delay, fail or
// drop the connection.
import http from 'node:http'
import type net from 'node:net'

export interface Received {
  method: string
  path: string
  headers: http.IncomingHttpHeaders
  /** The exact bytes of the body. */
  raw: Buffer
  /** Date.now() when the request head arrived and when the body was complete. */
  arrivedAt: number
  completeAt: number
  /** 1 for the first request carrying this X-Sidecar-Event-Id, 2 for its first retry... */
  attempt: number
}

export type Respond = (r: Received, req: http.IncomingMessage, res: http.ServerResponse) => void | Promise<void>

export class Receiver {
  readonly requests: Received[] = []
  readonly server: http.Server
  respond: Respond = (_r, _req, res) => { res.end() }
  readonly #attempts = new Map<string, number>()

  constructor () {
    this.server = http.createServer((req, res) => {
      const arrivedAt = Date.now()
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        const id = String(req.headers['x-sidecar-event-id'] ?? '')
        const attempt = (this.#attempts.get(id) ?? 0) + 1
        this.#attempts.set(id, attempt)
        const r: Received = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, raw: Buffer.concat(chunks), arrivedAt, completeAt: Date.now(), attempt }
        this.requests.push(r)
        Promise.resolve(this.respond(r, req, res)).catch(() => { res.destroy() })
      })
    })
  }

  async listen (host = '127.0.0.1', port = 0): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(port, host, () => { this.server.off('error', reject); resolve() })
    })
  }

  get port (): number { return (this.server.address() as net.AddressInfo).port }

  url (p = '/hook'): string {
    const a = this.server.address() as net.AddressInfo
    return `http://${a.address}:${a.port}${p}`
  }

  /** Every request body so far, parsed, in arrival order. */
  bodies<T = StateChangedEvent> (): T[] {
    return this.requests.map(r => JSON.parse(r.raw.toString('utf8')) as T)
  }

  async close (): Promise<void> {
    const closed = new Promise<void>(resolve => { this.server.close(() => { resolve() }) })
    this.server.closeAllConnections()
    await closed
  }
}

/** Starts a receiver; the caller registers close() as a teardown. */
export async function startReceiver (host = '127.0.0.1', port = 0): Promise<Receiver> {
  const r = new Receiver()
  await r.listen(host, port)
  return r
}

export interface WireService { ID: string, Name: string, Hostname: string, Status: number, Updated: string, [k: string]: unknown }
export interface StateChangedEvent {
  State: { Servers: Record<string, { Name: string, Services: Record<string, WireService>, LastUpdated: string, LastChanged: string }>, LastChanged: string, ClusterName: string, Hostname: string }
  ChangeEvent: { Service: WireService, PreviousStatus: number, Time: string }
}
