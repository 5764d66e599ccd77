// Raw-socket tools for the proxy's conformance, smuggling and fuzz tests: a client that sends
// exact bytes and collects exact bytes, and a logging backend (node:http, itself strict)
// that records every request it parsed, so a test can show what reached it and what did not.
import http from 'node:http'
import net from 'node:net'

/** Sends bytes and collects the answer until the proxy closes, `until` says enough, or timeoutMs. */
export async function raw (ip: string, port: number, data: string | Buffer | Array<string | Buffer>, opts: { timeoutMs?: number, until?: (got: string) => boolean, end?: boolean, localAddress?: string } = {}): Promise<string> {
  return await new Promise((resolve) => {
    const s = net.connect({ host: ip, port, ...(opts.localAddress !== undefined ? { localAddress: opts.localAddress } : {}) })
    const chunks: Buffer[] = []
    let done = false
    const finish = (): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      s.destroy()
      resolve(Buffer.concat(chunks).toString('latin1'))
    }
    const timer = setTimeout(finish, opts.timeoutMs ?? 15_000) // generous: a loaded CI machine; answers that close end it at once
    s.on('connect', () => {
      for (const d of Array.isArray(data) ? data : [data]) s.write(d)
      if (opts.end === true) s.end()
    })
    s.on('data', (c: Buffer) => {
      chunks.push(c)
      if (opts.until?.(Buffer.concat(chunks).toString('latin1')) === true) finish()
    })
    s.on('error', finish)
    s.on('close', finish)
  })
}

/**
 * A raw backend's data handler: calls onRequest with each request head and its Content-Length
 * body, in order, once it is whole. noBody(head): the backend does not read this request's
 * body (the bytes after the head are its next request). onRequest returns false to stop.
 */
export function eachRequest (onRequest: (head: string, body: Buffer) => boolean | undefined, noBody: (head: string) => boolean = () => false): (data: Buffer) => void {
  let buf = Buffer.alloc(0)
  return (data) => {
    buf = Buffer.concat([buf, data])
    for (;;) {
      const end = buf.indexOf('\r\n\r\n')
      if (end < 0) return
      const head = buf.subarray(0, end).toString('latin1')
      const length = noBody(head) ? 0 : Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0)
      if (buf.length < end + 4 + length) return
      const body = buf.subarray(end + 4, end + 4 + length)
      buf = buf.subarray(end + 4 + length)
      if (onRequest(head, body) === false) return
    }
  }
}

/** Status codes of the responses in a raw answer, in order. */
export function statuses (answer: string): number[] {
  return [...answer.matchAll(/HTTP\/1\.[01] (\d{3}) /g)].map(m => Number(m[1]))
}

export interface Seen { method: string, url: string, headers: http.IncomingHttpHeaders, body: Buffer, trailers: Record<string, string | undefined> }

export interface LoggingBackend {
  ip: string
  port: number
  seen: Seen[]
  /** Malformed input node:http's own parser refused: the proxy sent something unframed. */
  clientErrors: string[]
  /** Requests that sent "Expect: 100-continue" and were answered 413 before their body. */
  refusedEarly: number
  close: () => Promise<void>
}

/**
 * Routes: /echo answers the body back chunked (two chunks) with a trailer copying the request's
 * X-Check trailer; /head-len answers HEAD with Content-Length 1000; /s/N answers status N;
 * /range serves bytes of "0123456789" by Range; /expect413 refuses a 100-continue with 413;
 * anything else answers {"url", "bodyBytes"}.
 */
export async function loggingBackend (ip: string): Promise<LoggingBackend> {
  const b: LoggingBackend = { ip, port: 0, seen: [], clientErrors: [], refusedEarly: 0, close: async () => {} }
  const server = http.createServer({ maxHeaderSize: 64 * 1024, requireHostHeader: false }, (req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      b.seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, trailers: { ...req.trailers } })
      const url = req.url ?? '/'
      if (url === '/echo') {
        res.writeHead(200, { 'content-type': 'application/octet-stream', trailer: 'x-check' })
        res.write(body.subarray(0, Math.floor(body.length / 2)))
        res.write(body.subarray(Math.floor(body.length / 2)))
        res.addTrailers({ 'x-check': req.trailers['x-check'] ?? 'none' })
        res.end()
      } else if (url === '/head-len') {
        res.writeHead(200, { 'content-length': 1000 })
        res.end(req.method === 'HEAD' ? undefined : Buffer.alloc(1000, 'h'))
      } else if (url.startsWith('/s/')) {
        res.writeHead(Number(url.slice(3)), { etag: '"v1"' })
        res.end()
      } else if (url === '/range') {
        const m = /bytes=(\d+)-(\d+)/.exec(req.headers.range ?? '')
        const all = '0123456789'
        if (m === null) { res.end(all); return }
        res.writeHead(206, { 'content-range': `bytes ${m[1]}-${m[2]}/10`, 'content-length': Number(m[2]) - Number(m[1]) + 1 })
        res.end(all.slice(Number(m[1]), Number(m[2]) + 1))
      } else {
        const out = JSON.stringify({ url, bodyBytes: body.length })
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) })
        res.end(out)
      }
    })
  })
  server.on('checkContinue', (req, res) => {
    if (req.url === '/expect413') {
      b.refusedEarly++
      b.seen.push({ method: req.method ?? '', url: req.url, headers: req.headers, body: Buffer.alloc(0), trailers: {} })
      res.writeHead(413, { 'content-length': 0, connection: 'close' })
      res.end()
      return
    }
    res.writeContinue()
    server.emit('request', req, res)
  })
  server.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => {
    // a socket reset or closed mid-request is the proxy cutting a refused request, not bad framing
    if (err.code !== 'ECONNRESET' && err.code !== 'HPE_INVALID_EOF_STATE') b.clientErrors.push(`${err.code ?? ''} ${err.message}`)
    socket.destroy()
  })
  await new Promise<void>(resolve => server.listen(0, ip, resolve))
  b.port = (server.address() as net.AddressInfo).port
  b.close = async () => {
    await new Promise<void>(resolve => {
      server.close(() => { resolve() })
      server.closeAllConnections()
    })
  }
  return b
}
