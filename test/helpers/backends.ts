// Real servers for proxy tests: HTTP backends that say who they are, a TCP echo that answers
// after the client's half-close, and a WebSocket echo. Each binds an address in the test's
// loopback range on a free port; close() always succeeds.
import http from 'node:http'
import net from 'node:net'
import { WebSocketServer } from 'ws'

export interface HttpBackend {
  readonly name: string
  readonly ip: string
  readonly port: number
  readonly server: http.Server
  /** Requests received. */
  hits: number
  /** Headers of the last request. */
  lastHeaders: http.IncomingHttpHeaders
  close: () => Promise<void>
}

/**
 * Answers {"backend": name} with 200. GET /slow?ms=N answers after N ms; /status/N answers N.
 * POST echoes the body length.
 */
export async function httpBackend (name: string, ip: string): Promise<HttpBackend> {
  const b = { name, ip, port: 0, hits: 0, lastHeaders: {} } as { -readonly [K in keyof HttpBackend]: HttpBackend[K] }
  const server = http.createServer((req, res) => {
    b.hits++
    b.lastHeaders = req.headers
    const url = new URL(req.url ?? '/', 'http://x')
    let size = 0
    req.on('data', (c: Buffer) => { size += c.length })
    req.on('end', () => {
      const send = (status = 200): void => {
        const body = JSON.stringify({ backend: name, bodyBytes: size })
        res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
        res.end(body)
      }
      if (url.pathname === '/slow') setTimeout(send, Number(url.searchParams.get('ms') ?? 1000))
      else if (url.pathname.startsWith('/status/')) send(Number(url.pathname.slice(8)))
      else send()
    })
  })
  await new Promise<void>(resolve => server.listen(0, ip, resolve))
  b.port = (server.address() as net.AddressInfo).port
  b.server = server
  b.close = async () => {
    await new Promise<void>(resolve => {
      server.close(() => { resolve() })
      server.closeAllConnections()
    })
  }
  return b
}

/** Collects everything the client sends; after the client's half-close, answers it upper-cased and ends. */
export async function tcpShoutBackend (ip: string): Promise<{ port: number, close: () => Promise<void> }> {
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    const chunks: Buffer[] = []
    s.on('data', (c: Buffer) => chunks.push(c))
    s.on('end', () => { s.end(Buffer.concat(chunks).toString().toUpperCase()) })
    s.on('error', () => {})
  })
  await new Promise<void>(resolve => server.listen(0, ip, resolve))
  const sockets = new Set<net.Socket>()
  server.on('connection', s => { sockets.add(s); s.on('close', () => sockets.delete(s)) })
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => { for (const s of sockets) s.destroy(); await new Promise<void>(resolve => server.close(() => { resolve() })) },
  }
}

/** Echoes every WebSocket message prefixed with "echo: ". */
export async function wsEchoBackend (ip: string): Promise<{ port: number, close: () => Promise<void> }> {
  const server = http.createServer((_req, res) => { res.end('plain http') })
  const wss = new WebSocketServer({ server })
  wss.on('connection', (ws) => { ws.on('message', (m: Buffer) => { ws.send(`echo: ${m.toString()}`) }) })
  await new Promise<void>(resolve => server.listen(0, ip, resolve))
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      for (const c of wss.clients) c.terminate()
      wss.close()
      await new Promise<void>(resolve => { server.close(() => { resolve() }); server.closeAllConnections() })
    },
  }
}

/** One GET through a fresh connection-pooling client; returns status and JSON body. */
export async function getJson (url: string, init: RequestInit = {}): Promise<{ status: number, body: Record<string, unknown> }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000), ...init })
  const text = await res.text()
  let body: Record<string, unknown>
  try { body = JSON.parse(text) as Record<string, unknown> } catch { body = { text } }
  return { status: res.status, body }
}

/** Sends a TCP message, half-closes, and resolves with everything received until the end. */
export async function tcpRoundTrip (ip: string, port: number, message: string): Promise<string> {
  return await new Promise((resolve, reject) => {
    const s = net.connect({ host: ip, port, allowHalfOpen: true }, () => { s.end(message) })
    const chunks: Buffer[] = []
    s.on('data', (c: Buffer) => chunks.push(c))
    s.on('end', () => { resolve(Buffer.concat(chunks).toString()); s.destroy() })
    s.on('error', reject)
    s.setTimeout(10_000, () => { s.destroy(new Error('tcp round trip timed out')) })
  })
}

/** Opens a WebSocket, sends one message and resolves with the first reply. */
export async function wsRoundTrip (url: string, message: string): Promise<string> {
  return await new Promise((resolve, reject) => {
    const ws = new WebSocket(url)
    const timer = setTimeout(() => { ws.close(); reject(new Error('websocket round trip timed out')) }, 10_000)
    ws.onopen = () => { ws.send(message) }
    ws.onmessage = (e) => { clearTimeout(timer); resolve(String(e.data)); ws.close() }
    ws.onerror = () => { clearTimeout(timer); reject(new Error(`websocket error on ${url}`)) }
  })
}
