// What becomes of a request head on its way to the backend, over real sockets: raw bytes in,
// what the backend (node:http, strict) parsed and what the client got back.
import test, { type ExecutionContext } from 'ava'
import { MAX_HEAD_BYTES } from '../../../src/proxy/h1/parser.ts'
import { harness, instance, proxyConfig, waitListening, type Harness } from './setup.ts'
import { loggingBackend, raw, statuses, type LoggingBackend } from './raw.ts'

const IP = '127.0.32.10'
const BACKEND_IP = '127.0.32.11'

async function setup (t: ExecutionContext, sp: number): Promise<{ h: Harness, b: LoggingBackend }> {
  const b = await loggingBackend(BACKEND_IP)
  t.teardown(async () => { await b.close() })
  const h = await harness(t, { proxy: proxyConfig(IP) })
  h.put(instance('req', 'host-a', b.ip, b.port, sp))
  await h.settle()
  await waitListening(h, sp)
  return { h, b }
}

test('QUERY (llhttp index 46, past Node\'s list of names) reaches the backend with its name and body', async (t) => {
  const SP = 18965
  const { b } = await setup(t, SP)
  const answer = await raw(IP, SP, 'QUERY /search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 9\r\nConnection: close\r\n\r\n{"q":"a"}')
  t.deepEqual(statuses(answer), [200], answer)
  t.deepEqual(b.seen.map(s => [s.method, s.url, s.body.toString()]), [['QUERY', '/search', '{"q":"a"}']])
  t.deepEqual(b.clientErrors, [])
})

test(`a request target over the head limit (${MAX_HEAD_BYTES} bytes) gets 414 URI Too Long; a header section over it still 431`, async (t) => {
  const SP = 18966
  const { b, h } = await setup(t, SP)
  const long = await raw(IP, SP, `GET /${'a'.repeat(40_000)} HTTP/1.1\r\nHost: x\r\n\r\n`)
  t.deepEqual(statuses(long), [414], long.slice(0, 300))
  t.regex(long, /^HTTP\/1\.1 414 URI Too Long\r\n/)
  const big = await raw(IP, SP, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'w'.repeat(40_000)}\r\n\r\n`)
  t.regex(big, /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/)
  t.is(b.seen.length, 0)
  t.regex(await h.metrics.text(), new RegExp(`sidecar_proxy_rejections_total\\{service="req",port="${SP}",reason="head too large"\\} 2`))
})
