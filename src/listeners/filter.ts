import type { ChangeEvent } from '../catalog/index.ts'

/** Which events a configured listener wants ([[listeners.webhook]] services and status_changes_only). */
export interface ListenerFilter {
  /** Service names; empty = every service. */
  readonly services: readonly string[]
  /** Only changes whose status differs from the previous one (a new instance that appears UNKNOWN is not one). */
  readonly statusChangesOnly: boolean
}

export const ACCEPT_ALL: ListenerFilter = Object.freeze({ services: Object.freeze([]), statusChangesOnly: false })

/** True iff a listener with this filter gets the event. Pure. */
export function accepts (filter: ListenerFilter, change: ChangeEvent): boolean {
  if (filter.services.length > 0 && !filter.services.includes(change.service.Name)) return false
  if (filter.statusChangesOnly && change.service.Status === change.previousStatus) return false
  return true
}
