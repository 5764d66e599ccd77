// The TOML config file: which one, reading it, and checking its shape (known sections and
// keys only). Values are type-checked later, with every other source, by coerce.ts.
import fs from 'node:fs'
import path from 'node:path'
import { parse, TomlError } from 'smol-toml'
import { allKeys, CONFIG_FILE_ENV, isKey, isSection, keysOf, SECTIONS, type SectionName } from './schema.ts'
import { didYouMean, nearest } from '../lib/suggest.ts'
import { TomlLines, type KeyPath } from './toml-lines.ts'

export interface FileChoice {
  /** Absolute path, or undefined for "no file". */
  path?: string
  /** Who chose it, for messages: "--config-file", "SIDECAR_CONFIG_FILE" or "default". */
  via: string
  /** A file named by a flag or env var must exist; ./sidecar.toml is optional. */
  required: boolean
}

/** -f PATH, else SIDECAR_CONFIG_FILE, else ./sidecar.toml when it exists. '' means "no file". */
export function chooseConfigFile (configFile: string | undefined, env: Record<string, string | undefined>, cwd: string): FileChoice {
  if (configFile !== undefined) return named(configFile, '--config-file', cwd)
  const fromEnv = env[CONFIG_FILE_ENV]
  if (fromEnv !== undefined) return named(fromEnv, CONFIG_FILE_ENV, cwd)
  const dflt = path.resolve(cwd, 'sidecar.toml')
  return fs.existsSync(dflt) ? { path: dflt, via: 'default', required: false } : { via: 'default', required: false }
}

function named (value: string, via: string, cwd: string): FileChoice {
  const v = value.trim()
  return v === '' ? { via, required: false } : { path: path.resolve(cwd, v), via, required: true }
}

/** How a file is named in messages: relative to cwd when below it, else absolute. */
export function displayPath (file: string, cwd: string): string {
  const rel = path.relative(cwd, file)
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file
}

export interface FileEntries {
  entries: Array<[SectionName, string, unknown]>
  problems: string[]
  /** How a value at path is named in messages: "file:line" (or "file" when its line is not known). */
  where: (path: KeyPath) => string
}

/** Reads and parses the file; problems are prefixed with the file's display name. */
export function readConfigFile (choice: FileChoice & { path: string }, display: string): FileEntries {
  let text: string
  try {
    text = fs.readFileSync(choice.path, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const why = code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a directory, expected a TOML file' : (err as Error).message
    const who = choice.via === 'default' ? '' : ` (from ${choice.via})`
    return { entries: [], problems: [`config file ${display}${who}: ${why}`], where: () => display }
  }
  let table: Record<string, unknown>
  try {
    table = parse(text)
  } catch (err) {
    if (!(err instanceof TomlError)) throw err
    const first = err.message.split('\n')[0].replace(/^Invalid TOML document:\s*/, '')
    return { entries: [], problems: [`${display}:${err.line}:${err.column}: TOML syntax error: ${first}${syntaxHint(text.split(/\r?\n/)[err.line - 1] ?? '')}`], where: () => display }
  }
  const lines = new TomlLines(text)
  const where = (path: KeyPath): string => {
    const line = lines.lineOf(path)
    return line === undefined ? display : `${display}:${line}`
  }
  return { ...checkShape(table, where), where }
}

function isTable (v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date) && v.constructor?.name !== 'TomlDate'
}

/**
 * Splits a parsed TOML document into (section, key, value) entries; unknown names are
 * problems, each after where(path) (the file and line).
 */
export function checkShape (table: Record<string, unknown>, where: (path: KeyPath) => string): Omit<FileEntries, 'where'> {
  const entries: FileEntries['entries'] = []
  const problems: string[] = []
  for (const [name, body] of Object.entries(table)) {
    if (!isSection(name)) {
      problems.push(`${where([name])}: ${unknownTopLevel(name, isTable(body))}`)
      continue
    }
    if (!isTable(body)) {
      problems.push(`${where([name])}: [${name}] must be a table (a [${name}] header followed by keys), got ${Array.isArray(body) ? 'an array' : typeof body}`)
      continue
    }
    for (const [key, value] of Object.entries(body)) {
      if (isKey(name, key)) entries.push([name, key, value])
      else problems.push(`${where([name, key])}: ${unknownKey(name, key)}`)
    }
  }
  return { entries, problems }
}

function unknownTopLevel (name: string, looksLikeSection: boolean): string {
  if (looksLikeSection) {
    return `unknown section [${name}]${didYouMean(name, SECTIONS, (s) => `[${s}]`)} (sections: ${SECTIONS.map((s) => `[${s}]`).join(', ')})`
  }
  const home = allKeys().find(([, k]) => k === name)
  if (home !== undefined) return `key ${name} is outside any section, did you mean [${home[0]}] ${name}?`
  return `unknown top-level key ${name}: every key belongs in a section such as [sidecar]`
}

function unknownKey (section: SectionName, key: string): string {
  const here = nearest(key, keysOf(section))
  if (here !== undefined) return `unknown key [${section}] ${key}, did you mean ${here}?`
  const elsewhere = allKeys().find(([, k]) => k === key)
  if (elsewhere !== undefined) return `unknown key [${section}] ${key}, did you mean [${elsewhere[0]}] ${key}?`
  return `unknown key [${section}] ${key} (keys of [${section}]: ${keysOf(section).join(', ')})`
}

/**
 * What fixes the usual slips a TOML parser names only by their character ("invalid value",
 * "illegal character in key"): a string without quotes, ":" for "=", a section header left
 * open. "" when the line is none of these.
 *
 * Read by scans and anchored expressions that read the line a bounded number of times: the
 * expressions they replace (/\s+#.*$/, \s* before .* or .+, two runs of the same characters in
 * the list rule) backtracked in quadratic time, 3-6 s on a 64 KiB line of a config that failed.
 */
export function syntaxHint (line: string): string {
  const text = withoutComment(line).trim()
  if (/^\[[^\]]*$/.test(text)) return `; a section header is closed with "]": [${text.slice(1).trim()}]`
  const colon = keyAnd(text, ':')
  if (colon !== undefined) return `; a key is set with "=", not ":": ${colon[0]} = ${colon[1]}`
  const m = keyAnd(text, '=')
  if (m === undefined || m[1] === '') return ''
  const [key, value] = m
  // a list without quotes, '[' ... ']' holding no quote and no other ']'
  if (/^\[[^"'\]]*\]$/.test(value)) {
    const items = value.slice(1, -1).split(',').map(v => v.trim()).filter(v => v !== '')
    return `; strings in a list need quotes: ${key} = [${items.map(v => JSON.stringify(v)).join(', ')}]`
  }
  if (/^\d+(ms|s|m|h)$/.test(value)) return `; a duration is a string: ${key} = "${value}"`
  if (/^[^"'[{\d+-]/.test(value) && !/^(true|false|inf|nan)$/.test(value)) return `; a string needs quotes: ${key} = ${JSON.stringify(value)}`
  return ''
}

const SPACE = /\s/
/** Characters a regular expression's "." does not match. */
const LINE_END = /[\n\r\u2028\u2029]/

/**
 * line without a comment, as line.replace(/\s+#.*$/, '') had it: from the start of the run of
 * whitespace before the first "#" that has whitespace before it and no line end after it.
 */
function withoutComment (line: string): string {
  let lastLineEnd = -1
  for (let i = line.length - 1; i >= 0 && lastLineEnd < 0; i--) if (LINE_END.test(line[i])) lastLineEnd = i
  for (let hash = line.indexOf('#', lastLineEnd + 1); hash >= 0; hash = line.indexOf('#', hash + 1)) {
    if (hash === 0 || !SPACE.test(line[hash - 1])) continue
    let start = hash - 1
    while (start > 0 && SPACE.test(line[start - 1])) start--
    return line.slice(0, start)
  }
  return line
}

/**
 * [key, rest] of "key <sign> rest", as /^([A-Za-z0-9_-]+)\s*<sign>\s*(.*)$/ had them: rest
 * after the whitespace that follows the sign, and no match when a line end is in it.
 */
function keyAnd (text: string, sign: ':' | '='): [string, string] | undefined {
  const head = (sign === ':' ? /^([A-Za-z0-9_-]+)\s*:\s*/ : /^([A-Za-z0-9_-]+)\s*=\s*/).exec(text)
  if (head === null) return undefined
  const rest = text.slice(head[0].length)
  return LINE_END.test(rest) ? undefined : [head[1], rest]
}
