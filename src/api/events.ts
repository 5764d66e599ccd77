// The one bridge from the catalog's 'change' events to every stream client (SSE and
// /watch). It subscribes to the catalog once, numbers each change, keeps the last ones in a
// bounded ring for Last-Event-ID resume, and fans out to subscribers that never block it:
// each subscriber owns its queue and its bound. Heartbeats (and cluster member updates)
// come from one timer for all clients.
import type { Catalog, ChangeEvent } from '../catalog/index.ts'
import type { Logger } from '../lib/logger.ts'
import type { Metrics } from '../lib/metrics.ts'
import type { Startable } from '../lib/startable.ts'
import { Ticker } from '../lib/ticker.ts'
import { statusString } from '../service/status.ts'
import { membersObject, type ClusterMember } from './views.ts'

/**
 * One numbered change, serialised once for every client, when a client first needs it: with
 * no stream client (the common case) a change costs no JSON at all, and 10,000 services make
 * tens of thousands of changes in their first seconds. The ring holds event_buffer of these;
 * the data is a view into the frame, not a second copy. The record is frozen, so the frame
 * built later is the one that would have been built at once.
 */
export class HubEvent {
  /** Strictly increasing, also across daemon restarts (see EventHub). */
  readonly id: number
  #change: ChangeEvent | undefined
  #frame: string | undefined
  #dataStart = 0

  constructor (id: number, change: ChangeEvent) {
    this.id = id
    this.#change = change
    Object.freeze(this)
  }

  /** The whole SSE frame: id, event: service-changed, data. */
  get frame (): string {
    if (this.#frame === undefined) {
      const e = this.#change as ChangeEvent
      const head = `id: ${this.id}\nevent: service-changed\ndata: `
      this.#frame = `${head}${JSON.stringify({ Service: e.service, PreviousStatus: e.previousStatus, Time: e.time })}\n\n`
      this.#dataStart = head.length
      this.#change = undefined
    }
    return this.#frame
  }

  /** The original's ChangeEvent JSON: {"Service":..,"PreviousStatus":..,"Time":..}. */
  get data (): string { return this.frame.slice(this.#dataStart, -2) }
}

/** A stream client. Every method returns at once; none may throw into the hub. */
export interface Subscriber {
  readonly kind: 'sse' | 'watch'
  /** Bytes accepted for this client that its socket has not taken yet (for the metrics). */
  readonly queuedBytes: number
  change (e: HubEvent): void
  /** The cluster member list changed, or a heartbeat is due: JSON {"ClusterMembers":..,"ClusterName":..}. */
  members (json: string): void
  heartbeat (): void
  /** The hub is stopping: end the stream. */
  close (reason: string): void
}

export interface EventHubInit {
  /** Events kept for resume ([api] event_buffer). */
  bufferSize: number
  heartbeatIntervalMs: number
}

export function sseFrame (event: string, data: string, id?: number): string {
  return `${sseHead(event, id)}${data}\n\n`
}

/**
 * The same frame with its data in parts, for writing each part as it is: a shared Buffer is
 * written by reference, not copied per client.
 */
export function sseFrameParts<P extends string | Buffer> (event: string, data: readonly P[], id?: number): Array<string | P> {
  return [sseHead(event, id), ...data, '\n\n']
}

/** A frame up to its data: JSON never holds a raw newline, so one data: line carries it. */
function sseHead (event: string, id?: number): string {
  return `${id !== undefined ? `id: ${id}\n` : ''}event: ${event}\ndata: `
}

export class EventHub implements Startable {
  readonly #catalog: Catalog
  readonly #members: () => readonly ClusterMember[]
  readonly #logger: Logger
  readonly #init: EventHubInit
  /**
   * Ids start at the hub's creation time in microseconds, so ids of a restarted daemon
   * are above every id of its previous run (unless more than a million changes per second
   * of uptime happened) and a stale Last-Event-ID gets a fresh snapshot, never wrong events.
   */
  readonly base = Date.now() * 1000
  #lastId = this.base
  readonly #ring: HubEvent[] = []
  readonly #subscribers = new Set<Subscriber>()
  #deliveries = 0
  #heartbeat: Ticker | undefined
  #membersKey = ''
  #membersCheck: NodeJS.Immediate | undefined
  readonly #changes
  readonly #dropped
  readonly #onChange = (e: ChangeEvent): void => { this.#publish(e) }

  constructor (components: { catalog: Catalog, members: () => readonly ClusterMember[], logger: Logger, metrics: Metrics }, init: EventHubInit) {
    this.#catalog = components.catalog
    this.#members = components.members
    this.#logger = components.logger
    this.#init = init
    const m = components.metrics
    this.#changes = m.counter('sidecar_catalog_changes_total', 'Records added or changed in status, by new status', ['status'])
    this.#dropped = m.counter('sidecar_stream_clients_dropped_total', 'Stream clients dropped: too slow to read their events, the state changed faster than a snapshot for them could be built, or they left an old document unread while newer ones were held')
    const subscribers = this.#subscribers
    m.gauge('sidecar_stream_clients', 'Open stream clients (sse: /api/events, watch: /watch)', ['kind'], function () {
      this.reset()
      this.set({ kind: 'sse' }, 0)
      this.set({ kind: 'watch' }, 0)
      for (const s of subscribers) this.inc({ kind: s.kind })
    })
    m.gauge('sidecar_stream_queued_bytes', 'Bytes of events waiting for slow stream clients, all clients together', [], function () {
      let n = 0
      for (const s of subscribers) n += s.queuedBytes
      this.set(n)
    })
  }

  get lastId (): number { return this.#lastId }

  /** Time between heartbeats ([api] heartbeat_interval): a members event reaches every stream client at each. */
  get heartbeatIntervalMs (): number { return this.#init.heartbeatIntervalMs }

  get clientCount (): number { return this.#subscribers.size }

  /** Changes delivered to subscribers so far, one per subscriber a change reached (the heap mode reads it as load). */
  get deliveries (): number { return this.#deliveries }

  async start (): Promise<void> {
    if (this.#heartbeat !== undefined) return
    this.#catalog.on('change', this.#onChange)
    this.#membersKey = this.#keyOf(this.#members())
    this.#heartbeat = new Ticker(() => { this.#beat() }, { name: 'stream heartbeat', intervalMs: this.#init.heartbeatIntervalMs, firstDelayMs: this.#init.heartbeatIntervalMs, logger: this.#logger })
    this.#heartbeat.start()
  }

  async stop (): Promise<void> {
    if (this.#heartbeat === undefined) return
    this.#catalog.off('change', this.#onChange)
    await this.#heartbeat.stop()
    this.#heartbeat = undefined
    if (this.#membersCheck !== undefined) clearImmediate(this.#membersCheck)
    this.#membersCheck = undefined
    for (const s of [...this.#subscribers]) this.#safely(s, () => { s.close('the daemon is shutting down') })
    this.#subscribers.clear()
  }

  /** Adds a client; returns the function that removes it. */
  subscribe (s: Subscriber): () => void {
    this.#subscribers.add(s)
    return () => { this.#subscribers.delete(s) }
  }

  /**
   * Tells the hub that cluster membership may have changed (gossip: a peer joined or left),
   * so stream clients get a members event now rather than at the next heartbeat. Cheap;
   * sends only if names or service counts differ from the last sent.
   */
  notifyMembers (): void {
    if (this.#heartbeat === undefined) return
    this.#membersCheck ??= setImmediate(() => {
      this.#membersCheck = undefined
      const key = this.#keyOf(this.#members())
      if (key !== this.#membersKey) this.#sendMembers(key)
    })
  }

  /** Counts a client dropped for falling behind (the client decides; the hub keeps the tally). */
  countDrop (): void { this.#dropped.inc() }

  /**
   * The events after `lastEventId`, or undefined when they cannot be replayed exactly: an
   * id this run never issued (another run's, or garbage) or one older than the ring holds.
   */
  since (lastEventId: string | undefined): HubEvent[] | undefined {
    if (lastEventId === undefined || !/^\d{1,16}$/.test(lastEventId.trim())) return undefined
    const id = Number(lastEventId.trim())
    if (id < this.base || id > this.#lastId) return undefined
    if (id === this.#lastId) return []
    const oldest = this.#ring[0]?.id
    if (oldest === undefined || id < oldest - 1) return undefined
    return this.#ring.slice(id - oldest + 1)
  }

  /** JSON of the current cluster members: {"ClusterMembers":..,"ClusterName":..}. */
  membersJson (): string {
    return JSON.stringify({ ClusterMembers: membersObject(this.#members()), ClusterName: this.#catalog.clusterName })
  }

  #publish (e: ChangeEvent): void {
    // Runs inside catalog.merge(): must be quick and must not throw.
    const id = ++this.#lastId
    const event = new HubEvent(id, e)
    this.#ring.push(event)
    if (this.#ring.length > this.#init.bufferSize) this.#ring.shift()
    this.#changes.inc({ status: statusString(e.service.Status).toLowerCase() })
    this.#deliveries += this.#subscribers.size
    for (const s of this.#subscribers) this.#safely(s, () => { s.change(event) })
    this.notifyMembers() // a new record may be a new host's first, or change a count
  }

  #beat (): void {
    this.#sendMembers(this.#keyOf(this.#members()))
    for (const s of this.#subscribers) this.#safely(s, () => { s.heartbeat() })
  }

  #sendMembers (key: string): void {
    this.#membersKey = key
    if (this.#subscribers.size === 0) return
    const json = this.membersJson()
    for (const s of this.#subscribers) this.#safely(s, () => { s.members(json) })
  }

  /** What makes a member list different for the UI: names and service counts (LastUpdated moves every second). */
  #keyOf (members: readonly ClusterMember[]): string {
    return members.map(m => `${m.Name}\u0000${m.ServiceCount}`).sort().join('\u0001')
  }

  #safely (s: Subscriber, fn: () => void): void {
    try {
      fn()
    } catch (err) {
      this.#logger.error({ err }, `a ${s.kind} stream client failed; dropping it`)
      this.#subscribers.delete(s)
    }
  }
}
