// What a static file may say that this host accepts and uses, but peers do not: said once per
// load (start, reload, --check-config), each warning naming the entries and the fix.
import { backendIpRefusal, cidrList } from '../../lib/backend-ips.ts'
import type { Service } from '../../service/service.ts'

/** Entries named per warning; more are counted. */
const MAX_WARNED_ENTRIES = 3

export interface WarnContext {
  /** This daemon's hostname. */
  hostname: string
  /** The address it advertises: the one address of its own every peer admits in its records. */
  advertiseIp: string
  /** [sidecar] backend_cidrs (already checked by the config). */
  backendCidrs?: readonly string[]
  warn?: (message: string) => void
}

function listed (items: readonly string[]): string {
  const more = items.length > MAX_WARNED_ENTRIES ? ` and ${items.length - MAX_WARNED_ENTRIES} more` : ''
  return `${items.slice(0, MAX_WARNED_ENTRIES).join(', ')}${more}`
}

/**
 * The original let a host announce services "for a third party" (an entry with another
 * Hostname). Peers here take a host's records from that host only (docs/security-gossip.md),
 * so such an entry serves this host's own proxy and API and never leaves it.
 */
function warnForeign (foreign: readonly string[], file: string, ctx: WarnContext, warn: (message: string) => void): void {
  if (foreign.length === 0) return
  const n = foreign.length
  warn(`${file}: ${n === 1 ? 'an entry names' : `${n} entries name`} another host than this one (${JSON.stringify(ctx.hostname)}) in Service.Hostname: ${listed(foreign)}. This host's proxy and API use ${n === 1 ? 'it' : 'them'}, but peers take a host's records from that host only, so no other host will see ${n === 1 ? 'it' : 'them'} (remove Hostname to announce an entry as this host's)`)
}

/**
 * A peer refuses a live record of this host whose port IP is neither an address this host
 * reports for itself nor inside [sidecar] backend_cidrs (admission reason backend-ip): the
 * record stays ALIVE here and is missing everywhere else. The address every peer knows as this
 * host's is the advertised one (identify); another address of this host is admitted only by a
 * peer whose connection with this host happens to use it, so it is warned about too.
 */
function warnBackendIps (services: ReadonlyArray<{ where: string, service: Service }>, file: string, ctx: WarnContext, warn: (message: string) => void): void {
  const allowed = cidrList(ctx.backendCidrs ?? [])
  const own = new Set([ctx.advertiseIp])
  const outside: string[] = []
  const local: string[] = []
  for (const { where, service } of services) {
    if (service.Hostname !== ctx.hostname) continue // never leaves this host (warnForeign)
    for (const ip of new Set((service.Ports ?? []).map(p => p.IP))) {
      const why = backendIpRefusal(ip, own, allowed)
      if (why === 'local-only') local.push(`${where} ${ip}`)
      else if (why !== undefined) outside.push(`${where} ${ip}`)
    }
  }
  const n = outside.length + local.length
  if (n === 0) return
  const fixes = [
    ...(outside.length > 0 ? [`add the network of ${listed(outside)} to [sidecar] backend_cidrs (e.g. "10.1.0.0/16")`] : []),
    ...(local.length > 0 ? [`${listed(local)} ${local.length === 1 ? 'is a loopback, link-local or unspecified address' : 'are loopback, link-local or unspecified addresses'}, which backend_cidrs never admits: give an address peers can reach, or leave IP out to use ${ctx.advertiseIp}`] : []),
  ]
  warn(`${file}: ${n === 1 ? 'a port IP is' : `${n} port IPs are`} neither this host's advertised address (${ctx.advertiseIp}) nor inside [sidecar] backend_cidrs: every peer refuses ${n === 1 ? 'that record' : 'those records'} (admission reason backend-ip): this host lists ${n === 1 ? 'it' : 'them'}, no other host does. To announce ${n === 1 ? 'it' : 'them'}: ${fixes.join('; ')}`)
}

/** Warns (once per call: once per load) of entries that work on this host only. */
export function warnLocalOnly (entries: ReadonlyArray<{ where: string, service: Service }>, file: string, ctx: WarnContext): void {
  const warn = ctx.warn
  if (warn === undefined) return
  const foreign = entries.filter(e => e.service.Hostname !== ctx.hostname).map(e => `${e.where} ${JSON.stringify(e.service.Hostname)}`)
  warnForeign(foreign, file, ctx, warn)
  warnBackendIps(entries, file, ctx, warn)
}
