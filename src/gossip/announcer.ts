// Publishes what this node originates: its own records' changes at once (not on the next
// tick), repeated for reliability, plus a per-record heartbeat; and the tombstones it makes
// for other hosts (departures, expiry). Remote records are never re-published here:
// gossipsub already forwards every message through the mesh.
import type { Catalog, ChangeEvent } from '../catalog/index.ts'
import { Slicer } from '../lib/slicer.ts'
import type { Logger } from '../lib/logger.ts'
import type { Startable } from '../lib/startable.ts'
import { KeyedMinHeap } from '../lib/min-heap.ts'
import { Ticker } from '../lib/ticker.ts'
import type { OwnedRecords } from '../local/types.ts'
import type { Clock } from '../service/clock.ts'
import { recordKey, ServiceStatus, withFields, type Service } from '../service/index.ts'
import type { SealedRecord } from './proof.ts'
import { encodeRecords } from './wire.ts'

export interface AnnouncerComponents {
  catalog: Catalog
  clock: Clock
  logger: Logger
  /** This host's records: the local component, their only writer (it stamps every version sent). */
  local: OwnedRecords
  /** Signs records for the wire (Admission.sealAsync: signatures off the main thread). */
  seal: (records: readonly Service[]) => SealedRecord[] | Promise<SealedRecord[]>
  /** Sends one encoded message to the cluster; may reject. */
  publish: (data: Uint8Array) => Promise<void>
}

export interface AnnouncerInit {
  hostname: string
  /** Sends of a new or changed local record (the original's ALIVE_COUNT). */
  aliveRounds: number
  /** Sends of a local tombstone (the original's TOMBSTONE_COUNT). */
  tombstoneRounds: number
  /** Sends of a tombstone this node made for another host: every peer of that host makes its own, so few are needed. */
  observerRounds: number
  /** Time between two sends of one change (the original's TOMBSTONE_RETRANSMIT). */
  roundIntervalMs: number
  /** Each local record is re-sent this often even when nothing changed, on its own timer (jittered ±20 %). */
  heartbeatMs: number
  /** false: no timer; the owner drives rounds with round() (tests, simulations). Default true. */
  roundTimer?: boolean
}

interface Pending {
  remaining: number
  round: number
  /** When the next send is due (ms); 0 = at once. */
  nextAt: number
  /** Set for another host's record: sent as stored, 50 ns newer each round (reference §2.4). */
  observed?: Service
}

/** Sends of every local record after a reconnection (see reannounce()). */
const REANNOUNCE_ROUNDS = 3

/** Nanoseconds added per repeat of an observed tombstone, as the original did. */
const ROUND_BUMP_NS = 50n

/**
 * Records built, signed and published per slice at most: a send of 10,000 records (a start,
 * a round repeating 10,000 status changes, a leave) re-stamps, encodes and hands each to the
 * signer on the main thread (about 30-40 us each), so a slice also ends after SLICE_MS, and
 * slices share the event loop with the daemon's other sliced work, one per turn: the API,
 * health checks and membership probes get their turn between slices. About one and a half
 * full gossip messages of typical (~400 B) records, so slicing adds few messages.
 */
export const SEND_SLICE = 256

export class GossipAnnouncer implements Startable {
  readonly #c: AnnouncerComponents
  readonly #init: AnnouncerInit
  readonly #pending = new Map<string, Pending>()
  /** When each local record's next heartbeat is due (ms), by key, in due order: a round looks at due ones only. */
  readonly #beats = new KeyedMinHeap<string>()
  /** Keys changed since the last flush: sent at once, together. */
  readonly #now = new Set<string>()
  /** Keys handed to a send whose slice has not reached them yet, with how many sends hold each: a round does not pick them again. */
  readonly #queued = new Map<string, number>()
  #flushScheduled: NodeJS.Immediate | undefined
  #ticker: Ticker | undefined
  #inflight = new Set<Promise<void>>()
  /** Aborted by stop(): a send still going through its slices publishes nothing more. */
  #stopping = new AbortController()
  readonly #onChange = (e: ChangeEvent): void => { this.#changed(e) }

  constructor (components: AnnouncerComponents, init: AnnouncerInit) {
    this.#c = components
    this.#init = init
  }

  async start (): Promise<void> {
    if (this.#ticker !== undefined) return
    this.#stopping = new AbortController()
    this.#c.catalog.on('change', this.#onChange)
    this.#ticker = new Ticker(() => { this.round() }, { name: 'gossip rounds', intervalMs: this.#init.roundIntervalMs, logger: this.#c.logger })
    if (this.#init.roundTimer !== false) this.#ticker.start()
    // Everything owned at start is announced now: a restart must override peers' tombstones at once.
    for (const svc of this.#c.local.owned()) this.#schedule(recordKey(svc), { remaining: this.#init.aliveRounds, round: 0, nextAt: 0 })
    this.#scheduleFlush()
  }

  async stop (): Promise<void> {
    this.#c.catalog.off('change', this.#onChange)
    this.#stopping.abort()
    await this.#ticker?.stop()
    this.#ticker = undefined
    if (this.#flushScheduled !== undefined) clearImmediate(this.#flushScheduled)
    this.#flushScheduled = undefined
    this.#pending.clear()
    this.#now.clear()
    this.#queued.clear()
    this.#beats.clear()
  }

  /**
   * Sends what is waiting to go out now (the local component's leave tombstones, merged
   * just before) and waits at most timeoutMs for the sends in flight: stop() calls it, so
   * a graceful leave reaches peers while the network is still up.
   */
  async flush (timeoutMs: number): Promise<void> {
    if (this.#flushScheduled !== undefined) {
      clearImmediate(this.#flushScheduled)
      this.#flushScheduled = undefined
      const keys = [...this.#now]
      this.#now.clear()
      this.#send(keys)
    }
    if (this.#inflight.size === 0) return
    let timer: NodeJS.Timeout | undefined
    await Promise.race([this.settled(), new Promise(resolve => { timer = setTimeout(resolve, timeoutMs) })])
    clearTimeout(timer)
  }

  /**
   * Sends every local record again (re-stamped) on the next rounds: after a reconnection,
   * peers may hold tombstones for them. Not at once: gossipsub learns the new connections'
   * subscriptions and rebuilds its mesh within a heartbeat or two, and a message published
   * before that reaches nobody.
   */
  reannounce (): void {
    if (this.#ticker === undefined) return
    const nextAt = this.#c.clock.nowMs() + this.#init.roundIntervalMs / 2
    for (const svc of this.#c.local.owned()) {
      const key = recordKey(svc)
      if (!this.#pending.has(key)) this.#pending.set(key, { remaining: REANNOUNCE_ROUNDS, round: 1, nextAt })
    }
  }

  /** Waits for sends already handed to the network (tests, leave). */
  async settled (): Promise<void> {
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]) // a sliced send adds its publishes as it goes
  }

  #changed (e: ChangeEvent): void {
    const svc = e.service
    if (this.#c.catalog.reportOf(svc.Hostname, svc.ID)?.from !== this.#init.hostname) return // a peer's record: gossipsub forwards it
    const key = recordKey(svc)
    if (this.#isLocal(svc)) {
      this.#schedule(key, { remaining: svc.Status === ServiceStatus.TOMBSTONE ? this.#init.tombstoneRounds : this.#init.aliveRounds, round: 0, nextAt: 0 })
    } else {
      this.#schedule(key, { remaining: this.#init.observerRounds, round: 0, nextAt: 0, observed: svc })
    }
    this.#scheduleFlush()
  }

  #isLocal (svc: Service): boolean {
    if (svc.Hostname === this.#init.hostname) return true
    return this.#c.local.isOwned(svc)
  }

  #schedule (key: string, p: Pending): void {
    this.#pending.set(key, p)
    this.#now.add(key)
  }

  #scheduleFlush (): void {
    this.#flushScheduled ??= setImmediate(() => {
      this.#flushScheduled = undefined
      const keys = [...this.#now]
      this.#now.clear()
      this.#send(keys)
    })
  }

  /** One round now: repeats that are due, and heartbeats of local records whose timer ran out. The ticker calls it every roundIntervalMs. */
  round (): void {
    const nowMs = this.#c.clock.nowMs()
    const slack = this.#init.roundIntervalMs / 10 // a tick a little early still counts
    const due = new Set<string>()
    for (const [k, p] of this.#pending) if (p.nextAt <= nowMs + slack && !this.#now.has(k) && !this.#queued.has(k)) due.add(k)
    // Heartbeats that came due: O(due), not a pass over every local record each second.
    for (let top = this.#beats.peek(); top !== undefined && top.at <= nowMs; top = this.#beats.peek()) {
      const key = top.key
      this.#beats.pop()
      const svc = this.#lookup(key)
      // No longer this host's, or a tombstone (not heartbeated): forgotten; a later change of it sets a heartbeat again.
      // A key a send still holds gets its next heartbeat when that send reaches it.
      if (svc !== undefined && this.#c.local.isOwned(svc) && svc.Status !== ServiceStatus.TOMBSTONE && !this.#queued.has(key)) due.add(key)
    }
    this.#send([...due])
  }

  /** Sets (or moves) key's next heartbeat, jittered: O(log records). */
  #beatLater (key: string, nowMs: number): void {
    this.#beats.set(key, nowMs + this.#init.heartbeatMs * (0.8 + Math.random() * 0.4))
  }

  /**
   * Sends each key's record, in slices (SEND_SLICE records or SLICE_MS at most, one slice per
   * turn of the event loop): for each key in its turn, the schedule advances (rounds left, next
   * round, heartbeat), then the record is built (current version), signed and published. A
   * round of 10,000 due keys therefore costs its turn only the scan that finds them; until a
   * slice reaches a key, the key counts as queued and rounds leave it alone, so nothing is sent
   * twice. The schedule entry of each key is read now: a key whose entry a newer change
   * replaced meanwhile is skipped, as that change goes out at once on its own. O(keys).
   */
  #send (keys: readonly string[]): void {
    if (keys.length === 0) return
    const entries: Array<Pending | undefined> = new Array(keys.length)
    for (let i = 0; i < keys.length; i++) {
      entries[i] = this.#pending.get(keys[i])
      this.#queued.set(keys[i], (this.#queued.get(keys[i]) ?? 0) + 1)
    }
    this.#track(this.#sendSliced(keys, entries, this.#stopping.signal))
  }

  /** The key is no longer held by one of the sends that queued it. */
  #dequeue (key: string): void {
    const n = this.#queued.get(key) ?? 0
    if (n <= 1) this.#queued.delete(key)
    else this.#queued.set(key, n - 1)
  }

  async #sendSliced (keys: readonly string[], entries: ReadonlyArray<Pending | undefined>, signal: AbortSignal): Promise<void> {
    const slicer = new Slicer()
    let i = 0
    try {
      while (i < keys.length && !signal.aborted) {
        if (i > 0) await slicer.next()
        if (signal.aborted) return
        const records: Service[] = []
        const end = Math.min(keys.length, i + SEND_SLICE)
        const nowMs = this.#c.clock.nowMs()
        do {
          const key = keys[i]
          const p = entries[i++]
          this.#dequeue(key)
          if (p !== undefined && this.#pending.get(key) !== p) continue // replaced by a newer change, sent on its own
          const round = p?.round ?? 1
          const observed = p?.observed
          if (p !== undefined) {
            p.round++
            p.nextAt = nowMs + this.#init.roundIntervalMs
            if (--p.remaining <= 0) this.#pending.delete(key)
          }
          if (observed === undefined) this.#beatLater(key, nowMs)
          const record = observed !== undefined ? this.#observedVersion(observed, round) : this.#localVersion(key, round)
          if (record !== undefined) records.push(record)
          else if (p !== undefined && this.#pending.get(key) === p) this.#pending.delete(key) // gone (or, observed, replaced): nothing more to send
        } while (i < end && !slicer.due())
        if (records.length === 0) continue
        const sealed = await this.#c.seal(records)
        if (signal.aborted) return
        for (const msg of encodeRecords(sealed)) this.#track(this.#c.publish(msg))
      }
    } finally {
      for (; i < keys.length; i++) this.#dequeue(keys[i]) // stopped: what was not reached is no longer queued
    }
  }

  /** Keeps a send until it settles (settled(), flush()); a failure is logged at debug: the next round or heartbeat repairs it. */
  #track (sending: Promise<void>): void {
    const sent = sending.catch((err: unknown) => { this.#c.logger.debug({ err }, 'gossip publish failed') })
    this.#inflight.add(sent)
    void sent.finally(() => { this.#inflight.delete(sent) })
  }

  /**
   * The version of a local record to send: round 0 sends it as stored (just stamped by the
   * change); a repeat or heartbeat has the local component re-stamp and merge it first, so
   * peers always hold what this host holds. undefined when the record is gone.
   */
  #localVersion (key: string, round: number): Service | undefined {
    const ref = this.#lookup(key)
    if (ref === undefined) return undefined
    const stored = this.#c.catalog.get(ref.Hostname, ref.ID)
    if (stored === undefined) return undefined
    if (round === 0) return stored
    return this.#c.local.restamp(ref.Hostname, ref.ID)
  }

  /** Another host's record this node tombstoned: unless something newer arrived meanwhile, resend it a little newer. */
  #observedVersion (svc: Service, round: number): Service | undefined {
    const stored = this.#c.catalog.get(svc.Hostname, svc.ID)
    if (stored === undefined || stored.Status !== svc.Status) return undefined
    return round === 0 ? svc : withFields(svc, { Updated: svc.Updated.plusNanos(ROUND_BUMP_NS * BigInt(round)) })
  }

  #lookup (key: string): Service | undefined {
    const [hostname, id] = key.split('\u0000')
    return this.#c.catalog.get(hostname, id)
  }
}
