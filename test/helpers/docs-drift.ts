// What README.md and docs/*.md claim, read mechanically, and the checks that compare it with the
// code (test/unit/docs-drift.test.ts) and with a running daemon (test/integration/docs-drift.test.ts).
// Each check takes the documents' text and returns its problems, one line each, naming the file;
// the tests feed it the real documents (no problem expected) and a mistyped copy (the problem named).
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { FLAGS } from '../../src/cli/usage.ts'
import { parseCliArgs } from '../../src/cli/args.ts'
import { DEFAULTS } from '../../src/config/defaults.ts'
import { parseDuration } from '../../src/config/duration.ts'
import { allKeys, envName } from '../../src/config/schema.ts'

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

/** The documents an operator reads: README.md and docs/*.md, by path relative to the repository, with their text. */
export function readDocs (): Map<string, string> {
  const files = ['README.md', ...fs.readdirSync(path.join(REPO, 'docs')).filter(f => f.endsWith('.md')).sort().map(f => `docs/${f}`)]
  return new Map(files.map(f => [f, fs.readFileSync(path.join(REPO, f), 'utf8')]))
}

/** The markdown without its fenced code blocks (their lines kept empty, so line numbers hold). */
export function stripFences (md: string): string {
  return md.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, block => block.replace(/[^\n]/g, ''))
}

/** The text under a heading (`## Command line`), up to the next heading of its level or above; '' when absent. */
export function section (md: string, heading: string): string {
  const lines = md.split('\n')
  const start = lines.findIndex(l => l.trim() === heading)
  if (start < 0) return ''
  const level = /^#+/.exec(heading)?.[0].length ?? 2
  const end = lines.findIndex((l, i) => i > start && new RegExp(`^#{1,${level}} `).test(l))
  return lines.slice(start + 1, end < 0 ? undefined : end).join('\n')
}

/** The cells of every markdown table row of md (header and separator rows left out). */
export function tableRows (md: string): string[][] {
  const rows: string[][] = []
  for (const line of stripFences(md).split('\n')) {
    if (!line.startsWith('|')) continue
    const cells = line.slice(1, line.trimEnd().endsWith('|') ? line.trimEnd().length - 1 : undefined).split(/(?<!\\)\|/).map(c => c.trim())
    if (cells.every(c => /^:?-+:?$/.test(c))) continue
    rows.push(cells)
  }
  return rows
}

// ---------------------------------------------------------------- command line

interface DocumentedFlag { longs: string[], shorts: string[], arg?: string, env?: string, defaultText?: string }

/** The flags of a table whose first cell names them (`-c, --cluster-ip HOST[:PORT]`, or `-c`, `--cluster-ip HOST[:PORT]`). */
function flagRows (md: string, envColumn: number, defaultColumn?: number): DocumentedFlag[] {
  const out: DocumentedFlag[] = []
  for (const cells of tableRows(md)) {
    const first = cells[0] ?? ''
    if (!first.includes('`-')) continue
    const names = [...first.matchAll(/`([^`]+)`/g)].map(m => m[1]).join(', ')
    const longs = [...names.matchAll(/(?:^|[\s,])--([a-z][a-z0-9-]*)/g)].map(m => m[1])
    const shorts = [...names.matchAll(/(?:^|[\s,])-([a-zA-Z])\b(?!-)/g)].map(m => m[1])
    const arg = /--[a-z][a-z0-9-]* ([A-Z][A-Z[\]:]*)/.exec(names)?.[1]
    const env = /^`([A-Z_0-9]+)`$/.exec(cells[envColumn] ?? '')?.[1]
    const defaultText = defaultColumn === undefined ? undefined : /^`([^`]*)`$/.exec(cells[defaultColumn] ?? '')?.[1]
    out.push({ longs, shorts, ...(arg !== undefined ? { arg } : {}), ...(env !== undefined ? { env } : {}), ...(defaultText !== undefined ? { defaultText } : {}) })
  }
  return out
}

/**
 * A flag table (README's "Command line": flag | meaning | default | env; docs/configuration.md's
 * "Flags": flag | sets | env) against the flags the program defines (src/cli/usage.ts): every
 * flag on both sides, long and short names, the value's placeholder, the env var, a default
 * written as code, and that the parser takes each documented flag and --help names it.
 */
export function flagTableProblems (where: string, table: string, columns: { env: number, default?: number }, help: string): string[] {
  const problems: string[] = []
  const documented = flagRows(table, columns.env, columns.default)
  if (documented.length === 0) return [`${where}: no flag table found`]
  const docLongs = new Set(documented.flatMap(d => d.longs))
  for (const f of FLAGS) {
    if (!docLongs.has(f.long)) problems.push(`${where}: --${f.long} is a flag (src/cli/usage.ts) but is not in the table`)
  }
  for (const d of documented) {
    for (const long of d.longs) {
      const f = FLAGS.find(x => x.long === long)
      if (f === undefined) { problems.push(`${where}: --${long} is in the table but the program has no such flag`); continue }
      if (d.longs.length === 1) {
        const shorts = f.short === undefined ? [] : [f.short]
        if (d.shorts.join() !== shorts.join()) problems.push(`${where}: --${long} is documented with short ${d.shorts.map(s => `-${s}`).join(', ') || 'none'}, the program has ${shorts.map(s => `-${s}`).join(', ') || 'none'}`)
        if (d.arg !== f.arg) problems.push(`${where}: --${long} is documented taking ${d.arg ?? 'no value'}, the program takes ${f.arg ?? 'no value'}`)
        if (d.env !== f.env) problems.push(`${where}: --${long} is documented with env ${d.env ?? 'none'}, the program reads ${f.env ?? 'none'}`)
        if (d.defaultText !== undefined && d.defaultText !== f.defaultText) problems.push(`${where}: --${long} is documented with default ${d.defaultText}, the program's is ${f.defaultText ?? 'none'}`)
      }
      const argv = f.arg === undefined ? [`--${long}`] : [`--${long}`, 'x']
      try { parseCliArgs(argv) } catch (err) { problems.push(`${where}: the parser refuses ${argv.join(' ')}: ${String(err)}`) }
      if (!help.includes(`--${long}`)) problems.push(`${where}: --${long} is not in --help`)
    }
    for (const short of d.shorts) {
      const f = FLAGS.find(x => x.short === short)
      if (f === undefined) { problems.push(`${where}: -${short} is in the table but the program has no such short flag`); continue }
      try { parseCliArgs(f.arg === undefined ? [`-${short}`] : [`-${short}`, 'x']) } catch (err) { problems.push(`${where}: the parser refuses -${short}: ${String(err)}`) }
    }
  }
  return problems
}

// ---------------------------------------------------------------- environment variables

const SCHEMA_ENVS = new Set(allKeys().map(([s, k]) => envName(s, k)))
/** The original's variables the docs name as ones sidecar does NOT read. */
export const ORIGINALS_NOT_READ = ['HAPROXY_USER', 'SIDECAR_DEBUG', 'SIDECAR_DISCOVERY_SLEEP_INTERVAL', 'SIDECAR_GOSSIP_INTERVAL', 'SIDECAR_GOSSIP_MESSAGES', 'SIDECAR_HANDOFF_QUEUE_DEPTH', 'SIDECAR_STATS_ADDR']
const ENV_LIKE = /\b(?:SIDECAR|API|STATIC|DOCKER|SERVICES|HEALTH|PROXY|LISTENERS|BENCH)_[A-Z0-9_]*[A-Z0-9]\b/g

/** The text of every source file the programs are made of (src/, bin/, bench/, scripts/, docker/ with its compose file), where a variable they read is named. */
export function sourceText (): string {
  const out: string[] = []
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name)
      if (e.isDirectory()) walk(p)
      else if (/\.(ts|js|sh|yml)$/.test(e.name)) out.push(fs.readFileSync(p, 'utf8'))
    }
  }
  for (const d of ['src', 'bin', 'bench', 'scripts', 'docker']) walk(path.join(REPO, d))
  return out.join('\n')
}

/** Every environment variable the documents name (by the config prefixes): a config key's, or one the sources read, or one of the original's the docs say is not read. */
export function envProblems (docs: Map<string, string>, sources: string): string[] {
  const problems: string[] = []
  for (const [file, md] of docs) {
    for (const name of new Set([...md.matchAll(ENV_LIKE)].map(m => m[0]))) {
      if (SCHEMA_ENVS.has(name) || ORIGINALS_NOT_READ.includes(name)) continue
      if (!new RegExp(`\\b${name}\\b`).test(sources)) problems.push(`${file}: ${name} is neither a config key's variable (src/config/schema.ts) nor read by any source file`)
    }
  }
  return problems
}

// ---------------------------------------------------------------- links and paths

/** GitHub's anchors of md's headings (lower case, punctuation dropped, spaces to "-", repeats numbered). */
export function anchors (md: string): Set<string> {
  const out = new Set<string>()
  const seen = new Map<string, number>()
  for (const line of stripFences(md).split('\n')) {
    const h = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)
    if (h === null) continue
    const slug = h[1].replace(/<[^>]+>/g, '').toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/ /g, '-')
    const n = seen.get(slug) ?? 0
    seen.set(slug, n + 1)
    out.add(n === 0 ? slug : `${slug}-${n}`)
  }
  return out
}

/** Every relative link `[text](target#anchor)` of the documents resolves to a file, and its anchor to a heading there. */
export function linkProblems (docs: Map<string, string>): string[] {
  const problems: string[] = []
  for (const [file, md] of docs) {
    const prose = stripFences(md).replace(/`[^`\n]*`/g, '')
    for (const m of prose.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1]
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue // http:, mailto:
      const [p, anchor] = target.split('#', 2)
      const abs = p === '' ? path.join(REPO, file) : path.resolve(path.dirname(path.join(REPO, file)), p)
      const text = p === '' ? md : docs.get(path.relative(REPO, abs)) ?? (fs.existsSync(abs) && fs.statSync(abs).isFile() ? fs.readFileSync(abs, 'utf8') : undefined)
      if (text === undefined && !fs.existsSync(abs)) { problems.push(`${file}: link ${target}: no such file`); continue }
      if (anchor !== undefined && (text === undefined || !anchors(text).has(anchor))) problems.push(`${file}: link ${target}: no heading with the anchor #${anchor}`)
    }
  }
  return problems
}

/** Every repository path the documents name in code (`src/lib/clock.ts`, `bench/proxy/run.sh`) exists. */
export function pathProblems (docs: Map<string, string>): string[] {
  const problems: string[] = []
  for (const [file, md] of docs) {
    for (const m of md.matchAll(/`((?:src|test|bench|scripts|config|docker|docs|ui|eslint)\/[A-Za-z0-9_./-]*[A-Za-z0-9_/])`/g)) {
      const p = m[1]
      const candidates = [p, `${p}.ts`, path.join('src', p), path.join('src', `${p}.ts`), path.join(path.dirname(file), p)]
      if (!candidates.some(c => fs.existsSync(path.join(REPO, c)))) problems.push(`${file}: \`${p}\` is no file or folder of the repository`)
    }
  }
  return problems
}

// ---------------------------------------------------------------- defaults quoted in prose

/** A quantity as prose writes it ("3 s", "1 min", "1 MiB", "10,000", "default 20,000") as a number (ms for durations); undefined when it is none. */
function quantity (text: string): { value: number, duration: boolean } | undefined {
  const m = /^(?:default:? )?(\d[\d,]*(?:\.\d+)?)\s*(ms|s|min|m|h|KiB|MiB)?(?=$|[,;)]|\s(?!`))/.exec(text.trim())
  if (m === null) return undefined
  const n = Number(m[1].replace(/,/g, ''))
  switch (m[2]) {
    case undefined: return { value: n, duration: false }
    case 'KiB': return { value: n * 1024, duration: false }
    case 'MiB': return { value: n * 1024 * 1024, duration: false }
    default: return { value: parseDuration(`${n}${m[2] === 'min' ? 'm' : m[2]}`), duration: true }
  }
}

/**
 * Every default quoted beside a key, `` `[health] interval` (3 s) `` or `` `queue_size` (100) ``,
 * is the schema's default of that key (of any section that has the key, when none is named).
 */
export function proseDefaultProblems (docs: Map<string, string>): string[] {
  const problems: string[] = []
  const keys = allKeys()
  for (const [file, md] of docs) {
    for (const m of stripFences(md).matchAll(/`(?:\[([a-z_]+)\] )?([a-z_0-9]+)`[ \n]\(([^)]{1,60})\)/g)) {
      const [, sec, key, paren] = m
      const q = quantity(paren)
      if (q === undefined) continue
      const candidates = keys.filter(([s, k]) => k === key && (sec === undefined || s === sec))
      if (candidates.length === 0) continue
      const defaults = candidates.map(([s, k]) => (DEFAULTS as unknown as Record<string, Record<string, unknown>>)[s][k])
      const values = defaults.map(v => typeof v === 'string' && q.duration ? (v === '0' ? 0 : parseDuration(v)) : v)
      if (!values.includes(q.value)) problems.push(`${file}: ${sec !== undefined ? `[${sec}] ` : ''}${key} is quoted as (${paren}), its default is ${defaults.map(v => JSON.stringify(v)).join(' or ')}`)
    }
  }
  return problems
}

// ---------------------------------------------------------------- API routes

/** The routes of README's "API (port 7777)" table: [method, path] with each `<placeholder>` as written. */
export function documentedRoutes (readme: string): Array<[string, string]> {
  const out: Array<[string, string]> = []
  for (const cells of tableRows(section(readme, '## API (port 7777)'))) {
    const first = cells[0] ?? ''
    const method = /^`([A-Z]+) /.exec(first)?.[1]
    if (method === undefined) continue
    for (const m of first.matchAll(/`(?:[A-Z]+ )?(\/[^`\s]*)`/g)) out.push([method, m[1]])
  }
  return out
}

/** A route path with each parameter segment (`:id`, `<id>`, `<name>.json`) as `*`; a query (`?name=<name>`) is not part of it. */
export function routeShape (p: string): string {
  return p.split('?')[0].split('/').map(seg => /[:<]/.test(seg) ? '*' : seg).join('/')
}

// ---------------------------------------------------------------- metrics

/** Where the docs name metrics: README.md and docs/*.md (CHANGELOG.md is history: it names removed ones on purpose). */
export function metricNames (md: string): Set<string> {
  return new Set([...stripFences(md).matchAll(/\b(?:sidecar|nodejs|process)_[a-z0-9_]*[a-z0-9]\b/g)].map(m => m[0]))
}

/** The metric families of a Prometheus text page, by their `# TYPE` lines. */
export function exportedFamilies (page: string): Map<string, string> {
  return new Map([...page.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map(m => [m[1], m[2]]))
}

/** A documented name that is no family, nor a histogram's or summary's series (`_bucket`, `_sum`, `_count`) of one. */
export function metricProblems (docs: Map<string, string>, families: Map<string, string>, conditional: Readonly<Record<string, string>>): string[] {
  const problems: string[] = []
  for (const [file, md] of docs) {
    for (const name of metricNames(md)) {
      if (families.has(name) || Object.hasOwn(conditional, name)) continue
      const base = name.replace(/_(bucket|sum|count)$/, '')
      if (base !== name && ['histogram', 'summary'].includes(families.get(base) ?? '')) continue
      problems.push(`${file}: metric ${name} is not exported by a running daemon's /metrics`)
    }
  }
  return problems
}

/** The first inline answer after lead (`` `GET /health`: ``) in README's "Example responses": `{...}` or `404 {...}`. */
export function inlineExample (readme: string, lead: string): { status?: number, body: unknown } | undefined {
  const text = section(readme, '### Example responses')
  const at = text.indexOf(lead)
  if (at < 0) return undefined
  const m = /`(?:(\d{3}) )?(\{[^`]*\})`/.exec(text.slice(at + lead.length))
  return m === null ? undefined : { ...(m[1] !== undefined ? { status: Number(m[1]) } : {}), body: JSON.parse(m[2]) }
}

/** The fenced JSON example that follows lead under heading (README's "Example responses" unless another is given). */
export function fencedExample (readme: string, lead: string, heading = '### Example responses'): unknown {
  const text = section(readme, heading)
  const at = text.indexOf(lead)
  if (at < 0) return undefined
  const m = /```json\n([\s\S]*?)\n```/.exec(text.slice(at))
  return m === null ? undefined : JSON.parse(m[1])
}

/**
 * Where a documented JSON example and a real answer differ in their keys, path by path: a key of
 * the example the answer lacks, and (unless the example marks itself abridged with a "..." key)
 * a key of the answer the example lacks. Values are not compared: IDs and times differ.
 */
export function keyDifferences (doc: unknown, real: unknown, at = '$'): string[] {
  if (Array.isArray(doc) && Array.isArray(real)) return doc.length > 0 && real.length > 0 ? keyDifferences(doc[0], real[0], `${at}[0]`) : []
  if (typeof doc !== 'object' || doc === null || typeof real !== 'object' || real === null || Array.isArray(doc) || Array.isArray(real)) return []
  const d = doc as Record<string, unknown>
  const r = real as Record<string, unknown>
  const out: string[] = []
  const abridged = Object.hasOwn(d, '...')
  // a map keyed by data (service names, hosts, IDs) is compared by its first entry
  const dataKeyed = (o: Record<string, unknown>): boolean => Object.keys(o).length > 0 && Object.keys(o).every(k => /[a-z0-9]-|^[0-9a-f]{12}$/.test(k))
  if (dataKeyed(d) && dataKeyed(r)) return keyDifferences(Object.values(d)[0], Object.values(r)[0], `${at}.<key>`)
  for (const k of Object.keys(d)) {
    if (k === '...') continue
    if (!Object.hasOwn(r, k)) out.push(`${at}.${k}: in the example, not in the answer`)
    else out.push(...keyDifferences(d[k], r[k], `${at}.${k}`))
  }
  if (!abridged) for (const k of Object.keys(r)) if (!Object.hasOwn(d, k)) out.push(`${at}.${k}: in the answer, not in the example`)
  return out
}
