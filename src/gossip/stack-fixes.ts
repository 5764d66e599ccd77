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
//    for an update that was held back.
// 2. noise's frame decoder (@libp2p/utils LengthPrefixedDecoder) asks for the next frame's
//    length after every read, also when no byte is left, and the length decoder says "not
//    enough bytes" by throwing a new RangeError: an error object with a stack trace for every
//    socket read. Measured at about a tenth of an idle daemon's CPU in a 20-daemon cluster.
//    An empty buffer now gets one shared RangeError, which the decoder catches as before.
import { StreamState, YamuxStream } from '@chainsafe/libp2p-yamux/stream'
import { LengthPrefixedDecoder } from '@libp2p/utils'
import type { Uint8ArrayList } from 'uint8arraylist'

interface WindowState { state: StreamState, recvWindow: number, recvWindowCapacity: number }
type LengthDecoder = (data: Uint8ArrayList | Uint8Array) => number
interface DecoderState { lengthDecoder: LengthDecoder }

/** Whether a window update must go out now: it carries a flag (SYN, ACK), or half of the receive window is used. */
export function windowUpdateDue (s: WindowState): boolean {
  // Init and SYNReceived: the update carries SYN or ACK. Paused: the package records the time and sends nothing.
  if (s.state === StreamState.Init || s.state === StreamState.SYNReceived || s.state === StreamState.Paused) return true
  return s.recvWindow - s.recvWindowCapacity >= s.recvWindow / 2
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
    if (windowUpdateDue(this)) sendWindowUpdate.call(this)
  }

  const decoder = LengthPrefixedDecoder.prototype as unknown as { decode: (this: DecoderState, buf: Uint8ArrayList | Uint8Array) => Generator<Uint8ArrayList> }
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
