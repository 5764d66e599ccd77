// An in-process catalog and Listeners component on a fake clock, posting to real HTTP
// receivers run by the test.
import type { ExecutionContext } from 'ava'
import { Catalog } from '../../../src/catalog/index.ts'
import { EventEmitter } from 'node:events'
import { Listeners, type ListenersInit } from '../../../src/listeners/index.ts'
import type { ListenerSource, ListenerTarget } from '../../../src/local/types.ts'
import { silentLogger } from '../../../src/lib/logger.ts'
import { Metrics } from '../../../src/lib/metrics.ts'
import { ServiceStatus, type Service } from '../../../src/service/index.ts'
import { makeCatalogOptions, makeTestService } from '../../helpers/factories.ts'
import { FakeClock } from '../../helpers/fake-clock.ts'
import { startReceiver, type Receiver } from '../../helpers/receiver.ts'

export interface Fixture {
  clock: FakeClock
  catalog: Catalog
  metrics: Metrics
  listeners: Listeners
  /** Sets the webhooks local services ask for, as the local component would (with its 'change'). */
  setTargets: (targets: ListenerTarget[]) => void
  /** Merges a new version of a record (ID = name) with this status, one ms later than the last. */
  change: (name: string, status: ServiceStatus) => Service
}

export async function receiver (t: ExecutionContext): Promise<Receiver> {
  const r = await startReceiver()
  t.teardown(async () => { await r.close() })
  return r
}

export async function fixture (t: ExecutionContext, init: Partial<ListenersInit>): Promise<Fixture> {
  const clock = new FakeClock()
  const catalog = new Catalog({ clock }, makeCatalogOptions())
  const metrics = new Metrics({ defaultMetrics: false })
  let targets: readonly ListenerTarget[] = []
  const local = Object.assign(new EventEmitter<{ change: [] }>(), { listenerTargets: () => targets }) satisfies ListenerSource
  const setTargets = (next: ListenerTarget[]): void => { targets = next; local.emit('change') }
  const listeners = new Listeners({ catalog, logger: silentLogger(), metrics, clock, local, random: () => 0.5 }, {
    hostname: 'host1',
    urls: [],
    webhooks: [],
    secret: '',
    timeoutMs: 2000,
    retries: 5,
    retryDelayMs: 20,
    queueSize: 100,
    minIntervalMs: 0,
    ...init,
  })
  t.teardown(async () => { await listeners.stop() })
  await listeners.start()
  const change = (name: string, status: ServiceStatus): Service => {
    clock.advance(1)
    const svc = makeTestService({ ID: name, Name: name, Status: status, Updated: clock.now() })
    catalog.merge(svc)
    return svc
  }
  return { clock, catalog, metrics, listeners, setTargets, change }
}
