// One webhook attempt (postOnce) against raw receivers on 127.0.93.1 that answer before they
// have read the body, the way a receiver that accepts at once (202) or refuses up front (401,
// 413) may: what the next POST to the same receiver, on the listener's own agent, gets.
import test from 'ava'
import net from 'node:net'
import tls from 'node:tls'
import { networkError, postAgent, postOnce } from '../../../src/listeners/post.ts'
import { prng } from '../../helpers/prng.ts'

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

// A receiver's certificate names are in the message of a name that does not match (Node's own
// checkServerIdentity error, made here from a certificate's fields). The colons and spaces it
// ends with were cut by /[: ]+$/, which tried every start in a run of them: a name holding
// 64 K spaces (a certificate list may be 100 KiB) held the event loop 3.7 s.
const altnameError = (names: string | undefined, cn = 'x'): Error => tls.checkServerIdentity('receiver.example', { subject: { CN: cn }, subjectaltname: names } as tls.PeerCertificate) as Error

test('networkError: a certificate name of 64 K spaces is reported at once', t => {
  const err = altnameError(`DNS:"a${' '.repeat(64 * 1024)}b"`)
  const started = performance.now()
  const message = networkError(err)
  const ms = performance.now() - started
  t.true(message.startsWith('TLS handshake failed: Hostname/IP does not match certificate\'s altnames: Host: receiver.example. is not in the cert\'s altnames: DNS:"a   '))
  t.true(message.endsWith(' b" (ERR_TLS_CERT_ALTNAME_INVALID)'))
  t.true(ms < 200, `${ms.toFixed(0)} ms`) // generous for a loaded machine: the scan takes well under 1 ms
})

test('networkError: a certificate error reads as with /[: ]+$/, on 20,000 random names', t => {
  const reference = (err: Error & { code?: string }): string => `TLS handshake failed: ${err.message.split(';')[0].replace(/[: ]+$/, '')} (${err.code})`
  const pieces = [':', ' ', '  ', ': ', ';', 'a', 'b.example', '\t', '\u00a0', '-']
  const random = prng(7)
  const name = (): string => {
    let text = ''
    for (let n = Math.floor(random() * 8); n > 0; n--) text += pieces[Math.floor(random() * pieces.length)]
    return text
  }
  const differ: string[] = []
  for (let i = 0; i < 20_000; i++) {
    // altnames (some quoted, as Node writes names with odd characters), or only a CN
    const names = Array.from({ length: 1 + Math.floor(random() * 3) }, () => `DNS:${random() < 0.5 ? JSON.stringify(name()) : name().replaceAll(',', '')}`).join(', ')
    const err = random() < 0.8 ? altnameError(names) : altnameError(undefined, name())
    if (networkError(err) !== reference(err)) differ.push(JSON.stringify(names))
  }
  t.deepEqual(differ.slice(0, 5), [], `${differ.length} messages read otherwise`)
  const plain = Object.assign(new Error('unable to get local issuer certificate: ;x'), { code: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY' })
  t.is(networkError(plain), 'TLS handshake failed: unable to get local issuer certificate (UNABLE_TO_GET_ISSUER_CERT_LOCALLY)', 'the colons and spaces before a ";" go too')
})
