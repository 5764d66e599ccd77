// bench/proxy/differential-tcp.ts: runs a corpus of connection-level cases through sidecar's tcp
// mode and HAProxy's `mode tcp`, and WebSocket tunnels through sidecar's http mode and HAProxy's
// `mode http` (which tunnels after a 101), against one raw TCP backend in this process that each
// case scripts; prints where the two differ. Not a test: it prints, it never fails. For each
// endpoint (the client, each backend connection) it records the bytes it received (count and a
// hash), how its receiving side ended (FIN, RST, or still open when the case ended) and when (a
// timing class: <1 s, <3 s, or the time in seconds), and for the backpressure cases the proxy's resident
// memory. What differs by design is left out (the 101's fields, the backend's source port).
// Loopback 127.0.52.1-3 by default (DIFF_IP_BASE to change); every case is bounded (CASE_MS),
// the run takes 1-2 minutes. DIFF_ONLY=substring runs matching cases; DIFF_VERBOSE=1 prints every
// case's both sides, the same ones too.
import { spawnSync, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { runDifferential, sleep, startLogged, waitUntil } from '../daemons.ts'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const REPO = path.resolve(HERE, '../..')
const BASE = process.env.DIFF_IP_BASE ?? '127.0.52'
const IPS = { backend: `${BASE}.1`, sidecar: `${BASE}.2`, haproxy: `${BASE}.3` }
/** Front ports: tcp to the backend, tcp to a closed port, tcp to a closed port and the backend (a retry), http for WebSockets. */
const FRONT = { tcp: 0, dead: 1, retry: 2, ws: 3 } as const
const PORTS = { sidecar: 18961, haproxy: 18971, api: 7778 }
const IDLE_S = 3
const CASE_MS = 6000
const VERBOSE = process.env.DIFF_VERBOSE === '1'
const children: ChildProcess[] = []
const tmp = mkdtempSync(path.join(os.tmpdir(), 'sidecar-diff-tcp-'))
const MiB = 1 << 20

// ---------- what an endpoint saw ----------

/** One socket's view: bytes received (the first 16 MiB kept), how its reading side ended and when. */
class Seen {
  readonly t0 = performance.now()
  bytes = 0
  readonly #chunks: Buffer[] = []
  #kept = 0
  end = 'open'
  endMs = -1
  closed = false
  /** Resolves on the first of: EOF, RST/error, close. */
  readonly ended: Promise<void>

  constructor (s: net.Socket) {
    let done!: () => void
    this.ended = new Promise(resolve => { done = resolve })
    const mark = (how: string): void => { if (this.end === 'open') { this.end = how; this.endMs = performance.now() - this.t0 } done() }
    s.on('data', (d: Buffer) => {
      this.bytes += d.length
      if (this.#kept < 16 * MiB) { this.#chunks.push(d); this.#kept += d.length }
    })
    s.on('end', () => { mark('FIN') })
    s.on('error', (e: NodeJS.ErrnoException) => { mark(e.code === 'ECONNRESET' ? 'RST' : (e.code ?? 'error')) })
    s.on('close', () => { this.closed = true; mark('closed') })
  }

  get all (): Buffer { return Buffer.concat(this.#chunks) }

  /** Waits until n bytes arrived (or the reading side ended, or ms passed). */
  async until (n: number, ms = 3000): Promise<void> {
    const t = performance.now()
    while (this.bytes < n && this.end === 'open' && performance.now() - t < ms) await sleep(5)
  }

  async endedWithin (ms: number): Promise<void> { await Promise.race([this.ended, sleep(ms)]) }

  /** What arrived after an HTTP head (a 101, an upgrade request), when skipHead, and how it ended. */
  describe (skipHead = false): string {
    let b = this.all
    let prefix = ''
    if (skipHead) {
      const he = b.indexOf('\r\n\r\n')
      prefix = he < 0 ? '(no head) ' : `${JSON.stringify(b.subarray(0, b.indexOf('\r\n')).toString('latin1'))} head, then `
      if (he >= 0) b = b.subarray(he + 4)
    }
    const t = this.endMs < 0 ? '' : this.endMs < 1000 ? ' <1s' : this.endMs < 3000 ? ' <3s' : ` ${(this.endMs / 1000).toFixed(1)}s`
    const shown = b.length <= 48 ? JSON.stringify(b.toString('latin1')) : `${b.length} bytes #${createHash('sha1').update(b).digest('hex').slice(0, 8)}`
    return `${prefix}got ${shown}, then ${this.end}${t}${this.closed || this.end === 'open' ? '' : ' (socket still open)'}`
  }
}

// ---------- the backend ----------

type BackendScript = (s: net.Socket, seen: Seen) => Promise<void> | void
let script: BackendScript | undefined
let backendSeen: Seen[] = []
let backendPortNow = 0
const backendSockets = new Set<net.Socket>()

async function startBackend (): Promise<number> {
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    backendSockets.add(s)
    s.on('close', () => backendSockets.delete(s))
    const seen = new Seen(s)
    backendSeen.push(seen)
    const run = script
    if (run !== undefined) void Promise.resolve(run(s, seen)).catch(() => {})
  })
  await new Promise<void>(resolve => server.listen(0, IPS.backend, resolve))
  backendPortNow = (server.address() as net.AddressInfo).port
  return backendPortNow
}

// ---------- the proxies' memory ----------

function rssMiB (pid: number | undefined): number {
  if (pid === undefined) return 0
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'latin1'))
  return Math.round(Number(m?.[1] ?? 0) / 1024)
}

/** The proxy-side states of the open connections to the backend (ss): ESTAB means the proxy still holds one open. */
function proxySideStates (): string {
  const out = spawnSync('ss', ['-Htn', 'state', 'all', `( dport = :${backendPortNow} )`], { encoding: 'latin1' }).stdout ?? ''
  // TIME-WAIT: connections of earlier cases, closed
  const states = out.split('\n').map(l => l.trim().split(/\s+/)[0]).filter(st => st !== '' && st !== 'TIME-WAIT')
  return states.length === 0 ? 'none open' : states.join(',')
}

// ---------- WebSocket frames (RFC 6455 §5.2) ----------

function frame (opcode: number, payload: Buffer, fin = true, masked = true): Buffer {
  const len = payload.length
  const ext = len < 126 ? 0 : len < 65536 ? 2 : 8
  const head = Buffer.alloc(2 + ext + (masked ? 4 : 0))
  head[0] = (fin ? 0x80 : 0) | opcode
  head[1] = (masked ? 0x80 : 0) | (ext === 0 ? len : ext === 2 ? 126 : 127)
  if (ext === 2) head.writeUInt16BE(len, 2)
  if (ext === 8) head.writeBigUInt64BE(BigInt(len), 2)
  if (!masked) return Buffer.concat([head, payload])
  const key = Buffer.from([0x12, 0x34, 0x56, 0x78])
  key.copy(head, 2 + ext)
  const body = Buffer.alloc(len)
  for (let i = 0; i < len; i++) body[i] = payload[i] ^ key[i & 3]
  return Buffer.concat([head, body])
}
const closeFrame = (code: number, masked: boolean): Buffer => { const p = Buffer.alloc(2); p.writeUInt16BE(code); return frame(8, Buffer.concat([p, Buffer.from('bye')]), true, masked) }
const UPGRADE = 'GET /ws HTTP/1.1\r\nHost: diff.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n'
const SWITCH = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n'

/** A backend script that waits for the upgrade head, answers 101 (with `with` in the same write) and then runs `after` on what followed the head and the socket. */
function wsBackend (after: (s: net.Socket, rest: Buffer) => Promise<void> | void, opts: { delay?: number, with?: Buffer } = {}): BackendScript {
  return (s) => {
    let buf = Buffer.alloc(0)
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d])
      const he = buf.indexOf('\r\n\r\n')
      if (he < 0) return
      s.off('data', onData)
      const rest = buf.subarray(he + 4)
      void sleep(opts.delay ?? 0).then(() => {
        s.write(Buffer.concat([Buffer.from(SWITCH), opts.with ?? Buffer.alloc(0)]))
        return after(s, rest)
      })
    }
    s.on('data', onData)
  }
}

/** A WebSocket backend's part after the 101: echoes every byte (the frames are not parsed), ending when the client ends. */
const echoAfterUpgrade = (s: net.Socket, rest: Buffer): void => { s.write(rest); s.on('data', (d: Buffer) => s.write(d)); s.on('end', () => s.end()) }

/** What a client saw after a 101: the 101's own bytes are cut (its fields differ by design). */
function afterHead (seen: Seen): number {
  const he = seen.all.indexOf('\r\n\r\n')
  return he < 0 ? 0 : he + 4
}

// ---------- the corpus ----------

interface Ctx { ip: string, port: (front: number) => number, pid: number | undefined, notes: string[] }
interface Case { name: string, front: number, backend?: BackendScript, client: (c: net.Socket, seen: Seen, x: Ctx) => Promise<void> }

const echo: BackendScript = (s) => { s.on('data', (d: Buffer) => s.write(d)); s.on('end', () => s.end()) }
const big = (n: number, seed = 7): Buffer => { const b = Buffer.alloc(n); for (let i = 0; i < n; i++) b[i] = (i * seed + (i >> 9)) & 0xff; return b }

/** Writes all of data to s in 64 KiB writes, each after the last drained; stops after ms. Resolves with the bytes the socket took. */
async function pump (s: net.Socket, data: Buffer | number, ms: number): Promise<number> {
  const t = performance.now()
  const total = typeof data === 'number' ? data : data.length
  const chunk = Buffer.alloc(64 * 1024, 0x61)
  let sent = 0
  while (sent < total && !s.destroyed && performance.now() - t < ms) {
    const n = Math.min(chunk.length, total - sent)
    const part = typeof data === 'number' ? chunk.subarray(0, n) : data.subarray(sent, sent + n)
    sent += n
    if (!s.write(part)) {
      await Promise.race([new Promise(resolve => s.once('drain', resolve)), new Promise(resolve => s.once('close', resolve)), sleep(Math.max(1, ms - (performance.now() - t)))])
      if (s.writableLength > 0 && performance.now() - t >= ms) return sent - s.writableLength
    }
  }
  return sent - s.writableLength
}

const CASES: Case[] = [
  {
    name: 'tcp server-first banner (SMTP style)',
    front: FRONT.tcp,
    backend: (s) => {
      s.write('220 diff.test ESMTP ready\r\n')
      s.on('data', (d: Buffer) => { if (d.includes('QUIT')) { s.write('221 bye\r\n'); s.end() } })
    },
    client: async (c, seen) => { await seen.until(27); c.write('QUIT\r\n'); await seen.endedWithin(2000); c.end() },
  },
  {
    name: 'tcp client FIN first, backend answers 1 MiB after it, then FIN',
    front: FRONT.tcp,
    backend: (s) => { s.on('end', () => { s.write(big(MiB)); s.end() }) },
    client: async (c, seen) => { c.end('request'); await seen.endedWithin(4000) },
  },
  {
    name: 'tcp backend FIN first (8 KiB banner), client then sends 4 MiB to a slow reader, then FIN',
    front: FRONT.tcp,
    backend: async (s) => { s.end(big(8192)); s.pause(); await sleep(300); s.resume() },
    client: async (c, seen) => { await seen.endedWithin(2000); await pump(c, big(4 * MiB, 3), 3000); c.end(); await sleep(1500) },
  },
  {
    name: 'tcp backend FIN first, client sends 4 MiB and a 4-byte tail, then FIN; the backend reads from 1 s on',
    front: FRONT.tcp,
    backend: async (s) => { s.end('bye'); s.pause(); await sleep(1000); s.resume() },
    client: async (c, seen) => { await seen.endedWithin(2000); c.write(big(4 * MiB, 3)); await sleep(300); c.end('TAIL'); await sleep(2500) },
  },
  {
    name: 'tcp client FIN first, backend slow to read the 4 MiB before it, then answers and FIN',
    front: FRONT.tcp,
    backend: async (s) => { s.pause(); await sleep(300); s.resume(); s.on('end', () => { s.end('done') }) },
    client: async (c, seen) => { await pump(c, big(4 * MiB, 5), 3000); c.end(); await seen.endedWithin(3000) },
  },
  {
    name: 'tcp both FIN at once after a 64 KiB exchange',
    front: FRONT.tcp,
    backend: (s) => { s.end(big(65536, 11)) },
    client: async (c, seen) => { c.end(big(65536, 13)); await seen.endedWithin(2000) },
  },
  // a deliberate difference: sidecar resets the client after the 100 KiB (docs/proxy.md,
  // Backend resets), HAProxy ends it with a FIN, which reads as complete (so did sidecar before
  // 2026-12-06); the same for the ws case below
  {
    name: 'tcp backend RST mid-stream (after 100 KiB)',
    front: FRONT.tcp,
    backend: async (s) => { s.write(big(100 * 1024)); await sleep(200); s.resetAndDestroy() },
    client: async (_c, seen) => { await seen.endedWithin(2000) },
  },
  {
    name: 'tcp client RST mid-upload (after 100 KiB)',
    front: FRONT.tcp,
    backend: () => {},
    client: async (c) => { c.write(big(100 * 1024)); await sleep(200); c.resetAndDestroy(); await sleep(800) },
  },
  {
    name: 'tcp backend never reads, client writes up to 100 MiB for 2.5 s',
    front: FRONT.tcp,
    backend: (s) => { s.pause() },
    client: async (c, _seen, x) => {
      const before = rssMiB(x.pid)
      const took = await pump(c, 100 * MiB, 2500)
      x.notes.push(`client could write ${(took / MiB).toFixed(1)} MiB; proxy RSS ${before} -> ${rssMiB(x.pid)} MiB`)
      c.destroy()
    },
  },
  {
    name: 'tcp client never reads, backend writes up to 100 MiB for 2.5 s',
    front: FRONT.tcp,
    backend: async (s) => { const took = await pump(s, 100 * MiB, 2500); lastBackendNote = `backend could write ${(took / MiB).toFixed(1)} MiB`; s.destroy() },
    client: async (c, _seen, x) => {
      c.pause()
      const before = rssMiB(x.pid)
      await sleep(2300)
      x.notes.push(`proxy RSS ${before} -> ${rssMiB(x.pid)} MiB`)
      await sleep(400)
      c.destroy()
    },
  },
  {
    name: 'tcp backend never reads, client writes 16 MiB (stuck) then RST',
    front: FRONT.tcp,
    backend: (s) => { s.pause() },
    client: async (c, _seen, x) => { await pump(c, 16 * MiB, 1500); c.resetAndDestroy(); await sleep(1000); x.notes.push(`1 s after the client's RST, the proxy's connection to the backend: ${proxySideStates()}`) },
  },
  {
    name: 'tcp client never reads, backend writes 16 MiB (stuck) then the client RSTs',
    front: FRONT.tcp,
    backend: async (s) => { await pump(s, 16 * MiB, 1500) },
    client: async (c, _seen, x) => { c.pause(); await sleep(1600); c.resetAndDestroy(); await sleep(1000); x.notes.push(`1 s after the client's RST, the proxy's connection to the backend: ${proxySideStates()}`) },
  },
  {
    name: 'tcp connect to a closed backend port',
    front: FRONT.dead,
    client: async (c, seen) => { c.write('hello'); await seen.endedWithin(3000) },
  },
  {
    name: 'tcp connect: closed port and a live backend (retry)',
    front: FRONT.retry,
    backend: echo,
    client: async (c, seen) => { c.write('hello'); await seen.until(5, 3000); c.end(); await seen.endedWithin(1000) },
  },
  {
    name: 'tcp zero-byte connection (connect, FIN)',
    front: FRONT.tcp,
    backend: echo,
    client: async (c, seen) => { c.end(); await seen.endedWithin(1500) },
  },
  {
    name: 'tcp zero-byte connection (connect, RST)',
    front: FRONT.tcp,
    backend: echo,
    client: async (c) => { c.resetAndDestroy(); await sleep(800) },
  },
  {
    name: 'tcp burst of 200 short connections (1 KiB echo each)',
    front: FRONT.tcp,
    backend: echo,
    client: async (c, _seen, x) => {
      c.end()
      let good = 0
      const data = big(1024, 17)
      await Promise.all(Array.from({ length: 200 }, async () => {
        const s = net.connect({ host: x.ip, port: x.port(FRONT.tcp), allowHalfOpen: true })
        const r = new Seen(s)
        s.on('connect', () => { s.end(data) })
        await r.endedWithin(4000)
        if (r.end === 'FIN' && r.all.equals(data)) good++
        s.destroy()
      }))
      x.notes.push(`${good}/200 echoed whole, then FIN`)
    },
  },
  {
    name: `tcp idle connection (idle timeouts ${IDLE_S} s)`,
    front: FRONT.tcp,
    backend: () => {},
    client: async (_c, seen) => { await seen.endedWithin(IDLE_S * 1000 + 2500) },
  },
  {
    name: `tcp idle after the client's FIN (half-closed, nothing moves; idle ${IDLE_S} s)`,
    front: FRONT.tcp,
    backend: () => {},
    client: async (c, seen) => { c.end('x'); await seen.endedWithin(IDLE_S * 1000 + 2500) },
  },
  // ----- WebSocket tunnels -----
  {
    name: 'ws echo: text, binary, fragments, ping',
    front: FRONT.ws,
    backend: wsBackend(echoAfterUpgrade),
    client: async (c, seen) => {
      c.write(UPGRADE)
      await seen.until(100)
      const frames = Buffer.concat([frame(1, Buffer.from('hello')), frame(2, big(300, 5)), frame(1, Buffer.from('frag-'), false), frame(0, Buffer.from('ment')), frame(9, Buffer.from('ping')), frame(10, Buffer.from('pong'))])
      const h = afterHead(seen)
      c.write(frames)
      await seen.until(h + frames.length)
      c.end(); await seen.endedWithin(1000)
    },
  },
  {
    name: 'ws 10 MiB binary message echoed',
    front: FRONT.ws,
    backend: wsBackend(echoAfterUpgrade),
    client: async (c, seen) => {
      c.write(UPGRADE)
      await seen.until(100)
      const h = afterHead(seen)
      const f = frame(2, big(10 * MiB, 9))
      c.write(f)
      await seen.until(h + f.length, 4000)
      c.end(); await seen.endedWithin(1000)
    },
  },
  ...[1000, 1001, 4000, 1011].map((code): Case => ({
    name: `ws server closes with ${code}: close frames both ways, then the server's TCP close`,
    front: FRONT.ws,
    backend: wsBackend((s) => { s.write(closeFrame(code, false)); s.on('data', (d: Buffer) => { if ((d[0] & 0x0f) === 8) s.end() }) }),
    client: async (c, seen) => {
      c.write(UPGRADE)
      await seen.until(100); await seen.until(afterHead(seen) + 7)
      c.write(closeFrame(code, true)); await seen.endedWithin(1500); c.end(); await sleep(200)
    },
  })),
  ...[1000, 4000].map((code): Case => ({
    name: `ws client closes with ${code}: the server answers and closes TCP first`,
    front: FRONT.ws,
    backend: wsBackend((s) => { s.on('data', (d: Buffer) => { if ((d[0] & 0x0f) === 8) s.end(closeFrame(code, false)) }) }),
    client: async (c, seen) => { c.write(UPGRADE); await seen.until(100); c.write(closeFrame(code, true)); await seen.endedWithin(1500); c.end(); await sleep(200) },
  })),
  {
    name: 'ws frames in the same packet as the upgrade request (101 after 100 ms)',
    front: FRONT.ws,
    backend: wsBackend((s, rest) => { s.write(rest); s.on('data', (d: Buffer) => s.write(d)) }, { delay: 100 }),
    client: async (c, seen) => { c.write(Buffer.concat([Buffer.from(UPGRADE), frame(1, Buffer.from('early bird'))])); await sleep(600); c.end(); await seen.endedWithin(1000) },
  },
  {
    name: 'ws upgrade request, a frame and the client\'s FIN in one packet (101 after 100 ms, echo, FIN on EOF)',
    front: FRONT.ws,
    backend: wsBackend(echoAfterUpgrade, { delay: 100 }),
    client: async (c, seen) => { c.end(Buffer.concat([Buffer.from(UPGRADE), frame(1, Buffer.from('early bird'))])); await seen.endedWithin(4500) },
  },
  {
    name: 'ws backend sends 101, a frame and its FIN at once',
    front: FRONT.ws,
    backend: (s) => { s.once('data', () => { s.end(Buffer.concat([Buffer.from(SWITCH), frame(1, Buffer.from('hello and bye'), true, false)])) }) },
    client: async (c, seen) => { c.write(UPGRADE); await seen.endedWithin(2000); c.end(); await sleep(300) },
  },
  {
    name: 'ws a frame in the same packet as the 101',
    front: FRONT.ws,
    backend: wsBackend(() => {}, { with: frame(1, Buffer.from('welcome'), true, false) }),
    client: async (c, seen) => { c.write(UPGRADE); await sleep(500); c.end(); await seen.endedWithin(1000) },
  },
  {
    name: 'ws backend FIN first, client then sends 4 MiB to a slow reader, then FIN',
    front: FRONT.ws,
    backend: wsBackend(async (s) => { s.end(frame(1, Buffer.from('server done'), true, false)); s.pause(); await sleep(300); s.resume() }),
    client: async (c, seen) => { c.write(UPGRADE); await seen.endedWithin(2000); await pump(c, frame(2, big(4 * MiB, 3)), 3000); c.end(); await sleep(1500) },
  },
  {
    name: 'ws client sends 4 MiB and a 4-byte tail then closes; the backend reads from 1 s on',
    front: FRONT.ws,
    backend: wsBackend(async (s) => { s.pause(); await sleep(1000); s.resume(); s.on('end', () => { s.end() }) }),
    client: async (c, seen) => { c.write(UPGRADE); await seen.until(100); c.write(big(4 * MiB, 3)); await sleep(300); c.end('TAIL'); await sleep(2500) },
  },
  {
    name: 'ws client FIN first, backend answers 1 MiB after it, then FIN',
    front: FRONT.ws,
    backend: wsBackend((s) => { s.on('end', () => { s.end(frame(2, big(MiB), true, false)) }) }),
    client: async (c, seen) => { c.write(UPGRADE); await seen.until(100); c.end(frame(1, Buffer.from('last'))); await seen.endedWithin(3000) },
  },
  {
    name: 'ws backend RST mid-stream',
    front: FRONT.ws,
    backend: wsBackend(async (s) => { s.write(frame(2, big(100 * 1024), true, false)); await sleep(200); s.resetAndDestroy() }),
    client: async (c, seen) => { c.write(UPGRADE); await seen.endedWithin(2000) },
  },
  {
    name: 'ws client RST mid-stream',
    front: FRONT.ws,
    backend: wsBackend(() => {}),
    client: async (c, seen) => { c.write(UPGRADE); await seen.until(100); c.write(frame(2, big(100 * 1024))); await sleep(200); c.resetAndDestroy(); await sleep(800) },
  },
  {
    name: 'ws backend never reads, client writes 16 MiB (stuck) then RST',
    front: FRONT.ws,
    backend: wsBackend((s) => { s.pause() }),
    client: async (c, seen, x) => { c.write(UPGRADE); await seen.until(100); await pump(c, 16 * MiB, 1500); c.resetAndDestroy(); await sleep(1000); x.notes.push(`1 s after the client's RST, the proxy's connection to the backend: ${proxySideStates()}`) },
  },
  {
    name: `ws idle tunnel (idle timeouts ${IDLE_S} s)`,
    front: FRONT.ws,
    backend: wsBackend(() => {}),
    client: async (c, seen) => { c.write(UPGRADE); await seen.endedWithin(IDLE_S * 1000 + 2500) },
  },
  {
    name: 'ws backend never reads, client writes up to 100 MiB for 2.5 s',
    front: FRONT.ws,
    backend: wsBackend((s) => { s.pause() }),
    client: async (c, seen, x) => {
      c.write(UPGRADE); await seen.until(100)
      const before = rssMiB(x.pid)
      const took = await pump(c, 100 * MiB, 2500)
      x.notes.push(`client could write ${(took / MiB).toFixed(1)} MiB; proxy RSS ${before} -> ${rssMiB(x.pid)} MiB`)
      c.destroy()
    },
  },
]

let lastBackendNote = ''

async function runCase (c: Case, ip: string, base: number, pid: number | undefined): Promise<{ lines: string[], notes: string[] }> {
  script = c.backend
  backendSeen = []
  lastBackendNote = ''
  const x: Ctx = { ip, port: (f) => base + f, pid, notes: [] }
  const s = net.connect({ host: ip, port: base + c.front, allowHalfOpen: true })
  const seen = new Seen(s)
  await Promise.race([new Promise(resolve => s.once('connect', resolve)), seen.ended, sleep(2000)])
  const cut = setTimeout(() => { s.destroy() }, CASE_MS)
  try {
    await Promise.race([c.client(s, seen, x), sleep(CASE_MS)])
  } catch (err) {
    x.notes.push(`client script failed: ${(err as Error).message}`)
  }
  clearTimeout(cut)
  await sleep(300)
  const ws = c.front === FRONT.ws
  const lines = [`client: ${seen.describe(ws)}`]
  const bs = c.name.includes('burst') ? [] : backendSeen
  lines.push(`backend connections: ${bs.length}`)
  bs.forEach((b, i) => { lines.push(`backend ${i}: ${b.describe(ws)}`) })
  s.destroy()
  for (const b of backendSockets) b.destroy()
  script = undefined
  if (lastBackendNote !== '') x.notes.push(lastBackendNote)
  return { lines, notes: x.notes }
}

// ---------- processes ----------

async function closedPort (): Promise<number> {
  const probe = net.createServer()
  await new Promise<void>(resolve => probe.listen(0, IPS.backend, resolve))
  const port = (probe.address() as net.AddressInfo).port
  await new Promise<void>(resolve => probe.close(() => { resolve() }))
  return port
}

async function main (): Promise<void> {
  const backendPort = await startBackend()
  const dead = await closedPort()
  const staticFile = path.join(tmp, 'static.json')
  const svc = (name: string, front: number, mode: string, ports: Array<{ port: number, ip: string }>): unknown[] => ports.map(p => ({
    Service: { Name: name, Ports: [{ Type: 'tcp', Port: p.port, ServicePort: PORTS.sidecar + front, IP: p.ip }], ProxyMode: mode }, Check: { Type: 'AlwaysSuccessful' },
  }))
  writeFileSync(staticFile, JSON.stringify([
    ...svc('diff-tcp', FRONT.tcp, 'tcp', [{ port: backendPort, ip: IPS.backend }]),
    ...svc('diff-dead', FRONT.dead, 'tcp', [{ port: dead, ip: IPS.backend }]),
    ...svc('diff-retry', FRONT.retry, 'tcp', [{ port: dead, ip: IPS.backend }, { port: backendPort, ip: IPS.backend }]),
    ...svc('diff-ws', FRONT.ws, 'http', [{ port: backendPort, ip: IPS.backend }]),
  ]))
  const sidecar = startLogged(children, tmp, 'sidecar', process.execPath, [path.join(REPO, 'bin/sidecar.js'), '--hostname', 'diff', '--bind-ip', IPS.sidecar, '--advertise-ip', IPS.sidecar, '--http-port', String(PORTS.api), '-d', 'static'],
    { STATIC_CONFIG_FILE: staticFile, SIDECAR_LOGGING_LEVEL: process.env.DIFF_LOG ?? 'warn', HOME: tmp, SIDECAR_FROM_SOURCE: '1', PROXY_IDLE_TIMEOUT: `${IDLE_S}s` })
  const cfg = path.join(tmp, 'haproxy.cfg')
  const fe = (name: string, front: number, mode: string, servers: string[]): string[] => [
    `listen ${name}`, `  mode ${mode}`, `  bind ${IPS.haproxy}:${PORTS.haproxy + front}`, '  retries 2', '  option redispatch 1', ...servers.map((s, i) => `  server s${i} ${s}`),
  ]
  writeFileSync(cfg, [
    'global', '  nbthread 1', '  maxconn 1024',
    'defaults', '  timeout connect 1s', `  timeout client ${IDLE_S}s`, `  timeout server ${IDLE_S}s`, `  timeout tunnel ${IDLE_S}s`, '  timeout http-request 10s',
    ...fe('tcp', FRONT.tcp, 'tcp', [`${IPS.backend}:${backendPort}`]),
    ...fe('dead', FRONT.dead, 'tcp', [`${IPS.backend}:${dead}`]),
    ...fe('retry', FRONT.retry, 'tcp', [`${IPS.backend}:${dead}`, `${IPS.backend}:${backendPort}`]),
    ...fe('ws', FRONT.ws, 'http', [`${IPS.backend}:${backendPort}`]),
    '',
  ].join('\n'))
  const haproxy = startLogged(children, tmp, 'haproxy', 'haproxy', ['-db', '-f', cfg])
  await waitUntil(async () => {
    const p = await (await fetch(`http://${IPS.sidecar}:${PORTS.api}/api/proxy.json`)).json() as { listeners: Array<{ backends: Array<{ state: string }> }> }
    return p.listeners.length === 4 && p.listeners.every(l => l.backends[0]?.state === 'active')
  }, 60_000, 'sidecar proxy listeners with active backends')
  await waitUntil(async () => await new Promise(resolve => {
    // the http front: a connection that sends nothing makes no backend connection there
    const s = net.connect({ host: IPS.haproxy, port: PORTS.haproxy + FRONT.ws }, () => { s.destroy(); resolve(true) })
    s.on('error', () => { resolve(false) })
  }), 30_000, 'haproxy')
  const only = process.env.DIFF_ONLY
  const cases = CASES.filter(c => (only === undefined || c.name.includes(only)))
  let same = 0
  const differing: string[] = []
  for (const c of cases) {
    const a = await runCase(c, IPS.sidecar, PORTS.sidecar, sidecar.pid)
    const b = await runCase(c, IPS.haproxy, PORTS.haproxy, haproxy.pid)
    const d: string[] = []
    for (let i = 0; i < Math.max(a.lines.length, b.lines.length); i++) {
      if (a.lines[i] !== b.lines[i]) d.push(`  sidecar ${a.lines[i] ?? '(none)'}\n  HAProxy ${b.lines[i] ?? '(none)'}`)
    }
    if (d.length === 0) same++
    else differing.push(c.name)
    if (d.length > 0 || VERBOSE || a.notes.length > 0) {
      process.stdout.write(`\n## ${c.name}${d.length === 0 ? ' (same)' : ''}\n`)
      if (d.length > 0) process.stdout.write(d.join('\n') + '\n')
      if (VERBOSE && d.length === 0) process.stdout.write(a.lines.map(l => `  both ${l}`).join('\n') + '\n')
      if (a.notes.length > 0 || b.notes.length > 0) process.stdout.write(`  notes sidecar: ${a.notes.join('; ')}\n  notes HAProxy: ${b.notes.join('; ')}\n`)
    }
  }
  process.stdout.write(`\n${cases.length} cases: ${same} the same after normalising, ${differing.length} differ: ${differing.join('; ')}\n`)
}

await runDifferential(main, children, tmp)
