// One listener's backends: which of them may take a request (ALIVE, not ejected), in which
// order of preference (local host, own site, failover sites), and the balancing among the
// first tier that has any. The hot path (pick) allocates nothing. The backend set is replaced
// whole (update: a new plan of the port) or changed record by record (patch: the records that
// changed since the last plan), which keeps a change to a port of 9,000 instances O(log n)
// plus a move of array entries, instead of the whole sort and rebuild (about 5 ms).
import { compareGoStrings } from '../catalog/rules.ts'
import { recordKey } from '../service/service.ts'
import { ServiceStatus } from '../service/status.ts'
import { clearEjection, isEjected, newOutlierState, onProbation, recordFailure, recordResponse, type OutlierPolicy, type OutlierState } from './outlier.ts'
import type { BackendSpec } from './plan.ts'
import type { BackendConns } from './upstream.ts'

export type Balance = 'roundrobin' | 'least' | 'random'

export interface PoolOptions {
  balance: Balance
  /** This host's name: its instances are "local". */
  hostname: string
  preferLocal: boolean
  siteFailover: boolean
  /** This host's site ('' = none). */
  site: string
  siteOrder: readonly string[]
  outlier: OutlierPolicy
}

/** A backend and its live counters; kept across catalog updates while its key stays. */
export class Backend {
  spec: BackendSpec
  /** "ip:port" ("[v6]:port"), for logs and the API. */
  readonly address: string
  inFlight = 0
  requests = 0
  failures = 0
  /** Requests (http mode) waiting for the backend's first answer. */
  awaiting = 0
  /** Wall-clock ms of its last answer, or of the start of the wait when none was waiting before. */
  heardAt = 0
  readonly outlier: OutlierState = newOutlierState()
  /** Keep-alive connections to this backend (http mode), made on first use. */
  conns: BackendConns | undefined

  constructor (spec: BackendSpec) {
    this.spec = spec
    this.address = `${spec.ip.includes(':') ? `[${spec.ip}]` : spec.ip}:${spec.port}`
  }

  get key (): string { return this.spec.key }
}

/** The record a backend spec comes from: its recordKey() (Hostname, ID), which a spec's key starts with. */
export function specRecord (spec: Pick<BackendSpec, 'hostname' | 'id'>): string {
  return recordKey({ Hostname: spec.hostname, ID: spec.id })
}

/** One record's backend in a patch: its spec now, or undefined when it gives the listener none any more. */
export interface PoolChange {
  /** recordKey() of the record (specRecord() of its spec). */
  readonly record: string
  readonly spec: BackendSpec | undefined
}

/** Why no backend could be picked. */
export type Unavailable = 'no healthy instance' | 'all ejected' | 'all failed'

export class Pool {
  readonly #opts: PoolOptions
  readonly #random: () => number
  /** The sites of site failover in order (own site first), each once. */
  readonly #siteOrder: readonly string[]
  /** Every backend, by key. */
  #all: Backend[] = []
  /** Backends by specRecord(): a record gives a listener one backend. */
  #byRecord = new Map<string, Backend>()
  /** ALIVE backends, in tiers of preference (tierOf), each by key; the first tier with an available backend serves. Some may be empty. */
  #tiers: Backend[][]
  #candidates = 0
  #rr = 0

  constructor (opts: PoolOptions, random: () => number = Math.random) {
    this.#opts = opts
    this.#random = random
    this.#siteOrder = [...new Set([opts.site, ...opts.siteOrder])]
    this.#tiers = this.#emptyTiers()
  }

  /** Every backend (any status), by key. */
  get backends (): readonly Backend[] { return this.#all }

  /** ALIVE backends in their tiers of preference, each by key; empty tiers left out. */
  get tiers (): ReadonlyArray<readonly Backend[]> { return this.#tiers.filter(t => t.length > 0) }

  /** ALIVE backends: those that may take traffic when not ejected. */
  get candidates (): number { return this.#candidates }

  /**
   * Replaces the backend set. Backends whose key stays keep their counters and ejection
   * (in-flight requests of removed ones finish on their own objects). An instance that comes
   * back to ALIVE from another status has been checked healthy: its ejection is forgotten.
   */
  update (specs: readonly BackendSpec[]): void {
    const old = new Map(this.#all.map(b => [b.key, b]))
    const kept = new Set(specs.map(s => s.key))
    // a backend that left closes its connections once its requests in progress are done
    for (const b of this.#all) if (!kept.has(b.key)) closeConns(b, false)
    this.#all = specs.map(spec => {
      const b = old.get(spec.key)
      if (b === undefined) return new Backend(spec)
      if (spec.status === ServiceStatus.ALIVE && b.spec.status !== ServiceStatus.ALIVE) clearEjection(b.outlier)
      b.spec = spec
      return b
    }).sort((a, b) => compareGoStrings(a.key, b.key))
    this.#byRecord = new Map(this.#all.map(b => [specRecord(b.spec), b]))
    this.#tiers = this.#emptyTiers()
    this.#candidates = 0
    for (const b of this.#all) {
      if (b.spec.status !== ServiceStatus.ALIVE) continue
      this.#tiers[this.#tierOf(b.spec)].push(b) // in key order
      this.#candidates++
    }
  }

  /**
   * Changes the backends of the given records only, as update() with the whole set would: a
   * record whose address stays keeps its backend (counters, ejection, connections; an
   * ejection is forgotten when it comes back to ALIVE); one whose address changed, or that
   * left, closes its old backend's connections once their requests are done.
   */
  patch (changes: Iterable<PoolChange>): void {
    for (const { record, spec } of changes) {
      const b = this.#byRecord.get(record)
      if (b !== undefined && spec !== undefined && b.key === spec.key) {
        const tier = this.#tierOfAlive(b.spec)
        if (spec.status === ServiceStatus.ALIVE && b.spec.status !== ServiceStatus.ALIVE) clearEjection(b.outlier)
        b.spec = spec
        this.#move(b, tier, this.#tierOfAlive(spec))
        continue
      }
      if (b !== undefined) {
        this.#move(b, this.#tierOfAlive(b.spec), -1)
        removeSorted(this.#all, b)
        this.#byRecord.delete(record)
        closeConns(b, false)
      }
      if (spec !== undefined) {
        const added = new Backend(spec)
        insertSorted(this.#all, added)
        this.#byRecord.set(record, added)
        this.#move(added, -1, this.#tierOfAlive(spec))
      }
    }
  }

  /**
   * The backend for the next request or connection, skipping `exclude` (backends already
   * tried for it), or undefined when none is available.
   */
  pick (nowMs: number, exclude?: ReadonlySet<Backend>): Backend | undefined {
    for (const tier of this.#tiers) {
      if (tier.length === 0) continue
      const b = this.#pickIn(tier, nowMs, exclude, this.#opts.outlier.stallMs ?? 0)
      if (b !== undefined) return b
    }
    // only stalled backends, or ones on probation with a request in progress, are left: one of them, rather than none
    for (const tier of this.#tiers) {
      if (tier.length === 0) continue
      const b = this.#pickIn(tier, nowMs, exclude, -1)
      if (b !== undefined) return b
    }
    return undefined
  }

  /** Why pick() found nothing (call it only then). */
  unavailable (nowMs: number, exclude?: ReadonlySet<Backend>): Unavailable {
    if (this.#candidates === 0) return 'no healthy instance'
    for (const tier of this.#tiers) for (const b of tier) if (!isEjected(b.outlier, nowMs) && exclude?.has(b) !== true) return 'all failed'
    return exclude !== undefined && exclude.size > 0 ? 'all failed' : 'all ejected'
  }

  /** Closes every backend's connections: gracefully, or cutting requests in progress. */
  closeAll (force: boolean): void {
    for (const b of this.#all) closeConns(b, force)
  }

  /** b is stalled (isStalled with this pool's stall_timeout): passed over while another backend can take the request. */
  stalled (b: Backend, nowMs: number): boolean {
    return isStalled(b, nowMs, this.#opts.outlier.stallMs ?? 0)
  }

  /** Backends ejected right now (among the ALIVE ones). */
  ejectedCount (nowMs: number): number {
    let n = 0
    for (const tier of this.#tiers) for (const b of tier) if (isEjected(b.outlier, nowMs)) n++
    return n
  }

  /** A connect failure, reset or timeout: ejects the backend unless half the pool already is. */
  failure (b: Backend, nowMs: number): boolean {
    b.failures++
    return recordFailure(b.outlier, this.#opts.outlier, nowMs, this.ejectedCount(nowMs), this.#candidates)
  }

  /** The backend answered (tcp mode: took a connection): ends a probation. */
  success (b: Backend, nowMs: number): void {
    recordResponse(b.outlier, this.#opts.outlier, 200, nowMs)
  }

  /** A request went to b and waits for its answer: heard() must follow, once. */
  waiting (b: Backend, nowMs: number): void {
    if (b.awaiting++ === 0) b.heardAt = nowMs
  }

  /** The wait that waiting() began ended: by an answer at nowMs, or (undefined) without one. */
  heard (b: Backend, nowMs: number | undefined): void {
    b.awaiting--
    if (nowMs !== undefined) b.heardAt = nowMs
  }

  /** A response head arrived; returns true when it ejected the backend (5xx streak). */
  response (b: Backend, status: number, nowMs: number): boolean {
    if (!recordResponse(b.outlier, this.#opts.outlier, status, nowMs)) return false
    return this.failure(b, nowMs)
  }

  #emptyTiers (): Backend[][] {
    const count = (this.#opts.preferLocal ? 1 : 0) + (this.#opts.siteFailover ? this.#siteOrder.length + 1 : 1)
    return Array.from({ length: count }, () => [])
  }

  /**
   * The tier of preference of a backend: with prefer_local, this host's instances first; then,
   * with site failover, the own site, the sites of site_order, and every other site together;
   * without it, everything else together.
   */
  #tierOf (spec: BackendSpec): number {
    const o = this.#opts
    if (o.preferLocal && spec.hostname === o.hostname) return 0
    const base = o.preferLocal ? 1 : 0
    if (!o.siteFailover) return base
    const i = this.#siteOrder.indexOf(spec.site)
    return base + (i < 0 ? this.#siteOrder.length : i)
  }

  /** tierOf for an ALIVE backend, -1 for any other status (it is in no tier). */
  #tierOfAlive (spec: BackendSpec): number {
    return spec.status === ServiceStatus.ALIVE ? this.#tierOf(spec) : -1
  }

  /** Moves a backend from one tier to another (-1: none), keeping the count of candidates. */
  #move (b: Backend, from: number, to: number): void {
    if (from === to) return
    if (from >= 0) { removeSorted(this.#tiers[from], b); this.#candidates-- }
    if (to >= 0) { insertSorted(this.#tiers[to], b); this.#candidates++ }
  }

  // (a plain function, not a closure per pick: picks run once per proxied request)
  /** strict: see usable(). */
  #pickIn (tier: readonly Backend[], nowMs: number, exclude: ReadonlySet<Backend> | undefined, strict: number): Backend | undefined {
    const n = tier.length
    switch (this.#opts.balance) {
      case 'roundrobin': {
        const start = this.#rr % n
        for (let i = 0; i < n; i++) {
          const idx = (start + i) % n
          if (usable(tier[idx], nowMs, exclude, strict)) {
            this.#rr = idx + 1
            return tier[idx]
          }
        }
        return undefined
      }
      case 'least': {
        // fewest in-flight; ties broken at random (reservoir sampling over the ties)
        let best: Backend | undefined
        let ties = 0
        for (const b of tier) {
          if (!usable(b, nowMs, exclude, strict)) continue
          if (best === undefined || b.inFlight < best.inFlight) {
            best = b
            ties = 1
          } else if (b.inFlight === best.inFlight && this.#random() * ++ties < 1) {
            best = b
          }
        }
        return best
      }
      case 'random': {
        let count = 0
        for (const b of tier) if (usable(b, nowMs, exclude, strict)) count++
        if (count === 0) return undefined
        let k = Math.floor(this.#random() * count)
        for (const b of tier) if (usable(b, nowMs, exclude, strict) && k-- === 0) return b
        return undefined
      }
    }
  }
}

/** The index of the first backend of a key-sorted list whose key is not below `key`. */
function lowerBound (list: readonly Backend[], key: string): number {
  let lo = 0
  let hi = list.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (compareGoStrings(list[mid].key, key) < 0) lo = mid + 1
    else hi = mid
  }
  return lo
}

function insertSorted (list: Backend[], b: Backend): void {
  list.splice(lowerBound(list, b.key), 0, b)
}

function removeSorted (list: Backend[], b: Backend): void {
  const i = lowerBound(list, b.key)
  if (list[i] === b) list.splice(i, 1)
}

/**
 * Not ejected, not excluded, and, when strict (>= 0: the stall time in ms, 0 = none):
 * - not on probation with a request in progress: a backend back from an ejection takes one
 *   request at a time until it answers one, so one that still hangs holds one client, not its
 *   share of every client meanwhile;
 * - not stalled: a request has waited on it for longer than the stall time and no answer came
 *   from it meanwhile. A hung backend is ejected only once a request on it times out
 *   (idle_timeout, 1 min by default); until then it would take its share of every request.
 */
function usable (b: Backend, nowMs: number, exclude: ReadonlySet<Backend> | undefined, strict: number): boolean {
  if (isEjected(b.outlier, nowMs) || exclude?.has(b) === true) return false
  if (strict < 0 || b.inFlight === 0) return true
  return !onProbation(b.outlier) && !isStalled(b, nowMs, strict)
}

/** A request has waited on b for longer than stallMs (0 = never stalled) and no answer came from it meanwhile. */
export function isStalled (b: Backend, nowMs: number, stallMs: number): boolean {
  return stallMs > 0 && b.awaiting > 0 && nowMs - b.heardAt > stallMs
}

function closeConns (b: Backend, force: boolean): void {
  const c = b.conns
  if (c === undefined) return
  b.conns = undefined
  c.close(force)
}
