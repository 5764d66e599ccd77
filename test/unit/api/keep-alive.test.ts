// The API server keeps a connection open for a client that takes an answer in slowly. Node
// starts a connection's keep-alive timer when the response's last byte is handed to the kernel:
// a 2 MB answer fits in the socket buffers at once, so with the old 5 s timeout a client that
// read it 7 s later found its connection closed behind the answer (here the next request needs
// a new connection: this test fails; a client sending it on the closing connection gets "fetch
// failed"). Here it reads the whole answer, then sends its next request on the same connection.
import http from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import test from 'ava'
import Koa from 'koa'
import { HttpServer, KEEP_ALIVE_TIMEOUT_MS } from '../../../src/api/server.ts'
import { silentLogger } from '../../../src/lib/logger.ts'

test('api server: an answer read 7 s after it was sent arrives whole, and the connection carries the next request', async t => {
  t.timeout(60_000)
  const body = Buffer.alloc(2 * 2 ** 20, 'x')
  const app = new Koa()
  const peers: Array<number | undefined> = []
  app.use(ctx => { peers.push(ctx.req.socket.remotePort); ctx.body = body })
  const server = new HttpServer({ app, logger: silentLogger() }, { host: '127.0.0.1', port: 0, name: 'api', portSetting: 'test' })
  await server.start()
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(async () => { agent.destroy(); await server.stop() })
  /** The answer's length as read, after waiting lagMs before reading any of it. */
  const get = async (lagMs: number): Promise<number> => await new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: server.port, path: '/', agent }, res => {
      let n = 0
      setTimeout(() => {
        res.on('data', (chunk: Buffer) => { n += chunk.length })
        res.on('end', () => { resolve(n) })
      }, lagMs)
      res.on('error', reject)
    }).on('error', reject)
  })
  t.true(KEEP_ALIVE_TIMEOUT_MS > 7000)
  t.is(await get(7000), body.length, 'the whole answer, though read 7 s after it was sent')
  await sleep(100)
  t.is(await get(0), body.length)
  t.is(peers.length, 2)
  t.is(peers[1], peers[0], 'on the same connection')
})
