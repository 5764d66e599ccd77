// bench/proxy/differential.ts: sends a corpus of valid-but-unusual HTTP/1.x exchanges, as raw
// bytes, through sidecar's http mode and through HAProxy in front of the same recording backend,
// and prints where the two differ. Not a test: it prints, it never fails. The backend is raw TCP
// in this process: it records each request exactly as it arrived (method, target, fields in
// order, framing, body, trailers) and answers each with the case's scripted raw bytes. After
// normalising what is expected to differ (X-Forwarded-*, Via, Date, Connection/Keep-Alive, the
// version in a status line (a proxy sends its own, RFC 9110 §6.2), field name case, the order of
// fields of different names, the framing a proxy chose for a body it re-frames), it compares
// (a) what the backend received, (b) what the client received (statuses, fields, body bytes,
// whether the connection stayed open) and (c) the count and order of pipelined exchanges.
// Loopback 127.0.51.1-3 by default (DIFF_IP_BASE=127.0.51 to change); every case is bounded in
// time (CASE_MS), the whole run takes 3-4 minutes. DIFF_ONLY=substring runs matching cases;
// DIFF_VERBOSE=1 prints every case's both sides, the same ones too.
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { runDifferential, startLogged, waitUntil } from '../daemons.ts'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const REPO = path.resolve(HERE, '../..')
const BASE = process.env.DIFF_IP_BASE ?? '127.0.51'
const IPS = { backend: `${BASE}.1`, sidecar: `${BASE}.2`, haproxy: `${BASE}.3` }
const PORTS = { sidecar: 18951, haproxy: 18952, api: 7777 }
/** A client connection is read until the proxy closes it, or QUIET_MS pass without a byte, or CASE_MS in all. */
const QUIET_MS = 700
const CASE_MS = 5000
const VERBOSE = process.env.DIFF_VERBOSE === '1'
const children: ChildProcess[] = []
const tmp = mkdtempSync(path.join(os.tmpdir(), 'sidecar-diff-'))

// ---------- parsing (lenient: it describes what arrived, it does not judge it) ----------

type Fields = Array<[string, string]>
interface Message {
  start: string
  fields: Fields
  /** 'cl:N', 'chunked', 'none' (requests) or 'close' (a response read until the connection closed). */
  framing: string
  body: Buffer
  chunkExts: string[]
  trailers: Fields
}

/** Where the head ends (after its empty line) or -1. */
function headEnd (buf: Buffer, from: number): number {
  const i = buf.indexOf('\r\n\r\n', from)
  return i < 0 ? -1 : i + 4
}

function parseHead (text: string): { start: string, fields: Fields } {
  const lines = text.split('\r\n')
  const fields: Fields = []
  for (const l of lines.slice(1)) {
    if (l === '') continue
    const c = l.indexOf(':')
    fields.push(c < 0 ? [l, ''] : [l.slice(0, c), l.slice(c + 1).replace(/^[ \t]+|[ \t]+$/g, '')])
  }
  return { start: lines[0], fields }
}

function get (fields: Fields, name: string): string[] {
  return fields.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v)
}

/** A chunked body from `at`: the decoded body, its extensions and trailers, and where it ended; undefined when incomplete. */
function parseChunked (buf: Buffer, at: number): { body: Buffer, exts: string[], trailers: Fields, end: number } | undefined {
  const parts: Buffer[] = []
  const exts: string[] = []
  let i = at
  for (;;) {
    const eol = buf.indexOf('\r\n', i)
    if (eol < 0) return undefined
    const line = buf.subarray(i, eol).toString('latin1')
    const semi = line.indexOf(';')
    if (semi >= 0) exts.push(line.slice(semi))
    const size = parseInt(semi >= 0 ? line.slice(0, semi) : line, 16)
    if (Number.isNaN(size)) return { body: Buffer.concat(parts), exts: [...exts, `BAD SIZE LINE ${JSON.stringify(line)}`], trailers: [], end: buf.length }
    i = eol + 2
    if (size === 0) {
      const t = buf.indexOf('\r\n\r\n', i - 2)
      if (t < 0) return undefined
      const trailers = parseHead(`x\r\n${buf.subarray(i, t + 2).toString('latin1')}`).fields
      return { body: Buffer.concat(parts), exts, trailers, end: t + 4 }
    }
    if (buf.length < i + size + 2) return undefined
    parts.push(buf.subarray(i, i + size))
    i += size + 2
  }
}

/** One request from the start of buf (undefined while incomplete): requests without framing have no body. */
function parseRequest (buf: Buffer): { msg: Message, used: number, headBytes: number } | undefined {
  const he = headEnd(buf, 0)
  if (he < 0) return undefined
  const { start, fields } = parseHead(buf.subarray(0, he - 4).toString('latin1'))
  const te = get(fields, 'transfer-encoding').join(',')
  const cl = get(fields, 'content-length')
  const msg: Message = { start, fields, framing: 'none', body: Buffer.alloc(0), chunkExts: [], trailers: [] }
  if (/chunked\s*$/i.test(te)) {
    const c = parseChunked(buf, he)
    if (c === undefined) return undefined
    Object.assign(msg, { framing: 'chunked', body: c.body, chunkExts: c.exts, trailers: c.trailers })
    return { msg, used: c.end, headBytes: he }
  }
  if (cl.length > 0) {
    const n = Number(cl[0])
    if (buf.length < he + n) return undefined
    Object.assign(msg, { framing: `cl:${n}`, body: buf.subarray(he, he + n) })
    return { msg, used: he + n, headBytes: he }
  }
  return { msg, used: he, headBytes: he }
}

/** Every response in what a client received, given the methods it sent in order (HEAD answers have no body). */
function parseResponses (buf: Buffer, methods: string[]): { msgs: Message[], rest: number } {
  const msgs: Message[] = []
  let at = 0
  let req = 0
  for (;;) {
    const he = headEnd(buf, at)
    if (he < 0) break
    const { start, fields } = parseHead(buf.subarray(at, he - 4).toString('latin1'))
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(start)?.[1] ?? 0)
    const msg: Message = { start, fields, framing: 'none', body: Buffer.alloc(0), chunkExts: [], trailers: [] }
    at = he
    msgs.push(msg)
    if (status >= 100 && status < 200) continue
    const method = methods[req++] ?? 'GET'
    if (method === 'HEAD' || status === 204 || status === 304) continue
    if (method === 'CONNECT' && status >= 200 && status < 300) break
    const te = get(fields, 'transfer-encoding').join(',')
    const cl = get(fields, 'content-length')
    if (/chunked\s*$/i.test(te)) {
      const c = parseChunked(buf, at)
      if (c === undefined) { msg.framing = 'chunked (cut short)'; at = buf.length; break }
      Object.assign(msg, { framing: 'chunked', body: c.body, chunkExts: c.exts, trailers: c.trailers })
      at = c.end
    } else if (cl.length > 0) {
      const n = Number(cl[0])
      msg.framing = `cl:${n}`
      msg.body = buf.subarray(at, Math.min(buf.length, at + n))
      if (msg.body.length < n) msg.framing += ` (cut short at ${msg.body.length})`
      at = Math.min(buf.length, at + n)
    } else {
      Object.assign(msg, { framing: 'close', body: buf.subarray(at) })
      at = buf.length
      break
    }
  }
  return { msgs, rest: buf.length - at }
}

/** The methods of the requests in a client's bytes, in order. */
function methodsOf (bytes: Buffer): string[] {
  const out: string[] = []
  let buf = bytes
  for (;;) {
    const r = parseRequest(buf)
    if (r === undefined) {
      const m = /^([A-Z]+) /.exec(buf.toString('latin1'))
      if (m !== null) out.push(m[1])
      return out
    }
    out.push(r.msg.start.split(' ')[0])
    buf = buf.subarray(r.used)
    if (buf.length === 0) return out
  }
}

// ---------- the recording backend ----------

type Step = string | Buffer | { delay: number } | 'close' | 'end'
interface Recorded { conn: number, msg: Message }
interface Case {
  name: string
  /** What the client sends, piece by piece ({ delay } waits between pieces; 'end' half-closes). */
  send: Step[]
  /** The backend's answer to the i-th request of the case (default: 200 with a short body naming it). */
  answer?: (req: Message, i: number) => Step[]
  /** Sent as soon as a request's head arrives, before its body (a 100 Continue or an early answer). */
  onHead?: (req: Message, i: number) => Step[] | undefined
  /** An early answer from onHead is final: the request is not answered again once its body arrives. */
  earlyIsFinal?: boolean
}

const ok = (body: string, extra = ''): string => `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n${extra}\r\n${body}`
const defaultAnswer = (_: Message, i: number): Step[] => [ok(`answer ${i}`, 'Content-Type: text/plain\r\n')]

let current: Case | undefined
let recorded: Recorded[] = []
let served = 0
const backendSockets = new Set<net.Socket>()
let connSeq = 0

/** Writes steps to s in order, waiting out each delay; 'end' half-closes, 'close' destroys (both last). */
async function play (s: net.Socket, steps: Step[]): Promise<void> {
  for (const st of steps) {
    if (s.destroyed) return
    if (st === 'close') { s.destroy(); return }
    if (st === 'end') { s.end(); return }
    if (typeof st === 'object' && !Buffer.isBuffer(st)) { await new Promise(resolve => setTimeout(resolve, st.delay)); continue }
    s.write(st)
  }
}

async function startBackend (): Promise<number> {
  const server = net.createServer((s) => {
    const conn = ++connSeq
    backendSockets.add(s)
    s.on('close', () => backendSockets.delete(s))
    s.on('error', () => {})
    let buf = Buffer.alloc(0)
    let headSeen = -1 // the index of the request whose head was answered early
    let queue = Promise.resolve()
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d])
      for (;;) {
        const c = current
        if (c === undefined) { buf = Buffer.alloc(0); return }
        const r = parseRequest(buf)
        if (r === undefined) {
          const he = headEnd(buf, 0)
          if (he > 0 && headSeen !== served && c.onHead !== undefined) {
            const { start, fields } = parseHead(buf.subarray(0, he - 4).toString('latin1'))
            const early = c.onHead({ start, fields, framing: '', body: Buffer.alloc(0), chunkExts: [], trailers: [] }, served)
            headSeen = served
            if (early !== undefined) { const steps = early; queue = queue.then(async () => { await play(s, steps) }) }
          }
          return
        }
        buf = buf.subarray(r.used)
        const i = served++
        recorded.push({ conn, msg: r.msg })
        let early: Step[] | undefined
        if (headSeen !== i && c.onHead !== undefined) early = c.onHead(r.msg, i)
        const steps = [...(early ?? []), ...(early !== undefined && c.earlyIsFinal === true ? [] : (c.answer ?? defaultAnswer)(r.msg, i))]
        queue = queue.then(async () => { await play(s, steps) })
        if (buf.length === 0) return
      }
    })
  })
  await new Promise<void>(resolve => server.listen(0, IPS.backend, resolve))
  return (server.address() as net.AddressInfo).port
}

// ---------- the client ----------

interface Seen { bytes: Buffer, closed: boolean, ms: number }

async function client (ip: string, port: number, send: Step[]): Promise<Seen> {
  return await new Promise((resolve) => {
    const t0 = Date.now()
    const s = net.connect({ host: ip, port })
    const chunks: Buffer[] = []
    let done = false
    let quiet: NodeJS.Timeout | undefined
    let sending = true
    const finish = (closed: boolean): void => {
      if (done) return
      done = true
      clearTimeout(all); clearTimeout(quiet)
      s.destroy()
      resolve({ bytes: Buffer.concat(chunks), closed, ms: Date.now() - t0 })
    }
    const rearm = (): void => { clearTimeout(quiet); if (!sending) quiet = setTimeout(() => { finish(false) }, QUIET_MS) }
    const all = setTimeout(() => { finish(false) }, CASE_MS)
    s.on('connect', () => {
      void play(s, send).then(() => {
        sending = false
        rearm()
      })
    })
    s.on('data', (c: Buffer) => { chunks.push(c); rearm() })
    s.on('error', () => { finish(true) })
    s.on('close', () => { finish(true) })
  })
}

// ---------- the corpus ----------

const H = 'Host: diff.test\r\n'
const get1 = (target: string, extra = ''): string => `GET ${target} HTTP/1.1\r\n${H}${extra}\r\n`
const last = (target: string, extra = ''): string => get1(target, `${extra}Connection: close\r\n`)
const LONG = '/long/' + 'a'.repeat(7000) + '?q=' + 'b'.repeat(900)

const CASES: Case[] = [
  { name: 'plain GET keep-alive', send: [get1('/plain')] },
  { name: 'chunked request with extensions and trailers', send: [`POST /up HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n5;name=value\r\nhello\r\n6;a;b="q s"\r\n world\r\n0\r\nX-Sum: 42\r\n\r\n`] },
  { name: 'chunked request, trailers undeclared', send: [`POST /up HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Late: yes\r\nX-Other: 2\r\n\r\n`] },
  { name: 'chunked request split at odd boundaries', send: [`POST /up HTTP/1.1\r\n${H}Transfer-Encoding: chu`, { delay: 30 }, 'nked\r\n\r\n', { delay: 30 }, '1', { delay: 30 }, '0\r\n0123456', { delay: 30 }, '789abcdef\r', { delay: 30 }, '\n0\r\n', { delay: 30 }, '\r\n'] },
  { name: 'Content-Length body split at odd boundaries', send: [`POST /up HTTP/1.1\r\n${H}Content-Len`, { delay: 30 }, 'gth: 10\r\n\r', { delay: 30 }, '\n0', { delay: 30 }, '12345678', { delay: 30 }, '9'] },
  { name: 'Transfer-Encoding: gzip, chunked request', send: [`POST /gz HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n4\r\nGZIP\r\n0\r\n\r\n`] },
  { name: 'Content-Length: 0 POST', send: [`POST /empty HTTP/1.1\r\n${H}Content-Length: 0\r\n\r\n`] },
  { name: 'POST without a length (no body)', send: [`POST /nolen HTTP/1.1\r\n${H}\r\n`] },
  {
    name: 'Expect: 100-continue, backend sends 100 then 200',
    send: [`POST /expect HTTP/1.1\r\n${H}Content-Length: 4\r\nExpect: 100-continue\r\n\r\n`, { delay: 200 }, 'body'],
    onHead: (req) => req.framing === '' ? ['HTTP/1.1 100 Continue\r\n\r\n'] : undefined,
  },
  {
    name: 'Expect: 100-continue, early 417 and the backend closes; the client then sends another request',
    send: [`POST /expect HTTP/1.1\r\n${H}Content-Length: 4\r\nExpect: 100-continue\r\n\r\n`, { delay: 300 }, last('/next')],
    onHead: (req, i) => i === 0 && req.framing === '' ? ['HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n', 'close'] : undefined,
    earlyIsFinal: true,
  },
  {
    name: 'Expect: 100-continue, early 401 then the client sends the body anyway',
    send: [`POST /expect HTTP/1.1\r\n${H}Content-Length: 4\r\nExpect: 100-continue\r\n\r\n`, { delay: 300 }, 'body', { delay: 100 }, last('/next')],
    onHead: (req, i) => i === 0 && req.framing === '' ? ['HTTP/1.1 401 Unauthorized\r\nContent-Length: 2\r\n\r\nno'] : undefined,
    earlyIsFinal: true,
  },
  {
    name: 'Expect: 100-continue, the backend ignores it and answers after the body',
    send: [`POST /expect HTTP/1.1\r\n${H}Content-Length: 4\r\nExpect: 100-continue\r\n\r\n`, { delay: 300 }, 'body'],
  },
  {
    name: 'two 100 Continue then 200',
    send: [`POST /two100 HTTP/1.1\r\n${H}Content-Length: 2\r\n\r\nhi`],
    answer: () => ['HTTP/1.1 100 Continue\r\n\r\n', 'HTTP/1.1 100 Continue\r\n\r\n', ok('after two')],
  },
  {
    name: '103 Early Hints then 200',
    send: [get1('/hints')],
    answer: () => ['HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\nLink: </app.js>; rel=preload; as=script\r\n\r\n', { delay: 50 }, ok('hinted')],
  },
  { name: 'HEAD answered with Content-Length and no body', send: [`HEAD /h HTTP/1.1\r\n${H}\r\n`, get1('/after-head')], answer: (req, i) => i === 0 ? ['HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nETag: "e"\r\n\r\n'] : defaultAnswer(req, i) },
  { name: 'HEAD answered with Transfer-Encoding: chunked and no body', send: [`HEAD /h HTTP/1.1\r\n${H}\r\n`, get1('/after-head')], answer: (req, i) => i === 0 ? ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'] : defaultAnswer(req, i) },
  { name: '204 with Content-Length: 0', send: [get1('/204'), get1('/after')], answer: (req, i) => i === 0 ? ['HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n'] : defaultAnswer(req, i) },
  { name: '204 with a stray body', send: [get1('/204'), { delay: 100 }, get1('/after')], answer: (req, i) => i === 0 ? ['HTTP/1.1 204 No Content\r\n\r\nSTRAY'] : defaultAnswer(req, i) },
  { name: '304 with Content-Length of the full body', send: [get1('/304', 'If-None-Match: "x"\r\n'), get1('/after')], answer: (req, i) => i === 0 ? ['HTTP/1.1 304 Not Modified\r\nETag: "x"\r\nContent-Length: 5000\r\n\r\n'] : defaultAnswer(req, i) },
  { name: '304 with Transfer-Encoding: chunked', send: [get1('/304', 'If-None-Match: "x"\r\n'), get1('/after')], answer: (req, i) => i === 0 ? ['HTTP/1.1 304 Not Modified\r\nETag: "x"\r\nTransfer-Encoding: chunked\r\n\r\n'] : defaultAnswer(req, i) },
  { name: 'response without a length (until close) on keep-alive', send: [get1('/eof')], answer: () => ['HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil', { delay: 50 }, ' close', 'close'] },
  { name: 'response without a length, then the client pipelines another', send: [get1('/eof'), get1('/second')], answer: (req, i) => i === 0 ? ['HTTP/1.1 200 OK\r\n\r\nbody-until-close', 'close'] : defaultAnswer(req, i) },
  { name: 'HTTP/1.0 response without a length', send: [get1('/eof10')], answer: () => ['HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nold server body', 'close'] },
  { name: 'chunked response with extensions and trailers', send: [get1('/chunky', 'TE: trailers\r\n')], answer: () => ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Digest\r\n\r\n4;ext=1\r\nabcd\r\n3\r\nefg\r\n0\r\nX-Digest: sha-256=abc\r\n\r\n'] },
  { name: 'chunked response split at odd boundaries', send: [get1('/chunky')], answer: () => ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', '1', { delay: 30 }, '0\r\n0123', { delay: 30 }, '456789abcdef\r', { delay: 30 }, '\n0\r', { delay: 30 }, '\n\r\n'] },
  { name: 'Transfer-Encoding: gzip, chunked response', send: [get1('/gz')], answer: () => ['HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n4\r\nGZIP\r\n0\r\n\r\n'] },
  { name: 'Content-Encoding gzip response with Vary', send: [get1('/ce', 'Accept-Encoding: gzip\r\n')], answer: () => ['HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nVary: Accept-Encoding\r\nContent-Length: 4\r\n\r\nGZIP'] },
  { name: 'backend closes right after the response (Connection: close)', send: [get1('/bye'), { delay: 100 }, get1('/again')], answer: (_r, i) => [ok(`bye ${i}`, 'Connection: close\r\n'), 'close'] },
  { name: 'backend closes right after a response with a length (no Connection: close)', send: [get1('/rst'), { delay: 150 }, get1('/again')], answer: (_r, i) => [ok(`rst ${i}`), 'close'] },
  { name: 'Connection with several tokens and the fields they name', send: [get1('/conn', 'Connection: keep-alive, X-Hop, Foo\r\nX-Hop: drop me\r\nFoo: drop me too\r\nX-Keep: kept\r\n')] },
  { name: 'response Connection naming a field', send: [get1('/rconn')], answer: () => ['HTTP/1.1 200 OK\r\nConnection: X-Internal\r\nX-Internal: secret\r\nX-Public: yes\r\nContent-Length: 2\r\n\r\nok'] },
  { name: 'Keep-Alive and Proxy-Connection request fields', send: [get1('/ka', 'Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\n')] },
  { name: 'multiple Cache-Control and Accept lines (order)', send: [get1('/multi', 'Cache-Control: no-cache\r\nAccept: text/html\r\nCache-Control: max-age=0\r\nAccept: */*;q=0.1\r\n')] },
  { name: 'multiple Set-Cookie and Cache-Control in a response (order)', send: [get1('/cookies')], answer: () => ['HTTP/1.1 200 OK\r\nSet-Cookie: a=1; Path=/\r\nCache-Control: private\r\nSet-Cookie: b=2; Expires=Wed, 21 Oct 2026 07:28:00 GMT\r\nCache-Control: max-age=60\r\nSet-Cookie: c=3\r\nContent-Length: 2\r\n\r\nok'] },
  { name: 'very long URL (about 8 KB)', send: [get1(LONG)] },
  { name: 'percent-encoding and +', send: [get1('/p%20a%2Fth/%7Euser/a+b?q=a+b&r=%2B%26%3D&s=%e2%82%ac&t=%')] },
  { name: 'dot segments and double slashes', send: [get1('/a/../b/./c//d?x=/../')] },
  { name: 'OPTIONS *', send: [`OPTIONS * HTTP/1.1\r\n${H}\r\n`] },
  { name: 'absolute-form target', send: [`GET http://diff.test/abs?x=1 HTTP/1.1\r\n${H}\r\n`] },
  { name: 'absolute-form target with a Host that disagrees', send: [`GET http://other.example:8080/abs HTTP/1.1\r\n${H}\r\n`] },
  { name: 'absolute-form https target', send: [`GET https://diff.test/s HTTP/1.1\r\n${H}\r\n`] },
  { name: 'HTTP/1.0 without keep-alive', send: ['GET /ten HTTP/1.0\r\n\r\n'] },
  { name: 'HTTP/1.0 with Host, without keep-alive', send: [`GET /ten HTTP/1.0\r\n${H}\r\n`] },
  { name: 'HTTP/1.0 with keep-alive, two requests', send: [`GET /ten HTTP/1.0\r\n${H}Connection: keep-alive\r\n\r\n`, { delay: 150 }, `GET /ten2 HTTP/1.0\r\n${H}Connection: keep-alive\r\n\r\n`] },
  { name: 'HTTP/1.0 keep-alive, backend answers chunked', send: [`GET /ten HTTP/1.0\r\n${H}Connection: keep-alive\r\n\r\n`], answer: () => ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'] },
  { name: 'HTTP/1.0 POST with Content-Length', send: [`POST /ten HTTP/1.0\r\n${H}Content-Length: 3\r\n\r\nabc`] },
  { name: 'Upgrade offered, answered 200 (no upgrade)', send: [get1('/ws', 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n'), { delay: 100 }, get1('/after')] },
  { name: 'Upgrade h2c offered, answered 200', send: [get1('/h2c', 'Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n'), { delay: 100 }, get1('/after')] },
  { name: 'response with Upgrade field on a 200', send: [get1('/up200'), { delay: 100 }, get1('/after')], answer: (req, i) => i === 0 ? ['HTTP/1.1 200 OK\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nContent-Length: 2\r\n\r\nok'] : defaultAnswer(req, i) },
  { name: 'obs-text in a header value', send: [get1('/obs', 'X-Name: caf\xe9 \xff\r\n')] },
  { name: 'obs-text in a response header', send: [get1('/obsr')], answer: () => ['HTTP/1.1 200 OK\r\nX-Name: na\xefve\r\nContent-Length: 2\r\n\r\nok'] },
  { name: 'empty header values', send: [get1('/empty', 'X-Empty:\r\nX-Spaces:   \r\nAccept:\r\n')] },
  { name: 'tabs in header values', send: [get1('/tabs', 'X-Tab:\tleading\r\nX-Mid: a\tb\r\nX-Trail: trailing\t\r\n')] },
  { name: 'empty and tabbed response values', send: [get1('/er')], answer: () => ['HTTP/1.1 200 OK\r\nX-Empty:\r\nX-Tab: a\tb\r\nContent-Length: 2\r\n\r\nok'] },
  { name: 'reason phrase unusual and empty', send: [get1('/reason'), get1('/reason2')], answer: (_r, i) => i === 0 ? ['HTTP/1.1 200 Totally Fine, Thanks\r\nContent-Length: 2\r\n\r\nok'] : ['HTTP/1.1 201 \r\nContent-Length: 2\r\n\r\nok'] },
  { name: 'status 299 and 599 (unregistered)', send: [get1('/s299'), get1('/s599')], answer: (_r, i) => [`HTTP/1.1 ${i === 0 ? 299 : 599} Odd\r\nContent-Length: 2\r\n\r\nok`] },
  { name: 'pipelined five with a POST in the middle', send: [get1('/p1') + get1('/p2') + `POST /p3 HTTP/1.1\r\n${H}Content-Length: 3\r\n\r\nabc` + get1('/p4') + last('/p5')] },
  { name: 'pipelined HEAD then GET', send: [`HEAD /ph HTTP/1.1\r\n${H}\r\n` + last('/pg')], answer: (req, i) => i === 0 ? ['HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n'] : defaultAnswer(req, i) },
  { name: 'pipelined behind a slow first answer', send: [get1('/slow') + get1('/fast') + last('/fast2')], answer: (req, i) => i === 0 ? [{ delay: 300 }, ...defaultAnswer(req, i)] : defaultAnswer(req, i) },
  { name: 'request Connection: close answered', send: [last('/closeme')] },
  { name: 'client half-closes after its request', send: [get1('/half'), 'end'] },
  { name: 'Date and Server from the backend', send: [get1('/date')], answer: () => ['HTTP/1.1 200 OK\r\nDate: Sun, 06 Dec 2026 10:00:00 GMT\r\nServer: backend/1.0\r\nContent-Length: 2\r\n\r\nok'] },
  { name: 'large response header (12 KB)', send: [get1('/bighead')], answer: () => [`HTTP/1.1 200 OK\r\nX-Big: ${'x'.repeat(12_000)}\r\nContent-Length: 2\r\n\r\nok`] },
  { name: 'methods PUT, DELETE, PATCH with bodies', send: [`PUT /m HTTP/1.1\r\n${H}Content-Length: 1\r\n\r\nA` + `DELETE /m HTTP/1.1\r\n${H}Content-Length: 1\r\n\r\nB` + `PATCH /m HTTP/1.1\r\n${H}Content-Length: 1\r\n\r\nC`] },
  { name: 'GET with a body', send: [`GET /gb HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\nquery`] },
  { name: 'unknown method', send: [`PURGE /cache HTTP/1.1\r\n${H}\r\n`] },
  { name: 'CONNECT', send: [`CONNECT diff.test:443 HTTP/1.1\r\n${H}\r\n`] },
  { name: 'TRACE', send: [`TRACE /t HTTP/1.1\r\n${H}\r\n`] },
  { name: 'Host with a port, uppercase', send: [`GET /hp HTTP/1.1\r\nHost: DIFF.Test:8080\r\n\r\n`] },
  { name: 'no Host on HTTP/1.1', send: ['GET /nohost HTTP/1.1\r\n\r\n'] },
  { name: 'two Host fields', send: [`GET /twohost HTTP/1.1\r\n${H}Host: other\r\n\r\n`] },
  { name: 'Content-Length with leading zeros', send: [`POST /lz HTTP/1.1\r\n${H}Content-Length: 003\r\n\r\nabc`] },
  { name: 'Transfer-Encoding: Chunked (capitalised)', send: [`POST /cap HTTP/1.1\r\n${H}Transfer-Encoding: Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`] },
  { name: 'chunk size uppercase hex with leading zeros', send: [`POST /hex HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n000A\r\n0123456789\r\n0\r\n\r\n`] },
  { name: 'existing X-Forwarded-For, -Proto and Forwarded from the client', send: [get1('/xff', 'X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Proto: https\r\nForwarded: for=203.0.113.7\r\n')] },
  { name: 'Max-Forwards and Via from the client', send: [get1('/mf', 'Max-Forwards: 3\r\nVia: 1.1 upstream\r\n')] },
  { name: 'TE: trailers and Trailer fields', send: [get1('/te', 'TE: trailers, deflate;q=0.5\r\n')] },
  { name: 'response 100-continue unsolicited on a GET', send: [get1('/c100')], answer: () => ['HTTP/1.1 100 Continue\r\n\r\n', ok('after 100')] },
  { name: 'response 102 Processing then 200', send: [get1('/p102')], answer: () => ['HTTP/1.1 102 Processing\r\n\r\n', { delay: 50 }, ok('after 102')] },
  { name: 'response chunked with a large chunk split from its size', send: [get1('/cbig')], answer: () => ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8000\r\n', { delay: 30 }, Buffer.alloc(0x8000, 'z'), '\r\n0\r\n\r\n'] },
  { name: 'response with Content-Length and a late second part', send: [get1('/late')], answer: () => ['HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234', { delay: 300 }, '56789'] },
  { name: 'response HTTP/1.0 with Content-Length and keep-alive', send: [get1('/k10'), { delay: 100 }, get1('/after')], answer: (_r, i) => [`HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nk${i}`] },
  { name: 'Expect: 100-continue, the backend is silent until the body; the client sends it after a second', send: [`PUT /slow-expect HTTP/1.1\r\n${H}Content-Length: 4\r\nExpect: 100-continue\r\n\r\n`, { delay: 1100 }, 'body'] },
  { name: 'Expect: 100-continue on HTTP/1.0', send: [`POST /e10 HTTP/1.0\r\n${H}Content-Length: 4\r\nExpect: 100-continue\r\n\r\n`, { delay: 200 }, 'body'], onHead: (req) => req.framing === '' ? ['HTTP/1.1 100 Continue\r\n\r\n'] : undefined },
  { name: '103 Early Hints to an HTTP/1.0 client', send: [`GET /h10 HTTP/1.0\r\n${H}\r\n`], answer: () => ['HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n', ok('hinted')] },
  { name: 'status line without a reason phrase or its space', send: [get1('/noreason'), { delay: 100 }, get1('/after')], answer: (req, i) => i === 0 ? ['HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok'] : defaultAnswer(req, i) },
  { name: '101 to a request that offered no upgrade', send: [get1('/sneaky101')], answer: () => ['HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'] },
  { name: 'WebSocket upgrade accepted (101), bytes both ways', send: [get1('/ws101', 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n'), { delay: 200 }, 'client-frame'], answer: () => ['HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\nserver-frame'] },
  { name: '426 Upgrade Required', send: [get1('/need-up'), { delay: 100 }, get1('/after')], answer: (req, i) => i === 0 ? ['HTTP/1.1 426 Upgrade Required\r\nUpgrade: HTTP/2.0\r\nConnection: Upgrade\r\nContent-Length: 4\r\n\r\nup!!'] : defaultAnswer(req, i) },
  { name: 'HEAD answered with a stray body', send: [`HEAD /hb HTTP/1.1\r\n${H}\r\n`, { delay: 100 }, get1('/after')], answer: (req, i) => i === 0 ? ['HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nSTRAY'] : defaultAnswer(req, i) },
  { name: 'response Content-Length longer than the body, then the backend closes', send: [get1('/short')], answer: () => ['HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc', 'close'] },
  { name: 'response chunked, cut before the last chunk', send: [get1('/cut')], answer: () => ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n', 'close'] },
  { name: 'response Content-Length and chunked both', send: [get1('/clte')], answer: () => ['HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n'] },
  { name: 'response 1000 one-byte chunks', send: [get1('/tiny')], answer: () => ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' + '1\r\nx\r\n'.repeat(1000) + '0\r\n\r\n'] },
  { name: 'request trailer with a Content-Length field', send: [`POST /tcl HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nContent-Length: 100\r\n\r\n`] },
  { name: 'fragment in the request target', send: [get1('/frag#part')] },
  { name: 'raw UTF-8 bytes in the request target', send: [get1('/caf\xc3\xa9?q=\xe2\x82\xac')] },
  { name: 'Connection: close with a request pipelined after it', send: [last('/only') + get1('/ignored')] },
  { name: 'early 413 in the middle of a Content-Length upload', send: [`POST /big HTTP/1.1\r\n${H}Content-Length: 20\r\n\r\n0123456789`, { delay: 300 }, 'abcdefghij', { delay: 100 }, last('/after')], onHead: (req, i) => i === 0 && req.framing === '' ? ['HTTP/1.1 413 Content Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n', 'close'] : undefined, earlyIsFinal: true },
  { name: 'request head a byte at a time', send: [...`GET /drip HTTP/1.1\r\n${H}X-A: b\r\n\r\n`].flatMap(ch => [ch, { delay: 2 }]) },
  { name: 'response head and chunked body a few bytes at a time', send: [get1('/drip')], answer: () => [...'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n'.match(/[^]{1,3}/g) ?? []].flatMap(p => [p, { delay: 2 }]) },
  { name: 'request chunked trailer split across reads', send: [`POST /ts HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Tr`, { delay: 50 }, 'ailer: v\r\n', { delay: 50 }, '\r\n'] },
  { name: 'Content-Length body a byte at a time', send: [`POST /slowbody HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\n`, ...[...'abcde'].flatMap(ch => [{ delay: 20 }, ch])] },
  { name: 'early 200 while the body is still coming, the backend reads on', send: [`POST /early200 HTTP/1.1\r\n${H}Content-Length: 6\r\n\r\nabc`, { delay: 200 }, 'def', { delay: 200 }, get1('/after')], onHead: (req, i) => i === 0 && req.framing === '' ? [ok('early')] : undefined, earlyIsFinal: true },
  { name: 'forty pipelined GETs in one write', send: [Array.from({ length: 40 }, (_, i) => i === 39 ? last(`/pp${i}`) : get1(`/pp${i}`)).join('')] },
  { name: 'obs-fold in a response header', send: [get1('/fold')], answer: () => ['HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Length: 2\r\n\r\nok'] },
  { name: 'HTTP/1.0 with Connection: Keep-Alive (capitalised)', send: [`GET /ka10 HTTP/1.0\r\n${H}Connection: Keep-Alive\r\n\r\n`, { delay: 100 }, `GET /ka10b HTTP/1.0\r\n${H}\r\n`] },
  { name: 'unusual field names (underscore, dot)', send: [get1('/names', 'X_Under: 1\r\nX.Dot: 2\r\nX~Tilde: 3\r\n')] },
  { name: 'empty Host on HTTP/1.1', send: ['GET /emptyhost HTTP/1.1\r\nHost:\r\n\r\n'] },
  { name: 'Host with a space in it', send: ['GET /badhost HTTP/1.1\r\nHost: a b\r\n\r\n'] },
  { name: 'Host with a path in it', send: ['GET /badhost HTTP/1.1\r\nHost: a/b\r\n\r\n'] },
  { name: 'absolute-form with an empty host', send: [`GET http:///x HTTP/1.1\r\n${H}\r\n`] },
  { name: 'OPTIONS in absolute-form with an empty path', send: [`OPTIONS http://diff.test HTTP/1.1\r\n${H}\r\n`] },
  { name: 'OPTIONS in absolute-form with a path', send: [`OPTIONS http://diff.test/x HTTP/1.1\r\n${H}\r\n`] },
  { name: 'Expect: 100-continue with Content-Length: 0', send: [`POST /e0 HTTP/1.1\r\n${H}Content-Length: 0\r\nExpect: 100-continue\r\n\r\n`] },
  { name: 'an unknown Expect value', send: [`POST /ex HTTP/1.1\r\n${H}Content-Length: 2\r\nExpect: something-else\r\n\r\nhi`] },
  { name: 'response Content-Length with leading zeros', send: [get1('/lz'), { delay: 100 }, get1('/after')], answer: (req, i) => i === 0 ? ['HTTP/1.1 200 OK\r\nContent-Length: 002\r\n\r\nok'] : defaultAnswer(req, i) },
  { name: 'response two identical Content-Length fields', send: [get1('/dup'), { delay: 100 }, get1('/after')], answer: (req, i) => i === 0 ? ['HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok'] : defaultAnswer(req, i) },
  { name: 'response Content-Length: 2, 2', send: [get1('/dup2'), { delay: 100 }, get1('/after')], answer: (req, i) => i === 0 ? ['HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok'] : defaultAnswer(req, i) },
  { name: 'lower-case method', send: [`get /lower HTTP/1.1\r\n${H}\r\n`] },
  { name: '304 with chunked and a stray last chunk', send: [get1('/304c', 'If-None-Match: "x"\r\n'), { delay: 100 }, get1('/after')], answer: (req, i) => i === 0 ? ['HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'] : defaultAnswer(req, i) },
  { name: 'several Cookie lines', send: [get1('/cookie', 'Cookie: a=1\r\nCookie: b=2\r\n')] },
  { name: 'UTF-8 filename in Content-Disposition', send: [get1('/dl')], answer: () => ['HTTP/1.1 200 OK\r\nContent-Disposition: attachment; filename="na\xc3\xafve.txt"\r\nContent-Length: 2\r\n\r\nok'] },
  { name: 'GET with a chunked body', send: [`GET /gc HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n`] },
  { name: 'response 200 with Content-Length: 0 then another on the same connection', send: [get1('/zero'), { delay: 100 }, get1('/after')], answer: (req, i) => i === 0 ? ['HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'] : defaultAnswer(req, i) },
  { name: 'response 205 with a body length', send: [get1('/205'), { delay: 100 }, get1('/after')], answer: (req, i) => i === 0 ? ['HTTP/1.1 205 Reset Content\r\nContent-Length: 0\r\n\r\n'] : defaultAnswer(req, i) },
  { name: 'response 200 chunked with an empty trailer section and keep-alive', send: [get1('/ct'), { delay: 100 }, get1('/after')], answer: (req, i) => i === 0 ? ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n'] : defaultAnswer(req, i) },
  { name: 'an empty line before the request line', send: [`\r\nGET /crlf HTTP/1.1\r\n${H}\r\n`] },
  { name: 'a POST body followed by an extra CRLF, then the next request (old browsers)', send: [`POST /crlf HTTP/1.1\r\n${H}Content-Length: 2\r\n\r\nhi\r\n`, { delay: 100 }, get1('/after')] },
  { name: 'a POST body followed by an extra CRLF in the same write as the next request', send: [`POST /crlf HTTP/1.1\r\n${H}Content-Length: 2\r\n\r\nhi\r\n` + get1('/after')] },
  { name: 'pipelined after a chunked POST in one write', send: [`POST /pc HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n` + last('/after')] },
  { name: 'pipelined after a HEAD answered with a stray body', send: [`HEAD /hs HTTP/1.1\r\n${H}\r\n` + get1('/after') + last('/after2')], answer: (req, i) => i === 0 ? ['HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nSTRAY'] : defaultAnswer(req, i) },
  { name: 'fifty Set-Cookie lines', send: [get1('/cookies50')], answer: () => [`HTTP/1.1 200 OK\r\n${Array.from({ length: 50 }, (_, i) => `Set-Cookie: c${i}=${i}; Path=/\r\n`).join('')}Content-Length: 2\r\n\r\nok`] },
  { name: 'chunked request with 500 one-byte chunks in one write', send: [`POST /many HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n${'1\r\nz\r\n'.repeat(500)}0\r\n\r\n`] },
  { name: 'trailers in a chunked answer to an HTTP/1.0 request', send: [`GET /t10 HTTP/1.0\r\n${H}\r\n`], answer: () => ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-T: 1\r\n\r\n'] },
  { name: 'response HTTP/1.0 with Content-Length, no keep-alive', send: [get1('/c10'), { delay: 150 }, get1('/after')], answer: (_r, i) => [`HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nc${i}`, 'close'] },
]

// ---------- comparison ----------

/** Request fields a proxy adds or rewrites by design. */
const REQ_SKIP = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded', 'via', 'connection', 'keep-alive'])
/** Response fields that differ by design: the proxy's own framing and connection management. */
const RES_SKIP = new Set(['date', 'connection', 'keep-alive', 'transfer-encoding', 'content-length', 'via'])

const show = (b: Buffer, max = 80): string => { const s = JSON.stringify(b.toString('latin1')); return s.length > max ? `${s.slice(0, max)}…(${b.length} bytes)` : s }
/** Fields minus skip, lower-cased and grouped by name (a stable sort: the order of lines with one name is kept, that across names is not significant, RFC 9110 §5.3). */
const showFields = (f: Fields, skip: Set<string>): string => f.filter(([n]) => !skip.has(n.toLowerCase())).sort((a, b) => a[0].toLowerCase() < b[0].toLowerCase() ? -1 : a[0].toLowerCase() > b[0].toLowerCase() ? 1 : 0).map(([n, v]) => `${n.toLowerCase()}: ${v.length > 60 ? `${v.slice(0, 60)}…(${v.length})` : v}`).join(' | ')

function describeBackend (rs: Recorded[]): string[] {
  return rs.map(r => {
    const m = r.msg
    const framing = m.framing + (m.chunkExts.length > 0 ? ` exts=${m.chunkExts.join(',')}` : '') + (m.trailers.length > 0 ? ` trailers=${showFields(m.trailers, new Set())}` : '')
    const start = m.start.length > 100 ? `${m.start.slice(0, 100)}…(${m.start.length})` : m.start
    return `${start} || ${showFields(m.fields, REQ_SKIP)} || ${framing} body=${show(m.body)}`
  })
}

/** An error page the proxy made itself (sidecar's JSON, HAProxy's HTML): its words differ by design, its status does not. */
function ownAnswer (m: Message): boolean {
  const body = m.body.toString('latin1')
  return body.includes('"status":"error"') || body.startsWith('<html><body><h1>')
}

function describeClient (seen: Seen, methods: string[]): string[] {
  const { msgs, rest } = parseResponses(seen.bytes, methods)
  const out = msgs.map(m => {
    const cl = get(m.fields, 'content-length')
    const lenNote = (m.framing === 'none' && cl.length > 0) ? ` content-length=${cl.join(',')}` : ''
    const status = m.start.replace(/^HTTP\/1\.[01] /, '')
    if (ownAnswer(m)) return `${status.slice(0, 3)} (the proxy's own answer)`
    return `${status} || ${showFields(m.fields, RES_SKIP)} || body=${show(m.body)}${lenNote}${m.trailers.length > 0 ? ` trailers=${showFields(m.trailers, new Set())}` : ''}`
  })
  if (rest > 0) out.push(`(+${rest} bytes after the last response: ${show(seen.bytes.subarray(seen.bytes.length - rest))})`)
  out.push(seen.closed ? 'connection closed by the proxy' : 'connection left open')
  return out
}

/** Details that differ by design but are worth a note: framing, Connection, status line version. */
function framingNotes (seen: Seen, methods: string[]): string {
  return parseResponses(seen.bytes, methods).msgs.map(m => `${m.start.slice(0, 12)} ${m.framing}${get(m.fields, 'connection').length > 0 ? ` conn=${get(m.fields, 'connection').join(',')}` : ''}`).join('; ')
}

async function runCase (c: Case, ip: string, port: number): Promise<{ backend: string[], client: string[], notes: string, raw: Recorded[], ms: number }> {
  for (const s of backendSockets) s.destroy() // each case starts on fresh upstream connections
  await new Promise(resolve => setTimeout(resolve, 60))
  recorded = []
  served = 0
  current = c
  const seen = await client(ip, port, c.send)
  await new Promise(resolve => setTimeout(resolve, 50))
  current = undefined
  const methods = methodsOf(Buffer.concat(c.send.filter((s): s is string | Buffer => typeof s === 'string' || Buffer.isBuffer(s)).map(s => typeof s === 'string' ? Buffer.from(s, 'latin1') : s)))
  return { backend: describeBackend(recorded), client: describeClient(seen, methods), notes: framingNotes(seen, methods), raw: recorded, ms: seen.ms }
}

function diffLines (label: string, a: string[], b: string[]): string[] {
  const out: string[] = []
  if (a.length !== b.length) out.push(`  ${label}: sidecar ${a.length} vs HAProxy ${b.length}`)
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] === b[i]) continue
    out.push(`  ${label}[${i}] sidecar: ${a[i] ?? '(none)'}`, `  ${label}[${i}] HAProxy: ${b[i] ?? '(none)'}`)
  }
  return out
}

// ---------- processes ----------

async function main (): Promise<void> {
  const backendPort = await startBackend()
  const staticFile = path.join(tmp, 'static.json')
  writeFileSync(staticFile, JSON.stringify([
    { Service: { Name: 'diff-http', Ports: [{ Type: 'tcp', Port: backendPort, ServicePort: PORTS.sidecar, IP: IPS.backend }], ProxyMode: 'http' }, Check: { Type: 'AlwaysSuccessful' } },
  ]))
  startLogged(children, tmp, 'sidecar', process.execPath, [path.join(REPO, 'bin/sidecar.js'), '--hostname', 'diff', '--bind-ip', IPS.sidecar, '--advertise-ip', IPS.sidecar, '--http-port', String(PORTS.api), '-d', 'static'],
    { STATIC_CONFIG_FILE: staticFile, SIDECAR_LOGGING_LEVEL: 'warn', HOME: tmp, SIDECAR_FROM_SOURCE: '1' })
  const cfg = path.join(tmp, 'haproxy.cfg')
  writeFileSync(cfg, [
    'global', '  nbthread 1', '  maxconn 1024',
    'defaults', '  timeout connect 1s', '  timeout client 10s', '  timeout server 10s', '  timeout http-request 10s',
    'frontend web', '  mode http', `  bind ${IPS.haproxy}:${PORTS.haproxy}`, '  option forwardfor', '  default_backend web',
    'backend web', '  mode http', '  http-reuse always', `  server s1 ${IPS.backend}:${backendPort}`, '',
  ].join('\n'))
  startLogged(children, tmp, 'haproxy', 'haproxy', ['-db', '-f', cfg])
  await waitUntil(async () => {
    const p = await (await fetch(`http://${IPS.sidecar}:${PORTS.api}/api/proxy.json`)).json() as { listeners: Array<{ backends: Array<{ state: string }> }> }
    return p.listeners.length === 1 && p.listeners[0].backends[0]?.state === 'active'
  }, 60_000, 'sidecar proxy listener with an active backend')
  await waitUntil(async () => await new Promise(resolve => {
    const s = net.connect({ host: IPS.haproxy, port: PORTS.haproxy }, () => { s.destroy(); resolve(true) })
    s.on('error', () => { resolve(false) })
  }), 30_000, 'haproxy')

  const only = process.env.DIFF_ONLY
  const cases = CASES.filter(c => only === undefined || c.name.includes(only))
  let same = 0
  const differing: string[] = []
  for (const c of cases) {
    const a = await runCase(c, IPS.sidecar, PORTS.sidecar)
    const b = await runCase(c, IPS.haproxy, PORTS.haproxy)
    const d = [...diffLines('backend', a.backend, b.backend), ...diffLines('client', a.client, b.client)]
    if (d.length === 0) same++
    else differing.push(c.name)
    if (d.length > 0 || VERBOSE) {
      process.stdout.write(`\n## ${c.name}${d.length === 0 ? ' (same)' : ''}  [${a.ms} ms vs ${b.ms} ms]\n`)
      if (d.length > 0) process.stdout.write(d.join('\n') + '\n')
      if (VERBOSE) process.stdout.write([...a.backend.map(l => `  sidecar backend: ${l}`), ...a.client.map(l => `  sidecar client: ${l}`), ...b.backend.map(l => `  HAProxy backend: ${l}`), ...b.client.map(l => `  HAProxy client: ${l}`)].join('\n') + '\n')
      process.stdout.write(`  framing sidecar: ${a.notes}\n  framing HAProxy: ${b.notes}\n`)
    }
  }
  process.stdout.write(`\n${cases.length} cases: ${same} the same after normalising, ${differing.length} differ: ${differing.join('; ')}\n`)
}

await runDifferential(main, children, tmp)
