// Every proxy socket, backend and client, in both modes, reads with net's `onread` option
// instead of through a Readable stream: no 64 KiB allocation per read, no stream bookkeeping
// per read, and reads of up to 1 MiB during a large transfer where a stream reads 64 KiB at a
// time (measured in docs/proxy.md: an upload moved through a stream-read client socket at
// about half the speed).
//
// Two kinds of buffer. Every socket starts on one buffer shared by the whole process, which
// any socket's next read overwrites: a view of it is copied when it must outlive the read's
// callback (write() does), so an idle socket costs no memory of its own. A read that fills it
// means a large transfer: the socket switches to a buffer of its own, whose views are written
// on without a copy; while one is queued in the receiving socket, this socket stops reading,
// and goes on once that view is written. A short read goes back to the shared buffer.
//
// Client sockets come from net.Server, which takes no `onread` option: adopt() gives the
// accepted socket what that option would have (see there).
import net from 'node:net'

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
 * many concurrent transfers cannot grow the daemon's memory by more than this.
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
  /** The current read's callback wrote a view that is not a copy (holdWhileQueued looks at it). */
  #viewOut = false
  /** Writes of views that are not copies, made since the last detach(), not done yet. */
  #outstanding = 0
  /** Not reading until every such write is done. */
  #waitViews = false
  /** Not reading until the receiver of a copy drains (it was over its high-water mark), or until unhold(). */
  #waitDrain = false
  /** The owner wants no bytes for now (setBlocked). */
  #blocked = false
  /** Whether the socket was last told to pause. */
  #paused = false
  readonly #onData: (view: Buffer) => void
  /** Counts the detach() calls made with views still queued: a view write's callback from before the last one no longer counts. */
  #generation = 0
  /**
   * The callback of every view write of the current generation (a closure per generation,
   * not per write): the writes of a previous owner finish later, in any order with the new
   * owner's, and must not change its count.
   */
  #viewWritten = this.#writtenCallback()

  #writtenCallback (): () => void {
    const generation = this.#generation
    return () => {
      if (generation !== this.#generation) return
      this.#outstanding--
      if (this.#outstanding === 0 && this.#waitViews) {
        this.#waitViews = false
        this.#sync()
      }
    }
  }

  readonly #drained = (): void => { this.unhold() }

  /** onData gets each read's bytes; a throw destroys the socket (a bug costs one connection, never the daemon). */
  constructor (onData: (view: Buffer) => void) {
    this.#onData = onData
  }

  /** For the `onread` option of net.connect (or of adopt()). */
  readonly options = {
    buffer: (): Buffer => this.#buf,
    callback: (n: number, buf: Uint8Array): boolean => this.#read(n, buf as Buffer),
  }

  /** The socket made with `options` (right after it is made). */
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
    return true // pausing is #sync()'s
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
   * corked dest). Any other buffer (a copy the caller made) is written the same way as a view.
   */
  write (view: Buffer, dest: net.Socket): void {
    if (isShared(view)) {
      if (!dest.write(Buffer.from(view))) this.holdUntilDrained(dest)
      return
    }
    this.#outstanding++
    dest.write(view, this.#viewWritten)
    this.#viewOut = true
  }

  /** No read until dest drains (a write to it returned false: it is over its high-water mark). */
  holdUntilDrained (dest: net.Socket): void {
    if (this.#waitDrain) return
    this.#waitDrain = true
    dest.once('drain', this.#drained)
    this.#sync()
  }

  /** Holds while a view this read wrote is still queued in dest (the kernel did not take it all at once). */
  holdWhileQueued (dest: net.Socket): void {
    if (this.#viewOut && this.#outstanding > 0 && dest.writableLength > 0 && !this.#waitViews) {
      this.#waitViews = true
      this.#sync()
    }
  }

  /** Not reading: a view is queued elsewhere, a receiver is over its high-water mark, or hold() was called. */
  get held (): boolean { return this.#waitViews || this.#waitDrain }

  /** No read until unhold(). */
  hold (): void {
    this.#waitDrain = true
    this.#sync()
  }

  /** Reading goes on (unless views are still queued or the owner blocks it). */
  unhold (): void {
    if (!this.#waitDrain) return
    this.#waitDrain = false
    this.#sync()
  }

  /** The owner's own pause (a request waiting for the previous response, a backend not connected yet). */
  setBlocked (blocked: boolean): void {
    if (blocked === this.#blocked) return
    this.#blocked = blocked
    this.#sync()
  }

  #sync (): void {
    const s = this.#socket
    if (s === undefined || s.destroyed) return
    const pause = this.#waitViews || this.#waitDrain || this.#blocked
    if (pause === this.#paused) return
    this.#paused = pause
    if (pause) s.pause()
    else s.resume()
  }

  /**
   * Before the socket's bytes go to someone else (a backend socket going back to the idle
   * stack): back to the shared buffer. A view of the own buffer still queued must keep it, so
   * the next read must go elsewhere, which can only be set during a read's callback: false
   * when that is not possible (the socket must not be reused).
   */
  detach (): boolean {
    if (this.held && !this.#reading) return false
    this.#toShared()
    // the views still queued are of a buffer no read goes to any more, and their writes no
    // longer hold this socket's reads: the next owner's views alone do (counting the previous
    // client's held the next owner's download until that client read again, up to idle_timeout)
    if (this.#outstanding > 0) {
      this.#generation++
      this.#viewWritten = this.#writtenCallback()
      this.#outstanding = 0
    }
    this.#waitViews = false
    this.#waitDrain = false
    this.#sync()
    return true
  }
}

/** net.Socket's own keys for what its `onread` option sets (see onreadKeys). */
interface OnreadKeys { buffer: symbol, gen: symbol, callback: symbol }

/**
 * The keys under which net.Socket keeps what its `onread` option sets (its read buffer, the
 * function that gives the next one, the callback), found once by their descriptions on a
 * socket made for that; undefined where this Node keeps them otherwise.
 */
function onreadKeys (): OnreadKeys | undefined {
  const probe = new net.Socket()
  const by = new Map(Object.getOwnPropertySymbols(probe).map(k => [k.description, k]))
  probe.destroy()
  const buffer = by.get('kBuffer')
  const gen = by.get('kBufferGen')
  const callback = by.get('kBufferCb')
  return buffer !== undefined && gen !== undefined && callback !== undefined ? { buffer, gen, callback } : undefined
}

const ONREAD_KEYS = onreadKeys()

/**
 * Makes a connection accepted by net.Server (with pauseOnConnect, so nothing was read yet) read
 * with reads.options, as if the socket had been made with that `onread` option, which
 * net.Server does not take; returns the socket. It sets what the option would have set (under
 * net.Socket's own symbol keys, found by their descriptions) and points the handle at the
 * first buffer, as net's own code does for a socket made with the option: both are not
 * documented. (The first way, moving the handle onto a second socket made with the option,
 * cost a second socket per connection: about 15 us of the 30 us the proxy spent on accepting
 * one.) test/unit/proxy/read-buffer.test.ts pins what is relied on, so a Node upgrade that
 * changes it fails CI. Where it does not fit (no such keys or handle), the socket reads
 * through its stream into reads' callback: slower, the same bytes. paused: do not read until
 * reads.setBlocked(false).
 */
export function adopt (accepted: net.Socket, reads: SocketReads, paused: boolean): net.Socket {
  const handle = (accepted as unknown as { _handle: { useUserBuffer?: unknown } | null })._handle
  const keys = ONREAD_KEYS
  if (keys === undefined || handle === null || typeof handle !== 'object' || typeof handle.useUserBuffer !== 'function') {
    accepted.on('data', (chunk: Buffer) => { reads.options.callback(chunk.length, chunk) })
    reads.attach(accepted)
    reads.setBlocked(paused)
    if (!paused) accepted.resume()
    return accepted
  }
  const first = reads.options.buffer()
  const fields = accepted as unknown as Record<symbol, unknown>
  fields[keys.buffer] = first
  fields[keys.gen] = reads.options.buffer
  fields[keys.callback] = reads.options.callback
  ;(handle.useUserBuffer as (buf: Buffer) => void).call(handle, first)
  reads.attach(accepted)
  // accepted paused (pauseOnConnect): reading starts here unless the caller blocks it
  reads.setBlocked(true)
  if (!paused) reads.setBlocked(false)
  return accepted
}
