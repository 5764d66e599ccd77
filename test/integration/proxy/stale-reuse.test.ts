// A backend that closes a kept-alive connection just as the proxy sends the next request on
// it (its keep-alive timeout ran out: gunicorn's is 2 s, under the pool's 4 s). An idempotent
// request without a body is sent again on a new connection to the same backend, even with a
// single instance and retries off; a POST is not replayed.
import test from 'ava'
import net from 'node:net'
import { eachRequest, raw, statuses } from './raw.ts'
import { proxyTo } from './setup.ts'

const IP = '127.0.33.2'
const BACKEND_IP = '127.0.33.3'

/** Answers the first request of each connection (kept alive) and closes (FIN or RST) at the second, unanswered. */
async function closingBackend (how: 'fin' | 'rst'): Promise<{ port: number, requests: string[], connections: () => number, close: () => void }> {
  const requests: string[] = []
  let connections = 0
  const server = net.createServer((s) => {
    connections++
    let served = 0
    s.on('data', eachRequest((head) => {
      requests.push(head.split('\r\n')[0])
      if (++served === 1) { s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'); return true }
      if (how === 'fin') s.end(); else s.resetAndDestroy()
      return false
    }))
    s.on('error', () => {})
  })
  await new Promise<void>(resolve => server.listen(0, BACKEND_IP, resolve))
  return { port: (server.address() as net.AddressInfo).port, requests, connections: () => connections, close: () => { server.close() } }
}

for (const [how, SP] of [['fin', 18301], ['rst', 18302]] as const) {
  test(`a kept-alive backend connection closed (${how}) under a GET: sent again on a new one, with one instance and retries off; a POST is not replayed`, async (t) => {
    const b = await closingBackend(how)
    t.teardown(b.close)
    const h = await proxyTo(t, { ip: IP, name: 'web', backendIp: BACKEND_IP, backendPort: b.port, sp: SP, proxy: { retries: 0 } })
    const get = `GET /x HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n`
    t.deepEqual(statuses(await raw(IP, SP, get)), [200], 'the first, on a new connection')
    const second = await raw(IP, SP, get)
    t.deepEqual(statuses(second), [200], 'the second: its kept-alive connection closed under it, then a new one')
    t.true(second.endsWith('ok'))
    t.deepEqual(b.requests, ['GET /x HTTP/1.1', 'GET /x HTTP/1.1', 'GET /x HTTP/1.1'])
    t.is(b.connections(), 2)

    // a POST on the next kept-alive connection: closed under it, and not sent again
    const post = `POST /form HTTP/1.1\r\nHost: web\r\nContent-Length: 3\r\nConnection: close\r\n\r\na=1`
    t.deepEqual(statuses(await raw(IP, SP, post)), [502])
    t.deepEqual(b.requests.slice(3), ['POST /form HTTP/1.1'], 'the POST reached the backend once')
    t.is(h.proxy.report().listeners[0].backends[0].state, 'active', 'a closed kept-alive connection does not count against the backend')
  })
}
