// What becomes of a request head on its way to the backend, over real sockets: raw bytes in,
// what the backend (node:http, strict) parsed and what the client got back.
import test, { type ExecutionContext } from 'ava'
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
