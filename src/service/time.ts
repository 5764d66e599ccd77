// Timestamps with nanosecond precision, as the Go original writes them.
// JS Dates hold only milliseconds, so a Time keeps nanoseconds since the Unix epoch in a
// bigint, plus the UTC offset it was written with, so that a value received from a peer
// re-encodes to the very same string ("2015-03-04T01:12:46.669648453Z").
import { InvalidTimeError } from '../lib/errors.ts'

const NS_PER_MS = 1_000_000n
const NS_PER_MIN = 60_000_000_000n
// RFC 3339 with Go's tolerances: 'T' or 't', optional fraction of 1..9 digits, 'Z' or ±hh:mm.
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/

export class Time {
  /** Nanoseconds since 1970-01-01T00:00:00Z. */
  readonly ns: bigint
  /** Offset the value was written with, in minutes; null means 'Z' (UTC). */
  readonly offsetMinutes: number | null
  /**
   * toString(), kept once computed (a private field: freezing does not cover it). A record's
   * Updated is encoded several times per version (its signature, the gossip message, the API's
   * change event), and 10,000 services make tens of thousands of versions in their first seconds.
   */
  #text: string | undefined

  constructor (ns: bigint, offsetMinutes: number | null = null) {
    this.ns = ns
    this.offsetMinutes = offsetMinutes
    Object.freeze(this)
  }

  static readonly EPOCH = new Time(0n)

  static fromMillis (ms: number): Time {
    return new Time(BigInt(Math.trunc(ms)) * NS_PER_MS)
  }

  static fromDate (d: Date): Time {
    return Time.fromMillis(d.getTime())
  }

  /** Parses RFC 3339 (Go's time.Time JSON form). Throws InvalidTimeError. */
  static parse (text: string): Time {
    const m = typeof text === 'string' && text.length <= 40 ? RFC3339.exec(text) : null
    if (m === null) throw new InvalidTimeError(`invalid timestamp ${JSON.stringify(String(text).slice(0, 60))}: expected RFC 3339 such as "2015-03-04T01:12:46.669648453Z"`)
    const [, ys, mos, ds, hs, mis, ss, frac, z, sign, ohs, oms] = m
    const y = Number(ys); const mo = Number(mos); const d = Number(ds)
    const h = Number(hs); const mi = Number(mis); const s = Number(ss)
    if (mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo) || h > 23 || mi > 59 || s > 59) {
      throw new InvalidTimeError(`invalid timestamp ${JSON.stringify(text)}: a date or time field is out of range`)
    }
    let offset: number | null = null
    if (z === undefined) {
      const oh = Number(ohs); const om = Number(oms)
      if (oh > 23 || om > 59) throw new InvalidTimeError(`invalid timestamp ${JSON.stringify(text)}: offset out of range`)
      offset = (sign === '-' ? -1 : 1) * (oh * 60 + om)
    }
    const date = new Date(0)
    date.setUTCFullYear(y, mo - 1, d) // unlike Date.UTC, does not map years 0..99 to 19xx
    date.setUTCHours(h, mi, s, 0)
    const fracNs = frac === undefined ? 0n : BigInt(frac.padEnd(9, '0'))
    const ns = BigInt(date.getTime()) * NS_PER_MS + fracNs - BigInt(offset ?? 0) * NS_PER_MIN
    const time = new Time(ns, offset)
    // Already in Go's form (UTC, uppercase T and Z, no trailing zero in the fraction): the text is
    // what toString() would print, so it is kept (every record received is re-encoded to check its proof).
    if (z === 'Z' && text.charCodeAt(10) === 84 && (frac === undefined || frac.charCodeAt(frac.length - 1) !== 48)) time.#text = text
    return time
  }

  /** Go's RFC3339Nano: trailing zeros of the fraction trimmed, no fraction when zero. */
  toString (): string {
    this.#text ??= this.#format()
    return this.#text
  }

  #format (): string {
    if (this.offsetMinutes === null) {
      // UTC within years 0000-9999 (every real timestamp): Date's ISO form to the second, then the nanoseconds.
      const ms = Number(this.ns / NS_PER_MS)
      const sub = Number(this.ns % NS_PER_MS)
      const d = new Date(sub < 0 ? ms - 1 : ms)
      const year = d.getUTCFullYear()
      if (sub >= 0 && year >= 0 && year <= 9999) {
        const fracNs = d.getUTCMilliseconds() * 1_000_000 + sub
        return `${d.toISOString().slice(0, 19)}${fraction(fracNs)}Z`
      }
    }
    const local = this.ns + BigInt(this.offsetMinutes ?? 0) * NS_PER_MIN
    let ms = local / NS_PER_MS
    let sub = local % NS_PER_MS
    if (sub < 0n) { sub += NS_PER_MS; ms -= 1n } // floor division for times before 1970
    const d = new Date(Number(ms))
    const fracNs = BigInt(d.getUTCMilliseconds()) * NS_PER_MS + sub
    let out = `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}T${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}`
    // eslint-disable-next-line regexp/no-super-linear-move -- exactly 9 digits (fracNs < 10^9): quadratic in nothing
    if (fracNs !== 0n) out += '.' + fracNs.toString().padStart(9, '0').replace(/0+$/, '')
    if (this.offsetMinutes === null) return out + 'Z'
    const o = Math.abs(this.offsetMinutes)
    return `${out}${this.offsetMinutes < 0 ? '-' : '+'}${pad(Math.trunc(o / 60), 2)}:${pad(o % 60, 2)}`
  }

  toJSON (): string { return this.toString() }

  toMillis (): number { return Number(this.ns / NS_PER_MS) }

  toDate (): Date { return new Date(this.toMillis()) }

  /** Negative, zero or positive as this is before, equal to or after other (offsets ignored). */
  compare (other: Time): number { return this.ns < other.ns ? -1 : this.ns > other.ns ? 1 : 0 }

  isAfter (other: Time): boolean { return this.ns > other.ns }

  isBefore (other: Time): boolean { return this.ns < other.ns }

  equals (other: Time): boolean { return this.ns === other.ns }

  plusNanos (n: bigint): Time { return new Time(this.ns + n, this.offsetMinutes) }

  plusMillis (ms: number): Time { return this.plusNanos(BigInt(Math.trunc(ms)) * NS_PER_MS) }

  /** The later of two times. */
  static max (a: Time, b: Time): Time { return a.ns >= b.ns ? a : b }
}

function pad (n: number, width: number): string { return String(n).padStart(width, '0') }

/** '.' and the nanoseconds (0 < ns < 1e9) with trailing zeros trimmed; '' for 0. */
function fraction (ns: number): string {
  if (ns === 0) return ''
  let digits = String(ns).padStart(9, '0')
  let end = digits.length
  while (digits.charCodeAt(end - 1) === 48) end-- // '0'
  digits = digits.slice(0, end)
  return `.${digits}`
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

function daysIn (year: number, month: number): number {
  return month === 2 && isLeap(year) ? 29 : DAYS_IN_MONTH[month - 1]
}

function isLeap (y: number): boolean { return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 }
