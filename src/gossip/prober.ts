// Failure detection for members that keep their connections but stop answering (a frozen
// process, a hung host): every member gets a small probe each interval on one long-lived
// echo stream (our own protocol, so no stream set-up, protocol negotiation or peer-store
// write per probe: libp2p's ping opens a stream per ping, which at 19 peers a second was most
// of an idle daemon's CPU); of each pair only one side probes while the other hears it. A member whose last answer is older than suspectAfterMs is
// reported once (onSilent), and again when it answers (onAnswer). Nothing is closed here:
// libp2p's own connection monitor aborts on the first slow ping, which on a starved machine
// (20 daemons on 2 cores) cut live connections all the time, and reconnecting made it
// worse. When this process itself was starved (its tick came late), the missed time is
// forgiven, as memberlist's Lifeguard does.
// Each probe also measures the member's clock (clock-offset.ts): a probe carries our send
// time and the answer the member's clock, so the echo stream doubles as NTP; the answering
// side learns the same offset from the next probe, which carries what the prober measured.
import type { Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Logger } from '../lib/logger.ts'
import type { Startable } from '../lib/startable.ts'
import { Ticker } from '../lib/ticker.ts'
import { sampleOf, type OffsetSample } from './clock-offset.ts'
import { openStream, type GossipNode } from './node.ts'

export interface ProberInit {
  /** The probe protocol id (cluster-scoped). */
  protocol: string
  intervalMs: number
  /** A member silent this long is reported. */
  suspectAfterMs: number
}

export interface ProberComponents {
  node: GossipNode
  logger: Logger
  /** Peer ids to probe: members with a connection. */
  members: () => readonly string[]
  /** A member answered nothing for silentMs (reported once per silence). */
  onSilent: (peerId: string, silentMs: number) => void
  /** A member reported silent answered after all. */
  onAnswer: (peerId: string) => void
  /** A measurement of a member's clock: its offset from ours (peer minus us) and the round trip. */
  onClockSample?: (peerId: string, sample: OffsetSample) => void
  /** This host's system clock, ms (the uncorrected one: corrections are computed from it). */
  now?: () => number
  /** Whether opening a probe stream may dial peerId when no connection is open (not a peer that refuses this host); default never. */
  mayDial?: (peerId: string) => boolean
}

/** A tick this much later than planned means this process was starved; that time is forgiven. */
const LATE_TICK_MS = 100
/** Bytes a peer may send on a probe stream without reading our answers: far above one probe in flight. */
const MAX_UNANSWERED_BYTES = 1024
/** Inbound probe streams per connection: one is used, a spare covers a reopen racing the old one's close. */
const MAX_PROBE_STREAMS = 2

interface Probe {
  stream: Stream
  /** Counter of the probe in flight, or undefined. */
  waiting?: number
  seq: number
  /** Our clock when the probe in flight was sent. */
  sentAt: number
  /** The last offset measured on this stream, sent along with the next probe for the member's own use. */
  last?: OffsetSample
}

/**
 * The seq's top bit marks a timed frame: probe = seq, our send time, the offset and round
 * trip we measured last (NaN when none), as float64 ms; answer = seq, the member's clock,
 * our send time echoed, 0. A frame without it is a bare 4-byte seq, echoed as it is
 * (a prober that measures no clocks).
 */
const TIMED = 0x80000000
const TIMED_BYTES = 4 + 3 * 8
/** Seqs stay below the timed bit. */
const SEQ_MASK = 0x7fffffff

export class Prober implements Startable {
  readonly #c: ProberComponents
  readonly #init: ProberInit
  readonly #lastAck = new Map<string, number>()
  readonly #reported = new Set<string>()
  readonly #probes = new Map<string, Probe>()
  readonly #opening = new Set<string>()
  /** When each member last probed us. */
  readonly #probedAt = new Map<string, number>()
  readonly #self: string
  #lastTick = 0
  #ticker: Ticker | undefined
  /** Aborts probe streams opened out of turn (probeNow) when the prober stops. */
  #abort = new AbortController()

  constructor (components: ProberComponents, init: ProberInit) {
    this.#c = components
    this.#init = init
    this.#self = components.node.peerId.toString()
    this.#now = components.now ?? Date.now
  }

  readonly #now: () => number

  async start (): Promise<void> {
    if (this.#ticker !== undefined) return
    this.#abort = new AbortController()
    await this.#c.node.handle(this.#init.protocol, (stream, connection) => {
      const id = connection.remotePeer.toString()
      echo(stream, this.#now, (sample) => {
        this.#probedBy(id)
        if (sample !== undefined) this.#c.onClockSample?.(id, sample)
      })
    }, { maxInboundStreams: MAX_PROBE_STREAMS, maxOutboundStreams: MAX_PROBE_STREAMS })
    this.#lastTick = Date.now()
    this.#ticker = new Ticker((signal) => { this.#tick(signal) }, { name: 'prober', intervalMs: this.#init.intervalMs, logger: this.#c.logger })
    this.#ticker.start()
  }

  async stop (): Promise<void> {
    this.#abort.abort()
    await this.#ticker?.stop()
    this.#ticker = undefined
    for (const p of this.#probes.values()) p.stream.abort(new Error('stopping'))
    this.#probes.clear()
    this.#lastAck.clear()
    this.#reported.clear()
    this.#probedAt.clear()
    await this.#c.node.unhandle(this.#init.protocol).catch(() => {})
  }

  /** Forget a member's history (it left, or reconnected: its clock starts again). */
  reset (peerId: string): void {
    this.#lastAck.delete(peerId)
    this.#reported.delete(peerId)
    this.#probedAt.delete(peerId)
    this.#probes.get(peerId)?.stream.abort(new Error('reset'))
    this.#probes.delete(peerId)
  }

  /** When the member last answered a probe or probed us (Date.now() ms); undefined before its first probe. */
  lastHeard (peerId: string): number | undefined {
    return this.#lastAck.get(peerId)
  }

  /**
   * Probes a member now, out of turn, even when it is the side that only answers: what a
   * report that it departed asks for. Its next answer, or its next probe of us, is reported
   * (onAnswer) as the end of a silence. False when it is no member we probe.
   */
  probeNow (id: string): boolean {
    if (!this.#lastAck.has(id) || this.#abort.signal.aborted) return false
    this.#reported.add(id)
    const probe = this.#probes.get(id)
    if (probe === undefined) void this.#open(id, this.#abort.signal)
    else if (probe.waiting === undefined) this.#send(id, probe)
    return true
  }

  #answered (id: string): void {
    if (!this.#lastAck.has(id)) return
    this.#lastAck.set(id, Date.now())
    if (this.#reported.delete(id)) this.#c.onAnswer(id)
  }

  /** A member's probe reached us: as good as an answer, and we need not probe it ourselves. */
  #probedBy (id: string): void {
    this.#probedAt.set(id, Date.now())
    this.#answered(id)
  }

  /**
   * One prober per pair halves the traffic: the peer with the higher id probes, the lower
   * one answers and counts the probes as its evidence, and probes itself only when the
   * other's probes stop coming (so a frozen higher peer is still found).
   */
  #mayRest (id: string, now: number): boolean {
    const at = this.#probedAt.get(id)
    return at !== undefined && now - at < this.#init.intervalMs * 1.5 && this.#self < id
  }

  #tick (signal: AbortSignal): void {
    const now = Date.now()
    const late = now - this.#lastTick - this.#init.intervalMs
    this.#lastTick = now
    const members = this.#c.members()
    const live = new Set(members)
    for (const id of this.#lastAck.keys()) if (!live.has(id)) this.reset(id)
    // This process was starved: the silence it saw is its own, not the members'.
    if (late > LATE_TICK_MS) for (const [id, at] of this.#lastAck) this.#lastAck.set(id, at + late)
    const silent = members.filter(id => now - (this.#lastAck.get(id) ?? now) > this.#init.suspectAfterMs && !this.#reported.has(id))
    // Many members silent at once is more likely this node's trouble (starved, cut off) than theirs.
    if (silent.length >= 2 && silent.length * 2 >= members.length) {
      this.#c.logger.debug(`${silent.length} of ${members.length} members silent at once: assuming the trouble is here, suspecting none`)
    } else {
      for (const id of silent) {
        this.#reported.add(id)
        this.#c.onSilent(id, now - (this.#lastAck.get(id) ?? now))
      }
    }
    for (const id of members) {
      if (!this.#lastAck.has(id)) this.#lastAck.set(id, now)
      if (this.#mayRest(id, now)) continue
      const probe = this.#probes.get(id)
      if (probe === undefined) { void this.#open(id, signal); continue }
      if (probe.waiting !== undefined) continue // still unanswered: the silence grows
      this.#send(id, probe)
    }
  }

  #send (id: string, probe: Probe): void {
    probe.seq = (probe.seq + 1) & SEQ_MASK
    probe.waiting = probe.seq
    probe.sentAt = this.#now()
    try {
      probe.stream.send(encodeProbe(probe.seq, probe.sentAt, probe.last))
    } catch {
      this.#probes.delete(id)
    }
  }

  /** An answer to a timed probe: the member's clock against ours. */
  #timedAnswer (id: string, probe: Probe, frame: DataView): void {
    const seq = frame.getUint32(0) & SEQ_MASK
    if (seq !== probe.waiting) return
    probe.waiting = undefined
    this.#answered(id)
    // An answer that does not echo our send time is a plain echo of our probe (a peer that measures no clocks).
    if (frame.getFloat64(12) !== probe.sentAt) return
    const sample = sampleOf(probe.sentAt, frame.getFloat64(4), this.#now())
    if (sample === undefined) return
    probe.last = sample
    this.#c.onClockSample?.(id, sample)
  }

  async #open (id: string, signal: AbortSignal): Promise<void> {
    if (this.#opening.has(id)) return
    this.#opening.add(id)
    try {
      const stream = await openStream(this.#c.node, peerIdFromString(id), this.#init.protocol, { signal: AbortSignal.any([signal, AbortSignal.timeout(this.#init.suspectAfterMs)]) }, this.#c.mayDial?.(id) ?? false)
      const probe: Probe = { stream, seq: 0, sentAt: 0 }
      const frames = new Framer()
      stream.addEventListener('message', (e) => {
        for (const frame of frames.push(e.data.subarray())) {
          if (frame.byteLength === TIMED_BYTES) { this.#timedAnswer(id, probe, frame); continue }
          if (frame.getUint32(0) === probe.waiting) { probe.waiting = undefined; this.#answered(id) }
        }
      })
      stream.addEventListener('close', () => { if (this.#probes.get(id) === probe) this.#probes.delete(id) })
      this.#probes.set(id, probe)
      this.#send(id, probe) // at once: the first answer also gives the first clock sample
    } catch {
      // the connection is going away or the peer is stuck: the silence will tell
    } finally {
      this.#opening.delete(id)
    }
  }
}

/** The serving side: answers what it reads; a peer that never reads our answers is cut off. */
function echo (stream: Stream, now: () => number, onProbe: (sample: OffsetSample | undefined) => void): void {
  const frames = new Framer()
  stream.addEventListener('message', (e) => {
    for (const frame of frames.push(e.data.subarray())) {
      let answer: Uint8Array
      let sample: OffsetSample | undefined
      if (frame.byteLength === TIMED_BYTES) {
        answer = encodeAnswer(frame.getUint32(0), now(), frame.getFloat64(4))
        // What the prober measured of our clock, turned round: its clock minus ours.
        const offset = frame.getFloat64(12)
        const rtt = frame.getFloat64(20)
        if (Number.isFinite(offset) && Number.isFinite(rtt) && rtt >= 0) sample = { offsetMs: -offset, rttMs: rtt }
      } else {
        answer = new Uint8Array(frame.buffer, frame.byteOffset, frame.byteLength)
      }
      onProbe(sample)
      try {
        if (stream.writeBufferLength > MAX_UNANSWERED_BYTES) { stream.abort(new Error('probe stream not read')); return }
        stream.send(answer)
      } catch {
        stream.abort(new Error('probe echo failed'))
        return
      }
    }
  })
  stream.addEventListener('remoteCloseWrite', () => { void stream.close().catch(() => {}) })
}

/** Splits a probe byte stream into frames: 4 bytes, or TIMED_BYTES when the seq has the timed bit. */
export class Framer {
  #buf: Uint8Array = new Uint8Array(0)

  push (chunk: Uint8Array): DataView[] {
    this.#buf = concat(this.#buf, chunk)
    const out: DataView[] = []
    while (this.#buf.byteLength >= 4) {
      const view = new DataView(this.#buf.buffer, this.#buf.byteOffset, this.#buf.byteLength)
      const size = (view.getUint32(0) & TIMED) !== 0 ? TIMED_BYTES : 4
      if (this.#buf.byteLength < size) break
      out.push(new DataView(this.#buf.buffer, this.#buf.byteOffset, size))
      this.#buf = this.#buf.slice(size)
    }
    return out
  }
}

export function encodeProbe (seq: number, sentAt: number, last: OffsetSample | undefined): Uint8Array {
  const out = new Uint8Array(TIMED_BYTES)
  const v = new DataView(out.buffer)
  v.setUint32(0, (seq & SEQ_MASK | TIMED) >>> 0)
  v.setFloat64(4, sentAt)
  v.setFloat64(12, last?.offsetMs ?? NaN)
  v.setFloat64(20, last?.rttMs ?? NaN)
  return out
}

function encodeAnswer (timedSeq: number, now: number, sentAt: number): Uint8Array {
  const out = new Uint8Array(TIMED_BYTES)
  const v = new DataView(out.buffer)
  v.setUint32(0, timedSeq >>> 0)
  v.setFloat64(4, now)
  v.setFloat64(12, sentAt)
  v.setFloat64(20, 0)
  return out
}

function concat (a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.byteLength === 0) return b
  const out = new Uint8Array(a.byteLength + b.byteLength)
  out.set(a)
  out.set(b, a.byteLength)
  return out
}
