// Turns one raw value from one source into the effective value for its key, or into the
// list of what is wrong with it. Three source modes:
//  - toml:     TOML types must match (a port is an integer, a duration a string, a list an array)
//  - text:     env vars and flags: a trimmed string, parsed per type (lists split on commas/space)
//  - override: programmatic overrides: a string (parsed as text) or the effective type itself
//              (number for ints, milliseconds for durations, string[] for lists, boolean)
import net from 'node:net'
import { formatDuration, MAX_TIMER_MS, parseDuration } from './duration.ts'
import type { KeySpec } from './schema.ts'
import { didYouMean } from '../lib/suggest.ts'

export type Mode = 'toml' | 'text' | 'override'
/** Where in a value a problem is: [entry] or [entry, key] of an array of tables. */
export type ValuePath = readonly [number] | readonly [number, string]
/** at: beside problems, where in the value each is (for an array of tables). */
export type Coerced = { ok: true, value: unknown } | { ok: false, problems: string[], at?: ValuePath[] }

const q = (v: string): string => JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}...` : v)
const fail = (...problems: string[]): Coerced => ({ ok: false, problems })

/** Splits an env/flag list: commas or whitespace separate items; empty items are dropped. */
export function splitList (text: string): string[] {
  return text.split(/[\s,]+/).filter((s) => s !== '')
}

const TRUE = new Set(['true', '1', 'yes'])
const FALSE = new Set(['false', '0', 'no'])

/** true/false, 1/0, yes/no, any case; undefined for anything else. */
export function parseBool (text: string): boolean | undefined {
  const t = text.trim().toLowerCase()
  return TRUE.has(t) ? true : FALSE.has(t) ? false : undefined
}

/** How a TOML (or override) value is named in a type error. */
export function describe (v: unknown): string {
  if (typeof v === 'string') return `string ${q(v)}`
  if (typeof v === 'number') return Number.isInteger(v) ? `integer ${v}` : `float ${v}`
  if (typeof v === 'boolean') return `boolean ${v}`
  if (Array.isArray(v)) return 'an array'
  if (v !== null && typeof v === 'object') return v.constructor?.name === 'TomlDate' || v instanceof Date ? 'a date' : 'a table'
  return String(v)
}

function expected (spec: KeySpec): string {
  switch (spec.type) {
    case 'list': return 'an array of strings such as ["a", "b"]'
    case 'int': return `an integer ${spec.min}..${spec.max}`
    case 'number': return `a number ${spec.min}..${spec.max}`
    case 'duration': return 'a duration string such as "3s"'
    case 'bool': return 'true or false'
    case 'tables': return 'an array of tables ([[section.key]] blocks; in env vars a JSON array of objects)'
    default: return 'a string'
  }
}

export function coerce (spec: KeySpec, raw: unknown, mode: Mode): Coerced {
  if (spec.type === 'tables') return tablesValue(spec, raw, mode)
  if (mode === 'text' || (mode === 'override' && typeof raw === 'string')) {
    return fromText(spec, String(raw).trim())
  }
  const typed = fromTyped(spec, raw, mode)
  return typed.ok ? validate(spec, typed.value) : typed
}

function fromText (spec: KeySpec, text: string): Coerced {
  switch (spec.type) {
    case 'list': return validate(spec, splitList(text))
    case 'int':
      if (!/^[+-]?\d+$/.test(text)) return fail(`${q(text)} is not an integer (expected ${spec.min}..${spec.max})`)
      return validate(spec, Number(text))
    case 'number':
      if (!/^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/.test(text)) return fail(`${q(text)} is not a number (expected ${spec.min}..${spec.max})`)
      return validate(spec, Number(text))
    case 'bool': {
      const b = parseBool(text)
      return b === undefined ? fail(`${q(text)} is not a boolean (expected true/false, 1/0 or yes/no)`) : validate(spec, b)
    }
    default: return validate(spec, text)
  }
}

function fromTyped (spec: KeySpec, raw: unknown, mode: Mode): Coerced {
  const wrong = fail(`expected ${expected(spec)}, got ${describe(raw)}`)
  switch (spec.type) {
    case 'list':
      if (!Array.isArray(raw) || !raw.every((x) => typeof x === 'string')) return wrong
      // a repeated flag (-c a -c b,c) may hold several items per value; a TOML array is taken as written
      return { ok: true, value: mode === 'override' ? raw.flatMap(splitList) : raw }
    case 'int':
    case 'number': return typeof raw === 'number' ? { ok: true, value: raw } : wrong
    case 'duration':
      if (typeof raw === 'string' || (mode === 'override' && typeof raw === 'number')) return { ok: true, value: raw }
      return wrong
    case 'bool': return typeof raw === 'boolean' ? { ok: true, value: raw } : wrong
    default: return typeof raw === 'string' ? { ok: true, value: raw } : wrong
  }
}

/** Checks a value already of the right JS type against the key's rules. */
function validate (spec: KeySpec, value: unknown): Coerced {
  switch (spec.type) {
    case 'string':
    case 'path': {
      const v = value as string
      if (v === '' && spec.emptyOk !== true) return fail('must not be empty')
      const p = v === '' ? undefined : spec.check?.(v)
      return p === undefined ? { ok: true, value: v } : fail(p)
    }
    case 'ip': {
      const v = value as string
      if (v === '' && spec.emptyOk === true) return { ok: true, value: v }
      return net.isIP(v) !== 0 ? { ok: true, value: v } : fail(v === '' ? 'must not be empty, expected an IP address' : `${q(v)} is not an IP address`)
    }
    case 'enum': return enumValue(spec, value as string)
    case 'int': {
      const n = value as number
      if (!Number.isInteger(n)) return fail(`expected an integer ${spec.min}..${spec.max}, got ${n}`)
      if (n < (spec.min ?? -Infinity) || n > (spec.max ?? Infinity)) return fail(`${n} is out of range ${spec.min}..${spec.max}`)
      return { ok: true, value: n }
    }
    case 'number': {
      const n = value as number
      if (!Number.isFinite(n)) return fail(`expected a number ${spec.min}..${spec.max}, got ${n}`)
      if (n < (spec.min ?? -Infinity) || n > (spec.max ?? Infinity)) return fail(`${n} is out of range ${spec.min}..${spec.max}`)
      return { ok: true, value: n }
    }
    case 'duration': return durationValue(value as string | number, spec.zeroOk === true)
    case 'bool': return { ok: true, value }
    case 'list': return listValue(spec, value as string[])
    case 'tables': return { ok: true, value } // checked field by field in tablesValue
  }
}

function isTable (v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date) && v.constructor?.name !== 'TomlDate'
}

/**
 * An array of tables: each table's keys checked against spec.fields (unknown and missing
 * keys are problems naming the entry), left-out keys filled from spec.fieldDefaults.
 * From env vars and flags the value is JSON text; "" means [] (empty means empty).
 */
function tablesValue (spec: KeySpec, raw: unknown, mode: Mode): Coerced {
  let value = raw
  if (typeof raw === 'string' && mode !== 'toml') {
    const text = raw.trim()
    if (text === '') return { ok: true, value: [] }
    try {
      value = JSON.parse(text)
    } catch (err) {
      return fail(`expected a JSON array of objects such as [{"url": "http://127.0.0.1:7778/"}], got invalid JSON (${(err as Error).message})`)
    }
  }
  if (!Array.isArray(value)) return fail(`expected ${expected(spec)}, got ${describe(value)}`)
  const fields = spec.fields ?? {}
  const names = Object.keys(fields)
  const problems: string[] = []
  const at: ValuePath[] = []
  const add = (where: ValuePath, problem: string): void => { problems.push(problem); at.push(where) }
  const out: Array<Record<string, unknown>> = []
  value.forEach((item: unknown, i) => {
    if (!isTable(item)) { add([i], `entry ${i}: expected a table with keys ${names.join(', ')}, got ${describe(item)}`); return }
    const table: Record<string, unknown> = {}
    for (const key of Object.keys(item)) {
      if (!Object.hasOwn(fields, key)) add([i, key], `entry ${i}: unknown key ${key}${didYouMean(key, names)} (keys: ${names.join(', ')})`)
    }
    for (const [key, field] of Object.entries(fields)) {
      const given = Object.hasOwn(item, key) ? item[key] : undefined
      if (given === undefined && field.required === true) { add([i], `entry ${i}: missing ${key}`); continue }
      const r = coerce(field, given ?? spec.fieldDefaults?.[key], 'toml')
      if (r.ok) table[key] = r.value
      else for (const p of r.problems) add([i, key], `entry ${i}: ${key}: ${p}`)
    }
    out.push(table)
  })
  return problems.length > 0 ? { ok: false, problems, at } : { ok: true, value: out }
}

function enumValue (spec: KeySpec, text: string): Coerced {
  const values = spec.values ?? []
  const v = text.trim().toLowerCase()
  if (values.includes(v)) return { ok: true, value: v }
  return fail(`invalid value ${q(text)}, expected one of ${values.join(', ')}${didYouMean(v, values)}`)
}

function durationValue (raw: string | number, zeroOk: boolean): Coerced {
  let ms: number
  if (typeof raw === 'number') {
    ms = raw
  } else {
    try {
      ms = parseDuration(raw)
    } catch (err) {
      return fail((err as Error).message)
    }
  }
  const shown = typeof raw === 'string' ? q(raw) : `${raw} ms`
  if (zeroOk && ms === 0) return { ok: true, value: 0 }
  if (!Number.isFinite(ms) || ms <= 0) return fail(`duration ${shown} must be greater than zero${zeroOk ? ' (or "0" for none)' : ''}`)
  if (ms > MAX_TIMER_MS) return fail(`duration ${shown} is longer than the maximum ${formatDuration(MAX_TIMER_MS)}`)
  return { ok: true, value: ms }
}

function listValue (spec: KeySpec, items: string[]): Coerced {
  const problems: string[] = []
  const out: string[] = []
  for (const item of items) {
    if (spec.values !== undefined) {
      const r = enumValue(spec, item)
      if (!r.ok) problems.push(...r.problems)
      else if (!out.includes(r.value as string)) out.push(r.value as string) // duplicates are harmless: drop them
      continue
    }
    const p = item === '' ? 'empty item in list' : spec.check?.(item)
    if (p !== undefined) problems.push(p)
    else out.push(item)
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, value: out }
}
