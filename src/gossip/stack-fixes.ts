// Two per-frame costs of the libp2p stack, fixed at run time because the packages have no
// option for either. Each is a wrapper around the package's own method that skips work the
// method would do for nothing; test/unit/gossip/stack-fixes.test.ts runs both on real
// connections and fails if an upgrade of the packages changes what is wrapped.
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
import { StreamState, YamuxStream } from '@chainsafe/libp2p-yamux/stream'
import { LengthPrefixedDecoder } from '@libp2p/utils'

interface WindowState { state: StreamState, recvWindow: number, recvWindowCapacity: number, maxStreamWindowSize: number, epochStart: number, getRTT: () => number }
type LengthDecoder = NonNullable<NonNullable<ConstructorParameters<typeof LengthPrefixedDecoder>[0]>['lengthDecoder']>
type Chunk = Parameters<LengthDecoder>[0]
interface DecoderState { lengthDecoder: LengthDecoder }

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

let applied = false

/** Installs both fixes (once per process). */
export function applyStackFixes (): void {
  if (applied) return
  applied = true

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
}
