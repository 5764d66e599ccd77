// The Host field's value (RFC 9112 §3.2: a server answers 400 to a Host with an invalid
// value), over real sockets: raw bytes in, what the backend (node:http) parsed and what the
// client got back.
import test from 'ava'
import { proxyToLoggingBackend } from './setup.ts'
import { raw, statuses } from './raw.ts'

const IP = '127.0.88.5'
const BACKEND_IP = '127.0.88.6'

test('Host: a value that is not host[:port] gets 400 and never reaches the backend (nor X-Forwarded-Host); host:port and an empty value pass', async (t) => {
  const SP = 18821
  const { b, h } = await proxyToLoggingBackend(t, { ip: IP, name: 'hostfield', backendIp: BACKEND_IP, sp: SP })
  for (const [version, host] of [['1.1', 'a b/c@d'], ['1.0', 'a b/c@d'], ['1.1', 'user@internal.example'], ['1.1', 'internal.example/admin']]) {
    const answer = await raw(IP, SP, `GET / HTTP/${version}\r\nHost: ${host}\r\n\r\n`)
    t.deepEqual(statuses(answer), [400], `${version} ${host}: ${answer}`)
    t.regex(answer, /is not a valid host/)
  }
  for (const host of ['a.example:8080', '[::1]:8080', '']) {
    const answer = await raw(IP, SP, `GET /ok HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`)
    t.deepEqual(statuses(answer), [200], `${host}: ${answer}`)
  }
  t.deepEqual(b.seen.map(s => [s.headers.host, s.headers['x-forwarded-host']]), [['a.example:8080', 'a.example:8080'], ['[::1]:8080', '[::1]:8080'], ['', '']])
  t.regex(await h.metrics.text(), new RegExp(`sidecar_proxy_rejections_total\\{service="hostfield",port="${SP}",reason="bad request"\\} 4`))
  t.deepEqual(b.clientErrors, [])
})
