// The benchmark's backend (also a killable backend process for tests): node:http answering
// a 300-byte JSON body naming it, keep-alive. Args: ip, port (0 = any), name. Prints the port.
import http from 'node:http'

const [ip, port, name] = [process.argv[2] ?? '127.0.3.10', Number(process.argv[3] ?? 0), process.argv[4] ?? 'bench']
const body = JSON.stringify({ backend: name, padding: 'x'.repeat(Math.max(0, 270 - name.length)) })
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
