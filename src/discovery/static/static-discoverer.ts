// Static discovery: services listed in a JSON file, watched for edits. A bad file at start
// refuses to start; a bad edit later keeps the last good set, logs, and shows in lastError().
import { EventEmitter } from 'node:events'
import { watch, type FSWatcher } from 'node:fs'
import { readFile, stat } from 'node:fs/promises'
import path from 'node:path'
import type { Clock } from '../../service/clock.ts'
import { StaticFileError, errorMessage } from '../../lib/errors.ts'
import { fileStamp } from '../../lib/file-stamp.ts'
import type { Logger } from '../../lib/logger.ts'
import { Ticker } from '../../lib/ticker.ts'
import type { Time } from '../../service/time.ts'
import type { Discovered, Discoverer } from '../types.ts'
import { parseStaticFile, type StaticContext } from './parse.ts'

export interface StaticDiscovererInit {
  file: string
  hostname: string
  advertiseIp: string
  /** [sidecar] backend_cidrs: a port IP outside them (and not advertiseIp) is warned about, as peers refuse its record. */
  backendCidrs?: readonly string[]
  /** How often the file is stat()ed, beside the change notifications; the fallback where those are unreliable. */
  pollIntervalMs?: number
}

/** The file's text; a StaticFileError when it cannot be read (the start's, and --check-config's, message). */
export async function readStaticFile (file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    // a newcomer's `sidecar -d static` looks for ./static.json: say how to name the file, not only that it is missing
    const fix = code === 'ENOENT' || code === 'EISDIR' ? '; create it (see static.example.json), or name the JSON file with [static_discovery] config_file or STATIC_CONFIG_FILE, or leave static out of [sidecar] discovery (--discover)' : ''
    throw new StaticFileError(file, `cannot read the static discovery file: ${errorMessage(err)}${fix}`, { cause: err })
  }
}

/**
 * Reads and parses the file as start() does, with the same errors (StaticFileError naming the
 * file and entry), and returns how many services it lists; for --check-config.
 */
export async function checkStaticFile (init: Pick<StaticDiscovererInit, 'file' | 'hostname' | 'advertiseIp' | 'backendCidrs'>, clock: Clock, warn?: (message: string) => void): Promise<number> {
  const parsed = await parseStaticFile(await readStaticFile(init.file), init.file, { ...contextOf(init), now: clock.now(), ...(warn !== undefined ? { warn } : {}) })
  return parsed.length
}

function contextOf (init: Pick<StaticDiscovererInit, 'hostname' | 'advertiseIp' | 'backendCidrs'>): Pick<StaticContext, 'hostname' | 'advertiseIp' | 'backendCidrs'> {
  return { hostname: init.hostname, advertiseIp: init.advertiseIp, backendCidrs: init.backendCidrs ?? [] }
}

const POLL_MS = 1000 // edits take effect within ~1 s even where fs.watch misses them (network filesystems, some editors)
const SETTLE_MS = 50 // lets an editor finish writing before the file is read

export class StaticDiscoverer extends EventEmitter<{ change: [] }> implements Discoverer {
  readonly name = 'static'
  readonly #logger: Logger
  readonly #clock: Clock
  readonly #init: StaticDiscovererInit
  #services: readonly Discovered[] = []
  #lastText: string | undefined
  #lastError: string | undefined
  #lastStamp = ''
  #watcher: FSWatcher | undefined
  #poller: Ticker | undefined
  #settle: NodeJS.Timeout | undefined
  /** reload() asked for a read: the next poll reads the file even if its stat() is unchanged. */
  #forced = false

  constructor (components: { logger: Logger, clock: Clock }, init: StaticDiscovererInit) {
    super()
    this.#logger = components.logger
    this.#clock = components.clock
    this.#init = init
  }

  services (): readonly Discovered[] { return this.#services }

  /** True once start() has read the file: a bad file at start refuses to start instead. */
  listed (): boolean { return this.#lastText !== undefined }

  lastError (): string | undefined { return this.#lastError }

  async start (): Promise<void> {
    if (this.#poller !== undefined) return
    const file = this.#init.file
    const text = await readStaticFile(file)
    await this.#apply(text, true) // throws StaticFileError naming the entry
    this.#lastStamp = await this.#stamp()
    this.#poller = new Ticker(async () => { await this.#poll() }, { name: 'static file poll', intervalMs: this.#init.pollIntervalMs ?? POLL_MS, logger: this.#logger })
    this.#poller.start()
    try {
      // The directory, not the file: editors that save by rename would leave a file watch on the old inode.
      this.#watcher = watch(path.dirname(file), (_event, name) => {
        if (name === null || name === path.basename(file)) this.#scheduleReload()
      })
      this.#watcher.on('error', () => { this.#watcher?.close(); this.#watcher = undefined })
    } catch {
      // polling alone still picks up edits
    }
  }

  async stop (): Promise<void> {
    this.#watcher?.close()
    this.#watcher = undefined
    clearTimeout(this.#settle)
    await this.#poller?.stop()
    this.#poller = undefined
  }

  /** Reads the file again now, changed or not (SIGHUP); a bad file keeps the last good set, as an edit does. */
  reload (): string {
    this.#forced = true
    this.#poller?.trigger()
    return `the static discovery file ${this.#init.file}`
  }

  #scheduleReload (): void {
    clearTimeout(this.#settle)
    this.#settle = setTimeout(() => { this.#poller?.trigger() }, SETTLE_MS)
  }

  async #stamp (): Promise<string> {
    try {
      const s = await stat(this.#init.file)
      return fileStamp(s)
    } catch (err) {
      return `missing:${(err as NodeJS.ErrnoException).code ?? ''}`
    }
  }

  async #poll (): Promise<void> {
    const stamp = await this.#stamp()
    if (stamp === this.#lastStamp && !this.#forced) return
    this.#lastStamp = stamp
    this.#forced = false
    let text: string
    try {
      text = await readFile(this.#init.file, 'utf8')
    } catch (err) {
      this.#fail(`cannot read ${this.#init.file}: ${errorMessage(err)}; keeping the last good set of ${this.#services.length} services`)
      return
    }
    try {
      await this.#apply(text, false)
    } catch (err) {
      this.#fail(`${errorMessage(err)}; keeping the last good set of ${this.#services.length} services`)
    }
  }

  #fail (message: string): void {
    if (message !== this.#lastError) this.#logger.error(message)
    this.#lastError = message
  }

  async #apply (text: string, initial: boolean): Promise<void> {
    if (text === this.#lastText) {
      this.#clearError()
      return
    }
    const created = new Map<string, Time>(this.#services.map(d => [d.service.ID, d.service.Created]))
    const parsed = await parseStaticFile(text, this.#init.file, { ...contextOf(this.#init), now: this.#clock.now(), created, warn: (m) => { this.#logger.warn(m) } })
    this.#lastText = text
    this.#services = Object.freeze(parsed)
    this.#clearError()
    this.#logger.info(`${initial ? 'loaded' : 'reloaded'} ${parsed.length} service${parsed.length === 1 ? '' : 's'} from ${this.#init.file}`)
    if (!initial) this.emit('change')
  }

  #clearError (): void {
    if (this.#lastError !== undefined) this.#logger.info(`${this.#init.file} is valid again`)
    this.#lastError = undefined
  }
}
