// Backends that answer wrongly, by accident or on purpose (any cluster member can advertise
// one): ambiguous or broken framing, bytes past the end of an answer, answers to requests not
// sent yet, bad field bytes, floods. What each client gets must be its own answer or the
// proxy's 502, never bytes of another exchange, and a backend connection whose state is in
// doubt must never serve a next request. Several clients share the pooled backend sockets.
import test, { type ExecutionContext } from 'ava'
import net from 'node:net'
import { waitFor } from '../../helpers/wait.ts'
import { eachRequest, raw, statuses } from './raw.ts'
import { harness, instance, proxyConfig, proxyTo, waitListening } from './setup.ts'

const IP = '127.0.39.10'
const BACKEND_IP = '127.0.39.11'
const BAD_IP = '127.0.39.12'

/** What a backend would answer to another client: it must never reach the wrong one. */
const STOLEN = 'HTTP/1.1 200 OK\r\nContent-Length: 18\r\n\r\n{"path":"/stolen"}'

interface Req { method: string, path: string, head: string, body: string, conn: number }
interface Scripted {
  port: number
  requests: Req[]
  /** Per connection: the paths it was asked, and whether the proxy closed it. */
  conns: Array<{ paths: string[], closed: boolean }>
}

/**
 * A raw backend: each request head (and its Content-Length body, unless ignoreBody says the
 * backend does not read it: the bytes after the head are then read as the next request) goes
 * to answer, which writes what it likes; the default answer is {"path":...} with its length.
 */
async function scripted (t: ExecutionContext, ip: string, answer: (r: Req, s: net.Socket) => boolean, ignoreBody: (path: string) => boolean = () => false): Promise<Scripted> {
  const b: Scripted = { port: 0, requests: [], conns: [] }
  const server = net.createServer((s) => {
    const conn = b.conns.length
    const c = { paths: [] as string[], closed: false }
    b.conns.push(c)
    s.on('data', eachRequest((head, body) => {
      const [method, path] = head.split(' ')
      const r: Req = { method, path, head, body: body.toString('latin1'), conn }
      b.requests.push(r)
      c.paths.push(path)
      if (!answer(r, s)) {
        const out = JSON.stringify({ path })
        s.write(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${out.length}\r\n\r\n${out}`)
      }
      return true
    }, head => ignoreBody(head.split(' ')[1])))
    s.on('end', () => { c.closed = true; s.end() })
    s.on('close', () => { c.closed = true })
    s.on('error', () => {})
  })
  await new Promise<void>(resolve => server.listen(0, ip, resolve))
  t.teardown(() => { server.close() })
  b.port = (server.address() as net.AddressInfo).port
  return b
}

/** n clients at once, each sending `rounds` requests one after the other on one kept-alive connection; returns the answers that were not the request's own. */
async function clients (sp: number, n: number, rounds: number, tag: string): Promise<{ wrong: string[], answers: number }> {
  const wrong: string[] = []
  let answers = 0
  await Promise.all(Array.from({ length: n }, async (_, i) => {
    const s = net.connect({ host: IP, port: sp })
    s.on('error', () => {})
    await new Promise<void>((resolve, reject) => { s.once('connect', resolve); s.once('error', reject) })
    let got = ''
    s.on('data', (d: Buffer) => { got += d.toString('latin1') })
    for (let j = 0; j < rounds; j++) {
      const path = `/${tag}-${i}-${j}`
      got = ''
      s.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`)
      const ok = await waitFor(() => /\r\n\r\n\{[^}]*\}/.test(got) || s.destroyed, { timeoutMs: 10_000, intervalMs: 5, message: `answer to ${path}` }).catch(() => false)
      answers++
      const m = /"path":"([^"]*)"/.exec(got)
      if (ok !== true || m?.[1] !== path) wrong.push(`${path} got ${JSON.stringify(got.slice(0, 120))}`)
    }
    s.destroy()
  }))
  return { wrong, answers }
}

test('a backend that answers before the request body was sent, then reads the body as a new request: its connection is not reused, the next client gets its own answer', async (t) => {
  const SP = 18391
  // /upload is answered at once (a 401 whose body follows 300 ms later) and its body is never
  // read: the bytes after its head are the backend's next request
  const b = await scripted(t, BACKEND_IP, (r, s) => {
    if (r.path === '/upload') {
      s.write('HTTP/1.1 401 Unauthorized\r\nContent-Length: 4\r\n\r\n')
      setTimeout(() => { s.write('nope') }, 300)
      return true
    }
    if (r.path === '/capture') {
      const out = JSON.stringify({ path: '/capture', captured: r.body })
      s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${out.length}\r\n\r\n${out}`)
      return true
    }
    return false
  }, path => path === '/upload')
  await proxyTo(t, { ip: IP, name: 'early', backendIp: BACKEND_IP, backendPort: b.port, sp: SP })

  // client A: its body is a request head that asks the backend to take the next 48 bytes as its body
  const smuggled = 'POST /capture HTTP/1.1\r\nHost: x\r\nContent-Length: 48\r\n\r\n'
  const a = net.connect({ host: IP, port: SP })
  t.teardown(() => { a.destroy() })
  let got = ''
  a.on('data', (d: Buffer) => { got += d.toString('latin1') })
  a.write(`POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: ${smuggled.length}\r\n\r\n`)
  await waitFor(() => got.includes('401'), { message: 'the early 401 head' })
  a.write(smuggled)
  await waitFor(() => got.endsWith('nope'), { message: 'the 401 body' })

  // client B, on a connection of its own
  const answer = await raw(IP, SP, 'GET /mine HTTP/1.1\r\nHost: x\r\nCookie: session=victim\r\nConnection: close\r\n\r\n', { until: s => s.includes('}') })
  t.deepEqual(statuses(answer), [200])
  t.regex(answer, /"path":"\/mine"/, 'B got its own answer, not the one to the request smuggled in A\'s body')
  t.deepEqual(b.requests.filter(r => r.path === '/capture').map(r => r.body), [], 'B\'s request never became the body of A\'s smuggled one')
})

// retried: a head that cannot be read is a failure before any response byte, so the GET goes on
// to the good backend (bad-answer-retry.test.ts); a broken body is not
for (const [i, [kind, bad, retried]] of ([
  ['a malformed head (Content-Length with Transfer-Encoding)', (s: net.Socket) => { s.write(`HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n${STOLEN.length.toString(16)}\r\n${STOLEN}\r\n0\r\n\r\n`) }, true],
  ['a bad chunk size after the head', (s: net.Socket) => { s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n') }, false],
  ['a body cut short (FIN before Content-Length)', (s: net.Socket) => { s.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhello') }, false],
] as const).entries()) {
  test(`passive health: a backend that answers with ${kind} is ejected at its first such answer`, async (t) => {
    const SP = 18392 + i
    const good = await scripted(t, BACKEND_IP, () => false)
    const broken = await scripted(t, BAD_IP, (_r, s) => { bad(s); return true })
    const h = await harness(t, { proxy: proxyConfig(IP) })
    h.put(instance('flaky', 'host-a', BACKEND_IP, good.port, SP))
    h.put(instance('flaky', 'host-b', BAD_IP, broken.port, SP))
    await h.settle()
    await waitListening(h, SP)
    const seen: number[][] = []
    for (let j = 0; j < 8; j++) seen.push(statuses(await raw(IP, SP, `GET /r${j} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, { timeoutMs: 5000 })))
    t.log(kind, JSON.stringify(seen))
    t.is(broken.requests.length, 1, `the broken backend got ${broken.requests.length} of 8 requests`)
    t.is(good.requests.length, retried ? 8 : 7)
    if (retried) t.deepEqual(seen, Array(8).fill([200]))
    const report = h.proxy.report().listeners[0]
    t.is(report.backends.find(x => x.address.startsWith(BAD_IP))?.state, 'ejected')
    t.is(report.totals.ejections, 1)
  })
}

/** Field lines without end (1 MB at most, with backpressure), until the proxy closes the connection. */
function endless (s: net.Socket, name: string): void {
  let n = 0
  const pump = (): void => {
    while (n++ < 4096 && !s.destroyed) if (!s.write(`${name}${n}: ${'v'.repeat(250)}\r\n`)) { s.once('drain', pump); return }
  }
  pump()
}

/** Bad answers to /bad (the request's method given): what the client that asked may see, and whether the backend connection must be closed after it. */
const CASES: Array<{ name: string, method?: string, answer: string | ((s: net.Socket) => void), want: number[], closes: boolean }> = [
  { name: 'Content-Length and Transfer-Encoding', answer: `HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n${STOLEN.length.toString(16)}\r\n${STOLEN}\r\n0\r\n\r\n`, want: [502], closes: true },
  { name: 'two Content-Lengths', answer: `HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: ${5 + STOLEN.length}\r\n\r\nhello${STOLEN}`, want: [502], closes: true },
  { name: 'a Content-Length list', answer: `HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello${STOLEN}`, want: [502], closes: true },
  { name: 'a bad chunk size', answer: `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n-${STOLEN.length}\r\n${STOLEN}\r\n0\r\n\r\n`, want: [502], closes: true },
  { name: 'a chunk size that overflows', answer: `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000005\r\nhello\r\n0\r\n\r\n${STOLEN}`, want: [502], closes: true },
  { name: 'a bad chunk size after the first body bytes went out', answer: (s) => { s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n'); setTimeout(() => { s.write(`zz\r\n${STOLEN}`) }, 200) }, want: [200], closes: true },
  { name: 'more bytes than its Content-Length', answer: `HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello${STOLEN}`, want: [200], closes: true },
  { name: 'an extra response after a chunked body', answer: `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n${STOLEN}`, want: [200], closes: true },
  { name: 'a 204 with a body', answer: `HTTP/1.1 204 No Content\r\n\r\n${STOLEN}`, want: [204], closes: true },
  { name: 'a 304 with a body', answer: `HTTP/1.1 304 Not Modified\r\nContent-Length: ${STOLEN.length}\r\n\r\n${STOLEN}`, want: [304], closes: true },
  { name: 'HEAD answered with a body', method: 'HEAD', answer: `HTTP/1.1 200 OK\r\nContent-Length: ${STOLEN.length}\r\n\r\n${STOLEN}`, want: [200], closes: true },
  { name: 'a 101 that no request asked for', answer: `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n${STOLEN}`, want: [502], closes: true },
  { name: 'a 1xx flood, then the answer', answer: `${'HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n'.repeat(2000)}HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok`, want: [...Array<number>(2000).fill(103), 200], closes: false },
  { name: 'NUL in a field value', answer: `HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 2\r\n\r\nok${STOLEN}`, want: [502], closes: true },
  { name: 'a bare CR in a field value', answer: `HTTP/1.1 200 OK\r\nX-A: a\rContent-Length: 0\r\nContent-Length: 2\r\n\r\nok${STOLEN}`, want: [502], closes: true },
  { name: 'a bare LF line end', answer: `HTTP/1.1 200 OK\nContent-Length: 2\n\nok${STOLEN}`, want: [502], closes: true },
  { name: 'obs-fold', answer: `HTTP/1.1 200 OK\r\nX-A: a\r\n Content-Length: 0\r\nContent-Length: 2\r\n\r\nok${STOLEN}`, want: [502], closes: true },
  { name: 'a space before the colon', answer: `HTTP/1.1 200 OK\r\nContent-Length : 0\r\nContent-Length: 2\r\n\r\nok${STOLEN}`, want: [502], closes: true },
  { name: 'control bytes in the reason phrase', answer: `HTTP/1.1 200 O\0K\x1b[2J\r\nContent-Length: 2\r\n\r\nok${STOLEN}`, want: [502], closes: true },
  { name: 'a status below 100', answer: `HTTP/1.1 099 Odd\r\nContent-Length: 2\r\n\r\nok${STOLEN}`, want: [502], closes: true },
  { name: 'a status of 000', answer: `HTTP/1.1 000 Odd\r\nContent-Length: 2\r\n\r\nok${STOLEN}`, want: [502], closes: true },
  { name: 'HTTP/2.0 in the status line', answer: `HTTP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nok${STOLEN}`, want: [502], closes: true },
  { name: 'a 100 with a body', answer: `HTTP/1.1 100 Continue\r\nContent-Length: 5\r\n\r\nhello${STOLEN}`, want: [100, 502], closes: true },
  { name: 'a header section that never ends', answer: (s) => { s.write('HTTP/1.1 200 OK\r\n'); endless(s, 'X-H') }, want: [502], closes: true },
  { name: 'trailers that never end', answer: (s) => { s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n'); setTimeout(() => { endless(s, 'X-T') }, 200) }, want: [200], closes: true },
  { name: 'a header line of a megabyte', answer: `HTTP/1.1 200 OK\r\nX-Big: ${'v'.repeat(1 << 20)}\r\nContent-Length: 2\r\n\r\nok`, want: [502], closes: true },
]

for (const [i, c] of CASES.entries()) {
  test(`a backend answering with ${c.name}: the client that asked gets ${c.want.length > 3 ? `${c.want.length} heads` : c.want.join(', ')}, clients sharing its pooled connections get their own answers`, async (t) => {
    const SP = 18400 + i
    const b = await scripted(t, BACKEND_IP, (r, s) => {
      if (r.path !== '/bad') return false
      if (typeof c.answer === 'string') s.write(c.answer)
      else c.answer(s)
      return true
    })
    const h = await proxyTo(t, { ip: IP, name: 'hostile', backendIp: BACKEND_IP, backendPort: b.port, sp: SP })
    // 4 pooled connections in use
    t.deepEqual((await clients(SP, 4, 2, 'warm')).wrong, [])
    // Connection: close, so that the proxy closes the client's connection after the answer
    const answer = await raw(IP, SP, `${c.method ?? 'GET'} /bad HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, { timeoutMs: 10_000 })
    t.deepEqual(statuses(answer), c.want, answer.slice(0, 300))
    t.false(answer.includes('/stolen'), 'the bytes past the answer never reach the client')
    if (c.want.at(-1) === 502) t.regex(answer, /"reason":"bad response"/)
    const conn = b.conns.find(x => x.paths.includes('/bad'))
    if (c.closes) await waitFor(() => conn?.closed === true, { timeoutMs: 5000, message: 'the backend connection of the bad answer closed by the proxy' })
    // every client again, on the pool's connections: each gets its own answer
    const after = await clients(SP, 6, 3, 'after')
    t.deepEqual(after.wrong, [])
    t.is(after.answers, 18)
    t.is(h.proxy.report().listeners[0].state, 'listening')
  })
}

test('a backend that sends an extra answer 1 ms after each answer: once seen, its connections are no longer reused, so other clients stop getting it', async (t) => {
  const SP = 18388
  const b = await scripted(t, BACKEND_IP, (r, s) => {
    if (!r.path.startsWith('/a')) return false
    s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')
    setTimeout(() => { if (!s.destroyed) s.write(STOLEN) }, 1)
    return true
  })
  await proxyTo(t, { ip: IP, name: 'extra', backendIp: BACKEND_IP, backendPort: b.port, sp: SP })
  let stolen = 0
  let total = 0
  // each round: one request that gets the extra answer, and 4 others right behind it
  for (let round = 0; round < 200; round++) {
    const others = await Promise.all([
      raw(IP, SP, `GET /a${round} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, { timeoutMs: 5000 }),
      ...Array.from({ length: 4 }, async (_, i) => {
        await new Promise(resolve => setTimeout(resolve, i))
        return await raw(IP, SP, `GET /b${round}-${i} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, { timeoutMs: 5000 })
      }),
    ])
    for (const a of others.slice(1)) { total++; if (a.includes('/stolen')) stolen++ }
  }
  t.log(`other clients that got the extra answer: ${stolen} of ${total}`)
  t.true(stolen <= 1, `${stolen} of ${total} other clients got the extra answer as their own`)
})

test('fields from the backend: hop-by-hop ones and those its Connection names are dropped (framing kept), every Set-Cookie and the trailers pass', async (t) => {
  const SP = 18390
  const b = await scripted(t, BACKEND_IP, (r, s) => {
    if (r.path !== '/hop') return false
    s.write('HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Internal, Content-Length, Transfer-Encoding\r\nX-Internal: secret\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\nUpgrade: h2c\r\n' +
      'Set-Cookie: a=1; Path=/\r\nSet-Cookie: b=2; HttpOnly\r\nTrailer: X-Sum\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Sum: 42\r\n\r\n')
    return true
  })
  await proxyTo(t, { ip: IP, name: 'hop', backendIp: BACKEND_IP, backendPort: b.port, sp: SP })
  const answer = await raw(IP, SP, 'GET /hop HTTP/1.1\r\nHost: x\r\n\r\n', { until: s => s.endsWith('X-Sum: 42\r\n\r\n') })
  const head = answer.slice(0, answer.indexOf('\r\n\r\n') + 2)
  t.deepEqual(statuses(answer), [200])
  for (const gone of ['X-Internal', 'Keep-Alive', 'Proxy-Connection', 'TE', 'Upgrade', 'Connection']) t.false(new RegExp(`\r\n${gone}:`, 'i').test(head), `${gone} dropped`)
  t.regex(head, /\r\nSet-Cookie: a=1; Path=\/\r\nSet-Cookie: b=2; HttpOnly\r\n/)
  t.regex(head, /\r\nTrailer: X-Sum\r\nTransfer-Encoding: chunked\r\n/)
  t.true(answer.endsWith('\r\n\r\n5\r\nhello\r\n0\r\nX-Sum: 42\r\n\r\n'))
})

test('a chunked answer of a million 1-byte chunks passes whole and in bounded time', async (t) => {
  const SP = 18389
  const N = 1_000_000
  const b = await scripted(t, BACKEND_IP, (r, s) => {
    if (r.path !== '/tiny') return false
    s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n')
    const batch = Buffer.from('1\r\na\r\n'.repeat(10_000))
    let sent = 0
    const pump = (): void => {
      while (sent < N) {
        sent += 10_000
        if (!s.write(batch)) { s.once('drain', pump); return }
      }
      s.write('0\r\n\r\n')
    }
    pump()
    return true
  })
  await proxyTo(t, { ip: IP, name: 'tiny', backendIp: BACKEND_IP, backendPort: b.port, sp: SP })
  const t0 = performance.now()
  const answer = await raw(IP, SP, 'GET /tiny HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', { timeoutMs: 30_000 })
  const ms = performance.now() - t0
  t.log(`${N} chunks (${(answer.length / 1e6).toFixed(1)} MB) in ${ms.toFixed(0)} ms`)
  const body = answer.slice(answer.indexOf('\r\n\r\n') + 4)
  t.is(body.length, 6 * N + 5)
  t.true(body.endsWith('1\r\na\r\n0\r\n\r\n'))
  t.true(ms < 20_000)
})
