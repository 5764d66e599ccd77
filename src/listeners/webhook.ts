// One webhook listener: its own bounded queue and one sender that POSTs the queued events
// in order, one at a time. offer() never waits, so neither the catalog nor the other
// listeners ever wait on a slow or failing receiver.
import type { Agent } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import type { ChangeEvent, StateLists } from '../catalog/index.ts'
import type { Logger } from '../lib/logger.ts'
import type { Startable } from '../lib/startable.ts'
import { TokenBucket } from '../lib/token-bucket.ts'
import { retryDelay } from './backoff.ts'
import type { ListenerFilter } from './filter.ts'
import type { ListenerMetrics } from './metrics.ts'
import { postAgent, postOnce } from './post.ts'
import { EventQueue, type Keyed } from './queue.ts'
import { parseTarget, type Target } from './target.ts'

/** One catalog change as listeners carry it. */
export interface ListenerEvent extends Keyed {
  /** X-Sidecar-Event-Id: increasing per daemon; the same for every listener and every retry. */
  readonly id: number
  readonly change: ChangeEvent
  /**
   * The catalog once the operation that made the change has completed (one announcer
   * sync, one reaping pass, one gossip message): it includes this change. Set right after
   * that operation, before any listener encodes the event (catalog.stateLists(): a host's
   * records are listed again only once it changed).
   */
  state: StateLists | undefined
}

/** A POST body in parts, and its signatures (undefined without a secret). */
export interface SignedBody {
  readonly parts: readonly Buffer[]
  /** X-Sidecar-Signature: of the body alone, the same on every attempt. */
  readonly signature: string | undefined
  /**
   * X-Sidecar-Request-Signature for an attempt starting now: the time of the call, the event
   * id and hostname, and the body (by its MAC, made once), so each retry carries its own time.
   */
  readonly stamp: (() => string) | undefined
}

/** config: [listeners] urls or [[listeners.webhook]]; discovered: a service's ListenPort or SidecarListener label. */
export type ListenerSource = 'config' | 'discovered'

export interface WebhookInit {
  /** "UrlListener(<url>)" (password masked) or "Service(<Name>-<ID>)", as the original named them. */
  name: string
  url: string
  source: ListenerSource
  filter: ListenerFilter
  /** Sent as X-Sidecar-Hostname. */
  hostname: string
  /** Sent as the sidecar-session-host cookie, as the original did (load balancer affinity). */
  sessionCookie: string
  timeoutMs: number
  retries: number
  retryDelayMs: number
  queueSize: number
  /** Least time between the starts of two POSTs of different events once a burst is spent (0: none); events wait for it in the queue. */
  minIntervalMs: number
  /** POSTs that may start back to back before min_interval applies; one more is earned per min_interval of quiet, up to this many. */
  postBurst: number
}

export interface WebhookComponents {
  logger: Logger
  metrics: ListenerMetrics
  /** The body of an event, in parts, and its signature (shared between listeners, so each is made once). */
  body: (e: ListenerEvent) => Promise<SignedBody>
  /**
   * Starts a POST (shared by the listeners: as many per turn of the event loop as its budget
   * allows, the rest in later turns); at once when absent.
   */
  start?: <T>(post: () => T) => Promise<Awaited<T>>
  /** Jitter source; Math.random unless a test fixes it. */
  random?: () => number
}

/** What /api/listeners.json shows of a listener. */
export interface ListenerView {
  name: string
  source: ListenerSource
  url: string
  /** Configured filters; absent when the listener takes every event. */
  filter?: { services: string[], statusChangesOnly: boolean }
  /** ISO time of the last acknowledged POST; null before the first. */
  lastSuccess: string | null
  lastError: { at: string, message: string } | null
  /** Failed attempts since the last success. */
  consecutiveFailures: number
  /** Events waiting (not counting the one being sent). */
  queueDepth: number
  /** Id of the event being sent, or null. */
  sending: number | null
  delivered: number
  failedAttempts: number
  /** Coalesced away because the queue was full. */
  coalesced: number
  /** Dropped after every retry failed. */
  gaveUp: number
}

export class WebhookListener implements Startable {
  readonly name: string
  /** As configured or discovered (may hold credentials: never shown, see #target.display). */
  readonly url: string
  readonly source: ListenerSource
  readonly filter: ListenerFilter
  readonly #c: WebhookComponents
  readonly #init: WebhookInit
  readonly #queue: EventQueue<ListenerEvent>
  readonly #target: Target
  readonly #abort = new AbortController()
  /** Its keep-alive connection to the target; destroyed by stop(). */
  readonly #agent: Agent
  #sending: ListenerEvent | undefined
  /**
   * The queue overflowed since it was last empty: the receiver no longer gets every event
   * (see #next).
   */
  #behind = false
  /** POSTs that may start without waiting for min_interval: postBurst, one back per min_interval (on performance.now()). */
  readonly #posts: TokenBucket
  #draining: Promise<void> | undefined
  #lastSuccess: number | undefined
  #lastError: { at: number, message: string } | undefined
  #consecutiveFailures = 0
  #giveUpsSinceSuccess = 0
  #delivered = 0
  #failedAttempts = 0
  #coalesced = 0
  /** Events coalesced away because the queue was full (the warning's count). */
  #queueFull = 0
  #gaveUp = 0

  constructor (components: WebhookComponents, init: WebhookInit) {
    this.#c = components
    this.#init = init
    this.#posts = new TokenBucket({ capacity: init.postBurst, periodMs: init.minIntervalMs }, performance.now())
    this.name = init.name
    this.url = init.url
    this.#target = parseTarget(init.url)
    this.#agent = postAgent(this.#target.href)
    this.source = init.source
    this.filter = init.filter
    this.#queue = new EventQueue(init.queueSize)
  }

  get queueDepth (): number { return this.#queue.length }

  /** Events coalesced away from the full queue so far. */
  get coalesced (): number { return this.#coalesced }

  /** Events dropped after every retry failed so far. */
  get gaveUp (): number { return this.#gaveUp }

  /** Queues an event and makes sure the sender runs. Never waits, never throws. */
  offer (e: ListenerEvent): void {
    if (this.#abort.signal.aborted) return
    const dropped = this.#queue.push(e)
    if (dropped !== undefined) {
      this.#behind = true
      this.#coalesced++
      if (++this.#queueFull % 1000 === 1) this.#c.logger.warn(`${this.name}: queue full (${this.#init.queueSize} events), coalescing intermediate events (${this.#coalesced} so far)`)
    }
    this.#draining ??= this.#drain()
  }

  /**
   * Nothing to open: the sender runs only while events wait (offer() starts it), so a
   * listener is ready once built. Here for the symmetric lifecycle; idempotent.
   */
  async start (): Promise<void> {}

  /** Aborts the POST in flight and discards the queue; resolves when the sender has stopped. */
  async stop (): Promise<void> {
    this.#abort.abort()
    this.#queue.clear()
    await this.#draining
    this.#agent.destroy()
  }

  view (): ListenerView {
    const f = this.filter
    return {
      name: this.name,
      source: this.source,
      url: this.#target.display,
      ...(f.services.length > 0 || f.statusChangesOnly ? { filter: { services: [...f.services], statusChangesOnly: f.statusChangesOnly } } : {}),
      lastSuccess: this.#lastSuccess === undefined ? null : new Date(this.#lastSuccess).toISOString(),
      lastError: this.#lastError === undefined ? null : { at: new Date(this.#lastError.at).toISOString(), message: this.#lastError.message },
      consecutiveFailures: this.#consecutiveFailures,
      queueDepth: this.#queue.length,
      sending: this.#sending?.id ?? null,
      delivered: this.#delivered,
      failedAttempts: this.#failedAttempts,
      coalesced: this.#coalesced,
      gaveUp: this.#gaveUp,
    }
  }

  /** Sends queued events one by one until the queue is empty; never throws. */
  async #drain (): Promise<void> {
    try {
      // Start after the catalog operation that queued the event has finished: no encoding
      // or I/O happens inside catalog.merge().
      await Promise.resolve()
      while (this.#queue.length > 0) {
        await this.#pace()
        // the queue is seen empty and #draining cleared (finally) in one synchronous step
        const e = this.#next()
        if (e === undefined || this.#abort.signal.aborted) break
        this.#sending = e
        try {
          await this.#deliver(e)
        } catch (err) {
          this.#c.logger.error({ err }, `${this.name}: bug while delivering event ${e.id}`)
        }
        this.#sending = undefined
      }
    } finally {
      // Cleared in the same synchronous step that saw the queue empty, so an offer() that
      // comes after always starts a new sender.
      this.#sending = undefined
      this.#draining = undefined
    }
  }

  /**
   * Waits until this listener may start another POST: a burst of postBurst (queue_size) goes
   * at once, as a host restarting its containers expects, and beyond it one POST per
   * [listeners] min_interval. Before, a member flipping a record hundreds of times a second
   * (each flip a valid, signed change) made a POST of the whole state for every flip, 390 a
   * second (800 in the busiest one) at a fast receiver. Never throws (a stop ends the wait).
   */
  async #pace (): Promise<void> {
    const every = this.#init.minIntervalMs
    if (every <= 0) return
    const posts = this.#posts
    if (posts.refill(performance.now()) < 1) {
      await sleep((1 - posts.tokens) * every, undefined, { signal: this.#abort.signal }).catch(() => {})
      posts.refill(performance.now())
    }
    posts.take()
  }

  /**
   * The oldest waiting event. Once the queue has overflowed (the receiver already misses
   * events), until it is empty again, waiting events about a record that changed again are
   * coalesced away: the newer one carries the newer state, so a storm of flips of a few
   * records leaves the receiver min_interval x their number behind, not queue_size POSTs of
   * stale states. Until then every event is sent, each continuing its record's chain.
   */
  #next (): ListenerEvent | undefined {
    const e = this.#behind ? this.#queue.shiftNewest(() => { this.#coalesced++ }) : this.#queue.shift()
    if (this.#queue.length === 0) this.#behind = false
    return e
  }

  /** Up to 1 + retries attempts, each a new request with the same bytes and event id (and, with a secret, its own signed time). */
  async #deliver (e: ListenerEvent): Promise<void> {
    const { retries, retryDelayMs, timeoutMs } = this.#init
    const { parts: body, signature, stamp } = await this.#c.body(e)
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'sidecar-listener',
      'x-sidecar-event-id': String(e.id),
      'x-sidecar-hostname': this.#init.hostname,
      cookie: `sidecar-session-host=${this.#init.sessionCookie}`,
    }
    if (signature !== undefined) headers['x-sidecar-signature'] = signature
    if (this.#target.authorization !== undefined) headers.authorization = this.#target.authorization
    const signal = this.#abort.signal
    let error = ''
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) {
        try {
          await sleep(retryDelay(attempt, retryDelayMs, this.#c.random), undefined, { signal })
        } catch {
          return // stopped
        }
      }
      // stamped when the POST starts (it may wait for a turn): a receiver's window counts from the attempt, not from the first one
      const post = (): ReturnType<typeof postOnce> => postOnce({ url: this.#target.href, body, headers: stamp === undefined ? headers : { ...headers, 'x-sidecar-request-signature': stamp() }, timeoutMs, signal, agent: this.#agent })
      const r = this.#c.start === undefined ? await post() : await this.#c.start(post)
      if (signal.aborted) return
      if (r.ok) { this.#succeeded(); return }
      error = r.error
      this.#failed(e, error, attempt)
    }
    this.#gaveUp++
    this.#giveUpsSinceSuccess++
    const msg = `${this.name}: dropped event ${e.id} after ${retries + 1} failed attempts to POST ${this.#target.display} (last: ${error})`
    if (this.#giveUpsSinceSuccess === 1) this.#c.logger.warn(msg)
    else this.#c.logger.debug(msg)
  }

  #succeeded (): void {
    if (this.#consecutiveFailures > 0) this.#c.logger.info(`${this.name}: ${this.#target.display} answers again after ${this.#consecutiveFailures} failed attempts`)
    this.#lastSuccess = Date.now()
    this.#consecutiveFailures = 0
    this.#giveUpsSinceSuccess = 0
    this.#delivered++
    this.#c.metrics.delivered(this.name)
  }

  #failed (e: ListenerEvent, error: string, attempt: number): void {
    this.#lastError = { at: Date.now(), message: error }
    this.#consecutiveFailures++
    this.#failedAttempts++
    this.#c.metrics.attemptFailed(this.name)
    const msg = `${this.name}: POST of event ${e.id} to ${this.#target.display} failed (attempt ${attempt + 1} of ${this.#init.retries + 1}): ${error}`
    if (this.#consecutiveFailures === 1) this.#c.logger.warn(msg)
    else this.#c.logger.debug(msg)
  }
}
