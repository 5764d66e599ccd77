// A backend that aborts its connection (a reset: a crashed process) in the middle of what it
// sends: the client's connection is reset too, so a cut download cannot read as complete (a FIN
// says "that was all"). A reset throws away what is still queued for the client: in Node's
// write queue, and in the kernel's send queue (bytes the client's kernel has not acknowledged:
// a client reading 16 MiB slowly lost up to 1.8 MiB of them to a reset sent as soon as Node's
// queue was empty). So the reset waits until both are empty: the client gets every byte the backend
// sent, then the reset. Bounded (maxMs): a client that stops reading is reset with what it has.
//
// The kernel's queue is read from /proc/self/net/tcp (tcp6), the `tx_queue` of the socket's
// line: one read per poll for all sockets waiting, only while some wait. Where that cannot be
// read (not Linux), the reset follows Node's queue alone.
import { readFile } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'

/** How often the waiting sockets are looked at, at most. */
const POLL_MS = 20
/**
 * The kernel's table costs about 2.5 us a socket to read (10-15 ms for 4,400, most in TIME_WAIT,
 * in 4 KiB reads on the thread pool, not the event loop): polls are spaced at least this many
 * times the last read apart, so a backend that resets every connection costs about a fifth of
 * one thread at most, up to MAX_POLL_MS (a read slowed by a busy machine must not hold every
 * reset back for long).
 */
const POLL_SPACING = 4
const MAX_POLL_MS = 250

interface Waiting {
  socket: net.Socket
  deadline: number
  /** The socket's line in the kernel's table (local and remote address as it prints them), or undefined when it cannot be named. */
  key: string | undefined
  v6: boolean
}

const waiting = new Set<Waiting>()
let timer: NodeJS.Timeout | undefined
/** The kernel's tables could not be read (not Linux): Node's queue alone decides. */
let noTables = false
/** How long the last read of the kernel's tables took (ms). */
let lastReadMs = 0

/** Resets socket once every byte written to it has reached its peer, or after maxMs. The caller stops reading it. */
export function resetAfterFlush (socket: net.Socket, maxMs: number): void {
  if (socket.destroyed) return
  const key = tableKey(socket)
  waiting.add({ socket, deadline: Date.now() + maxMs, key: key?.key, v6: key?.v6 ?? false })
  timer ??= setTimeout(() => { void poll() }, 0).unref()
}

function reset (w: Waiting): void {
  waiting.delete(w)
  if (w.socket.destroyed) return
  try {
    w.socket.resetAndDestroy()
  } catch {
    w.socket.destroy() // not a TCP handle: no reset to send
  }
}

async function poll (): Promise<void> {
  try {
    await check()
  } finally {
    timer = waiting.size > 0 ? setTimeout(() => { void poll() }, Math.min(MAX_POLL_MS, Math.max(POLL_MS, POLL_SPACING * lastReadMs))).unref() : undefined
  }
}

async function check (): Promise<void> {
  const now = Date.now()
  const kernel: Waiting[] = []
  for (const w of waiting) {
    if (w.socket.destroyed) waiting.delete(w)
    else if (now >= w.deadline) reset(w)
    else if (w.socket.writableLength > 0) continue
    else if (w.key === undefined || noTables) reset(w)
    else kernel.push(w)
  }
  if (kernel.length > 0) {
    const t0 = performance.now()
    const queued = await kernelQueues(new Set(kernel.map(w => w.key as string)), kernel.some(w => !w.v6), kernel.some(w => w.v6))
    lastReadMs = performance.now() - t0
    for (const w of kernel) {
      const q = queued?.get(w.key as string)
      // gone from the table (closed), or nothing left unacknowledged
      if (q === undefined || q === 0) reset(w)
    }
  }
}

/** tx_queue (bytes sent and not acknowledged, or not sent yet) of the sockets named in wanted, from the tables asked for; undefined when they cannot be read. */
async function kernelQueues (wanted: Set<string>, v4: boolean, v6: boolean): Promise<Map<string, number> | undefined> {
  const queued = new Map<string, number>()
  try {
    if (v4) parseTable(await readFile('/proc/self/net/tcp', 'latin1'), wanted, queued)
    if (v6) parseTable(await readFile('/proc/self/net/tcp6', 'latin1'), wanted, queued)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') noTables = true
    return undefined
  }
  return queued
}

/**
 * Lines are `  sl: local remote st tx_queue:rx_queue ...` (fixed-width hex fields). Only the lines
 * of wanted sockets are looked at past their addresses; a TIME_WAIT line (an earlier connection
 * with the same addresses) is not theirs.
 */
function parseTable (text: string, wanted: Set<string>, into: Map<string, number>): void {
  let at = text.indexOf('\n') + 1 // past the header
  while (at > 0 && at < text.length) {
    const end = text.indexOf('\n', at)
    const local = text.indexOf(': ', at) + 2
    at = end + 1
    const remoteEnd = text.indexOf(' ', text.indexOf(' ', local) + 1)
    if (local < 2 || remoteEnd < 0 || (end >= 0 && remoteEnd > end)) continue
    const key = text.slice(local, remoteEnd)
    if (!wanted.has(key) || text.startsWith('06', remoteEnd + 1)) continue
    into.set(key, parseInt(text.slice(remoteEnd + 4, remoteEnd + 12), 16))
  }
}

/** The socket's addresses as the kernel's table prints them, or undefined (not connected, or an address this does not parse). */
export function tableKey (socket: net.Socket): { key: string, v6: boolean } | undefined {
  const { localAddress: la, localPort: lp, remoteAddress: ra, remotePort: rp } = socket
  if (la === undefined || lp === undefined || ra === undefined || rp === undefined) return undefined
  const v6 = net.isIPv6(la)
  const l = addressBytes(la, v6)
  const r = addressBytes(ra, v6)
  if (l === undefined || r === undefined) return undefined
  return { key: `${hexWords(l)}:${hex(lp, 4)} ${hexWords(r)}:${hex(rp, 4)}`, v6 }
}

const LITTLE_ENDIAN = os.endianness() === 'LE'
const hex = (n: number, width: number): string => n.toString(16).toUpperCase().padStart(width, '0')

/** The kernel prints an address as 32-bit words in the host's byte order. */
function hexWords (bytes: number[]): string {
  let s = ''
  for (let i = 0; i < bytes.length; i += 4) {
    const w = bytes.slice(i, i + 4)
    if (LITTLE_ENDIAN) w.reverse()
    for (const b of w) s += hex(b, 2)
  }
  return s
}

function addressBytes (address: string, v6: boolean): number[] | undefined {
  if (!v6) return net.isIPv4(address) ? address.split('.').map(Number) : undefined
  if (!net.isIPv6(address)) return net.isIPv4(address) ? [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...address.split('.').map(Number)] : undefined
  // 16-bit groups; an IPv4 tail (::ffff:127.0.0.1) is two of them
  const groups = (part: string): number[] => (part === '' ? [] : part.split(':')).flatMap((g) => {
    if (!g.includes('.')) return [parseInt(g, 16)]
    const [a, b, c, d] = g.split('.').map(Number)
    return [(a << 8) | b, (c << 8) | d]
  })
  const [head, tail] = address.split('%')[0].split('::')
  const h = groups(head)
  const t = tail === undefined ? [] : groups(tail)
  const all = tail === undefined ? h : [...h, ...Array<number>(8 - h.length - t.length).fill(0), ...t]
  if (all.length !== 8) return undefined
  return all.flatMap(g => [g >> 8, g & 0xff])
}
