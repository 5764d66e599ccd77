// A seeded generator of malformed and hostile HTTP/1.1 requests for the proxy fuzz test:
// smuggling shapes (conflicting or hidden framing around an embedded "/smuggled" request),
// grammar breakers (bare LF/CR, obs-fold, NUL, bad versions and methods), bad chunks,
// oversize heads, byte flips and truncations of valid requests, and plain garbage.
// The same seed always gives the same cases.

import { prng } from '../../helpers/prng.ts'

/** The seeded generator the cases are drawn with (the tests' one PRNG). */
export const rng = prng

export interface FuzzCase {
  kind: string
  bytes: Buffer
  /** Half-close after sending (a client that is done, or one that gave up mid-request). */
  end: boolean
}

const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n'

export function fuzzCase (r: () => number, i: number): FuzzCase {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]
  const hdr = `Host: fuzz\r\nX-Case: ${i}\r\n`
  const te = pick(['chunked', 'Chunked', ' chunked', 'chunked ', '\tchunked', 'chunked, chunked', 'identity, chunked', 'chunked, identity', 'xchunked', 'chunk', 'chunked\u000b', 'gzip', ''])
  const cl = pick(['5', '+5', '-5', '0x5', '5 5', '5,5', '05', ' 5', '99999999999999999999999', '', 'abc', String(SMUGGLED.length)])
  const body = `0\r\n\r\n${SMUGGLED}`
  const cases: Array<() => string | Buffer> = [
    () => `POST / HTTP/1.1\r\n${hdr}Content-Length: ${cl}\r\nTransfer-Encoding: ${te}\r\n\r\n${body}`,
    () => `POST / HTTP/1.1\r\n${hdr}Transfer-Encoding: ${te}\r\nContent-Length: ${cl}\r\n\r\n${body}`,
    () => `POST / HTTP/1.1\r\n${hdr}Transfer-Encoding: ${te}\r\n\r\n${body}`,
    () => `POST / HTTP/1.1\r\n${hdr}Content-Length: ${cl}\r\n\r\n${SMUGGLED}`,
    () => `POST / HTTP/1.1\r\n${hdr}Content-Length: ${cl}\r\nContent-Length: ${pick(['0', '5', cl])}\r\n\r\n${SMUGGLED}`,
    () => `GET / HTTP/1.1\r\n${hdr}Connection: ${pick(['content-length', 'transfer-encoding', 'host', 'close, content-length', 'keep-alive, Transfer-Encoding'])}\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`,
    () => `POST / HTTP/1.1\r\n${hdr}Connection: transfer-encoding\r\nTransfer-Encoding: chunked\r\n\r\n${SMUGGLED.length.toString(16)}\r\n${SMUGGLED}\r\n0\r\n\r\n`,
    () => `POST / HTTP/1.1\r\n${hdr}Transfer-Encoding:${pick(['\r\n chunked', ' chunked\r\n\tx', 'chunked'])}\r\n\r\n${body}`,
    () => `POST / HTTP/1.1${pick(['\n', '\r', '\r\r\n'])}${hdr.replace(/\r\n/g, pick(['\n', '\r\n', '\r']))}Content-Length: ${SMUGGLED.length}\n\n${SMUGGLED}`,
    () => `POST / HTTP/1.1\r\n${hdr}Transfer-Encoding: chunked\r\n\r\n${pick(['zz', '-1', 'fffffffffffffffffff', '5 ', ' 5', '5;\u0000', '0x5', '5\n', '', '1'])}\r\nhello\r\n0\r\n\r\n${SMUGGLED}`,
    () => `POST / HTTP/1.1\r\n${hdr}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n${pick(['X-T: 1\r\n', 'Bad Name: 1\r\n', ': x\r\n', 'X-T:\r\n y\r\n', 'Content-Length: 40\r\n'])}\r\n${SMUGGLED}`,
    () => `${pick(['GET', 'G ET', 'GET\t', 'get', 'CONNECT', 'PRI', 'GET\u0000', 'ÄÖÜ', '', 'POST'])} ${pick(['/', '', ' /', '/a b', '*', 'http://other/', '/%00', '/\u0001'])} ${pick(['HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/1.2', 'HTTP/1', 'http/1.1', 'HTTP/1.1 '])}\r\n${hdr}\r\n`,
    () => `GET / HTTP/1.1\r\n${hdr}X-Big: ${'b'.repeat(Math.floor(r() * 80_000))}\r\n\r\n`,
    () => `GET / HTTP/1.1\r\n${hdr}${'X-M: 1\r\n'.repeat(Math.floor(r() * 6000))}\r\n`,
    () => `GET / HTTP/1.1\r\n${hdr}${pick(['X-A: a\u0000b', 'X-A: a\rb', 'X A: 1', 'X-A : 1', ' X-A: 1', 'X-A:: 1', '\u0001: 1', 'X-A: \u007f'])}\r\n\r\n`,
    () => `GET / HTTP/1.1\r\n${hdr}Connection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`,
    () => {
      const valid = Buffer.from(`POST /flip HTTP/1.1\r\n${hdr}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`)
      const n = 1 + Math.floor(r() * 4)
      for (let k = 0; k < n; k++) valid[Math.floor(r() * valid.length)] = Math.floor(r() * 256)
      return valid
    },
    () => `POST /cut HTTP/1.1\r\n${hdr}Content-Length: 100\r\n\r\n${'c'.repeat(Math.floor(r() * 100))}`,
    () => `GET /cut HTTP/1.1\r\n${hdr}`.slice(0, 5 + Math.floor(r() * 30)),
    () => Buffer.from(Array.from({ length: 1 + Math.floor(r() * 300) }, () => Math.floor(r() * 256))),
    () => `GET /ok HTTP/1.1\r\n${hdr}\r\nGET /ok2 HTTP/1.1\r\n${hdr}Content-Length: ${pick(['x', '1', '-1'])}\r\n\r\nz${SMUGGLED}`,
  ]
  const k = Math.floor(r() * cases.length)
  const out = cases[k]()
  return { kind: `case${k}`, bytes: typeof out === 'string' ? Buffer.from(out, 'latin1') : out, end: r() < 0.7 }
}
