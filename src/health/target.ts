// What the health monitor checks: a check keyed by the record it judges. The monitor knows
// nothing of discovery; whoever owns the records (src/local/) builds these.
import type { EventEmitter } from 'node:events'
import type { ServiceStatus } from '../service/status.ts'

export interface CheckTarget {
  /** The record key (recordKey: Hostname + ID) the verdict belongs to. */
  readonly key: string
  /** The service ID, for log lines and the API. */
  readonly id: string
  /** The check type actually run ("HttpGet", "Docker", ...). */
  readonly type: string
  /** Its arguments, final: templates are expanded by whoever built the target. */
  readonly args: string
  /** The only "host:port" pairs (reachKey) an HttpGet or TcpConnect check may connect to; unset: any. */
  readonly reach?: readonly string[]
  /** Set when the check cannot be built (a bad template): the service stays UNKNOWN with this reason. */
  readonly error?: string
}

/** True iff two targets describe the same check (a changed one restarts from UNKNOWN). */
export function sameCheck (a: CheckTarget, b: CheckTarget): boolean {
  return a.type === b.type && a.args === b.args && a.error === b.error && a.reach?.join(' ') === b.reach?.join(' ')
}

/** What the owner of the records needs of the monitor: checks in (one at a time), verdicts out. */
export interface CheckTargets extends EventEmitter<{ status: [key: string, status: ServiceStatus] }> {
  /** Adds a check, or replaces it when it differs. */
  set (target: CheckTarget): void
  delete (key: string): void
  /** The current status of a record's check; UNKNOWN when it has none (yet). */
  status (key: string): ServiceStatus
  /** The status the record's check will have once set(target) is called: its current one if the check stays the same, else UNKNOWN. */
  statusAfterSet (target: CheckTarget): ServiceStatus
}
