// Passive health (outlier detection, after sidekick and Envoy): the maths of ejection.
// Pure functions over a backend's counters; the pool applies them with the time it is given.

export interface OutlierPolicy {
  /** First ejection; each further consecutive ejection doubles it. */
  readonly baseMs: number
  /** The longest ejection. */
  readonly maxMs: number
  /** Consecutive 5xx responses that count as one failure; 0 = 5xx never ejects. */
  readonly after5xx: number
  /** A backend waiting this long for any answer while a request waits on it is stalled (pool.ts); 0 = never. */
  readonly stallMs?: number
}

/** A backend's passive-health counters (the pool's Backend holds them). */
export interface OutlierState {
  /** Consecutive ejections without a success in between: drives the back-off. */
  ejections: number
  /** Epoch ms the current ejection ends; 0 = never ejected. */
  ejectedUntil: number
  consecutive5xx: number
}

export function newOutlierState (): OutlierState {
  return { ejections: 0, ejectedUntil: 0, consecutive5xx: 0 }
}

/** The n-th consecutive ejection lasts base * 2^(n-1), at most max: 10 s, 20 s, 40 s, ... 5 min. */
export function ejectionMs (n: number, policy: Pick<OutlierPolicy, 'baseMs' | 'maxMs'>): number {
  if (n < 1) return 0
  // 2^(n-1) overflows to Infinity long before n matters; min() then caps it
  return Math.min(policy.baseMs * 2 ** Math.min(n - 1, 52), policy.maxMs)
}

/** At most half of the backends that could take traffic may be ejected at once (rounded down). */
export function maxEjected (candidates: number): number {
  return Math.floor(candidates / 2)
}

export function isEjected (s: OutlierState, nowMs: number): boolean {
  return s.ejectedUntil > nowMs
}

/** Its last ejection is over and no answer came since: it takes one request at a time (pool.ts). */
export function onProbation (s: OutlierState): boolean {
  return s.ejections > 0
}

/**
 * A connection refused, reset or timed out (or the 5xx streak reached its limit). Ejects
 * unless the backend is already ejected or `ejectedNow` (other backends of the pool already
 * ejected) is at the cap for `candidates`. Returns whether this call ejected it.
 */
export function recordFailure (s: OutlierState, policy: OutlierPolicy, nowMs: number, ejectedNow: number, candidates: number): boolean {
  s.consecutive5xx = 0
  if (isEjected(s, nowMs)) return false
  if (ejectedNow + 1 > maxEjected(candidates)) return false
  s.ejections++
  s.ejectedUntil = nowMs + ejectionMs(s.ejections, policy)
  return true
}

/**
 * A response arrived. Below 500 (or any status when 5xx ejection is off) it is a success:
 * the 5xx streak ends and, once an ejection is over, the back-off starts again from base
 * (the backend passed its probation). Returns true when a 5xx streak reached the limit:
 * the caller then records a failure.
 */
export function recordResponse (s: OutlierState, policy: OutlierPolicy, status: number, nowMs: number): boolean {
  if (status >= 500 && policy.after5xx > 0) {
    s.consecutive5xx++
    if (s.consecutive5xx >= policy.after5xx) return true
    return false
  }
  s.consecutive5xx = 0
  if (s.ejections > 0 && !isEjected(s, nowMs)) s.ejections = 0
  return false
}

/** The active check says the instance is healthy again: forget its ejection. */
export function clearEjection (s: OutlierState): void {
  s.ejections = 0
  s.ejectedUntil = 0
  s.consecutive5xx = 0
}
