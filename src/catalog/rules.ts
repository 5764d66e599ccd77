// The merge and expiry rules of reference §2.2 and §2.5 as small pure functions, so each
// can be tested exhaustively without a catalog.
import { ServiceStatus, type Service, type Time } from '../service/index.ts'
import type { CatalogOptions } from './types.ts'

/** The original's clock-drift allowance on the stale check: peers' clocks may disagree by this much. */
export const STALE_FUDGE_MS = 60_000

/** How much newer an expiry tombstone is than the record it replaces (the original's +1 s). */
export const EXPIRY_BUMP_MS = 1_000

/**
 * How much newer a departed host's tombstone is than the record it replaces: the least that
 * is newer, so the host's next stamp, by its own clock, wins as soon as the host is back.
 */
export const DEPARTURE_BUMP_NS = 1n

/** True iff svc.Updated is before now − lifespan − 1 min: too old to be worth merging. */
export function isStale (svc: Service, lifespanMs: number, now: Time): boolean {
  return svc.Updated.isBefore(now.plusMillis(-(lifespanMs + STALE_FUDGE_MS)))
}

/** The lifespan a non-tombstone record gets before expiry: DRAINING has its own. */
export function lifespanOf (svc: Service, opts: Pick<CatalogOptions, 'aliveLifespanMs' | 'drainingLifespanMs'>): number {
  return svc.Status === ServiceStatus.DRAINING ? opts.drainingLifespanMs : opts.aliveLifespanMs
}

/**
 * How long a tombstone is kept after its Updated: until it is stale itself (the tombstone
 * lifespan + STALE_FUDGE_MS). Every version it superseded is older, so stale by then too, and
 * merge() drops it on arrival. Forgotten at the bare lifespan, a tombstone left a minute in which
 * a replayed version it had superseded (Updated less than a minute before the tombstone's) was
 * no longer stale and found nothing stored: it came back as a new record until the next reap.
 */
export function tombstoneKeptMs (opts: Pick<CatalogOptions, 'tombstoneLifespanMs'>): number {
  return opts.tombstoneLifespanMs + STALE_FUDGE_MS
}

/** How long after its Updated expire() has work for svc: tombstoning it (its lifespan), or, a tombstone, forgetting it (tombstoneKeptMs). */
export function expiryAfterMs (svc: Service, opts: Pick<CatalogOptions, 'aliveLifespanMs' | 'drainingLifespanMs' | 'tombstoneLifespanMs'>): number {
  return svc.Status === ServiceStatus.TOMBSTONE ? tombstoneKeptMs(opts) : lifespanOf(svc, opts)
}

/** True iff svc is not a tombstone and was not refreshed within its lifespan (strictly older). */
export function isExpired (svc: Service, opts: CatalogOptions, now: Time): boolean {
  if (svc.Status === ServiceStatus.TOMBSTONE) return false
  return svc.Updated.isBefore(now.plusMillis(-lifespanOf(svc, opts)))
}

/** True iff svc is a tombstone that is stale itself (older than tombstoneKeptMs), so it can be forgotten. */
export function isDeadTombstone (svc: Service, opts: CatalogOptions, now: Time): boolean {
  return svc.Status === ServiceStatus.TOMBSTONE && isStale(svc, opts.tombstoneLifespanMs, now)
}

/**
 * The status to store when incoming replaces existing. DRAINING is sticky against ALIVE
 * (an operator's drain outlives health checks) unless the ALIVE record comes from its
 * origin: the host named in its Hostname, which alone holds the drain and ends it
 * (undrain). Any other status replaces DRAINING. `fromOrigin` is false for records relayed
 * by another host, so a stale relayed ALIVE can never end a drain; without it the origin
 * could never undrain on peers that hold DRAINING. A relayed version that its origin
 * signed (every live record gossip admits: admission-rules.ts) counts as the origin's: an
 * undrain learned through a third host by anti-entropy was kept DRAINING at the undrain's
 * timestamp, so the origin's own copy of that version was then ignored as not newer, and the
 * two nodes' digests agreed, until the origin's next version (up to a minute).
 */
export function mergedStatus (existing: Service, incoming: Service, fromOrigin = false): ServiceStatus {
  if (existing.Status === ServiceStatus.DRAINING && incoming.Status === ServiceStatus.ALIVE && !fromOrigin) return ServiceStatus.DRAINING
  return incoming.Status
}

/**
 * True iff stored (already merged) differs from existing only in Updated: a refresh, which
 * is stored silently. Any other field (status, ports, image, site, ...) makes it a change,
 * so the proxy, streams, listeners and gossip follow it (a static entry whose port moved).
 */
export function isRefresh (existing: Service, stored: Service): boolean {
  if (existing.Status !== stored.Status || existing.Name !== stored.Name || existing.Image !== stored.Image || existing.ProxyMode !== stored.ProxyMode) return false
  if ((existing.Site ?? '') !== (stored.Site ?? '') || !existing.Created.equals(stored.Created)) return false
  const a = existing.Ports
  const b = stored.Ports
  if (a === b) return true
  if (a === null || b === null || a.length !== b.length) return false
  return a.every((p, i) => p.Type === b[i].Type && p.Port === b[i].Port && p.ServicePort === b[i].ServicePort && p.IP === b[i].IP)
}

/** True iff incoming should replace existing: there is none, or incoming is strictly newer. */
export function shouldReplace (existing: Service | undefined, incoming: Service): boolean {
  return existing === undefined || incoming.Updated.isAfter(existing.Updated)
}

/**
 * Orders strings like Go's sort.Strings (UTF-8 bytes, i.e. code points), which is how
 * encoding/json orders map keys. JS's default sort compares UTF-16 units, which differs
 * only when a surrogate meets a unit at or above U+E000.
 */
export function compareGoStrings (a: string, b: string): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x !== y) return codePointRank(x) - codePointRank(y)
  }
  return a.length - b.length
}

function codePointRank (unit: number): number {
  if (unit < 0xd800) return unit
  return unit <= 0xdfff ? unit + 0x2000 : unit - 0x800 // surrogates sort above U+E000..U+FFFF
}
