import type { Server } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type Koa from 'koa'
import { StartError } from '../lib/errors.ts'
import type { Logger } from '../lib/logger.ts'
import { http } from '../lib/node-http.ts'
import type { Startable } from '../lib/startable.ts'

export interface HttpServerInit {
  host: string
  port: number
  /** What the server is, for messages ("api"). */
  name: string
  /** The flag or key that changes the port, named in the "address in use" error. */
  portSetting: string
  /** Client connections held open at once; more are closed at accept (and counted as connection_limit), but for OWN_HOST_RESERVE from this host. Default: no cap. */
  maxConnections?: number
}

/**
 * What the server hands its parse errors and CONNECT requests to. With these, the app also
 * gets the requests Node would refuse in plain text itself, an HTTP/1.1 request without Host
 * and an Expect other than 100-continue, and must refuse them (request-checks.ts).
 */
export interface HttpRejections {
  onClientError: (err: NodeJS.ErrnoException, socket: Duplex) => void
  onConnect: (req: unknown, socket: Duplex) => void
  /** A connection closed at accept: maxConnections were open. */
  onDrop: (remoteAddress: string | undefined, maxConnections: number) => void
}

/**
 * Connections past [api] max_connections taken from a client on this host itself (its source
 * address is the address it connected to): /health stays reachable for a HEALTHCHECK or an
 * operator while remote clients hold every place.
 */
export const OWN_HOST_RESERVE = 16

/** A request head takes milliseconds; a client dribbling one for longer only holds a socket (Node's default: 60 s). */
const HEADERS_TIMEOUT_MS = 10_000
/** A whole request (head and body; drain bodies are empty) within 30 s (Node's default: 300 s). Responses, streams included, are not limited. */
const REQUEST_TIMEOUT_MS = 30_000
/**
 * How often Node looks for connections past those two timeouts. Its default, 30 s, let a
 * head that never completed hold its socket 29-40 s instead of 10 (a whole request 60 s
 * instead of 30): a slow-loris client kept three to four times the sockets the bounds
 * promise. The check walks Node's list of connections in C++, cheap once a second.
 */
const TIMEOUT_CHECK_MS = 1000

/** An HTTP listener for a koa app. stop() closes idle and active connections. */
export class HttpServer implements Startable {
  readonly #app: Koa
  readonly #logger: Logger
  readonly #init: HttpServerInit
  #server: Server | undefined

  readonly #rejections: HttpRejections | undefined

  /** rejections: counts and answers malformed requests and CONNECT (rejections.ts); default: Node's own answers. */
  constructor (components: { app: Koa, logger: Logger, rejections?: HttpRejections }, init: HttpServerInit) {
    this.#app = components.app
    this.#logger = components.logger
    this.#rejections = components.rejections
    this.#init = init
  }

  /** The bound port (useful when configured as 0). */
  get port (): number | undefined {
    const a = this.#server?.address()
    return typeof a === 'object' && a !== null ? a.port : undefined
  }

  async start (): Promise<void> {
    if (this.#server !== undefined) return
    const rejections = this.#rejections
    const callback = this.#app.callback()
    const server = http.createServer({ requireHostHeader: rejections === undefined, connectionsCheckingInterval: TIMEOUT_CHECK_MS }, callback)
    // with a listener, Node leaves an unmet Expect to the app instead of sending its own 417
    if (rejections !== undefined) server.on('checkExpectation', callback)
    server.keepAliveTimeout = 5000
    server.headersTimeout = HEADERS_TIMEOUT_MS
    server.requestTimeout = REQUEST_TIMEOUT_MS
    // Node's server closes a connection at the client's FIN, dropping an answer still being made
    // (a UI file, read from disk): `printf 'GET /ui/ ...' | nc -N` got nothing. Like the proxy's
    // listeners, answer what was asked before the FIN, then close. The property is Node's own
    // (since 0.x) but not in its typings.
    ;(server as Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true
    const max = this.#init.maxConnections
    if (rejections !== undefined) {
      server.on('clientError', rejections.onClientError)
      server.on('connect', rejections.onConnect)
    }
    if (max !== undefined) {
      // Node drops what is past max plus the reserve before making a socket of it; past max,
      // only a client on this host itself (a HEALTHCHECK, an operator's curl) is let in
      server.maxConnections = max + OWN_HOST_RESERVE
      if (rejections !== undefined) server.on('drop', (d?: { remoteAddress?: string }) => { rejections.onDrop(d?.remoteAddress, max) })
      let open = 0
      server.on('connection', (socket: Socket) => {
        const from = socket.remoteAddress
        if (open >= max && from !== socket.localAddress) {
          socket.destroy()
          rejections?.onDrop(from, max)
          return
        }
        open++
        socket.once('close', () => { open-- })
      })
    }
    const { host, port, name } = this.#init
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        const why = err.code === 'EADDRINUSE'
          ? `address in use (another sidecar running? choose another port with ${this.#init.portSetting})`
          : err.code === 'EADDRNOTAVAIL' ? 'the address is not on this machine' : err.message
        reject(new StartError(`${name}: cannot listen on ${host}:${port}: ${why}`, { cause: err }))
      })
      server.listen(port, host, () => { resolve() })
    })
    this.#server = server
    this.#logger.info(`${name} listening on ${listeningOn(host, this.port ?? port)}`)
  }

  async stop (): Promise<void> {
    const server = this.#server
    if (server === undefined) return
    this.#server = undefined
    const closed = new Promise<void>(resolve => { server.close(() => { resolve() }) })
    server.closeIdleConnections()
    server.closeAllConnections() // long-lived streams (/watch) would otherwise hold stop() open
    await closed
  }
}

/**
 * Where a server listens, for the log line a first-time user copies: its URL, or for a wildcard
 * address (0.0.0.0, ::, the default bind_ip), which is no address to open, the port and a URL
 * that reaches it on this machine.
 */
export function listeningOn (host: string, port: number): string {
  const wildcard = host === '' || host === '0.0.0.0' || (host.includes(':') && /^[0:]+$/.test(host))
  if (wildcard) return `every address, port ${port} (on this machine: http://localhost:${port})`
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`
}
