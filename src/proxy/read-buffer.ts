// Backend sockets (both modes) read with net's `onread` option instead of through a Readable
// stream: no 64 KiB allocation per read, no stream bookkeeping per read, and reads of up to
// 1 MiB during a large transfer where a stream reads 64 KiB at a time (measured in
// docs/proxy.md).
//
// Two kinds of buffer. Every socket starts on one buffer shared by the whole process, which
// any socket's next read overwrites: a view of it is copied when it must outlive the read's
// callback (relay() does), so an idle socket costs no memory of its own. A read that fills it
// means a large transfer: the socket switches to a buffer of its own, whose views are relayed
// without a copy; while one is queued in the receiving socket, this socket stops reading
// (hold), and goes on once that socket has taken the bytes (unhold). A short read goes back
// to the shared buffer.
import type net from 'node:net'

/** The shared buffer: 64 KiB, the size of a Readable stream's reads. */
export const SHARED_READ_BYTES = 64 * 1024
/**
 * A socket's own buffer during a large transfer: 1 MiB (fewer, larger system calls; 256 KiB
 * moved a 100 MiB download about 13 % slower, median of 7 interleaved rounds).
 */
export const BULK_READ_BYTES = 1024 * 1024
/**
 * Sockets with a buffer of their own at once, at most: 64 (64 MiB of buffers). Beyond that a
 * large transfer stays on the shared buffer (copied, 64 KiB per read): slower, not wrong, and
 * many concurrent downloads cannot grow the daemon's memory by more than this.
 */
export const MAX_BULK_SOCKETS = 64

const SHARED = Buffer.allocUnsafeSlow(SHARED_READ_BYTES)
let bulkSockets = 0

/** Sockets that have a buffer of their own now (see MAX_BULK_SOCKETS). */
export function bulkSocketCount (): number { return bulkSockets }

/** The view is of the shared buffer (valid only until the next read of any socket). */
export function isShared (view: Buffer): boolean { return view.buffer === SHARED.buffer }

export class SocketReads {
  #socket: net.Socket | undefined
  /** Where the next read goes: net asks after every read, so a buffer set during a read's callback is the next read's. */
  #buf: Buffer = SHARED
  /** Counted in bulkSockets (the own buffer is current or about to be). */
  #bulk = false
  #reading = false
  #held = false
  /** The current read's callback wrote a view of the own buffer (holdWhileQueued looks at it). */
  #viewOut = false
  readonly #onData: (view: Buffer) => void

  /** onData gets each read's bytes; a throw destroys the socket (a bug costs one connection, never the daemon). */
  constructor (onData: (view: Buffer) => void) {
    this.#onData = onData
  }

  /** For net.connect's `onread` option. */
  readonly options = {
    buffer: (): Buffer => this.#buf,
    callback: (n: number, buf: Uint8Array): boolean => this.#read(n, buf as Buffer),
  }

  /** The socket made with `options` (right after net.connect). */
  attach (socket: net.Socket): void {
    this.#socket = socket
    socket.once('close', () => { this.#toShared() })
  }

  #read (n: number, buf: Buffer): boolean {
    // decided before the callback, which may detach(); a new buffer is always safe: the old
    // one stays valid for whatever still refers to it
    if (n === buf.length) {
      if (buf === SHARED && bulkSockets < MAX_BULK_SOCKETS) {
        this.#buf = Buffer.allocUnsafeSlow(BULK_READ_BYTES)
        this.#bulk = true
        bulkSockets++
      }
    } else if (buf !== SHARED && n < SHARED_READ_BYTES) this.#toShared()
    this.#reading = true
    this.#viewOut = false
    try {
      this.#onData(buf.subarray(0, n))
    } catch (err) {
      this.#socket?.destroy(err as Error)
    } finally {
      this.#reading = false
    }
    return true // pausing is hold()'s
  }

  #toShared (): void {
    this.#buf = SHARED
    if (this.#bulk) {
      this.#bulk = false
      bulkSockets--
    }
  }

  /**
   * Writes a view of the current read to dest: a copy when it is of the shared buffer (and
   * reading holds while dest is over its high-water mark, as a stream pipe would), else the
   * view itself, after which the caller calls holdWhileQueued(dest) (after uncork, when it
   * corked dest). flushed: dest's write callback; it and dest's 'drain' call flushedTo(dest).
   */
  write (view: Buffer, dest: net.Socket, flushed: () => void): void {
    if (isShared(view)) {
      if (!dest.write(Buffer.from(view))) this.hold()
      return
    }
    dest.write(view, flushed)
    this.#viewOut = true
  }

  /** write(), then holdWhileQueued(). */
  relay (view: Buffer, dest: net.Socket, flushed: () => void): void {
    this.write(view, dest, flushed)
    this.holdWhileQueued(dest)
  }

  /** Holds while dest still has bytes queued, if this read wrote a view of the own buffer to it. */
  holdWhileQueued (dest: net.Socket): void {
    if (this.#viewOut && dest.writableLength > 0) this.hold()
  }

  /** dest wrote out what it had queued (its write callback, or 'drain'): reading goes on once nothing is left. */
  flushedTo (dest: net.Socket): void {
    if (dest.writableLength === 0) this.unhold()
  }

  get held (): boolean { return this.#held }

  /** No read until unhold(): a view of this socket's own buffer is queued elsewhere, or the receiver is over its high-water mark. */
  hold (): void {
    const s = this.#socket
    if (this.#held || s === undefined || s.destroyed) return
    this.#held = true
    s.pause()
  }

  /** Everything queued was taken: reading goes on. */
  unhold (): void {
    if (!this.#held) return
    this.#held = false
    if (this.#socket?.destroyed === false) this.#socket.resume()
  }

  /**
   * Before the socket's bytes go to someone else (a backend socket going back to the idle
   * stack): back to the shared buffer. A view of the own buffer still queued must keep it, so
   * the next read must go elsewhere, which can only be set during a read's callback: false
   * when that is not possible (the socket must not be reused).
   */
  detach (): boolean {
    if (this.#held && !this.#reading) return false
    this.#toShared()
    this.unhold()
    return true
  }
}
