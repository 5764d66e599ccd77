// A catalog on a fake clock that records the events it emits.
import { Catalog, STALE_FUDGE_MS, type CatalogOptions, type ChangeEvent } from '../../../src/catalog/index.ts'
import { ServiceStatus } from '../../../src/service/index.ts'
import { FakeClock } from '../../helpers/fake-clock.ts'
import { at, makeCatalogOptions, makeTestService } from '../../helpers/factories.ts'

export interface Fixture {
  clock: FakeClock
  catalog: Catalog
  events: ChangeEvent[]
}

export function setup (opts: Partial<CatalogOptions> = {}, clock = new FakeClock()): Fixture {
  const catalog = new Catalog({ clock }, makeCatalogOptions(opts))
  const events: ChangeEvent[] = []
  catalog.on('change', e => { events.push(e) })
  return { clock, catalog, events }
}

/** Lifespans short enough that expire() tombstones records, forgets dead tombstones and empties hosts. */
export const SHORT_LIFESPANS: Partial<CatalogOptions> = { aliveLifespanMs: 1000, drainingLifespanMs: 1000, tombstoneLifespanMs: 2000 }

export interface RandomHistory {
  hosts: number
  /** IDs per host; some get a suffix that sorts differently in UTF-16 than in Go. */
  ids: number
  /** Whether some records get a name with characters Go escapes. */
  escapedNames?: boolean
}

/**
 * One step of a random history on a catalog from setup(SHORT_LIFESPANS): the clock moves 5 ms
 * (31.5 s now and then: every live record expires, and a tombstone, kept for its lifespan + the
 * stale check's minute, is forgotten at the second such jump), then expire() runs (5 %) or a
 * record is merged, ALIVE or (10 %) a TOMBSTONE. Returns the clock's new time in ms.
 */
export function randomStep ({ catalog, clock }: Pick<Fixture, 'catalog' | 'clock'>, r: () => number, ms: number, h: RandomHistory): number {
  ms += r() < 0.02 ? 1500 + STALE_FUDGE_MS / 2 : 5
  clock.set(at(ms))
  if (r() < 0.05) {
    catalog.expire()
    return ms
  }
  const host = `host${Math.floor(r() * h.hosts)}`
  const ID = `${Math.floor(r() * h.ids)}${r() < 0.1 ? '\uD83D\uDE00' : r() < 0.2 ? '\uE000' : ''}`
  const name = h.escapedNames === true && r() < 0.1 ? { Name: 'a<b>&c\u2028' } : {}
  catalog.merge(makeTestService({ Hostname: host, ID, ...name, Updated: at(ms), Status: r() < 0.1 ? ServiceStatus.TOMBSTONE : ServiceStatus.ALIVE }))
  return ms
}
