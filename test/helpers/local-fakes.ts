// A fake discoverer and fake health verdicts for the local announcer's unit tests: every
// change and verdict is one the test makes.
import { EventEmitter } from 'node:events'
import type { Discovered, Discoverer } from '../../src/discovery/types.ts'
import type { CheckTarget } from '../../src/health/target.ts'
import { ServiceStatus } from '../../src/service/index.ts'

const { UNKNOWN } = ServiceStatus

export class FakeDiscoverer extends EventEmitter<{ change: [] }> implements Discoverer {
  readonly name = 'fake'
  list: Discovered[] = []
  /** false: a source like Docker before its first answer (services() is a placeholder). */
  isListed = true
  services (): readonly Discovered[] { return this.list }
  listed (): boolean { return this.isListed }
  lastError (): string | undefined { return undefined }
  async start (): Promise<void> {}
  async stop (): Promise<void> {}
  set (list: Discovered[]): void { this.list = list; this.emit('change') }
  /** The first full listing lands: listed from now on, and a change even when nothing differs. */
  firstListing (list: Discovered[]): void { this.isListed = true; this.set(list) }
}

export class FakeMonitor extends EventEmitter<{ status: [key: string, status: ServiceStatus] }> {
  readonly targets = new Map<string, CheckTarget>()
  readonly statuses = new Map<string, ServiceStatus>()
  sets = 0
  set (t: CheckTarget): void {
    this.sets++
    if (this.statusAfterSet(t) === UNKNOWN) this.statuses.delete(t.key) // a changed check starts again, as the monitor's does
    this.targets.set(t.key, t)
  }

  statusAfterSet (t: CheckTarget): ServiceStatus {
    const e = this.targets.get(t.key)
    return e !== undefined && JSON.stringify(e) === JSON.stringify(t) ? this.status(t.key) : UNKNOWN
  }

  delete (key: string): void { this.targets.delete(key); this.statuses.delete(key) }
  status (key: string): ServiceStatus { return this.statuses.get(key) ?? UNKNOWN }
  flip (key: string, s: ServiceStatus): void { this.statuses.set(key, s); this.emit('status', key, s) }
}
