// The plain-head scan against llhttp, differentially: every head the scan takes, llhttp (strict,
// a fresh parse) must take with the same length and the same result. Seeds are plain heads and
// near misses (smuggling shapes, special fields, odd spacing); each is mutated byte by byte
// (every position, every byte value) and at random (seeded), so a scan that accepts one byte
// too many, or reads a field llhttp gives meaning to, fails here.
import test from 'ava'
import { plainHead, PLAIN_HEAD_MAX_BYTES } from '../../../src/proxy/h1/plain-head.ts'
import { HeadParser, HttpParseError } from '../../../src/proxy/h1/parser.ts'
import { prng } from '../../helpers/prng.ts'

type Kind = 'request' | 'response'

const REQUESTS = [
  'GET / HTTP/1.1\r\nHost: 127.0.13.71:18701\r\nUser-Agent: wrk\r\n\r\n',
  'GET /api/v1/items?id=42&sort=-name HTTP/1.1\r\nHost: x\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n',
  'POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\nContent-Type: application/json\r\n\r\n{"a":"b"}\r\n',
  'HEAD /%7Euser/a;b=c HTTP/1.0\r\nConnection: keep-alive\r\n\r\n',
  'DELETE /x HTTP/1.0\r\n\r\n',
  'PUT /x HTTP/1.1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n',
  'OPTIONS /x HTTP/1.1\r\nX:y\r\n\r\n',
  'PATCH /x HTTP/1.1\r\nCookie: a=b; c=d\r\nX-Forwarded-For: 10.0.0.1, 10.0.0.2\r\n\r\n',
  // near misses llhttp decides
  'POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n',
  'POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n',
  'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n',
  'GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
  'GET / HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\n',
  'GET / HTTP/1.1\r\nProxy-Connection: close\r\n\r\n',
  'GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n',
  'GET / HTTP/1.1\r\nX:  two spaces\r\nY: trailing \r\n\r\n',
  'GET http://a/b HTTP/1.1\r\n\r\n',
  'CONNECT a:443 HTTP/1.1\r\n\r\n',
  'GET / HTTP/1.1\nHost: x\n\n',
  'GET / HTTP/1.1\r\nHost : x\r\n\r\n',
  'GET / HTTP/1.1\r\nContent-Length: +1\r\n\r\n',
  'GET / HTTP/1.1\r\nX: \t\r\n\r\n',
]
const RESPONSES = [
  'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 300\r\nDate: Thu, 03 Dec 2026 17:30:00 GMT\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n{}',
  'HTTP/1.1 204 No Content\r\nServer: x\r\n\r\n',
  'HTTP/1.1 304 Not Modified\r\nETag: "abc"\r\n\r\n',
  'HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi',
  'HTTP/1.0 404 Not Found\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n',
  'HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\nContent-Length: 5\r\n\r\n',
  'HTTP/1.1 200 OK\r\nX: y\r\n\r\nuntil close',
  'HTTP/1.1 302 Found\r\nLocation: /a?b=c\r\nSet-Cookie: s=1; Path=/; HttpOnly\r\nContent-Length: 0\r\n\r\n',
  // near misses llhttp decides
  'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n',
  'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n',
  'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
  'HTTP/1.1 100 Continue\r\n\r\n',
  'HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n',
  'HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n',
  'HTTP/1.1 099 Odd\r\n\r\n',
  'HTTP/1.1 600 Odd\r\nContent-Length: 0\r\n\r\n',
  'HTTP/2.0 200 OK\r\n\r\n',
]

/** The reference: llhttp alone, a fresh parse. */
function llhttp (p: HeadParser, buf: Buffer): { n: number, head: unknown } | 'error' {
  p.reset()
  try {
    return { n: p.execute(buf), head: p.head }
  } catch (err) {
    if (err instanceof HttpParseError) return 'error'
    throw err
  }
}

function* mutations (seed: Buffer, rand: () => number, count: number): Generator<Buffer> {
  const bytes = [0, 9, 10, 13, 32, 34, 35, 40, 44, 47, 58, 59, 61, 63, 64, 91, 92, 93, 123, 127, 128, 255, 0x41, 0x61, 0x30, 0x39]
  for (let i = 0; i < count; i++) {
    const b = Buffer.from(seed)
    const edits = 1 + Math.floor(rand() * 3)
    let out = b
    for (let e = 0; e < edits; e++) {
      const at = Math.floor(rand() * out.length)
      const r = rand()
      const byte = bytes[Math.floor(rand() * bytes.length)]
      if (r < 0.4) out[at] = byte
      else if (r < 0.6) out = Buffer.concat([out.subarray(0, at), Buffer.from([byte]), out.subarray(at)])
      else if (r < 0.8) out = Buffer.concat([out.subarray(0, at), out.subarray(at + 1)])
      else out[at] = out[at] ^ 0x20 // case flips
    }
    yield out
  }
}

function compare (kind: Kind, inputs: Iterable<Buffer>): { cases: number, taken: number, mismatches: string[] } {
  const ref = new HeadParser(kind, false)
  let cases = 0
  let taken = 0
  const mismatches: string[] = []
  for (const buf of inputs) {
    cases++
    const plain = plainHead(buf, kind)
    if (plain === undefined) continue
    taken++
    const r = llhttp(ref, buf)
    if (r === 'error' || r.n !== plain.length || JSON.stringify(r.head) !== JSON.stringify(plain.head)) {
      if (mismatches.length < 5) mismatches.push(`${JSON.stringify(buf.toString('latin1'))}: plain ${JSON.stringify(plain)} llhttp ${JSON.stringify(r)}`)
    }
  }
  ref.close()
  return { cases, taken, mismatches }
}

for (const [kind, seeds] of [['request', REQUESTS], ['response', RESPONSES]] as Array<[Kind, string[]]>) {
  test(`plain ${kind} heads: whatever the scan takes, llhttp takes alike (every byte at every position of each seed)`, t => {
    function* all (): Generator<Buffer> {
      for (const s of seeds) {
        const seed = Buffer.from(s, 'latin1')
        yield seed
        const end = seed.indexOf('\r\n\r\n')
        for (let at = 0; at < (end < 0 ? seed.length : end + 4); at++) {
          for (let v = 0; v < 256; v++) {
            if (v === seed[at]) continue
            const b = Buffer.from(seed)
            b[at] = v
            yield b
          }
        }
      }
    }
    const r = compare(kind, all())
    t.deepEqual(r.mismatches, [])
    t.log(`${r.cases} heads, ${r.taken} taken by the scan`)
    t.true(r.taken > r.cases / 20, 'the scan takes a fair share (it is not a no-op)')
  })

  test(`plain ${kind} heads: random multi-byte mutations (seeded) agree with llhttp`, t => {
    const rand = prng(kind === 'request' ? 12 : 34)
    function* all (): Generator<Buffer> {
      for (const s of seeds) yield * mutations(Buffer.from(s, 'latin1'), rand, 4000)
    }
    const r = compare(kind, all())
    t.deepEqual(r.mismatches, [])
    t.log(`${r.cases} heads, ${r.taken} taken by the scan`)
    t.true(r.taken > 0)
  })
}

test('plain heads: the seeds a user sends are taken; what llhttp must judge is left to it', t => {
  const taken = (kind: Kind, s: string): boolean => plainHead(Buffer.from(s, 'latin1'), kind) !== undefined
  t.true(taken('request', REQUESTS[0]))
  t.true(taken('request', REQUESTS[2]))
  t.true(taken('response', RESPONSES[0]))
  t.true(taken('response', RESPONSES[1]))
  for (const s of REQUESTS.slice(8)) t.false(taken('request', s), s)
  for (const s of RESPONSES.slice(8)) t.false(taken('response', s), s)
  // incomplete, or over the scan's size: llhttp's turn (it keeps what it read, and its own limit)
  t.false(taken('request', 'GET / HTTP/1.1\r\nHost: x\r\n'))
  t.false(taken('request', `GET / HTTP/1.1\r\nX: ${'a'.repeat(PLAIN_HEAD_MAX_BYTES)}\r\n\r\n`))
})

test('HeadParser with the scan: a keep-alive connection mixing plain heads and heads only llhttp takes reads each right, refusals included', t => {
  const p = new HeadParser('request')
  const ref = new HeadParser('request', false)
  const seq = [REQUESTS[0], REQUESTS[11], REQUESTS[1], 'GET /split', REQUESTS[2], REQUESTS[3]]
  for (const s of seq) {
    if (s === 'GET /split') {
      t.is(p.execute(Buffer.from(s)), -1)
      t.is(p.execute(Buffer.from(' HTTP/1.1\r\n\r\n')), 13)
      t.is(p.head?.url, '/split')
      p.reset()
      continue
    }
    const buf = Buffer.from(s)
    const r = llhttp(ref, buf)
    t.not(r, 'error')
    t.is(p.execute(buf), (r as { n: number }).n, s)
    t.deepEqual(p.head, (r as { head: unknown }).head, s)
    p.reset()
  }
  t.throws(() => p.execute(Buffer.from(REQUESTS[8])), { instanceOf: HttpParseError })
  p.close()
  t.throws(() => p.execute(Buffer.from(REQUESTS[0])), { instanceOf: HttpParseError }, 'closed is closed, plain head or not')
  ref.close()
})
