// One listener's backends: which of them may take a request (ALIVE, not ejected), in which
// order of preference (local host, own site, failover sites), and the balancing among the
// first tier that has any. The hot path (pick) allocates nothing.
import { compareGoStrings } from '../catalog/rules.ts'
import { ServiceStatus } from '../service/status.ts'
import { clearEjection, isEjected, newOutlierState, recordFailure, recordResponse, type OutlierPolicy, type OutlierState } from './outlier.ts'
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
  readonly outlier: OutlierState = newOutlierState()
  /** Keep-alive connections to this backend (http mode), made on first use. */
  conns: BackendConns | undefined

  constructor (spec: BackendSpec) {
    this.spec = spec
    this.address = `${spec.ip.includes(':') ? `[${spec.ip}]` : spec.ip}:${spec.port}`
  }

  get key (): string { return this.spec.key }
}

/** Why no backend could be picked. */
export type Unavailable = 'no healthy instance' | 'all ejected' | 'all failed'

export class Pool {
  readonly #opts: PoolOptions
  readonly #random: () => number
  #all: Backend[] = []
  /** ALIVE backends, in tiers of preference; the first tier with an available backend serves. */
  #tiers: Backend[][] = []
  #candidates = 0
  #rr = 0

  constructor (opts: PoolOptions, random: () => number = Math.random) {
    this.#opts = opts
    this.#random = random
  }

  /** Every backend (any status), by key. */
  get backends (): readonly Backend[] { return this.#all }

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
    const alive = this.#all.filter(b => b.spec.status === ServiceStatus.ALIVE)
    this.#candidates = alive.length
    this.#tiers = tiersOf(alive, this.#opts).filter(t => t.length > 0)
  }

  /**
   * The backend for the next request or connection, skipping `exclude` (backends already
   * tried for it), or undefined when none is available.
   */
  pick (nowMs: number, exclude?: ReadonlySet<Backend>): Backend | undefined {
    for (const tier of this.#tiers) {
      const b = this.#pickIn(tier, nowMs, exclude)
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

  /** A response head arrived; returns true when it ejected the backend (5xx streak). */
  response (b: Backend, status: number, nowMs: number): boolean {
    if (!recordResponse(b.outlier, this.#opts.outlier, status, nowMs)) return false
    return this.failure(b, nowMs)
  }

  // (a plain function, not a closure per pick: picks run once per proxied request)
  #pickIn (tier: readonly Backend[], nowMs: number, exclude?: ReadonlySet<Backend>): Backend | undefined {
    const n = tier.length
    switch (this.#opts.balance) {
      case 'roundrobin': {
        const start = this.#rr % n
        for (let i = 0; i < n; i++) {
          const idx = (start + i) % n
          if (usable(tier[idx], nowMs, exclude)) {
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
          if (!usable(b, nowMs, exclude)) continue
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
        for (const b of tier) if (usable(b, nowMs, exclude)) count++
        if (count === 0) return undefined
        let k = Math.floor(this.#random() * count)
        for (const b of tier) if (usable(b, nowMs, exclude) && k-- === 0) return b
        return undefined
      }
    }
  }
}

/**
 * Tiers of preference: with prefer_local, this host's instances first; then, with site
 * failover, the own site, the sites of site_order, and every other site together; without
 * it, everything else together.
 */
export function tiersOf (backends: readonly Backend[], opts: Pick<PoolOptions, 'hostname' | 'preferLocal' | 'siteFailover' | 'site' | 'siteOrder'>): Backend[][] {
  const tiers: Backend[][] = []
  let rest = backends
  if (opts.preferLocal) {
    tiers.push(backends.filter(b => b.spec.hostname === opts.hostname))
    rest = backends.filter(b => b.spec.hostname !== opts.hostname)
  }
  if (!opts.siteFailover) {
    tiers.push([...rest])
    return tiers
  }
  const order = [opts.site, ...opts.siteOrder.filter(s => s !== opts.site)]
  for (const site of order) tiers.push(rest.filter(b => b.spec.site === site))
  tiers.push(rest.filter(b => !order.includes(b.spec.site)))
  return tiers
}

function usable (b: Backend, nowMs: number, exclude: ReadonlySet<Backend> | undefined): boolean {
  return !isEjected(b.outlier, nowMs) && (exclude === undefined || !exclude.has(b))
}

function closeConns (b: Backend, force: boolean): void {
  const c = b.conns
  if (c === undefined) return
  b.conns = undefined
  c.close(force)
}
