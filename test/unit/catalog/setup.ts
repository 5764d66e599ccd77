// A catalog on a fake clock that records the events it emits.
import { Catalog, type CatalogOptions, type ChangeEvent } from '../../../src/catalog/index.ts'
import { FakeClock } from '../../helpers/fake-clock.ts'
import { makeCatalogOptions } from '../../helpers/factories.ts'

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
