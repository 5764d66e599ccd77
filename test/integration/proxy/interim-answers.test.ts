// Answers a backend should not give, or gives to a client that cannot take them: 1xx and
// chunked bodies for an HTTP/1.0 client, a 101 that no request asked for, a 426's Upgrade,
// and the proxy's own errors to an HTTP/1.0 keep-alive client.
import test, { type ExecutionContext } from 'ava'
import net from 'node:net'
import { raw, statuses } from './raw.ts'
import { proxyTo } from './setup.ts'

const IP = '127.0.33.4'
const BACKEND_IP = '127.0.33.5'

/** What the raw backend answers, by request path (exact bytes, kept-alive). */
const ANSWERS: Record<string, string> = {
  '/hints': 'HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello',
  '/chunked': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  '/switch': 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: weird\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
  '/426': 'HTTP/1.1 426 Upgrade Required\r\nUpgrade: TLS/1.3, HTTP/1.1\r\nConnection: Upgrade\r\nContent-Length: 0\r\n\r\n',
}

/** A raw backend giving ANSWERS behind the proxy's port sp. */
async function setup (t: ExecutionContext, sp: number): Promise<void> {
  const server = net.createServer((s) => {
    let buf = ''
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1')
      let end: number
      while ((end = buf.indexOf('\r\n\r\n')) >= 0) {
        const path = buf.slice(0, end).split(' ')[1]
        buf = buf.slice(end + 4)
        s.write(ANSWERS[path] ?? 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n')
      }
    })
    s.on('error', () => {})
  })
  await new Promise<void>(resolve => server.listen(0, BACKEND_IP, resolve))
  t.teardown(() => { server.close() })
  await proxyTo(t, { ip: IP, name: 'odd', backendIp: BACKEND_IP, backendPort: (server.address() as net.AddressInfo).port, sp })
}

const closeAfter = (answer: string): boolean => /\r\nConnection: close\r\n/i.test(answer)

test('a 103 Early Hints reaches an HTTP/1.1 client, not an HTTP/1.0 one', async (t) => {
  const SP = 18311
  await setup(t, SP)
  t.deepEqual(statuses(await raw(IP, SP, 'GET /hints HTTP/1.1\r\nHost: odd\r\nConnection: close\r\n\r\n')), [103, 200])
  const old = await raw(IP, SP, 'GET /hints HTTP/1.0\r\nHost: odd\r\n\r\n')
  t.deepEqual(statuses(old), [200])
  t.true(old.endsWith('hello'))
})

test('a chunked answer to an HTTP/1.0 keep-alive client ends with the connection, not in a wait', async (t) => {
  const SP = 18312
  await setup(t, SP)
  const t0 = Date.now()
  const answer = await raw(IP, SP, 'GET /chunked HTTP/1.0\r\nHost: odd\r\nConnection: keep-alive\r\n\r\n', { timeoutMs: 10_000 })
  t.deepEqual(statuses(answer), [200])
  t.true(closeAfter(answer), answer)
  t.true(answer.endsWith('0\r\n\r\n'))
  t.true(Date.now() - t0 < 5000, 'closed by the proxy, not by the client giving up')
  // an HTTP/1.1 client still keeps its connection
  t.false(closeAfter(await raw(IP, SP, 'GET /chunked HTTP/1.1\r\nHost: odd\r\n\r\n', { until: a => a.endsWith('0\r\n\r\n') })))
})

test('a 101 to a request that offered no upgrade is a 502, not an interim answer', async (t) => {
  const SP = 18313
  await setup(t, SP)
  const answer = await raw(IP, SP, 'GET /switch HTTP/1.1\r\nHost: odd\r\nConnection: close\r\n\r\n', { timeoutMs: 10_000 })
  t.deepEqual(statuses(answer), [502])
  t.regex(answer, /offered no upgrade/)
  // the proxy's own error to an HTTP/1.0 keep-alive client says it stays open
  const old = await raw(IP, SP, 'GET /switch HTTP/1.0\r\nHost: odd\r\nConnection: keep-alive\r\n\r\n', { until: a => a.includes('}') })
  t.deepEqual(statuses(old), [502])
  t.regex(old, /\r\nconnection: keep-alive\r\n/i)
})

test('a 426 keeps the Upgrade field that says what to upgrade to', async (t) => {
  const SP = 18314
  await setup(t, SP)
  const answer = await raw(IP, SP, 'GET /426 HTTP/1.1\r\nHost: odd\r\nConnection: close\r\n\r\n')
  t.deepEqual(statuses(answer), [426])
  t.regex(answer, /\r\nUpgrade: TLS\/1\.3, HTTP\/1\.1\r\n/)
})
