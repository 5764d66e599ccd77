// The benchmark's backend (also a killable backend process for tests): node:http answering
// a 300-byte JSON body naming it, keep-alive. GET /big?mb=N sends N MiB (from one reused
// 1 MiB buffer, with backpressure); POST/PUT /upload reads the body and answers its size.
// Args: ip, port (0 = any), name. Prints the port.
import http from 'node:http'

const [ip, port, name] = [process.argv[2] ?? '127.0.13.10', Number(process.argv[3] ?? 0), process.argv[4] ?? 'bench']
const body = JSON.stringify({ backend: name, padding: 'x'.repeat(Math.max(0, 270 - name.length)) })
const MIB = Buffer.alloc(1 << 20, 'x')
/** Largest download served: bounded so a typo cannot fill the machine's memory or time. */
const MAX_MB = 1024

function sendBig (res: http.ServerResponse, mb: number): void {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': mb * MIB.length })
  let left = mb
  const pump = (): void => {
    while (left > 0) {
      left--
      if (left === 0) { res.end(MIB); return }
      if (!res.write(MIB)) { res.once('drain', pump); return }
    }
  }
  pump()
}

const server = http.createServer((req, res) => {
  const url = req.url ?? '/'
  if (url.startsWith('/big')) {
    sendBig(res, Math.min(MAX_MB, Math.max(1, Number(new URL(url, 'http://x').searchParams.get('mb') ?? 100) || 1)))
    return
  }
  if (url.startsWith('/upload')) {
    let n = 0
    req.on('data', (c: Buffer) => { n += c.length })
    req.on('end', () => { res.end(JSON.stringify({ received: n })) })
    return
  }
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
  res.end(body)
})
server.keepAliveTimeout = 65_000
server.listen(port, ip, () => {
  const a = server.address()
  process.stdout.write(`${typeof a === 'object' && a !== null ? a.port : port}\n`)
})
process.on('SIGTERM', () => { server.close(); server.closeAllConnections(); process.exit(0) })
