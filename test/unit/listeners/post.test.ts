// One webhook attempt (postOnce) against raw receivers on 127.0.93.1 that answer before they
// have read the body, the way a receiver that accepts at once (202) or refuses up front (401,
// 413) may: what the next POST to the same receiver, on the listener's own agent, gets.
import test from 'ava'
import net from 'node:net'
import { postAgent, postOnce } from '../../../src/listeners/post.ts'

const IP = '127.0.93.1'

/**
 * A receiver that answers each connection's first bytes with `answer` and then reads nothing
 * more, keeping the connection open. Counts connections and requests (one answer each).
 */
async function earlyAnswerer (answer: string): Promise<{ url: string, connections: () => number, close: () => Promise<void> }> {
  let connections = 0
  const sockets = new Set<net.Socket>()
  const server = net.createServer(s => {
    connections++
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
    s.on('error', () => {})
    s.once('data', () => { s.pause(); s.write(answer) })
  })
  await new Promise<void>(resolve => server.listen(0, IP, resolve))
  return {
    url: `http://${IP}:${(server.address() as net.AddressInfo).port}/sidecar/update`,
    connections: () => connections,
    close: async () => { for (const s of sockets) s.destroy(); await new Promise(resolve => server.close(resolve)) },
  }
}

// Far more than the kernel takes off the sender's hands while the receiver reads nothing (its
// receive buffer plus our send buffer): from 2-4 MiB on a default Linux, the state of 10,000
// to 15,000 services. A body that small is all written before the answer, and nothing is left.
const BODY = [Buffer.alloc(16 * 1024 * 1024, 0x20)]

for (const [what, answer, first] of [
  ['a 202 at once', 'HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n', { ok: true, status: 202 }],
  ['a 401 up front', 'HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n', { ok: false, error: 'HTTP 401 Unauthorized' }],
] as const) {
  test(`postOnce: after ${what}, before the body was read, the next POST goes on a new connection and gets its own answer`, async t => {
    const r = await earlyAnswerer(answer)
    const agent = postAgent(r.url)
    t.teardown(async () => { agent.destroy(); await r.close() })
    const post = async (): Promise<unknown> => await postOnce({ url: r.url, body: BODY, headers: { 'content-type': 'application/json' }, timeoutMs: 5000, signal: new AbortController().signal, agent })
    t.deepEqual(await post(), first)
    // before: the first request never finished writing, and held the listener's only socket (maxSockets 1)
    // for as long as the receiver kept it open: every later POST failed with "no response within 5000 ms"
    t.deepEqual(await post(), first, 'the second POST is answered')
    t.deepEqual(await post(), first, 'and the third')
    t.is(r.connections(), 3, 'each on a connection of its own: one whose body did not all go cannot carry another request')
  })
}
