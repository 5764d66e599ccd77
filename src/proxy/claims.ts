// The live records that claim one ServicePort, as the proxy manager files them from change
// events, with what lets a change be planned on its own: the records changed since the port's
// last plan, and how many records give each name and each mode. While every record has the
// same name and the same mode, the plan is known without looking at the others (one owner,
// no conflict, that mode), and only the changed records need to reach the pool.
import { normalizeMode, type ProxyMode } from './plan.ts'
import type { Service } from '../service/index.ts'

export class PortClaims {
  /** By record key (recordKey()), the version of its last change event. */
  readonly records = new Map<string, Service>()
  /** Records changed since the last plan, by record key: their version now, or the last one they had here when they left. */
  readonly changed = new Map<string, Service>()
  readonly #names = new Map<string, number>()
  readonly #modes = new Map<ProxyMode, number>()

  get size (): number { return this.records.size }

  set (key: string, svc: Service): void {
    const old = this.records.get(key)
    if (old !== undefined) this.#count(old, -1)
    this.records.set(key, svc)
    this.#count(svc, 1)
    this.changed.set(key, svc)
  }

  delete (key: string): void {
    const old = this.records.get(key)
    if (old === undefined) return
    this.records.delete(key)
    this.#count(old, -1)
    this.changed.set(key, old)
  }

  /** The name and mode every record shares, or undefined when they differ (or there is none). */
  uniform (): { name: string, mode: ProxyMode } | undefined {
    if (this.#names.size !== 1 || this.#modes.size !== 1) return undefined
    for (const name of this.#names.keys()) for (const mode of this.#modes.keys()) return { name, mode }
    return undefined
  }

  #count (svc: Service, delta: number): void {
    bump(this.#names, svc.Name, delta)
    bump(this.#modes, normalizeMode(svc.ProxyMode ?? ''), delta)
  }
}

function bump<K> (counts: Map<K, number>, key: K, delta: number): void {
  const n = (counts.get(key) ?? 0) + delta
  if (n === 0) counts.delete(key)
  else counts.set(key, n)
}
