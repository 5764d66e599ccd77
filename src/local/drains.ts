// The operator's drains of this host's instances, for the local announcer (their only user):
// held in memory by record key and kept in data_dir (drains-file.ts), so a drain holds across
// a restart of the daemon. A drain ends with an undrain, or when its instance is no longer
// discovered. A drain read at start whose instance is not discovered again is kept until every
// discoverer has listed its services (a Docker that answers late still finds its drained
// containers drained), then forgotten; a tombstone of the earlier run's record meanwhile (the
// announcer's wait for the first listing ran out) does not end it.
import type { Logger } from '../lib/logger.ts'
import { recordKey } from '../service/service.ts'
import { DrainsFile } from './drains-file.ts'

/** How long stop, or a drain's answer, waits for the last write: a data_dir that hangs must not use up the CLI's 5 s stop limit, nor hold the API's answers. */
export const FLUSH_WAIT_MS = 1000

export class Drains {
  readonly #logger: Logger
  readonly #hostname: string
  readonly #file: DrainsFile | undefined
  /** Record keys drained, all of this hostname. */
  readonly #keys = new Set<string>()
  /** Keys read from the file at start, kept until every discoverer has listed (forgetUndiscovered). */
  readonly #pending = new Set<string>()

  /** dataDir undefined: held in memory only. No I/O until load(). */
  constructor (components: { logger: Logger }, init: { hostname: string, dataDir?: string }) {
    this.#logger = components.logger
    this.#hostname = init.hostname
    this.#file = init.dataDir === undefined ? undefined : new DrainsFile(components, { dataDir: init.dataDir, hostname: init.hostname })
  }

  /** Reads the drains an earlier run kept. Never throws (DrainsFile.load). */
  async load (): Promise<void> {
    for (const id of await this.#file?.load() ?? []) {
      const key = recordKey({ Hostname: this.#hostname, ID: id })
      this.#keys.add(key)
      this.#pending.add(key)
    }
  }

  has (key: string): boolean {
    return this.#keys.has(key)
  }

  /** Drains (true) or undrains key, one of this host's; saved when that changed anything. */
  set (key: string, drained: boolean): void {
    if (drained === this.#keys.has(key)) return
    if (drained) this.#keys.add(key)
    else this.#keys.delete(key)
    this.#save()
  }

  /** key's instance is no longer discovered: its drain ends, unless it was read at start and is still pending. */
  vanished (key: string): void {
    if (!this.#pending.has(key) && this.#keys.delete(key)) this.#save()
  }

  /** True while drains read at start wait for every discoverer's first listing. */
  get pending (): boolean {
    return this.#pending.size > 0
  }

  /**
   * Every discoverer has listed, and that listing is applied: the drains read at start whose
   * instance is not discovered are forgotten (logged, removed from the file). Once per run.
   */
  forgetUndiscovered (discovered: (key: string) => boolean): void {
    const gone = [...this.#pending].filter(key => !discovered(key))
    this.#pending.clear()
    if (gone.length === 0) return
    for (const key of gone) this.#keys.delete(key)
    const ids = gone.map(key => this.#id(key))
    this.#logger.info(`forgetting ${gone.length} drain${gone.length === 1 ? '' : 's'} of an earlier run: no instance with the ID ${ids.slice(0, 5).join(', ')}${ids.length > 5 ? ` (and ${ids.length - 5} more)` : ''} is discovered now that discovery has listed its services`)
    this.#save()
  }

  /** Waits for the last write, FLUSH_WAIT_MS at most. Never rejects. */
  async flush (): Promise<void> {
    if (this.#file === undefined) return
    let timer: NodeJS.Timeout | undefined
    await Promise.race([this.#file.flush(), new Promise<void>((resolve) => { timer = setTimeout(resolve, FLUSH_WAIT_MS) })])
    clearTimeout(timer)
  }

  #id (key: string): string {
    return key.slice(this.#hostname.length + 1)
  }

  #save (): void {
    this.#file?.save([...this.#keys].map(key => this.#id(key)))
  }
}
