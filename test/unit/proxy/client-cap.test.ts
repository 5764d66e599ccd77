import test from 'ava'
import net from 'node:net'
import { once } from 'node:events'
import { ClientCap } from '../../../src/proxy/client-cap.ts'

test('ClientCap: admits up to its limit and frees a place when a socket closes', async t => {
  const server = net.createServer(s => { s.on('error', () => {}) })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => { server.close() })
  const port = (server.address() as net.AddressInfo).port
  const sockets = await Promise.all([0, 1, 2].map(async () => { const s = net.connect(port, '127.0.0.1'); await once(s, 'connect'); return s }))
  const cap = new ClientCap(2)
  t.true(cap.admit(sockets[0]))
  t.true(cap.admit(sockets[1]))
  t.false(cap.admit(sockets[2]), 'the third is over the cap')
  t.is(cap.open, 2)
  sockets[0].destroy()
  await once(sockets[0], 'close')
  t.is(cap.open, 1)
  t.true(cap.admit(sockets[2]), 'a closed socket freed its place')
  await Promise.all(sockets.map(async s => { if (!s.destroyed) { s.destroy(); await once(s, 'close') } }))
  t.is(cap.open, 0)
})
