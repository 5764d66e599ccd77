// Reference only: a stock http-proxy-3 server over a keep-alive agent (stack-notes §2),
// to compare the proxy's own http path with the library's.
import http from 'node:http'
import { createProxyServer } from 'http-proxy-3'

const [listenIp, listenPort, target] = [process.argv[2], Number(process.argv[3]), process.argv[4]]
const agent = new http.Agent({ keepAlive: true, maxSockets: 128 })
const proxy = createProxyServer({ target, agent, xfwd: true })
proxy.on('error', (_err, _req, res) => {
  if ('writeHead' in res && !res.headersSent) res.writeHead(502)
  res.end()
})
http.createServer((req, res) => { proxy.web(req, res) }).listen(listenPort, listenIp, () => { process.stdout.write('ready\n') })
process.on('SIGTERM', () => { process.exit(0) })
