// Check kinds whose verdict another component already knows (Docker's own HEALTHCHECK
// state): the monitor reads the verdict instead of probing, and re-reads it at once when
// the source says it changed, so a status follows the source without waiting an interval.
import type { EventEmitter } from 'node:events'
import type { CheckResult } from './checks.ts'

export interface SuppliedCheckSource extends EventEmitter<{ update: [args: string] }> {
  /** The check type this source answers for ("Docker"). */
  readonly type: string
  /**
   * The current verdict for a check with these args (for Docker: the service ID);
   * undefined while there is none yet (Docker's "starting"): the status then stays as it is.
   * Synchronous and cheap: it reads state the source keeps up to date.
   */
  result (args: string): CheckResult | undefined
  /** While result() has no verdict: why, for people (explain). */
  pending? (args: string): string | undefined
  /**
   * When present, the monitor calls this at each interval instead of result(): a check the
   * source runs itself (a command inside a container), within the signal's timeout.
   */
  probe? (args: string, signal: AbortSignal): Promise<CheckResult>
}
