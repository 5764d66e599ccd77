// The live records that claim one ServicePort, as the proxy manager files them from change
// events, with what lets a change be planned without a whole plan of the port (planPort): the
// records changed since the port's last plan, and per name its records, the modes they ask
// for and its first Created (found again by a scan only after a record with it changed or
// left). From those, ranking() tells planPort's owner, its mode and the names it keeps out in
// O(names); while owner and mode stay, the pool needs only the changed records.
import { compareGoStrings } from '../catalog/rules.ts'
import { firstCreated, normalizeMode, type ProxyMode } from './plan.ts'
import type { Service, Time } from '../service/index.ts'

interface NameClaims {
  readonly records: Map<string, Service>
  readonly modes: Map<ProxyMode, number>
  /** The first Created of its records; undefined until looked for again. */
  created: Time | undefined
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
  /** Keys of the records changed since the last plan (added, changed or gone). */
  readonly changed = new Set<string>()
  readonly #names = new Map<string, NameClaims>()

  get size (): number { return this.records.size }

  set (key: string, svc: Service): void {
    const old = this.records.get(key)
    if (old !== undefined) this.#remove(key, old)
    this.records.set(key, svc)
    this.#add(key, svc)
    this.changed.add(key)
  }

  delete (key: string): void {
    const old = this.records.get(key)
    if (old === undefined) return
    this.records.delete(key)
    this.#remove(key, old)
    this.changed.add(key)
  }

  /**
   * planPort's owner, mode and ignored names (compareClaims: by each name's first Created, then
   * the name), or undefined when no record claims the port or the owner's records ask for
   * several modes (the newest ALIVE one decides: planned whole).
   */
  ranking (): Ranking | undefined {
    const ranked: Array<{ name: string, created: Time }> = []
    for (const [name, claims] of this.#names) {
      claims.created ??= firstCreated(claims.records.values())
      ranked.push({ name, created: claims.created })
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
    if (claims === undefined) this.#names.set(svc.Name, claims = { records: new Map(), modes: new Map(), created: svc.Created })
    claims.records.set(key, svc)
    bump(claims.modes, normalizeMode(svc.ProxyMode ?? ''), 1)
    if (claims.created !== undefined && svc.Created.isBefore(claims.created)) claims.created = svc.Created
  }

  #remove (key: string, old: Service): void {
    const claims = this.#names.get(old.Name)
    if (claims === undefined) return
    claims.records.delete(key)
    bump(claims.modes, normalizeMode(old.ProxyMode ?? ''), -1)
    if (claims.records.size === 0) this.#names.delete(old.Name)
    else if (claims.created?.equals(old.Created) === true) claims.created = undefined
  }
}

function bump<K> (counts: Map<K, number>, key: K, delta: number): void {
  const n = (counts.get(key) ?? 0) + delta
  if (n === 0) counts.delete(key)
  else counts.set(key, n)
}
