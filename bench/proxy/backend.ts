// The benchmark's backend: node:http answering a 300-byte JSON body, keep-alive.
import http from 'node:http'

const [ip, port] = [process.argv[2] ?? '127.0.3.10', Number(process.argv[3] ?? 0)]
const body = JSON.stringify({ service: 'bench', padding: 'x'.repeat(260) })
const server = http.createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
  res.end(body)
})
server.keepAliveTimeout = 65_000
server.listen(port, ip, () => {
  const a = server.address()
  process.stdout.write(`${typeof a === 'object' && a !== null ? a.port : port}\n`)
})
process.on('SIGTERM', () => { server.close(); server.closeAllConnections(); process.exit(0) })
