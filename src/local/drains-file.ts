// An operator's drains kept in data_dir/drains.json, so a drain holds across a restart of the
// daemon (an upgrade, a crash) while its instances keep running: before, it was held in memory
// only, and the restarted daemon announced a drained instance ALIVE again to every peer's proxy.
// The file holds this host's drained IDs: {"version": 1, "drained": {"<hostname>": ["<id>", ...]}}.
// It is read once, at start, as untrusted input: a file that is not a regular file, too large,
// not JSON or of another shape is ignored with one warning; bad entries (not a string, too long,
// another host's, duplicates, past MAX_DRAINS) are dropped with one warning, the rest kept. It is
// written after each change, whole, to a temporary file renamed over it, one write at a time,
// without blocking the event loop. A data_dir that cannot be written is warned about once: the
// drains are then held in memory only, as before, and lost at a restart.
import { mkdir, rename, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { inDataDir, readDataFile } from '../lib/data-dir.ts'
import type { Logger } from '../lib/logger.ts'

export const DRAINS_FILE = 'drains.json'
/**
 * Drains kept at most: one for each of the 10,000 instances a host is built for (the static
 * file's cap too). Drains past it are held in memory only, with a warning.
 */
export const MAX_DRAINS = 10_000
/** An ID is at most 256 characters, as in a record (RECORD_LIMITS.maxIdLength). */
const MAX_ID_LENGTH = 256
/** MAX_DRAINS IDs of the longest kind, quoted and escaped, fit well below this. */
export const MAX_DRAINS_FILE_BYTES = 8 * 1024 * 1024
/** Problems named in the warning at most; the rest are counted. */
const MAX_NAMED_PROBLEMS = 3

export interface ParsedDrains {
  /** This host's drained IDs, each once, MAX_DRAINS at most, in the file's order. */
  ids: string[]
  /** What was dropped and why, for one warning (empty: the file was taken whole). */
  problems: string[]
  /** True when nothing of the file could be used (not JSON, another shape, another version). */
  unusable: boolean
}

/** Parses a drains file's text for this hostname. Never throws. Pure. */
export function parseDrains (text: string, hostname: string): ParsedDrains {
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch (err) {
    return { ids: [], problems: [`not JSON (${(err as Error).message})`], unusable: true }
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return { ids: [], problems: ['not a JSON object'], unusable: true }
  const { version, drained } = doc as { version?: unknown, drained?: unknown }
  if (version !== 1) return { ids: [], problems: [`version ${JSON.stringify(version) ?? 'missing'}, not 1`], unusable: true }
  if (typeof drained !== 'object' || drained === null || Array.isArray(drained)) return { ids: [], problems: ['"drained" is not an object of hostnames'], unusable: true }
  const problems: string[] = []
  const others = Object.keys(drained).filter(h => h !== hostname)
  if (others.length > 0) problems.push(`drains of ${others.length === 1 ? 'another host' : `${others.length} other hosts`} (${others.slice(0, MAX_NAMED_PROBLEMS).map(h => JSON.stringify(h.slice(0, 64))).join(', ')}${others.length > MAX_NAMED_PROBLEMS ? ', ...' : ''}), not this host ${hostname}`)
  const list: unknown = Object.hasOwn(drained, hostname) ? (drained as Record<string, unknown>)[hostname] : []
  if (!Array.isArray(list)) return { ids: [], problems: [...problems, `the drains of ${hostname} are not a list of IDs`], unusable: true }
  const ids = new Set<string>()
  let bad = 0
  let dup = 0
  let over = 0
  for (const id of list as unknown[]) {
    if (typeof id !== 'string' || id === '' || id.length > MAX_ID_LENGTH) bad++
    else if (ids.has(id)) dup++
    else if (ids.size >= MAX_DRAINS) over++
    else ids.add(id)
  }
  if (bad > 0) problems.push(`${bad} entr${bad === 1 ? 'y that is' : 'ies that are'} not an ID (a string of 1 to ${MAX_ID_LENGTH} characters)`)
  if (dup > 0) problems.push(`${dup} duplicate${dup === 1 ? '' : 's'}`)
  if (over > 0) problems.push(`${over} past the ${MAX_DRAINS} drains kept at most`)
  return { ids: [...ids], problems, unusable: false }
}

export interface DrainsFileInit {
  dataDir: string
  hostname: string
  /** How long the read at start may take (DATA_DIR_DEADLINE_MS by default). */
  deadlineMs?: number
}

export class DrainsFile {
  readonly #logger: Logger
  readonly #init: DrainsFileInit
  readonly #file: string
  #saving: Promise<void> = Promise.resolve()
  /** The IDs to write next, when a write is queued. */
  #next: string[] | undefined
  /** The last write failed (warned once; the next success says so). */
  #failing = false
  #overWarned = false

  constructor (components: { logger: Logger }, init: DrainsFileInit) {
    this.#logger = components.logger
    this.#init = init
    this.#file = path.join(init.dataDir, DRAINS_FILE)
  }

  get file (): string { return this.#file }

  /**
   * This host's drained IDs kept by an earlier run. Never throws: a missing file is no drain;
   * an unreadable or unusable one is warned about and is no drain (it is replaced at the next
   * drain or undrain); bad entries are warned about and dropped.
   */
  async load (): Promise<string[]> {
    let text: string
    try {
      text = await inDataDir(this.#init.dataDir, async (step) => {
        step(`reading the drains ${this.#file}`)
        return (await readDataFile(this.#file, MAX_DRAINS_FILE_BYTES, 'it is not read, and is replaced at the next drain or undrain')).bytes.toString('utf8')
      }, this.#init.deadlineMs)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
      this.#logger.warn(`drains of an earlier run not applied: ${(err as Error).message.replace(/^\[sidecar\] /, '')}`)
      return []
    }
    const parsed = parseDrains(text, this.#init.hostname)
    if (parsed.unusable) {
      this.#logger.warn(`${this.#file} is not a drains file (${parsed.problems.join('; ')}): drains of an earlier run not applied; it is replaced at the next drain or undrain`)
    } else if (parsed.problems.length > 0) {
      this.#logger.warn(`${this.#file}: dropped ${parsed.problems.join('; ')}; kept ${parsed.ids.length} drain${parsed.ids.length === 1 ? '' : 's'} of this host`)
    }
    if (parsed.ids.length > 0) this.#logger.info(`${parsed.ids.length} drain${parsed.ids.length === 1 ? '' : 's'} of an earlier run read from ${this.#file}: applied to the instances discovered again with the same ID, forgotten for those that no longer run once discovery has listed`)
    return parsed.ids
  }

  /**
   * Writes ids as this host's drains, after the writes queued before; returns at once. Writes
   * queued meanwhile are one write, of the latest ids. A failure is warned about once.
   */
  save (ids: Iterable<string>): void {
    let list = [...ids]
    if (list.length > MAX_DRAINS) {
      if (!this.#overWarned) this.#logger.warn(`${list.length} instances drained: the first ${MAX_DRAINS} are kept in ${this.#file}, the others are held in memory only (lost at a restart)`)
      this.#overWarned = true
      list = list.slice(0, MAX_DRAINS)
    }
    const queued = this.#next !== undefined
    this.#next = list
    if (queued) return
    this.#saving = this.#saving.then(async () => {
      const write = this.#next ?? []
      this.#next = undefined
      await this.#write(write)
    })
  }

  /** Resolves when every save so far is on disk, or failed (warned). Never rejects. */
  async flush (): Promise<void> {
    await this.#saving
  }

  async #write (ids: string[]): Promise<void> {
    const doc = { version: 1, drained: { [this.#init.hostname]: ids } }
    const tmp = `${this.#file}.${process.pid}.tmp`
    try {
      await mkdir(this.#init.dataDir, { recursive: true, mode: 0o700 })
      await writeFile(tmp, JSON.stringify(doc, null, 1) + '\n', { mode: 0o600 })
      await rename(tmp, this.#file)
      if (this.#failing) this.#logger.info(`drains are kept in ${this.#file} again (${ids.length})`)
      else this.#logger.debug(`${ids.length} drain${ids.length === 1 ? '' : 's'} kept in ${this.#file}`)
      this.#failing = false
    } catch (err) {
      if (!this.#failing) this.#logger.warn(`cannot keep drains in ${this.#file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): they hold in memory, but a restart of the daemon forgets them and announces the drained instances ALIVE again; make [sidecar] data_dir writable`)
      this.#failing = true
    }
  }
}
