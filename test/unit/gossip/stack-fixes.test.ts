// The run-time fixes of the libp2p stack (src/gossip/stack-fixes.ts), on real connections
// between two nodes of this process (127.0.26.x, TCP, noise, yamux): yamux sends a window
// update only once half of the receive window is used, bulk and slowly read transfers still
// arrive whole, and noise's frame decoder no longer asks for a length when no byte is left;
// Ed25519 keys import their key once, sign the same bytes and give the same verdicts; what a
// yamux or QUIC stream queues keeps only its own bytes alive, not the pool slabs they came from;
// a TCP connection's frames of one turn leave in one socket write.
// Each test fails without its fix (the package's own behaviour is the opposite).
import crypto from 'node:crypto'
import { Socket } from 'node:net'
import test from 'ava'
import { generateKeyPair, publicKeyFromRaw } from '@libp2p/crypto/keys'
import type { Stream } from '@libp2p/interface'
import { LengthPrefixedDecoder } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { createGossipNode, quicAddr, tcpAddr, type GossipNode } from '../../../src/gossip/node.ts'
import { applyStackFixes, ed25519Verifier, ownBytes, verifyImported, VERIFY_KEYS_MAX, windowUpdateDue } from '../../../src/gossip/stack-fixes.ts'
import { silentLogger } from '../../../src/lib/logger.ts'
import { sleep, waitFor } from '../../helpers/wait.ts'

const PROTOCOL = '/sidecar-test/sink/1.0.0'
const WINDOW_UPDATE = 1 // yamux frame type

type LengthDecoder = NonNullable<NonNullable<ConstructorParameters<typeof LengthPrefixedDecoder>[0]>['lengthDecoder']>

interface Sink { bytes: number, hash: number, updates: number }

/** FNV-1a over every byte, in order: equal on both sides only if nothing was lost, doubled or reordered. */
function fnv (hash: number, data: Uint8Array): number {
  let h = hash
  for (const b of data) h = Math.imul(h ^ b, 16777619) >>> 0
  return h
}

async function node (t: import('ava').ExecutionContext, ip: string): Promise<GossipNode> {
  const { node } = await createGossipNode({ hostname: `fix-${ip}`, clusterName: 'fixes', bindIp: ip, bindPort: 7946, advertiseIp: ip, clusterKey: '', quic: false, privateKey: await generateKeyPair('Ed25519'), version: '0.0.0' }, silentLogger())
  await node.start()
  t.teardown(async () => { await node.stop() })
  return node
}

/**
 * b counts what arrives on each inbound stream, and the window updates it sends back; a
 * reader that pauses (slowEvery) lets its read buffer fill, so yamux pauses and resumes.
 */
async function pair (t: import('ava').ExecutionContext, ipA: string, ipB: string, slowEvery = 0): Promise<{ stream: Stream, sink: Sink }> {
  const a = await node(t, ipA)
  const b = await node(t, ipB)
  const sink: Sink = { bytes: 0, hash: 2166136261, updates: 0 }
  await b.handle(PROTOCOL, async (stream) => {
    const s = stream as unknown as { sendFrame: (header: { type: number }, data?: unknown) => boolean }
    const sendFrame = s.sendFrame
    s.sendFrame = (header, data) => {
      if (header.type === WINDOW_UPDATE) sink.updates++
      return sendFrame(header, data)
    }
    let chunks = 0
    for await (const chunk of stream) {
      const bytes = chunk instanceof Uint8Array ? chunk : chunk.subarray()
      sink.bytes += bytes.byteLength
      sink.hash = fnv(sink.hash, bytes)
      if (slowEvery > 0 && ++chunks % slowEvery === 0) await sleep(5)
    }
  })
  await a.dial(multiaddr(tcpAddr(ipB, 7946)))
  const stream = await a.dialProtocol(b.peerId, PROTOCOL)
  return { stream, sink }
}

async function send (stream: Stream, data: Uint8Array): Promise<void> {
  if (!stream.send(data)) await new Promise(resolve => { stream.addEventListener('drain', resolve, { once: true }) })
}

function pattern (size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size)
  for (let i = 0; i < size; i++) out[i] = (i * 31 + seed * 7) & 0xff
  return out
}

test('yamux: 2,000 small messages get a handful of window updates back, not one each, and arrive whole', async t => {
  t.timeout(60_000)
  const { stream, sink } = await pair(t, '127.0.26.1', '127.0.26.2')
  let sent = 0
  let hash = 2166136261
  for (let i = 0; i < 2000; i++) {
    const msg = pattern(100, i)
    hash = fnv(hash, msg)
    sent += msg.byteLength
    await send(stream, msg)
  }
  await waitFor(() => sink.bytes === sent, { timeoutMs: 30_000, message: () => `all ${sent} bytes at b (has ${sink.bytes})` })
  t.is(sink.hash, hash, 'every byte arrived once, in order')
  // The first update carries the stream's ACK; while messages come this fast the window doubles
  // (256 KiB to 16 MiB: at most 6 times), and 200,000 bytes use at most one half window more.
  // The package itself sends one per data frame: about 2,000.
  t.log(`${sink.updates} window updates`)
  t.true(sink.updates <= 10, `b sent ${sink.updates} window updates for 2,000 messages`)
  await stream.close()
})

test.serial('tcp: the frames of one turn of the event loop leave in one socket write, not two writes per frame, and arrive whole', async t => {
  t.timeout(60_000)
  const { stream, sink } = await pair(t, '127.0.26.12', '127.0.26.13')
  await send(stream, pattern(10, 0)) // the stream is open and acknowledged
  await waitFor(() => sink.bytes === 10, { timeoutMs: 10_000, message: 'the first message arrived' })
  // every write a socket of this process makes to the kernel (both nodes; a serial test: no
  // other test runs meanwhile): net.Socket's one
  // path to its handle, for a single chunk and for a corked list alike (an internal of Node's)
  const proto = Socket.prototype as unknown as { _writeGeneric: (...args: unknown[]) => unknown }
  const writeGeneric = proto._writeGeneric
  let writes = 0
  proto._writeGeneric = function (...args: unknown[]) { writes++; return writeGeneric.apply(this, args) }
  t.teardown(() => { proto._writeGeneric = writeGeneric })
  const TURNS = 300
  let sent = 10
  let hash = fnv(2166136261, pattern(10, 0))
  for (let turn = 0; turn < TURNS; turn++) {
    for (let k = 0; k < 3; k++) {
      const msg = pattern(200, turn * 3 + k)
      hash = fnv(hash, msg)
      sent += msg.byteLength
      t.true(stream.send(msg))
    }
    await new Promise(resolve => setImmediate(resolve))
  }
  await waitFor(() => sink.bytes === sent, { timeoutMs: 30_000, message: () => `all ${sent} bytes at b (has ${sink.bytes})` })
  proto._writeGeneric = writeGeneric
  t.is(sink.hash, hash, 'every byte arrived once, in order')
  // the package alone: 2 writes per message (the frame's length, then its ciphertext), 1,800;
  // corked: one per turn, and a window update now and then from b
  t.log(`${writes} socket writes for ${TURNS * 3} messages in ${TURNS} turns`)
  t.true(writes <= TURNS * 1.2, `${writes} socket writes for ${TURNS} turns of 3 messages`)
  await stream.close()
})

test('yamux: an 8 MiB transfer to a reader that keeps pausing completes (updates held back never stall the sender)', async t => {
  t.timeout(120_000)
  const { stream, sink } = await pair(t, '127.0.26.3', '127.0.26.4', 8)
  let sent = 0
  let hash = 2166136261
  for (let i = 0; i < 512; i++) {
    const chunk = pattern(16 * 1024, i)
    hash = fnv(hash, chunk)
    sent += chunk.byteLength
    await send(stream, chunk)
  }
  await waitFor(() => sink.bytes === sent, { timeoutMs: 90_000, message: () => `all ${sent} bytes at b (has ${sink.bytes})` })
  t.is(sink.hash, hash, 'every byte arrived once, in order')
  t.true(sink.updates >= 2, `the window was refilled as the reader went on (${sink.updates} updates; 8 MiB is 32 first windows)`)
  t.log(`${sink.updates} window updates`)
  t.true(sink.updates < 200, `but not per frame (${sink.updates} updates for ${sent / 1024} KiB)`)
  await stream.close()
})

test('yamux: an update that carries a flag, releases half the window, or lets a busy window grow, goes out at once', t => {
  // StreamState: 0 Init, 1 SYNSent, 2 SYNReceived, 3 Established, 4 Finished, 5 Paused.
  const W = 262144
  const MAX = 16 * 1024 * 1024
  const now = 1_000_000
  const quiet = { recvWindow: W, maxStreamWindowSize: MAX, epochStart: now - 1000, getRTT: () => 2 } // last update 1 s ago, 2 ms round trips
  t.true(windowUpdateDue({ ...quiet, state: 0, recvWindowCapacity: W }, now), 'Init: the update carries SYN')
  t.true(windowUpdateDue({ ...quiet, state: 2, recvWindowCapacity: W - 100 }, now), 'SYNReceived: it carries ACK')
  t.true(windowUpdateDue({ ...quiet, state: 5, recvWindowCapacity: W - 100 }, now), 'Paused: left to the package (it only notes the time)')
  t.false(windowUpdateDue({ ...quiet, state: 3, recvWindowCapacity: W - 100 }, now), '100 bytes used: held back')
  t.false(windowUpdateDue({ ...quiet, state: 3, recvWindowCapacity: W / 2 + 1 }, now), 'just under half used: held back')
  t.true(windowUpdateDue({ ...quiet, state: 3, recvWindowCapacity: W / 2 }, now), 'half used: sent')
  t.true(windowUpdateDue({ ...quiet, state: 3, recvWindowCapacity: 0 }, now), 'all used: sent')
  // Data within 4 round trips of the last update: the package doubles the window, as long as it can grow.
  t.true(windowUpdateDue({ ...quiet, state: 3, recvWindowCapacity: W - 100, epochStart: now - 8 }, now), 'busy and below the largest window: sent (the window grows)')
  t.false(windowUpdateDue({ ...quiet, state: 3, recvWindowCapacity: W - 100, epochStart: now - 9 }, now), 'more than 4 round trips since the last update: held back')
  t.false(windowUpdateDue({ ...quiet, state: 3, recvWindow: MAX, recvWindowCapacity: MAX - 100, epochStart: now - 1 }, now), 'busy at the largest window: held back')
  t.false(windowUpdateDue({ ...quiet, state: 3, recvWindowCapacity: W - 100, epochStart: now, getRTT: () => -1 }, now), 'no round trip measured yet: held back')
  // A package version without the fields read here gets its own behaviour (an update per frame), not an exception.
  t.true(windowUpdateDue({ ...quiet, state: 3, recvWindowCapacity: W - 100, getRTT: undefined } as unknown as Parameters<typeof windowUpdateDue>[0], now), 'no getRTT: sent')
  t.true(windowUpdateDue({ state: 3, recvWindow: W } as unknown as Parameters<typeof windowUpdateDue>[0], now), 'no capacity field: sent')
})

test('noise frame decoder: the length decoder is not asked for a length when no byte is left; split frames still decode', async t => {
  await applyStackFixes()
  const frames = [pattern(5, 1), pattern(300, 2), pattern(1, 3), pattern(70, 4)]
  const bytes = new Uint8Array(Buffer.concat(frames.flatMap(f => [Uint8Array.of(f.byteLength >> 8, f.byteLength & 0xff), f])))

  const asked: number[] = []
  const lengthDecoder: LengthDecoder = (data) => {
    asked.push(data.byteLength)
    if (data.byteLength < 2) throw new RangeError('short')
    return data instanceof Uint8Array ? (data[0] << 8) | data[1] : data.getUint16(0)
  }
  const whole = new LengthPrefixedDecoder({ lengthDecoder, encodingLength: () => 2 })
  const out = [...whole.decode(bytes)].map(b => b.subarray())
  t.deepEqual(out, frames)
  t.is(asked.length, frames.length, 'asked once per frame, not once more for the empty rest (a RangeError with a stack trace each time)')
  t.true(asked.every(n => n > 0))

  // Every split point, including one inside a length prefix (a 1-byte rest still goes to the decoder, which says "short").
  for (let cut = 1; cut < bytes.byteLength; cut++) {
    const d = new LengthPrefixedDecoder({ lengthDecoder, encodingLength: () => 2 })
    const got = [...d.decode(bytes.subarray(0, cut)), ...d.decode(bytes.subarray(cut))].map(b => b.subarray())
    t.deepEqual(got, frames, `split at byte ${cut}`)
  }
})

test('yamux, hostile sender: a peer that ignores the window it was given gets no more buffered than the window and the read buffer allow, and the node serves the next peer', async t => {
  t.timeout(120_000)
  const a = await node(t, '127.0.26.5')
  const b = await node(t, '127.0.26.6')
  let maxBuffered = 0
  let ended: string | undefined
  await b.handle(PROTOCOL, async (stream) => {
    // never reads: whatever arrives stays in the stream's read buffer
    const timer = setInterval(() => { maxBuffered = Math.max(maxBuffered, stream.readBufferLength) }, 1)
    stream.addEventListener('close', (e) => { clearInterval(timer); ended = (e as unknown as { error?: Error }).error?.message ?? 'closed' }, { once: true })
  })
  await a.dial(multiaddr(tcpAddr('127.0.26.6', 7946)))
  const stream = await a.dialProtocol(b.peerId, PROTOCOL)
  // The cheat: a send window that never runs out, so yamux on a never waits for b's updates.
  ;(stream as unknown as { sendWindowCapacity: number }).sendWindowCapacity = Number.POSITIVE_INFINITY
  const chunk = pattern(64 * 1024, 1)
  for (let i = 0; i < 256 && stream.status === 'open'; i++) { // 16 MiB at most
    if (!stream.send(chunk)) await Promise.race([new Promise(resolve => { stream.addEventListener('drain', resolve, { once: true }) }), sleep(2000)])
  }
  await waitFor(() => ended !== undefined, { timeoutMs: 30_000, message: () => `b ends the cheating stream (buffered at most ${maxBuffered} bytes)` })
  t.log(`b ended the stream (${ended}) with at most ${maxBuffered} bytes buffered`)
  t.true(maxBuffered <= 4 * 1024 * 1024 + 256 * 1024, `b buffered ${maxBuffered} bytes: no more than its 4 MiB read buffer and one window`)

  // b still serves a peer that keeps to the window.
  const sink = { bytes: 0, hash: 2166136261 }
  await b.handle(`${PROTOCOL}/fair`, async (s) => {
    for await (const piece of s) {
      const bytes = piece instanceof Uint8Array ? piece : piece.subarray()
      sink.bytes += bytes.byteLength
      sink.hash = fnv(sink.hash, bytes)
    }
  })
  const c = await node(t, '127.0.26.7')
  await c.dial(multiaddr(tcpAddr('127.0.26.6', 7946)))
  const fair = await c.dialProtocol(b.peerId, `${PROTOCOL}/fair`)
  const data = pattern(1024 * 1024, 2)
  await send(fair, data)
  await waitFor(() => sink.bytes === data.byteLength, { timeoutMs: 30_000, message: () => `the fair transfer arrives (${sink.bytes})` })
  t.is(sink.hash, fnv(2166136261, data))
  await fair.close()
})

const MESSAGES = 2000
const SIZE = 1024

/**
 * Sends MESSAGES messages of SIZE bytes in one turn, each cut from Node's buffer pool (as
 * gossipsub's encoded messages are) with 30,000 bytes of other, short-lived allocations between
 * two of them, as a busy daemon's are; returns the hash of what was sent.
 */
function sendPooledBurst (t: import('ava').ExecutionContext, stream: Stream): number {
  let hash = 2166136261
  for (let i = 0; i < MESSAGES; i++) {
    const msg = Buffer.allocUnsafe(SIZE)
    msg.set(pattern(SIZE, i))
    if (i === 0) t.true(msg.buffer.byteLength > SIZE, 'a view into a pool slab')
    Buffer.allocUnsafe(30_000).fill(i & 0xff)
    hash = fnv(hash, msg)
    stream.send(msg)
  }
  return hash
}

/** The bytes the stream has queued, and the bytes of the buffers their views keep alive. */
function queuedAndPinned (t: import('ava').ExecutionContext, stream: Stream): { queued: number, pinned: number } {
  const queue = (stream as unknown as { writeBuffer: { byteLength: number, bufs: Uint8Array[] } }).writeBuffer
  const pinned = [...new Set(queue.bufs.map(v => v.buffer))].reduce((n, ab) => n + ab.byteLength, 0)
  t.log(`${queue.byteLength} bytes queued in ${queue.bufs.length} views on buffers of ${pinned} bytes in all`)
  return { queued: queue.byteLength, pinned }
}

test('yamux, a peer that stops reading: what a stream queues for it keeps only its own bytes alive, not the 64 KiB pool slabs they were cut from, and arrives whole once it reads', async t => {
  t.timeout(60_000)
  const a = await node(t, '127.0.26.8')
  const b = await node(t, '127.0.26.9')
  const sink = { bytes: 0, hash: 2166136261 }
  let held: Stream | undefined
  await b.handle(PROTOCOL, async (stream) => {
    stream.pause() // no window updates go back: a's window runs out and a queues the rest
    held = stream
    for await (const piece of stream) {
      const bytes = piece instanceof Uint8Array ? piece : piece.subarray()
      sink.bytes += bytes.byteLength
      sink.hash = fnv(sink.hash, bytes)
    }
  })
  await a.dial(multiaddr(tcpAddr('127.0.26.9', 7946)))
  const stream = await a.dialProtocol(b.peerId, PROTOCOL)
  await waitFor(() => held !== undefined, { timeoutMs: 10_000, message: 'b holds the stream' })
  const hash = sendPooledBurst(t, stream)
  const { queued, pinned } = queuedAndPinned(t, stream)
  t.true(queued > (MESSAGES * SIZE) / 2, `most of it is queued: b's first window takes 256 KiB (${queued} queued)`)
  // one slab of 64 KiB per message before the fix: about 64 times the bytes queued. Now the
  // bytes themselves, and the slab of the message the end of the window cut in two
  t.true(pinned <= queued + 128 * 1024, `the queued bytes keep ${pinned} bytes of buffers alive (${(pinned / queued).toFixed(1)} times their size)`)
  held?.resume()
  await waitFor(() => sink.bytes === MESSAGES * SIZE, { timeoutMs: 30_000, message: () => `all ${MESSAGES * SIZE} bytes at b (has ${sink.bytes})` })
  t.is(sink.hash, hash, 'every byte arrived once, in order')
  await stream.close()
})

test('QUIC, a burst of writes: what the stream queues behind the write in progress keeps only its own bytes alive, and arrives whole', async t => {
  t.timeout(60_000)
  const quicNode = async (ip: string): Promise<GossipNode | undefined> => {
    const { node, quic } = await createGossipNode({ hostname: `fix-${ip}`, clusterName: 'fixes', bindIp: ip, bindPort: 7946, advertiseIp: ip, clusterKey: '', quic: true, privateKey: await generateKeyPair('Ed25519'), version: '0.0.0' }, silentLogger())
    await node.start()
    t.teardown(async () => { await node.stop() })
    return quic ? node : undefined
  }
  const a = await quicNode('127.0.26.10')
  const b = await quicNode('127.0.26.11')
  if (a === undefined || b === undefined) { t.log('QUIC does not load on this platform: nothing to test'); t.pass(); return }
  const sink = { bytes: 0, hash: 2166136261 }
  await b.handle(PROTOCOL, async (stream) => {
    for await (const piece of stream) {
      const bytes = piece instanceof Uint8Array ? piece : piece.subarray()
      sink.bytes += bytes.byteLength
      sink.hash = fnv(sink.hash, bytes)
    }
  })
  const conn = await a.dial(multiaddr(quicAddr('127.0.26.11', 7946)))
  t.regex(conn.remoteAddr.toString(), /quic-v1/, 'a QUIC connection')
  const stream = await conn.newStream(PROTOCOL)
  // QUIC's stream writes one piece at a time: all but the first of a burst made in one turn are queued
  const hash = sendPooledBurst(t, stream)
  const { queued, pinned } = queuedAndPinned(t, stream)
  t.true(queued >= (MESSAGES - 1) * SIZE, `the burst is queued behind the first write (${queued} bytes)`)
  t.true(pinned <= queued + 128 * 1024, `the queued bytes keep ${pinned} bytes of buffers alive (${(pinned / queued).toFixed(1)} times their size)`)
  await waitFor(() => sink.bytes === MESSAGES * SIZE, { timeoutMs: 30_000, message: () => `all ${MESSAGES * SIZE} bytes at b (has ${sink.bytes})` })
  t.is(sink.hash, hash, 'every byte arrived once, in order')
  await stream.close()
})

test('ownBytes: a view into a larger buffer, or a list with one, is copied into a buffer of its own; a buffer that is whole is not', t => {
  const slab = new Uint8Array(65536)
  slab.set([1, 2, 3, 4, 5], 100)
  const view = slab.subarray(100, 105)
  const copied = ownBytes(view) as Uint8Array
  t.deepEqual([...copied], [1, 2, 3, 4, 5])
  t.is(copied.buffer.byteLength, 5, 'a buffer of its own')
  const whole = new Uint8Array([9, 8, 7])
  t.is(ownBytes(whole), whole, 'no copy of what owns its buffer')
  const list = { byteLength: 8, * [Symbol.iterator] () { yield whole; yield view } }
  const joined = ownBytes(list) as Uint8Array
  t.deepEqual([...joined], [9, 8, 7, 1, 2, 3, 4, 5], 'a list is joined in order')
  t.is(joined.buffer.byteLength, 8)
  const owned = { byteLength: 3, * [Symbol.iterator] () { yield whole } }
  t.is(ownBytes(owned), owned, 'a list of whole buffers is passed on as it is')
})

/** What @libp2p/crypto itself computes: the key imported from a JWK for this one signature. */
function packageSignature (raw: Uint8Array, data: Uint8Array): Buffer {
  const b64 = (u: Uint8Array): string => Buffer.from(u).toString('base64url')
  return crypto.sign(null, data, crypto.createPrivateKey({ format: 'jwk', key: { kty: 'OKP', crv: 'Ed25519', d: b64(raw.subarray(0, 32)), x: b64(raw.subarray(32)) } }))
}

// serial: it counts calls to node:crypto's key imports, which concurrent tests would add to
test.serial('ed25519 keys: signatures equal the package\'s own, without importing the key per signature (gossipsub signs every message it publishes)', async t => {
  await applyStackFixes()
  const key = await generateKeyPair('Ed25519')
  const other = await generateKeyPair('Ed25519')
  const crypt = crypto as unknown as { createPrivateKey: typeof crypto.createPrivateKey, createPublicKey: typeof crypto.createPublicKey }
  const [ownPrivate, ownPublic] = [crypt.createPrivateKey, crypt.createPublicKey]
  let imports = 0
  crypt.createPrivateKey = (...a: Parameters<typeof crypto.createPrivateKey>) => { imports++; return ownPrivate(...a) }
  crypt.createPublicKey = (...a: Parameters<typeof crypto.createPublicKey>) => { imports++; return ownPublic(...a) }
  const sigs: Uint8Array[] = []
  const messages = Array.from({ length: 50 }, (_, i) => pattern(100 + i, i))
  try {
    for (const m of messages) sigs.push(await key.sign(m))
    for (const [i, m] of messages.entries()) t.true(await key.publicKey.verify(m, sigs[i]))
  } finally {
    crypt.createPrivateKey = ownPrivate
    crypt.createPublicKey = ownPublic
  }
  t.is(imports, 0, 'the package imported a key for each of 50 signatures and 50 verifications before (100 imports)')
  for (const [i, m] of messages.entries()) t.deepEqual(Buffer.from(sigs[i]), packageSignature(key.raw, m), `signature ${i}: the same bytes as the package's`)
  t.notDeepEqual(Buffer.from(await other.sign(messages[0])), Buffer.from(sigs[0]), 'each key its own signature')
  // a signal, or a list of chunks instead of one array, still goes the package's own way
  const ctl = new AbortController()
  t.deepEqual(Buffer.from(await key.sign(messages[1], { signal: ctl.signal })), Buffer.from(sigs[1]))
  ctl.abort()
  await t.throwsAsync(async () => { await key.sign(messages[1], { signal: ctl.signal }) }, undefined, 'an aborted signal still throws')
})

test('ed25519 keys: verifications agree with the signature\'s validity: altered messages, altered and foreign signatures, wrong lengths and foreign keys are refused', async t => {
  await applyStackFixes()
  const key = await generateKeyPair('Ed25519')
  const other = await generateKeyPair('Ed25519')
  const data = pattern(300, 7)
  const sig = await key.sign(data)
  // gossipsub verifies with the key it rebuilds from the message's peer id: a new object each time
  const pub = publicKeyFromRaw(key.publicKey.raw)
  t.true(await pub.verify(data, sig))
  const altered = Uint8Array.from(data)
  altered[10] ^= 1
  t.false(await pub.verify(altered, sig), 'one bit of the message changed')
  for (const at of [0, 31, 32, 63]) {
    const s = Uint8Array.from(sig)
    s[at] ^= 0x80
    t.false(await pub.verify(data, s), `one bit of the signature changed at byte ${at}`)
  }
  t.false(await pub.verify(data, await other.sign(data)), 'another key\'s signature')
  t.false(await other.publicKey.verify(data, sig), 'checked against another key')
  t.false(await pub.verify(data, new Uint8Array(64)), 'all zeros')
  // the package's own checks still apply to what the fast path does not take
  t.throws(() => { void pub.verify(data, sig.subarray(0, 63)) }, { instanceOf: TypeError }, 'a 63-byte signature: the package\'s TypeError')
  t.true(['libsodium', 'node:crypto'].includes(ed25519Verifier().backend))
  t.log(`verifications go to ${ed25519Verifier().backend}`)

  // the node:crypto path (where libsodium does not load) gives the same verdicts
  t.true(verifyImported(key.publicKey.raw, data, sig))
  t.false(verifyImported(key.publicKey.raw, altered, sig))
  t.false(verifyImported(other.publicKey.raw, data, sig))
})

test('ed25519 keys, hostile peers: every message may carry another public key, and the keys kept imported stay bounded', async t => {
  await applyStackFixes()
  const data = pattern(64, 9)
  const signer = await generateKeyPair('Ed25519')
  const sig = await signer.sign(data)
  let most = 0
  let accepted = 0
  for (let i = 0; i < VERIFY_KEYS_MAX * 2; i++) {
    const k = await generateKeyPair('Ed25519')
    if (verifyImported(k.publicKey.raw, data, sig)) accepted++
    most = Math.max(most, ed25519Verifier().keys)
  }
  t.is(accepted, 0, 'no foreign key verifies the signature')
  t.is(most, VERIFY_KEYS_MAX, 'never more keys kept than the bound')
  t.is(ed25519Verifier().keys, VERIFY_KEYS_MAX, `${VERIFY_KEYS_MAX * 2} keys: the cache holds the latest ${VERIFY_KEYS_MAX}`)
  t.true(verifyImported(signer.publicKey.raw, data, sig), 'a key pushed out is imported again when it comes back')
})
