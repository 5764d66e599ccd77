import { BurstLog } from '../lib/log-burst.ts'
import type { Logger } from '../lib/logger.ts'
import { Slicer } from '../lib/slicer.ts'
import type { Startable } from '../lib/startable.ts'
import { Ticker } from '../lib/ticker.ts'
import type { Catalog } from './catalog.ts'
import type { Service } from '../service/service.ts'

/**
 * Runs the catalog's expiry pass on a timer: records not refreshed within their lifespan
 * become tombstones, tombstones past theirs are removed. onExpired gets what was
 * tombstoned, so gossip can announce it.
 */
export class Reaper implements Startable {
  readonly #ticker: Ticker

  /** A host whose records all stop being refreshed expires them by the thousand: the first lines of a second as usual, then a count. */
  readonly #log: BurstLog

  constructor (components: { catalog: Catalog, logger: Logger }, init: { intervalMs: number, onExpired?: (expired: Service[]) => void }) {
    const log = this.#log = new BurstLog(components.logger, { what: 'expired services tombstoned' })
    this.#ticker = new Ticker(async (signal) => {
      // A host whose 100,000 records all stop being refreshed expires them in one pass: 250-350 ms
      // at once, so the pass goes in slices.
      const slicer = new Slicer()
      for (;;) {
        const { expired, done } = components.catalog.expireSome(slicer)
        for (const s of expired) log.line('info', { id: s.ID, host: s.Hostname }, `found expired service ${s.Name} ID ${s.ID} from ${s.Hostname}, tombstoning`)
        if (expired.length > 0) init.onExpired?.(expired)
        if (done || signal.aborted) return
        await slicer.next()
      }
    }, { name: 'expiry', intervalMs: init.intervalMs, logger: components.logger })
  }

  async start (): Promise<void> { this.#ticker.start() }

  async stop (): Promise<void> {
    await this.#ticker.stop()
    this.#log.flush()
  }
}
