// From a container to a discovered service, by its labels (reference §3.1, with the issue's
// changes): pure, so every label rule is unit tested without Docker. A label that cannot be
// honoured makes the container invalid (the caller skips it with one warning), rather
// than announcing something the operator did not ask for.
import { BlockList, isIPv6 } from 'node:net'
import { CHECK_TYPES, isCheckType, reachKey } from '../../health/checks.ts'
import { renderCheckArgs } from '../../health/template.ts'
import { backendIpRefusal } from '../../lib/backend-ips.ts'
import { clip } from '../../lib/clip.ts'
import { errorMessage } from '../../lib/errors.ts'
import { redactCheckArgs } from '../../lib/redact.ts'
import { RECORD_LIMITS } from '../../service/codec.ts'
import { makeService, type Port } from '../../service/service.ts'
import { ServiceStatus } from '../../service/status.ts'
import { Time } from '../../service/time.ts'
import type { CheckSpec, Discovered } from '../types.ts'
import type { ContainerView } from './container.ts'
import { DOCKER_EXEC_CHECK, execArgs } from './exec-check.ts'
import type { Namer } from './namer.ts'

export const LABEL = {
  servicePortPrefix: 'ServicePort_',
  healthCheck: 'HealthCheck',
  healthCheckArgs: 'HealthCheckArgs',
  discover: 'SidecarDiscover',
  proxyMode: 'ProxyMode',
  listener: 'SidecarListener',
} as const

/** The check type that takes its verdict from Docker's own HEALTHCHECK state. */
export const DOCKER_CHECK = 'Docker'
export const PROXY_MODES = ['http', 'tcp', 'ws'] as const
const NEEDS_ARGS = new Set(['HttpGet', 'TcpConnect', 'External'])
/** Check types that connect to an address the labels name. */
const NETWORK_CHECKS = new Set(['HttpGet', 'TcpConnect'])
/** Port types a record carries (the codec refuses others, and peers would reject the whole batch). */
export const RECORD_PORT_TYPES: ReadonlySet<string> = new Set(['tcp', 'udp'])
/**
 * Characters of a label's key or value a message quotes: labels are chosen by whoever starts a
 * container, and a message goes to the log at each change and into /health until fixed.
 */
const QUOTED_MAX = 64
/** Characters of a HealthCheckArgs label: far more than any URL or command needs; the args are shown in the API and in each failure. */
export const MAX_CHECK_ARGS = 4096
/** Problems a container's message names; the rest are counted (a container can carry thousands of labels). */
export const MAX_PROBLEMS = 5

/** A label's text in quotes, as a message shows it: JSON-escaped, cut to QUOTED_MAX characters. */
export function quote (text: string): string {
  return text.length <= QUOTED_MAX ? JSON.stringify(text) : `${JSON.stringify(text.slice(0, QUOTED_MAX))}... (${text.length} characters)`
}

export interface LabelContext {
  /** This daemon's hostname: every container found here is announced under it. */
  hostname: string
  /** Replaces a wildcard bind address, and is what {{ host }} expands to. */
  advertiseIp: string
  namer: Namer
  /** [docker_discovery] check_any_target: label checks may reach any address (default false: the container's published ports only). */
  checkAnyTarget?: boolean
  /** [sidecar] backend_cidrs as a list: a port bound to an address outside them (and not advertiseIp) is warned about, as peers refuse the record. */
  allowedBackends?: BlockList
}

export type Verdict =
  /** warnings: what was left out (ports a record cannot carry); the service is announced without it. */
  | { readonly kind: 'service', readonly discovered: Discovered, readonly warnings?: readonly string[] }
  /** SidecarDiscover=false: left out on purpose. */
  | { readonly kind: 'hidden' }
  /** Labels that cannot be honoured; every problem named. */
  | { readonly kind: 'invalid', readonly problems: readonly string[] }

/** The service ID of a container: the first 12 characters of its id, as Docker shows it. */
export function serviceId (containerId: string): string {
  return containerId.slice(0, 12)
}

function isWildcard (ip: string): boolean {
  return ip === '' || ip === '0.0.0.0' || ip === '::'
}

function portNumber (text: string, min: number): number | undefined {
  if (!/^\d{1,5}$/.test(text.trim())) return undefined
  const n = Number(text.trim())
  return n >= min && n <= 65535 ? n : undefined
}

/** ServicePort_<containerPort> labels as containerPort -> service port. */
function servicePorts (labels: Readonly<Record<string, string>>, problems: string[]): Map<number, number> {
  const map = new Map<number, number>()
  const keyOf = new Map<number, string>()
  for (const [key, value] of Object.entries(labels)) {
    if (!key.startsWith(LABEL.servicePortPrefix)) continue
    const containerPort = portNumber(key.slice(LABEL.servicePortPrefix.length), 1)
    const sp = portNumber(value, 0)
    const other = containerPort === undefined ? undefined : keyOf.get(containerPort)
    if (containerPort === undefined) problems.push(`label ${clip(key, QUOTED_MAX)}: ${quote(key.slice(LABEL.servicePortPrefix.length))} is not a container port (1..65535)`)
    else if (sp === undefined) problems.push(`label ${key}=${quote(value)}: the service port must be a number from 0 to 65535`)
    // ServicePort_80 and ServicePort_080: which one Docker lists last would win
    else if (other !== undefined) problems.push(`labels ${other} and ${key} both name container port ${containerPort}: keep one`)
    else { map.set(containerPort, sp); keyOf.set(containerPort, key) }
  }
  return map
}

function portsOf (c: ContainerView, ctx: LabelContext, problems: string[], warnings: string[]): Port[] {
  const sp = servicePorts(c.labels, problems)
  const seen = new Set<string>()
  const ports: Port[] = []
  const skipped = new Set<string>()
  for (const p of c.ports) {
    if (!RECORD_PORT_TYPES.has(p.type)) { skipped.add(`${p.containerPort}/${p.type}`); continue }
    const ip = isWildcard(p.hostIp) ? ctx.advertiseIp : p.hostIp
    const key = `${p.type}/${ip}/${p.hostPort}` // 0.0.0.0 and :: bindings of one port are one port
    if (seen.has(key)) continue
    seen.add(key)
    ports.push({ Type: p.type, Port: p.hostPort, ServicePort: sp.get(p.containerPort) ?? 0, IP: ip })
  }
  if (skipped.size > 0) warnings.push(`port${skipped.size > 1 ? 's' : ''} ${[...skipped].join(', ')} left out: only tcp and udp ports can be announced`)
  otherFamilyOnly(c, ctx, warnings)
  const kept = capPorts(ports, RECORD_LIMITS.maxPorts, warnings)
  refusedByPeers(kept, ctx, warnings)
  return kept
}

/**
 * A port Docker binds on one family's wildcard only (-p [::]:8080:80 binds IPv6 alone, and
 * -p 0.0.0.0:8080:80 IPv4 alone) is announced at the advertise IP like any wildcard binding,
 * but at an advertise IP of the other family nothing answers: peers' proxies get a refused
 * connection, and its health check is out of reach (checkReach). Warned, with the fix.
 */
function otherFamilyOnly (c: ContainerView, ctx: LabelContext, warnings: string[]): void {
  const advertised = isIPv6(ctx.advertiseIp) ? 6 : 4
  const families = new Map<string, Set<number>>()
  for (const p of c.ports) {
    if (!isWildcard(p.hostIp) || !RECORD_PORT_TYPES.has(p.type)) continue
    const key = `${p.hostPort}/${p.type}`
    let set = families.get(key)
    if (set === undefined) families.set(key, set = new Set())
    for (const family of wildcardFamilies(p.hostIp)) set.add(family)
  }
  const unreachable = [...families].filter(([, set]) => !set.has(advertised)).map(([key]) => key)
  if (unreachable.length === 0) return
  const on = advertised === 6 ? '0.0.0.0 (IPv4)' : ':: (IPv6)'
  warnings.push(`port${unreachable.length > 1 ? 's' : ''} ${unreachable.slice(0, 5).join(', ')}${unreachable.length > 5 ? ` (and ${unreachable.length - 5} more)` : ''} published on ${on} only, which this host's advertised address ${ctx.advertiseIp} is not: peers reach nothing there; publish on every address (-p 8080:80) or on ${advertised === 6 ? '::' : '0.0.0.0'}`)
}

/** The address families a wildcard binding takes: Docker's "0.0.0.0" IPv4 only, "::" IPv6 only, none given both. */
function wildcardFamilies (hostIp: string): readonly number[] {
  return hostIp === '' ? [4, 6] : hostIp === '::' ? [6] : [4]
}

/**
 * A port bound to one address that is neither the advertise IP nor inside [sidecar]
 * backend_cidrs (127.0.0.1:5432:5432, say): every peer refuses the record (admission reason
 * backend-ip, lib/backend-ips.ts), so the container is announced on this host only.
 */
function refusedByPeers (ports: readonly Port[], ctx: LabelContext, warnings: string[]): void {
  const own = new Set([ctx.advertiseIp])
  const allowed = ctx.allowedBackends ?? new BlockList()
  const outside = new Set<string>()
  const local = new Set<string>()
  for (const p of ports) {
    const why = backendIpRefusal(p.IP, own, allowed)
    if (why === 'local-only') local.add(p.IP)
    else if (why !== undefined) outside.add(p.IP)
  }
  if (outside.size + local.size === 0) return
  const cidrs = outside.size > 0 ? `, or add the network of ${[...outside].join(', ')} to [sidecar] backend_cidrs` : ''
  const never = local.size > 0 ? ` (${[...local].join(', ')}: loopback, link-local or unspecified, which backend_cidrs never admits)` : ''
  warnings.push(`published on ${[...outside, ...local].join(', ')}: neither this host's advertised address (${ctx.advertiseIp}) nor inside [sidecar] backend_cidrs, so every peer refuses this container's record (admission reason backend-ip) and only this host lists it; publish the port on ${ctx.advertiseIp} or on every address${cidrs}${never}`)
}

/**
 * At most max ports (what a record may carry): those with a ServicePort label first, then
 * the others, each in Docker's order. The rest are left out with a warning.
 */
export function capPorts (ports: readonly Port[], max: number, warnings: string[]): Port[] {
  if (ports.length <= max) return [...ports]
  const kept = [...ports.filter(p => p.ServicePort !== 0), ...ports.filter(p => p.ServicePort === 0)].slice(0, max)
  warnings.push(`${ports.length} published ports, at most ${max} can be announced: ${ports.length - max} left out (ports with a ServicePort label are kept first)`)
  return kept
}

/**
 * Where a check from this container's labels may connect: its announced TCP ports (those of
 * `announced`, the at most RECORD_LIMITS.maxPorts its record carries), at the address each is
 * bound to. A port bound to every address of a family is also reached on that family's loopback
 * and at the advertise IP when it is of that family: Docker's "0.0.0.0" binding takes IPv4 only,
 * and its "::" binding IPv6 only (docker-proxy listens with IPV6_V6ONLY, so another process may
 * hold 127.0.0.1 or the advertise IP at the same port); `localhost`, which may resolve to either,
 * only when both are bound (`-p 8080:80` binds both). Not other ports or hosts: the labels are
 * chosen by whoever starts the container, and the daemon's checks come from the host's network
 * (its loopback services, a cloud metadata address), with the verdict, and the error of a failed
 * connection, shown to anyone who reads the API. Not the ports left out of the record either:
 * from every published port, a container publishing 20,000 gave its check 80,000 addresses,
 * built, copied and compared at each inspect of it.
 */
export function checkReach (c: ContainerView, ctx: LabelContext, announced: readonly Port[]): string[] {
  const kept = new Set<string>()
  for (const p of announced) if (p.Type === 'tcp') kept.add(`${p.IP}/${p.Port}`)
  const advertiseV6 = isIPv6(ctx.advertiseIp)
  const reach = new Set<string>()
  /** Host port -> the families its wildcard bindings take (4, 6). */
  const families = new Map<number, Set<number>>()
  for (const p of c.ports) {
    if (p.type !== 'tcp') continue
    const wildcard = isWildcard(p.hostIp)
    if (!kept.has(`${wildcard ? ctx.advertiseIp : p.hostIp}/${p.hostPort}`)) continue
    if (!wildcard) {
      reach.add(reachKey(p.hostIp, p.hostPort))
      continue
    }
    const taken = families.get(p.hostPort) ?? new Set<number>()
    families.set(p.hostPort, taken)
    for (const family of wildcardFamilies(p.hostIp)) {
      taken.add(family)
      if (advertiseV6 === (family === 6)) reach.add(reachKey(ctx.advertiseIp, p.hostPort))
      reach.add(reachKey(family === 6 ? '::1' : '127.0.0.1', p.hostPort))
    }
    if (taken.size === 2) reach.add(reachKey('localhost', p.hostPort))
  }
  return [...reach]
}

function checkOf (c: ContainerView, ports: readonly Port[], name: string, ctx: LabelContext, problems: string[]): CheckSpec | undefined {
  const type = c.labels[LABEL.healthCheck]
  if (type === undefined || type === '') return c.hasHealthcheck ? { type: DOCKER_CHECK, args: serviceId(c.id) } : undefined
  if (type === DOCKER_CHECK) return { type, args: serviceId(c.id) }
  if (!isCheckType(type)) {
    problems.push(`label ${LABEL.healthCheck}=${quote(type)}: unknown check type; use one of ${[...CHECK_TYPES, DOCKER_CHECK].join(', ')}`)
    return undefined
  }
  const raw = c.labels[LABEL.healthCheckArgs] ?? ''
  if (raw.length > MAX_CHECK_ARGS) {
    problems.push(`label ${LABEL.healthCheckArgs} is ${raw.length} characters long, at most ${MAX_CHECK_ARGS} allowed`)
    return undefined
  }
  if (raw.trim() === '' && NEEDS_ARGS.has(type)) {
    problems.push(`label ${LABEL.healthCheck}=${type} needs a ${LABEL.healthCheckArgs} label`)
    return undefined
  }
  try {
    const draft = makeService({ ID: serviceId(c.id), Name: name, Hostname: ctx.hostname, Image: c.image, Ports: ports })
    const args = renderCheckArgs(raw, draft, { host: ctx.advertiseIp, container: c.name.replace(/^\//, '') })
    // A label's command is chosen by whoever started the container: never a host command (exec-check.ts).
    if (type === 'External') return { type: DOCKER_EXEC_CHECK, args: execArgs(serviceId(c.id), args) }
    return NETWORK_CHECKS.has(type) && ctx.checkAnyTarget !== true ? { type, args, reach: checkReach(c, ctx, ports) } : { type, args }
  } catch (err) {
    // shown in /health and logs: never the command's arguments or a URL's password
    problems.push(`label ${LABEL.healthCheckArgs}=${quote(redactCheckArgs(type, raw))}: ${clip(errorMessage(err), 4 * QUOTED_MAX)}`)
    return undefined
  }
}

function listenerOf (c: ContainerView, ports: readonly Port[], problems: string[]): string | undefined {
  const value = c.labels[LABEL.listener]
  if (value === undefined) return undefined
  const sp = portNumber(value, 1)
  if (sp === undefined) {
    problems.push(`label ${LABEL.listener}=${quote(value)}: expected the ServicePort of a published TCP port`)
    return undefined
  }
  const port = ports.find(p => p.ServicePort === sp && p.Type === 'tcp')
  if (port === undefined) {
    problems.push(`label ${LABEL.listener}=${value}: no published TCP port has ServicePort ${sp}`)
    return undefined
  }
  const host = port.IP.includes(':') ? `[${port.IP}]` : port.IP
  return `http://${host}:${port.Port}/sidecar/update`
}

/** What this container is to discovery. */
export function toDiscovered (c: ContainerView, ctx: LabelContext): Verdict {
  if (c.labels[LABEL.discover] === 'false') return { kind: 'hidden' }
  const problems: string[] = []
  const warnings: string[] = []
  const { name, warning } = ctx.namer(c)
  if (warning !== undefined) warnings.push(warning)
  if (name.length > RECORD_LIMITS.maxNameLength) problems.push(`service name is ${name.length} characters long, at most ${RECORD_LIMITS.maxNameLength} allowed`)
  const proxyMode = c.labels[LABEL.proxyMode] ?? 'http'
  if (!(PROXY_MODES as readonly string[]).includes(proxyMode)) problems.push(`label ${LABEL.proxyMode}=${quote(proxyMode)}: use one of ${PROXY_MODES.join(', ')}`)
  const ports = portsOf(c, ctx, problems, warnings)
  const check = checkOf(c, ports, name, ctx, problems)
  const listenerUrl = listenerOf(c, ports, problems)
  if (problems.length > MAX_PROBLEMS) return { kind: 'invalid', problems: [...problems.slice(0, MAX_PROBLEMS), `and ${problems.length - MAX_PROBLEMS} more problems`] }
  if (problems.length > 0) return { kind: 'invalid', problems }

  let created = Time.EPOCH
  try { created = Time.parse(c.created) } catch { /* Docker always sends RFC 3339; keep the zero time if not */ }
  const service = makeService({
    ID: serviceId(c.id),
    Name: name,
    Image: c.image,
    Created: created,
    Hostname: ctx.hostname,
    Ports: ports,
    ProxyMode: proxyMode,
    Status: ServiceStatus.ALIVE, // replaced by the health monitor's verdict
  })
  const discovered: Discovered = {
    service,
    container: c.name.replace(/^\//, ''),
    ...(check !== undefined ? { check, checkRendered: true } : {}),
    ...(listenerUrl !== undefined ? { listenerUrl } : {}),
  }
  return warnings.length > 0 ? { kind: 'service', discovered, warnings } : { kind: 'service', discovered }
}
