// Durations as people write them in config ("20s", "200ms", "1h30m", "1.5s"), the subset of
// Go's time.ParseDuration the original accepted, and back. Values are milliseconds.

/** Nanoseconds per unit, Go's unit names; integers, so sums are exact. */
const UNIT_NS: Readonly<Record<string, number>> = {
  ns: 1,
  us: 1e3,
  µs: 1e3, // U+00B5 micro sign, as Go accepts
  μs: 1e3, // U+03BC greek mu, as Go accepts
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
}

const TERM = /(\d*)(?:\.(\d*))?(ns|us|µs|μs|ms|s|m|h)/y

/** The longest duration a Node timer can wait (2^31 - 1 ms, about 24.8 days). */
export const MAX_TIMER_MS = 2 ** 31 - 1

/**
 * Parses "20s", "200ms", "1m", "1h30m", "1.5s" (a sequence of number+unit terms, units
 * ns, us, ms, s, m, h) or a bare "0". Returns milliseconds (fractional below 1 ms).
 * Throws a RangeError on anything else: no sign, no spaces, no unit-less numbers.
 */
export function parseDuration (text: string): number {
  if (typeof text !== 'string' || text.length === 0 || text.length > 64) throw badDuration(text)
  if (text === '0') return 0
  let ns = 0
  TERM.lastIndex = 0
  while (TERM.lastIndex < text.length) {
    const m = TERM.exec(text)
    if (m === null) throw badDuration(text)
    const [, whole, frac = '', unit] = m
    if (whole === '' && frac === '') throw badDuration(text) // a unit needs a number: "s", ".s"
    const unitNs = UNIT_NS[unit]
    // fraction digits as an integer over a power of ten: "1.001s" is exactly 1001 ms
    ns += Number(whole) * unitNs + (frac === '' ? 0 : Math.round(Number(frac.slice(0, 15)) * unitNs / 10 ** Math.min(frac.length, 15)))
  }
  if (!Number.isFinite(ns)) throw badDuration(text)
  return ns / 1e6
}

function badDuration (text: unknown): RangeError {
  return new RangeError(`invalid duration ${JSON.stringify(String(text).slice(0, 64))}, expected e.g. "3s", "200ms", "1m"`)
}

/**
 * Writes milliseconds the way parseDuration reads them, shortest form first:
 * 200 -> "200ms", 20000 -> "20s", 90000 -> "1m30s", 1500 -> "1.5s", 10800000 -> "3h", 0 -> "0s".
 * Precision is one microsecond. Throws a RangeError for negative or non-finite input.
 */
export function formatDuration (ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`cannot format duration ${ms}: expected a finite number of milliseconds >= 0`)
  const us = Math.round(ms * 1000) // integer arithmetic from here on, no float noise
  if (us === 0) return '0s'
  if (us < 1_000_000) return `${decimal(us, 1000)}ms`
  const h = Math.floor(us / 3_600_000_000)
  const m = Math.floor((us % 3_600_000_000) / 60_000_000)
  const sUs = us % 60_000_000
  return (h > 0 ? `${h}h` : '') + (m > 0 ? `${m}m` : '') + (sUs > 0 ? `${decimal(sUs, 1_000_000)}s` : '')
}

/** n / unit as a decimal string without trailing zeros ("1.5", "200"). */
function decimal (n: number, unit: number): string {
  const whole = Math.floor(n / unit)
  const frac = n % unit
  if (frac === 0) return String(whole)
  const digits = String(unit).length - 1
  // eslint-disable-next-line regexp/no-super-linear-move -- at most 6 digits (frac < unit <= 10^6): quadratic in nothing
  return `${whole}.${String(frac).padStart(digits, '0').replace(/0+$/, '')}`
}
