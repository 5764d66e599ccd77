// The live records that claim one ServicePort, as the proxy manager files them from change
// events, with what lets a change be planned without a whole plan of the port (planPort): the
// records changed since the port's last plan, and per name its records, the modes they ask
// for and its first created record (found again by a scan only after that record changed or
// left). From those, ranking() tells planPort's owner, its mode and the names it keeps out in
// O(names); while owner and mode stay, the pool needs only the changed records.
import { compareGoStrings } from '../catalog/rules.ts'
import { normalizeMode, type ProxyMode } from './plan.ts'
import type { Service, Time } from '../service/index.ts'

interface NameClaims {
  readonly records: Map<string, Service>
  readonly modes: Map<ProxyMode, number>
  /** A record with the first Created; undefined until looked for again. */
  oldest: Service | undefined
}

export interface Ranking {
  readonly owner: string
  readonly mode: ProxyMode
  /** The other names, in planPort's order. */
  readonly ignored: readonly string[]
}

export class PortClaims {
  /** By record key (recordKey()), the version of its last change event. */
  readonly records = new Map<string, Service>()
  /** Records changed since the last plan, by record key: their version now, or the last one they had here when they left. */
  readonly changed = new Map<string, Service>()
  readonly #names = new Map<string, NameClaims>()

  get size (): number { return this.records.size }

  set (key: string, svc: Service): void {
    const old = this.records.get(key)
    if (old !== undefined) this.#remove(key, old)
    this.records.set(key, svc)
    this.#add(key, svc)
    this.changed.set(key, svc)
  }

  delete (key: string): void {
    const old = this.records.get(key)
    if (old === undefined) return
    this.records.delete(key)
    this.#remove(key, old)
    this.changed.set(key, old)
  }

  /**
   * planPort's owner, mode and ignored names (compareClaims: by each name's first Created, then
   * the name), or undefined when no record claims the port or the owner's records ask for
   * several modes (the newest ALIVE one decides: planned whole).
   */
  ranking (): Ranking | undefined {
    const ranked: Array<{ name: string, created: Time }> = []
    for (const [name, claims] of this.#names) {
      claims.oldest ??= oldestOf(claims.records.values())
      ranked.push({ name, created: claims.oldest.Created })
    }
    if (ranked.length === 0) return undefined
    ranked.sort((a, b) => a.created.compare(b.created) || compareGoStrings(a.name, b.name))
    const owner = ranked[0].name
    const modes = (this.#names.get(owner) as NameClaims).modes
    if (modes.size !== 1) return undefined
    const [mode] = modes.keys()
    return { owner, mode, ignored: ranked.slice(1).map(r => r.name) }
  }

  #add (key: string, svc: Service): void {
    let claims = this.#names.get(svc.Name)
    if (claims === undefined) this.#names.set(svc.Name, claims = { records: new Map(), modes: new Map(), oldest: svc })
    claims.records.set(key, svc)
    bump(claims.modes, normalizeMode(svc.ProxyMode ?? ''), 1)
    if (claims.oldest !== undefined && older(svc, claims.oldest)) claims.oldest = svc
  }

  #remove (key: string, old: Service): void {
    const claims = this.#names.get(old.Name)
    if (claims === undefined) return
    claims.records.delete(key)
    bump(claims.modes, normalizeMode(old.ProxyMode ?? ''), -1)
    if (claims.records.size === 0) this.#names.delete(old.Name)
    else if (claims.oldest === old) claims.oldest = undefined
  }
}

function older (a: Service, b: Service): boolean {
  return a.Created.isBefore(b.Created)
}

function oldestOf (records: Iterable<Service>): Service {
  let best: Service | undefined
  for (const r of records) if (best === undefined || older(r, best)) best = r
  return best as Service
}

function bump<K> (counts: Map<K, number>, key: K, delta: number): void {
  const n = (counts.get(key) ?? 0) + delta
  if (n === 0) counts.delete(key)
  else counts.set(key, n)
}
