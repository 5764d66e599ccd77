// Service status as the Go original encodes it: integers on the wire, names for people.

export const ServiceStatus = {
  ALIVE: 0,
  TOMBSTONE: 1,
  UNHEALTHY: 2,
  UNKNOWN: 3,
  DRAINING: 4,
} as const

export type ServiceStatus = typeof ServiceStatus[keyof typeof ServiceStatus]

const NAMES: Record<ServiceStatus, string> = {
  0: 'Alive',
  1: 'Tombstone',
  2: 'Unhealthy',
  3: 'Unknown',
  4: 'Draining',
}

/** "Alive", "Tombstone", ...; like the original, any unknown value reads "Tombstone". */
export function statusString (status: number): string {
  return NAMES[status as ServiceStatus] ?? 'Tombstone'
}

export function isServiceStatus (n: unknown): n is ServiceStatus {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 4
}

/** Parses a status name ("alive", "Draining") or its number; undefined when neither. */
export function parseStatus (text: string): ServiceStatus | undefined {
  const n = Number(text)
  if (text.trim() !== '' && isServiceStatus(n)) return n
  const lower = text.toLowerCase()
  for (const [k, v] of Object.entries(NAMES)) if (v.toLowerCase() === lower) return Number(k) as ServiceStatus
  return undefined
}
