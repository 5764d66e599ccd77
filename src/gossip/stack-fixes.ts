// Four per-message costs of the libp2p stack and one memory bound, fixed at run time because the
// packages have no option for any. Each is a wrapper around the package's own method;
// test/unit/gossip/stack-fixes.test.ts runs them (all but the third on real connections) and
// fails if an upgrade of the packages changes what is wrapped.
//
// 1. yamux (@chainsafe/libp2p-yamux 8) answers every data frame it receives with a window
//    update frame, so each gossip message, probe or probe answer costs a second frame back:
//    one more encryption, socket write and read on each side. Go's and Rust's yamux send an
//    update only once at least half of the receive window has been used; so does this one now.
//    The sender keeps at least half a window (128 KiB at first) of credit, so it never waits
//    for an update that was held back, and the package's own growth of the window under a
//    bulk transfer is kept (an update still goes out whenever the package would grow it).
// 2. noise's frame decoder (@libp2p/utils LengthPrefixedDecoder) asks for the next frame's
//    length after every read, also when no byte is left, and the length decoder says "not
//    enough bytes" by throwing a new RangeError: an error object with a stack trace for every
//    socket read. Measured at about a tenth of an idle daemon's CPU in a 20-daemon cluster.
//    An empty buffer now gets one shared RangeError, which the decoder catches as before.
// 3. @libp2p/crypto's Ed25519 keys import the raw key into node:crypto (from a JWK) for every
//    signature and every verification. gossipsub signs each message it publishes and verifies
//    each one it receives (StrictSign), on the event loop. Measured on this machine: 80 us a
//    signature (30 with the key imported once) and 140 us a verification (47 with libsodium,
//    which takes the raw key; 80 with node:crypto and a key imported once). A private key now
//    keeps its imported key; a verification goes to libsodium (sodium-native) where it loads,
//    otherwise to node:crypto with the public key imported once per key (a bounded cache: every
//    message a peer sends may carry another key). Ed25519 signatures are deterministic, so the
//    bytes signed and the verdicts are the same as before.
// 4. What a libp2p stream queues (yamux: the peer's window is used up; QUIC: the last write is
//    not done yet; both: earlier bytes still wait) is bounded by its byte count (gossip:
//    GOSSIP_SEND_BUFFER_BYTES in node.ts), but the bytes are mostly views into larger buffers:
//    Node 24 cuts Buffer.allocUnsafe() of up to 32 KiB out of
//    64 KiB slabs, and gossipsub's encoder and the length prefixes come from there. Each view
//    queued keeps its whole slab alive, whatever else was cut from it and is gone: a member
//    that read nothing of a flood of 16 KB records held 2,981 views on 871 slabs, 57 MB, in a
//    send buffer of at most 16 MiB (heap snapshot, 2026-12-05), and a 1 KB view can keep 64 KiB.
//    A view that is queued and shares its buffer is now copied into a buffer of its own, so the
//    bound on the bytes is a bound on the memory. Bytes the muxer takes at once, and buffers that
//    are theirs alone (an anti-entropy page), are not copied. The wrapper sits on @libp2p/utils'
//    AbstractStream, which yamux's and QUIC's streams both extend.
// 5. A TCP connection wrote each noise frame to its socket in two writes (the 2-byte length,
//    then the ciphertext: @libp2p/tcp writes each part of the list it is given), and each frame
//    of a turn of the event loop in writes of its own: two system calls per gossip message,
//    probe or answer. A connection's socket is now corked while it hands frames over and
//    uncorked at the end of the turn (process.nextTick), so a turn's frames leave in one writev.
//    Measured on two nodes of one process, 30,000 messages of 200 bytes three to a turn: 60,014
//    socket writes and 1,085-1,158 ms of CPU, against 3,336 and 783-848 ms. The corked bytes
//    count against the socket's high-water mark as before, so backpressure is unchanged.
//
// And one fix of the node's stop, per node (releaseTimersOnStop): two libp2p timers outlived
// node.stop() and held the process about 1 s after the daemon's `stopped` line. gossipsub 17's
// stop() replaces its status without clearing the next heartbeat's timer (up to 1 s away), and
// libp2p 3's address manager answers the listeners' closing with a debounced (1 s) peer-store
// update. Both are cleared now; neither would do anything on a stopped node.
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto'
import { createRequire } from 'node:module'
import { Socket } from 'node:net'
import { StreamState, YamuxStream } from '@chainsafe/libp2p-yamux/stream'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey, PublicKey } from '@libp2p/interface'
import { AbstractMultiaddrConnection, AbstractStream, LengthPrefixedDecoder } from '@libp2p/utils'
import { PKCS8_ED25519, SPKI_ED25519 } from './proof.ts'
import { sodiumVerifyAt, type SodiumVerify } from './verify-worker.ts'

interface WindowState { state: StreamState, recvWindow: number, recvWindowCapacity: number, maxStreamWindowSize: number, epochStart: number, getRTT: () => number }
type LengthDecoder = NonNullable<NonNullable<ConstructorParameters<typeof LengthPrefixedDecoder>[0]>['lengthDecoder']>
type Chunk = Parameters<LengthDecoder>[0]
interface DecoderState { lengthDecoder: LengthDecoder }
/** A Uint8Array, or a list of them (uint8arraylist's Uint8ArrayList, iterable over its parts). */
type SendData = Uint8Array | (Iterable<Uint8Array> & { byteLength: number })
interface QueueState { writableNeedsDrain: boolean, writeBuffer: { byteLength: number } }

/** The bytes in a buffer of their own when any part is a view into a larger one (fix 4); otherwise the data as given. */
export function ownBytes (data: SendData): SendData {
  const parts = data instanceof Uint8Array ? [data] : data
  let shared = false
  for (const p of parts) if (p.byteLength < p.buffer.byteLength) { shared = true; break }
  if (!shared) return data
  const out = new Uint8Array(data.byteLength) // a new ArrayBuffer of this size, never a pool slab
  let at = 0
  for (const p of parts) { out.set(p, at); at += p.byteLength }
  return out
}

/**
 * Whether a window update must go out now: it carries a flag (SYN, ACK), half of the receive
 * window is used, or the window may still grow and data came within four round trips of the
 * last update (the package then doubles the window: a bulk transfer, such as an anti-entropy
 * page of up to 512 KiB, still gets a window that never makes it wait).
 */
export function windowUpdateDue (s: WindowState, now: number): boolean {
  // Init and SYNReceived: the update carries SYN or ACK. Paused: the package records the time and sends nothing.
  if (s.state === StreamState.Init || s.state === StreamState.SYNReceived || s.state === StreamState.Paused) return true
  // Fields this rule reads that a later version of the package no longer has: its own rule applies.
  if (typeof s.recvWindow !== 'number' || typeof s.recvWindowCapacity !== 'number' || typeof s.maxStreamWindowSize !== 'number' || typeof s.epochStart !== 'number' || typeof s.getRTT !== 'function') return true
  if (s.recvWindow - s.recvWindowCapacity >= s.recvWindow / 2) return true
  const rtt = s.getRTT()
  return s.recvWindow < s.maxStreamWindowSize && rtt > -1 && now - s.epochStart <= rtt * 4
}

const NO_LENGTH_YET = new RangeError('no bytes left to decode a length from')
const wrapped = new WeakSet<object>()

/** Public keys kept imported for verification (node:crypto path): peers are few, forged keys are not. */
export const VERIFY_KEYS_MAX = 1024
const verifyKeys = new Map<string, KeyObject>()
const signKeys = new WeakMap<object, KeyObject>()

/** How fix 3 verifies here: 'libsodium' or 'node:crypto'; and how many public keys it keeps imported. */
export function ed25519Verifier (): { backend: 'libsodium' | 'node:crypto', keys: number } {
  return { backend: loadSodium() !== null ? 'libsodium' : 'node:crypto', keys: verifyKeys.size }
}

let sodiumHere: SodiumVerify | null | undefined

function loadSodium (): SodiumVerify | null {
  if (sodiumHere === undefined) {
    try {
      sodiumHere = sodiumVerifyAt(createRequire(import.meta.url).resolve('sodium-native'))
    } catch {
      sodiumHere = null // not installed
    }
  }
  return sodiumHere
}

/** Verifies with node:crypto, the public key imported once (fix 3's path where libsodium does not load). */
export function verifyImported (raw: Uint8Array, data: Uint8Array, sig: Uint8Array): boolean {
  return verify(null, data, importedPublic(raw), sig)
}

function importedPublic (raw: Uint8Array): KeyObject {
  const id = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('latin1')
  let key = verifyKeys.get(id)
  if (key === undefined) {
    key = createPublicKey({ key: Buffer.concat([SPKI_ED25519, raw]), format: 'der', type: 'spki' })
    if (verifyKeys.size >= VERIFY_KEYS_MAX) verifyKeys.delete(verifyKeys.keys().next().value as string)
    verifyKeys.set(id, key)
  }
  return key
}

type Sign = (this: PrivateKey, data: Uint8Array, options?: { signal?: AbortSignal }) => Uint8Array | Promise<Uint8Array>
type Verify = (this: PublicKey, data: Uint8Array, sig: Uint8Array, options?: { signal?: AbortSignal }) => boolean | Promise<boolean>

/**
 * Fix 3 on the package's Ed25519 key classes (reached through a key, as the package does not
 * export them). Whatever the fast path does not cover (a key or signature of another length,
 * an abort signal) goes to the package's own method, so errors stay the package's.
 */
async function fixEd25519 (): Promise<void> {
  const key = await generateKeyPair('Ed25519')
  const priv = Object.getPrototypeOf(key) as { sign: Sign }
  const pub = Object.getPrototypeOf(key.publicKey) as { verify: Verify }
  const ownSign = priv.sign
  const ownVerify = pub.verify
  priv.sign = function (this: PrivateKey, data, options) {
    if (options?.signal !== undefined || this.raw.byteLength !== 64 || !(data instanceof Uint8Array)) return ownSign.call(this, data, options)
    let k = signKeys.get(this)
    if (k === undefined) {
      k = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, this.raw.subarray(0, 32)]), format: 'der', type: 'pkcs8' })
      signKeys.set(this, k)
    }
    return sign(null, data, k)
  }
  pub.verify = function (this: PublicKey, data, sig, options) {
    if (options?.signal !== undefined || this.raw.byteLength !== 32 || !(sig instanceof Uint8Array) || sig.byteLength !== 64 || !(data instanceof Uint8Array)) return ownVerify.call(this, data, sig, options)
    const here = loadSodium()
    if (here !== null) {
      try { return here(sig, data, this.raw) } catch { return false }
    }
    return verifyImported(this.raw, data, sig)
  }
}

interface HeartbeatOwner { status: { heartbeatTimeout?: ReturnType<typeof setTimeout> }, stop: () => Promise<void> }
interface NodeInternals { components?: { addressManager?: { _updatePeerStoreAddresses?: { stop?: () => void } } }, stop: () => Promise<void> }

/**
 * Makes the node's stop() leave no timer behind (see the head of this file). pubsub is the
 * node's gossipsub service. A later version without these internals is left as it is.
 */
export function releaseTimersOnStop (node: object, pubsub: object): void {
  const ps = pubsub as HeartbeatOwner
  const pubsubStop = ps.stop.bind(ps)
  ps.stop = async () => {
    const status = ps.status as HeartbeatOwner['status'] | undefined
    const stopped = pubsubStop() // replaces ps.status in its first, synchronous, part: no heartbeat is scheduled after it
    clearTimeout(status?.heartbeatTimeout)
    await stopped
  }
  const n = node as NodeInternals
  const nodeStop = n.stop.bind(n)
  n.stop = async () => {
    await nodeStop()
    n.components?.addressManager?._updatePeerStoreAddresses?.stop?.()
  }
}

let applied: Promise<void> | undefined

/** Installs the fixes (once per process). */
export async function applyStackFixes (): Promise<void> {
  applied ??= fixStack()
  await applied
}

async function fixStack (): Promise<void> {
  const stream = YamuxStream.prototype as unknown as { sendWindowUpdate: (this: WindowState) => void }
  const sendWindowUpdate = stream.sendWindowUpdate
  stream.sendWindowUpdate = function (this: WindowState): void {
    if (windowUpdateDue(this, Date.now())) sendWindowUpdate.call(this)
  }

  const decoder = LengthPrefixedDecoder.prototype as unknown as { decode: (this: DecoderState, buf: Chunk) => Generator<Chunk> }
  const decode = decoder.decode
  decoder.decode = function (this: DecoderState, buf) {
    if (!wrapped.has(this)) {
      wrapped.add(this)
      const lengthOf = this.lengthDecoder
      this.lengthDecoder = (data) => {
        if (data.byteLength === 0) throw NO_LENGTH_YET
        return lengthOf(data)
      }
    }
    return decode.call(this, buf)
  }

  const queue = AbstractStream.prototype as unknown as { send: (this: QueueState, data: SendData) => boolean }
  const ownSend = queue.send
  queue.send = function (this: QueueState, data) {
    // queued rather than handed to the muxer: the same test the package's send queue makes
    if (this.writableNeedsDrain || this.writeBuffer.byteLength > 0) data = ownBytes(data)
    return ownSend.call(this, data)
  }

  // fix 5: on AbstractMultiaddrConnection, which @libp2p/tcp's connection extends; bound in its
  // constructor, so it applies to the connections made after this (the fixes run before a node exists)
  const conn = AbstractMultiaddrConnection.prototype as unknown as { processSendQueue: (this: { socket?: unknown }) => boolean }
  const processSendQueue = conn.processSendQueue
  conn.processSendQueue = function (this: { socket?: unknown }) {
    const socket = this.socket
    if (!(socket instanceof Socket) || socket.writableCorked > 0 || socket.destroyed) return processSendQueue.call(this)
    socket.cork()
    try {
      return processSendQueue.call(this)
    } finally {
      process.nextTick(uncork, socket)
    }
  }

  await fixEd25519()
}

function uncork (socket: Socket): void {
  if (socket.writableCorked > 0) socket.uncork()
}
