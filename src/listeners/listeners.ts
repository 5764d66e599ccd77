// The listeners component: every webhook this daemon POSTs catalog changes to. Configured
// listeners ([listeners] urls and [[listeners.webhook]]) live as long as the daemon;
// discovered ones (a static entry's ListenPort, a container's SidecarListener label) come
// and go with their services. The catalog's 'change' handler only appends the change to one
// backlog (O(1), whatever the number of listeners); the backlog is handed out to the listeners
// (filter, queue) afterwards, in time slices, in the order of the changes.
import { encodeHostsParts, StateMemo, type Catalog, type ChangeEvent, type StateLists } from '../catalog/index.ts'
import { errorMessage } from '../lib/errors.ts'
import type { Logger } from '../lib/logger.ts'
import type { Metrics } from '../lib/metrics.ts'
import { Slicer, TurnQueue } from '../lib/slicer.ts'
import type { Startable } from '../lib/startable.ts'
import type { ListenerSource, ListenerTarget } from '../local/types.ts'
import type { Clock } from '../service/clock.ts'
import { recordKey } from '../service/service.ts'
import { accepts, ACCEPT_ALL, type ListenerFilter } from './filter.ts'
import { ListenerMetrics } from './metrics.ts'
import { bodyMac, signRequest, stateChangedEventBody } from './payload.ts'
import { displayUrl } from './target.ts'
import { WebhookListener, type ListenerEvent, type ListenerView, type SignedBody } from './webhook.ts'

/**
 * Changes waiting to be handed to the listeners beyond which each further change hands out the
 * oldest waiting one at once, inside the catalog operation, as every change did before the
 * backlog: what a peer that changes records faster than the listeners take them can make this
 * daemon hold (about 150 bytes each: 7 MB) and wait (at 300 listeners a change takes about
 * 0.1 ms to hand out: 5 s).
 */
const MAX_BACKLOG = 50_000

/** Listeners offered an event between two looks at the clock while handing out: about 10 µs of work. */
const OFFERS_PER_CLOCK = 32

/** A listener as the hand-out sees it: it gets only the changes made after it was added. */
interface Target { readonly listener: WebhookListener, readonly after: number }

export interface ConfiguredWebhook {
  url: string
  services: readonly string[]
  statusChangesOnly: boolean
}

export interface ListenersInit {
  /** This daemon's hostname: X-Sidecar-Hostname. */
  hostname: string
  /** [listeners] urls: every event, no filter. */
  urls: readonly string[]
  /** [[listeners.webhook]]: with filters. */
  webhooks: readonly ConfiguredWebhook[]
  secret: string
  timeoutMs: number
  retries: number
  retryDelayMs: number
  queueSize: number
  /** [listeners] min_interval: least time between two POSTs to one listener once a burst is spent (0: none). */
  minIntervalMs: number
  /** POSTs to one listener that may go back to back before min_interval applies; default queueSize. */
  postBurst?: number
}

export interface ListenersComponents {
  catalog: Catalog
  logger: Logger
  metrics: Metrics
  clock: Clock
  /** The webhooks local services ask for (src/local/); its 'change' prompts a reconcile. */
  local: ListenerSource
  random?: () => number
}

export class Listeners implements Startable {
  readonly #c: ListenersComponents
  readonly #init: ListenersInit
  readonly #metrics: ListenerMetrics
  readonly #listeners = new Map<string, WebhookListener>()
  readonly #sessionCookie: string
  #nextId: number
  #lastBody: { id: number, body: Promise<SignedBody> } | undefined
  /** The encoded state of each state that queued events still hold (kept no longer than they are). */
  readonly #stateParts = new WeakMap<StateLists, Promise<Buffer[]>>()
  /** The blocks of records of the last state encoded: the next one encodes only the blocks that changed. */
  readonly #memo = new StateMemo()
  /** Events queued during the current catalog operation, waiting for its resulting state. */
  #stateless: ListenerEvent[] = []
  /** Changes not yet handed to every listener, oldest first, from #backlogHead on. */
  #backlog: Array<ListenerEvent | undefined> = []
  #backlogHead = 0
  /** The event being handed out, to whom, and how far: the next slice goes on from there. */
  #current: { event: ListenerEvent, targets: readonly Target[], next: number } | undefined
  /** The listeners in order, with the last event id before each was added; rebuilt after an add or a remove. */
  #targets: readonly Target[] | undefined
  #handingOut = false
  /**
   * Where every sender starts its POSTs: a burst of them (each listener's sender wakes when the
   * body it waits for is ready, 200 at once: 100 ms of requests made) goes out over several turns.
   */
  readonly #starts = new TurnQueue()
  /** The last event id before each listener was added: it gets only the changes made after. */
  readonly #addedAfter = new WeakMap<WebhookListener, number>()
  #started = false
  /**
   * Bytes of each body's own ChangeEvent part made so far (the state's are counted by #memo):
   * retries reuse their body; a listener behind another has the event's part made again.
   */
  #bodyBytes = 0
  readonly #onChange = (change: ChangeEvent): void => { this.#dispatch(change) }
  readonly #onDiscovery = (): void => { this.#track() }

  constructor (components: ListenersComponents, init: ListenersInit) {
    this.#c = components
    this.#init = init
    this.#metrics = new ListenerMetrics(components.metrics, () => this.#listeners.values(), () => this.backlog)
    const startMs = components.clock.nowMs()
    // Microseconds since the epoch at start: ids keep increasing across restarts of this daemon too.
    this.#nextId = startMs * 1000
    this.#sessionCookie = `${init.hostname}-${new Date(startMs).toISOString()}`
  }

  async start (): Promise<void> {
    if (this.#started) return
    this.#started = true
    for (const url of this.#init.urls) this.#add(this.#configName(url), url, 'config', ACCEPT_ALL)
    for (const w of this.#init.webhooks) {
      this.#add(this.#configName(w.url), w.url, 'config', Object.freeze({ services: Object.freeze([...w.services]), statusChangesOnly: w.statusChangesOnly }))
    }
    this.#c.catalog.on('change', this.#onChange)
    this.#c.local.on('change', this.#onDiscovery)
    this.#track()
    await Promise.all([...this.#listeners.values()].map(async l => { await l.start() }))
  }

  async stop (): Promise<void> {
    this.#c.catalog.off('change', this.#onChange)
    this.#c.local.off('change', this.#onDiscovery)
    this.#started = false
    this.#backlog = []
    this.#backlogHead = 0
    this.#current = undefined
    const all = [...this.#listeners.values()]
    this.#listeners.clear()
    this.#targets = undefined
    await Promise.all(all.map(async l => { await l.stop() }))
  }

  /**
   * Bytes encoded for POST bodies so far, which the heap mode reads as load (the whole state
   * at 10,000 services is 2.7 MB, garbage once its events are sent).
   */
  get bodyBytes (): number { return this.#bodyBytes + this.#memo.madeBytes }

  /** Every listener, configured ones first (in config order), then discovered ones as they came. */
  list (): ListenerView[] {
    return [...this.#listeners.values()].map(l => l.view())
  }

  /** Changes not yet handed to every listener (a change being handed out counts). */
  get backlog (): number {
    return this.#backlog.length - this.#backlogHead + (this.#current === undefined ? 0 : 1)
  }

  /**
   * Runs inside catalog.merge(): appends the change to the backlog, whatever the number of
   * listeners, and never throws. (Offering each change to every listener here, 300 listeners
   * held a gossip page of 1,000 changes for 110 ms and more.)
   */
  #dispatch (change: ChangeEvent): void {
    try {
      const id = ++this.#nextId
      if (this.#listeners.size === 0) return
      this.#backlog.push(this.#awaitState({ id, key: recordKey(change.service), change, state: undefined }))
      if (this.backlog > MAX_BACKLOG) this.#handOut(MAX_BACKLOG, () => false)
    } catch (err) {
      this.#c.logger.error({ err }, 'bug: listeners failed to queue a change')
    }
  }

  /**
   * Hands the backlog out in time slices (Slicer: one per turn of the event loop beside the
   * daemon's other sliced work), from the turn after the catalog operation that made the first
   * change: an operation can be long itself (a gossip page of 1,000 records, 25-35 ms), and
   * a slice in the same turn would add to it. Idempotent while it runs.
   */
  async #handOutAll (): Promise<void> {
    if (this.#handingOut) return
    this.#handingOut = true
    try {
      const slicer = new Slicer()
      for (;;) {
        await slicer.next()
        this.#handOut(0, () => slicer.due())
        if (this.backlog === 0) return
      }
    } catch (err) {
      this.#c.logger.error({ err }, 'bug: listeners failed to hand out a change')
    } finally {
      this.#handingOut = false
    }
  }

  /**
   * Offers the backlog's events to the listeners, each event to every listener in order before
   * the next event, from where the last call stopped, until `keep` events are left or due()
   * says to stop. So each listener gets its events in the order of the changes, wherever the
   * slices end. Never waits.
   */
  #handOut (keep: number, due: () => boolean): void {
    let offers = 0
    for (;;) {
      let c = this.#current
      if (c === undefined) {
        if (this.backlog <= keep) return
        const event = this.#backlog[this.#backlogHead] as ListenerEvent
        this.#backlog[this.#backlogHead++] = undefined
        if (this.#backlogHead > 1024 && this.#backlogHead * 2 > this.#backlog.length) {
          this.#backlog = this.#backlog.slice(this.#backlogHead)
          this.#backlogHead = 0
        }
        c = this.#current = { event, targets: this.#targets ??= [...this.#listeners.values()].map(listener => ({ listener, after: this.#addedAfter.get(listener) ?? 0 })), next: 0 }
      }
      const { event, targets } = c
      while (c.next < targets.length) {
        const { listener, after } = targets[c.next++]
        if (event.id > after && accepts(listener.filter, event.change)) listener.offer(event)
        if (++offers % OFFERS_PER_CLOCK === 0 && due()) {
          if (c.next === targets.length) this.#current = undefined
          return
        }
      }
      this.#current = undefined
    }
  }

  /**
   * Queues e for the state taken once the current catalog operation is over (a microtask), so
   * a reload or reaping pass that makes 1,000 changes costs one, not 1,000, and nothing is
   * copied inside catalog.merge(). The state is catalog.stateLists(), not a snapshot(): a host
   * turning 10,000 services ALIVE makes thousands of operations, and a frozen snapshot of
   * 10,000 properties for each (10-50 ms with the collections) took the start with a listener
   * from about 2 check intervals to 4-5.
   */
  #awaitState (e: ListenerEvent): ListenerEvent {
    if (this.#stateless.length === 0) queueMicrotask(() => { this.#settle() })
    this.#stateless.push(e)
    return e
  }

  #settle (): void {
    if (this.#stateless.length === 0) return
    const state = this.#c.catalog.stateLists()
    for (const e of this.#stateless) e.state = state
    this.#stateless = []
    void this.#handOutAll()
  }

  /**
   * The POST body of an event and its signatures; the last one is kept, since every listener
   * usually sends the same event in turn. The state in it is encoded in time slices, once per
   * snapshot: the events of one catalog operation share it (at 10,000 records, 20-40 ms of
   * encoding in one piece per POST before). Its MAC is made once, not by each listener: 200
   * listeners whose senders all woke when the body was ready signed 1 MB each in one turn of
   * the event loop (140 ms). Each attempt's X-Sidecar-Request-Signature is an HMAC of that MAC
   * with its time, event id and hostname (about 100 bytes), not of the body again.
   */
  async #body (e: ListenerEvent): Promise<SignedBody> {
    if (e.state === undefined) this.#settle() // not reached in practice: senders start after the microtask
    if (this.#lastBody?.id !== e.id) {
      const state = e.state as StateLists
      let parts = this.#stateParts.get(state)
      if (parts === undefined) {
        parts = encodeHostsParts(state.hosts, state, undefined, this.#memo)
        this.#stateParts.set(state, parts)
      }
      this.#lastBody = {
        id: e.id,
        body: parts.then(p => {
          const body = stateChangedEventBody(p, e.change)
          this.#bodyBytes += (body.at(-1) as Buffer).length
          const { secret, hostname } = this.#init
          if (secret === '') return { parts: body, signature: undefined, stamp: undefined }
          // one pass over the body for both headers; each attempt then signs ~100 bytes
          const mac = bodyMac(body, secret)
          const clock = this.#c.clock
          return { parts: body, signature: `sha256=${mac}`, stamp: () => signRequest({ timestamp: Math.floor(clock.nowMs() / 1000), eventId: e.id, hostname }, mac, secret) }
        }),
      }
    }
    return await this.#lastBody.body
  }

  /**
   * "UrlListener(<url>)", credentials masked; URLs that differ only in their credentials
   * (two tokens for one endpoint) are told apart as "UrlListener(<url>) #2", ... (one took the
   * other's place before, and never got an event).
   */
  #configName (url: string): string {
    const name = `UrlListener(${displayUrl(url)})`
    let unique = name
    for (let n = 2; this.#listeners.has(unique); n++) unique = `${name} #${n}`
    return unique
  }

  #add (name: string, url: string, source: 'config' | 'discovered', filter: ListenerFilter): void {
    const { hostname, timeoutMs, retries, retryDelayMs, queueSize, minIntervalMs, postBurst = queueSize } = this.#init
    const listener = new WebhookListener(
      { logger: this.#c.logger, metrics: this.#metrics, body: async e => await this.#body(e), start: async <T>(post: () => T): Promise<Awaited<T>> => await this.#starts.run(post), ...(this.#c.random !== undefined ? { random: this.#c.random } : {}) },
      { name, url, source, filter, hostname, sessionCookie: this.#sessionCookie, timeoutMs, retries, retryDelayMs, queueSize, minIntervalMs, postBurst },
    )
    this.#listeners.set(name, listener)
    this.#addedAfter.set(listener, this.#nextId)
    this.#targets = undefined
    if (this.#started) void listener.start()
  }

  #remove (listener: WebhookListener): void {
    this.#listeners.delete(listener.name)
    this.#targets = undefined
    this.#metrics.forget(listener.name)
    listener.stop().catch(() => {}) // stop() never throws; nothing waits for the aborted POST
  }

  /** Brings discovered listeners in line with local services: one per service that asks for one. */
  #track (): void {
    let targets: readonly ListenerTarget[]
    try {
      targets = this.#c.local.listenerTargets()
    } catch (err) {
      this.#c.logger.error(`cannot read discovered listeners: ${errorMessage(err)}`)
      return
    }
    const wanted = new Map<string, string>()
    for (const t of targets) {
      if (!URL.canParse(t.url)) continue
      wanted.set(t.name, t.url)
    }
    for (const l of [...this.#listeners.values()]) {
      if (l.source !== 'discovered' || wanted.get(l.name) === l.url) continue
      this.#c.logger.info(`removing listener ${l.name} (${displayUrl(l.url)}): ${wanted.has(l.name) ? 'its URL changed' : 'the service is gone'}`)
      this.#remove(l)
    }
    for (const [name, url] of wanted) {
      if (this.#listeners.has(name)) continue
      this.#c.logger.info(`adding listener ${name} (${displayUrl(url)}): just discovered`)
      this.#add(name, url, 'discovered', ACCEPT_ALL)
    }
  }
}
