// Docker discovery: follows Docker's event stream for speed and lists every container on
// a fixed timer for safety (the timer is never pushed back by events: reference §12.16).
// Docker being unreachable is not fatal: start() returns at once, the failure is logged
// once and shown in lastError(), and the connection is retried with backoff; the last
// known containers stay discovered meanwhile, so a Docker restart tombstones nothing that
// still runs. Until the first complete listing, listed() is false: an empty set then means
// "not asked yet", not "nothing runs" (the announcer keeps an earlier run's records meanwhile).
import { EventEmitter } from 'node:events'
import type Docker from 'dockerode'
import { cidrList } from '../../lib/backend-ips.ts'
import { errorMessage } from '../../lib/errors.ts'
import type { Logger } from '../../lib/logger.ts'
import { Ticker } from '../../lib/ticker.ts'
import type { Discovered, Discoverer } from '../types.ts'
import { fromInspect, healthOfAction, ownName, type DockerHealth } from './container.ts'
import { ContainerSet } from './container-set.ts'
import { resolveEndpoint } from './endpoint.ts'
import { FOLLOWED_EVENTS, GONE_EVENTS, followEvents, type ContainerEvent } from './events.ts'
import { DockerExecChecks } from './exec-check.ts'
import { DockerHealthSource } from './health-source.ts'
import type { Namer } from './namer.ts'

export interface DockerDiscovererInit {
  /** [docker_discovery] docker_url; '' = Docker's environment variables, else the standard socket. */
  dockerUrl: string
  hostname: string
  advertiseIp: string
  namer: Namer
  /** Time between two full lists of the running containers. */
  reconcileIntervalMs: number
  /** Where DOCKER_HOST and friends are read; default process.env. */
  env?: NodeJS.ProcessEnv
  /** [docker_discovery] allow_external_checks: run HealthCheck=External labels in their container (default false). */
  allowExternalChecks?: boolean
  /** [docker_discovery] check_any_target: HttpGet and TcpConnect labels may name any address (default false: the container's published ports). */
  checkAnyTarget?: boolean
  /** [sidecar] backend_cidrs: a port published on an address outside them (and not advertiseIp) is warned about, as peers refuse the record. */
  backendCidrs?: readonly string[]
}

const BACKOFF_MIN_MS = 250 // the first retry after a lost connection: a restarting Docker is back within a second or two
const BACKOFF_MAX_MS = 5000 // a Docker that comes back is found within 5 s, at the cost of one failed connect per 5 s meanwhile
const REQUEST_TIMEOUT_MS = 10_000 // a Docker that accepts connections but does not answer is treated as lost
const INSPECT_CONCURRENCY = 8 // inspects in flight at once when many containers are new (start-up, reconnect)
/**
 * Inspects after events in flight at once: a compose stack of 300 starting at once (or a
 * stream of renames) asked for all of them together before, a socket each. Higher than the
 * reconcile's: one container whose inspect hangs (dockerd holds its lock) takes one slot only.
 */
export const EVENT_INSPECT_CONCURRENCY = 32

/** The delay before retry number attempt (0-based): doubling from min to max, with jitter so a fleet does not retry in step. */
export function backoffDelay (attempt: number, minMs = BACKOFF_MIN_MS, maxMs = BACKOFF_MAX_MS, random = Math.random): number {
  const base = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30))
  return Math.round(base / 2 + random() * base / 2)
}

export class DockerDiscoverer extends EventEmitter<{ change: [] }> implements Discoverer {
  readonly name = 'docker'
  /** Docker's own health state, as the supplied check kind "Docker". */
  readonly health = new DockerHealthSource()
  /** HealthCheck=External labels, as the supplied check kind "DockerExec" (exec-check.ts). */
  readonly execChecks: DockerExecChecks
  readonly #logger: Logger
  readonly #init: DockerDiscovererInit
  readonly #set: ContainerSet
  #client: Docker | undefined
  #describe = ''
  #events: { close: () => void } | undefined
  #connectAbort: AbortController | undefined
  #stop: AbortController | undefined
  #reconciler: Ticker | undefined
  #retryTimer: NodeJS.Timeout | undefined
  #attempt = 0
  #connError: string | undefined
  #everConnected = false
  /** A reconcile read every running container (listed and inspected): services() is Docker's set, not a placeholder. */
  #listed = false
  readonly #inFlight = new Set<Promise<unknown>>()
  /** Containers with an inspect queued or in flight after an event: the sequence number of their latest event. */
  readonly #refreshSeq = new Map<string, number>()
  readonly #refreshQueue: string[] = []
  #refreshing = 0

  constructor (components: { logger: Logger }, init: DockerDiscovererInit) {
    super()
    this.#logger = components.logger
    this.#init = init
    this.execChecks = new DockerExecChecks({ logger: components.logger, client: () => this.#client }, { allow: init.allowExternalChecks ?? false })
    this.#set = new ContainerSet({ logger: components.logger, health: this.health }, { hostname: init.hostname, advertiseIp: init.advertiseIp, namer: init.namer, checkAnyTarget: init.checkAnyTarget ?? false, allowedBackends: cidrList(init.backendCidrs ?? []) })
  }

  services (): readonly Discovered[] { return this.#set.services() }

  /** False until the first reconcile that listed and inspected every running container; stays true across reconnections. */
  listed (): boolean { return this.#listed }

  lastError (): string | undefined { return this.#connError ?? this.#set.problems() }

  /** True while the event stream is up. */
  get connected (): boolean { return this.#events !== undefined }

  /** Returns at once: Docker is reached in the background, and retried until it answers. */
  async start (): Promise<void> {
    if (this.#stop !== undefined) return
    this.#stop = new AbortController()
    this.#reconciler = new Ticker(async (signal) => { await this.#reconcile(signal) }, { name: 'docker reconcile', intervalMs: this.#init.reconcileIntervalMs, firstDelayMs: this.#init.reconcileIntervalMs, logger: this.#logger })
    this.#reconciler.start()
    this.#track(this.#connect())
  }

  async stop (): Promise<void> {
    const stop = this.#stop
    if (stop === undefined) return
    this.#stop = undefined
    stop.abort()
    clearTimeout(this.#retryTimer)
    this.#connectAbort?.abort()
    this.#events?.close()
    this.#events = undefined
    this.#refreshQueue.length = 0
    this.#refreshSeq.clear()
    await this.#reconciler?.stop()
    this.#reconciler = undefined
    await Promise.allSettled([...this.#inFlight])
  }

  #track (p: Promise<unknown>): void {
    const tracked = p.catch((err: unknown) => { this.#logger.error({ err }, 'docker discovery task failed') }).finally(() => this.#inFlight.delete(tracked))
    this.#inFlight.add(tracked)
  }

  #signal (): AbortSignal {
    return AbortSignal.any([this.#stop?.signal ?? AbortSignal.abort(), AbortSignal.timeout(REQUEST_TIMEOUT_MS)])
  }

  async #connect (): Promise<void> {
    if (this.#stop === undefined) return
    const abort = this.#connectAbort = new AbortController()
    const timer = setTimeout(() => { abort.abort() }, REQUEST_TIMEOUT_MS)
    try {
      const endpoint = resolveEndpoint(this.#init.dockerUrl, this.#init.env ?? process.env)
      this.#describe = endpoint.describe
      // Loaded here, not at the top: a daemon without Docker discovery never holds dockerode and what
      // it pulls in (gRPC, protobufjs, ssh2 with its 16 MiB buffer): about 5 MB less RSS when idle.
      const { default: Dockerode } = await import('dockerode')
      this.#client = new Dockerode(endpoint.options)
      const stream = await this.#client.getEvents({ filters: { type: ['container'], event: [...FOLLOWED_EVENTS] }, abortSignal: abort.signal }) as NodeJS.ReadableStream
      clearTimeout(timer)
      if (this.#stop === undefined) { abort.abort(); return }
      this.#events = followEvents(stream, (e) => { this.#onEvent(e) }, (err) => { this.#onStreamEnd(abort, err) })
    } catch (err) {
      clearTimeout(timer)
      if (this.#stop === undefined) return
      this.#unreachable(err)
      return
    }
    this.#attempt = 0
    this.#logger.info(`${this.#everConnected ? 'reconnected' : 'connected'} to Docker at ${this.#describe}; following its events`)
    this.#everConnected = true
    this.#reconciler?.trigger() // the full list right after subscribing: nothing falls between the two
  }

  #unreachable (err: unknown): void {
    // a first run on a host without Docker (discovery defaults to docker): say what to do, not only ENOENT
    const fix = (err as NodeJS.ErrnoException).code === 'ENOENT' ? ' (no socket there: start Docker, point [docker_discovery] docker_url at it, or leave docker out of [sidecar] discovery, e.g. --discover static)' : ''
    const message = `cannot reach Docker at ${this.#describe || this.#init.dockerUrl}: ${errorMessage(err)}${fix}; retrying with backoff (at least every ${BACKOFF_MAX_MS / 1000} s)`
    if (message !== this.#connError) this.#logger.warn(message) // once per distinct failure, not per retry
    else this.#logger.debug(message)
    this.#connError = message
    this.#scheduleConnect()
  }

  #scheduleConnect (): void {
    if (this.#stop === undefined) return
    clearTimeout(this.#retryTimer)
    const delay = backoffDelay(this.#attempt++)
    this.#retryTimer = setTimeout(() => { this.#track(this.#connect()) }, delay)
  }

  #onStreamEnd (abort: AbortController, err?: Error): void {
    if (this.#connectAbort !== abort) return // an older stream, already replaced
    abort.abort()
    this.#events = undefined
    if (this.#stop === undefined) return
    this.#connError = `lost the Docker event stream from ${this.#describe}${err !== undefined ? ` (${err.message})` : ''}; reconnecting`
    this.#logger.warn(this.#connError)
    this.#scheduleConnect()
  }

  /** The last event for a container decides: gone events remove it now, the others re-read it. */
  #onEvent (e: ContainerEvent): void {
    if (!(FOLLOWED_EVENTS as readonly string[]).includes(e.action.split(':')[0])) return // exec_* and the like: nothing changes
    const seq = this.#set.noteEvent(e.id)
    this.#logger.debug({ id: e.id }, `docker event ${e.action} ${e.id.slice(0, 12)}`)
    if (GONE_EVENTS.has(e.action)) {
      if (this.#set.remove(e.id, seq)) this.emit('change')
      return
    }
    const health = healthOfAction(e.action)
    if (health !== undefined) this.#set.setHealth(e.id, health, seq)
    this.#queueRefresh(e.id, seq)
  }

  /**
   * One inspect per container at a time, at most EVENT_INSPECT_CONCURRENCY in all: events for a
   * container whose inspect is queued or in flight are answered by one more inspect after it.
   */
  #queueRefresh (id: string, seq: number): void {
    const queued = this.#refreshSeq.has(id)
    this.#refreshSeq.set(id, seq)
    if (!queued) this.#refreshQueue.push(id)
    this.#drainRefreshes()
  }

  #drainRefreshes (): void {
    while (this.#refreshing < EVENT_INSPECT_CONCURRENCY && this.#refreshQueue.length > 0 && this.#stop !== undefined) {
      const id = this.#refreshQueue.shift() as string
      const seq = this.#refreshSeq.get(id) as number
      this.#refreshing++
      this.#track(this.#refresh(id, seq).finally(() => {
        this.#refreshing--
        if (this.#refreshSeq.get(id) === seq) this.#refreshSeq.delete(id)
        else if (this.#refreshSeq.has(id)) this.#refreshQueue.push(id) // a later event meanwhile: inspect again as of it
        this.#drainRefreshes()
      }))
    }
  }

  /** Inspects one container and applies the answer if no later event overtook it. */
  async #refresh (id: string, asOf: number): Promise<void> {
    const client = this.#client
    if (client === undefined) return
    try {
      const info = await client.getContainer(id).inspect({ abortSignal: this.#signal() })
      if (this.#set.apply(fromInspect(info), asOf)) this.emit('change')
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) {
        if (this.#set.remove(id, asOf)) this.emit('change')
      } else if (this.#stop !== undefined) {
        this.#logger.debug({ err, id }, `inspecting ${id.slice(0, 12)} failed; the next reconcile retries`)
      }
    }
  }

  /** Lists every running container and brings the set in line. */
  async #reconcile (signal: AbortSignal): Promise<void> {
    const client = this.#client
    if (client === undefined || this.#events === undefined || signal.aborted) return
    const asOf = this.#set.seq
    const withHealth = this.#set.ids().some(id => this.#set.view(id)?.hasHealthcheck === true)
    let running: Docker.ContainerInfo[]
    let healthOf: (id: string) => DockerHealth
    try {
      const abortSignal = this.#signal()
      const [all, healthy, unhealthy] = await Promise.all([
        client.listContainers({ abortSignal }),
        withHealth ? client.listContainers({ filters: { health: ['healthy'] }, abortSignal }) : [],
        withHealth ? client.listContainers({ filters: { health: ['unhealthy'] }, abortSignal }) : [],
      ])
      running = all
      const h = new Set(healthy.map(c => c.Id)); const u = new Set(unhealthy.map(c => c.Id))
      healthOf = (id) => h.has(id) ? 'healthy' : u.has(id) ? 'unhealthy' : 'starting'
    } catch (err) {
      if (signal.aborted || this.#stop === undefined) return
      // A Docker that holds the event stream open but does not answer: start over.
      this.#logger.warn(`listing containers at ${this.#describe} failed: ${errorMessage(err)}; reconnecting`)
      this.#events?.close()
      return
    }
    let changed = false
    const serving = new Set<string>()
    const toInspect: string[] = []
    for (const c of running) {
      if (c.State === 'paused' || c.State === 'restarting') continue
      serving.add(c.Id)
      const known = this.#set.view(c.Id)
      // a new container, or one renamed behind our back; a linked one (Names[0] "/linker/alias") is neither
      if (known === undefined || known.name !== ownName(c.Names)) toInspect.push(c.Id)
      else this.#set.setHealth(c.Id, healthOf(c.Id), asOf)
    }
    for (const id of this.#set.ids()) if (!serving.has(id)) changed = this.#set.remove(id, asOf) || changed
    let complete = true
    await forEachLimited(toInspect, INSPECT_CONCURRENCY, async (id) => {
      try {
        changed = this.#set.apply(fromInspect(await client.getContainer(id).inspect({ abortSignal: this.#signal() })), asOf) || changed
      } catch (err) {
        if ((err as { statusCode?: number }).statusCode === 404) changed = this.#set.remove(id, asOf) || changed
        else {
          complete = false
          if (!signal.aborted) this.#logger.debug({ err, id }, `inspecting ${id.slice(0, 12)} failed; the next reconcile retries`)
        }
      }
    })
    this.#set.prune(asOf)
    if (this.#connError !== undefined && this.#events !== undefined) {
      this.#connError = undefined
      this.#logger.info(`Docker at ${this.#describe} is reachable again: ${this.#set.services().length} services discovered`)
    }
    if (signal.aborted) return
    // the first complete listing is a change even when it found nothing: the announcer waits for it
    const first = complete && !this.#listed
    if (first) this.#listed = true
    if (changed || first) this.emit('change')
  }
}

/** Runs fn over items with at most limit calls in flight. */
async function forEachLimited<T> (items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++])
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
}
