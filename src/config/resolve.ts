// Values resolved at start-up ('' = "work it out"), relative paths, and the rules that
// involve more than one key. Works on the layered, already type-checked values.
import type os from 'node:os'
import path from 'node:path'
import { API_CONNECTIONS, ASSUMED_OPEN_FILES, LISTENERS, LOW_OPEN_FILES, PROXY_CONNECTIONS, shareOf, type OpenFileShare } from '../lib/open-files.ts'
import { redactText } from '../lib/redact.ts'
import { formatDuration } from './duration.ts'
import type { SidecarConfig } from './types.ts'

export type Interfaces = ReturnType<typeof os.networkInterfaces>

export interface ResolveContext {
  cwd: string
  osHostname: string
  homedir: string
  interfaces: Interfaces
  /**
   * Directory each key's relative value resolves against ("section.key" -> dir), for every key
   * a file, the environment or a flag set: a key missing here holds its default.
   */
  bases: ReadonlyMap<string, string>
  /** "section.key" of keys whose own value was bad: rules involving them are skipped. */
  bad: ReadonlySet<string>
  /** The process's open-file limit (open-files.ts); undefined = unknown (ASSUMED_OPEN_FILES). */
  openFiles?: number
}

const FALLBACK_IP = '127.0.0.1'
/** Where the kernel, not a disk, answers: Node's mkdir never settles under /proc, and nothing can be kept under either. */
const PSEUDO_FILESYSTEMS = ['/proc', '/sys']

/** 10/8, 172.16/12, 192.168/16 (RFC 1918). */
export function isPrivateIPv4 (ip: string): boolean {
  const m = /^(\d+)\.(\d+)\.\d+\.\d+$/.exec(ip)
  if (m === null) return false
  const a = Number(m[1]); const b = Number(m[2])
  return a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168)
}

/** The first private IPv4 address of the interfaces (in their listed order) not excluded. */
export function findAdvertiseIp (interfaces: Interfaces, exclude: readonly string[]): string | undefined {
  for (const addrs of Object.values(interfaces)) {
    for (const a of addrs ?? []) {
      if (a.family === 'IPv4' && isPrivateIPv4(a.address) && !exclude.includes(a.address)) return a.address
    }
  }
  return undefined
}

function expandHome (p: string, homedir: string): string {
  return p === '~' ? homedir : p.startsWith('~/') ? path.join(homedir, p.slice(2)) : p
}

/** Fills in the resolved values in place; returns the problems and warnings found. */
export function resolveConfig (c: SidecarConfig, ctx: ResolveContext): { problems: string[], warnings: string[] } {
  const problems: string[] = []
  const warnings: string[] = []
  const s = c.sidecar

  if (s.hostname === '') s.hostname = ctx.osHostname !== '' ? ctx.osHostname : 'localhost'

  if (s.advertise_ip === '') {
    const found = findAdvertiseIp(ctx.interfaces, s.exclude_ips)
    if (found !== undefined) {
      s.advertise_ip = found
    } else {
      s.advertise_ip = FALLBACK_IP
      warnings.push(`no private IPv4 address found on any interface (excluding ${s.exclude_ips.join(', ') || 'none'}): advertising ${FALLBACK_IP}, which peers on other hosts cannot reach; set [sidecar] advertise_ip`)
    }
  } else if (s.advertise_ip === '0.0.0.0' || s.advertise_ip === '::') {
    problems.push(`[sidecar] advertise_ip: ${s.advertise_ip} cannot be advertised (it means "any address"), give this host's address`)
  }

  if (c.api.bind_ip === '') c.api.bind_ip = s.bind_ip
  if (c.proxy.bind_ip === '') c.proxy.bind_ip = s.bind_ip
  if (s.default_check_endpoint === '') s.default_check_endpoint = '/'

  const base = (key: string): string => ctx.bases.get(key) ?? ctx.cwd
  s.data_dir = s.data_dir === ''
    ? path.join(ctx.homedir, '.sidecar', s.hostname)
    : path.resolve(base('sidecar.data_dir'), expandHome(s.data_dir, ctx.homedir))
  c.static_discovery.config_file = path.resolve(base('static_discovery.config_file'), expandHome(c.static_discovery.config_file, ctx.homedir))
  const pseudo = PSEUDO_FILESYSTEMS.find(dir => s.data_dir === dir || s.data_dir.startsWith(`${dir}/`))
  if (pseudo !== undefined) {
    problems.push(`[sidecar] data_dir ${s.data_dir} is under ${pseudo}, the kernel's pseudo-filesystem: no directory or key file can be made there (the start hung in it); give a directory on a real filesystem, e.g. /var/lib/sidecar`)
  }

  const ok = (...keys: string[]): boolean => keys.every((k) => !ctx.bad.has(k))
  const h = c.health
  if (!ctx.bases.has('health.timeout') && ok('health.interval')) h.timeout = unsetHealthTimeout(h.timeout, h.interval)
  if (ok('health.timeout', 'health.interval') && h.timeout > h.interval) {
    problems.push(`[health] timeout ${formatDuration(h.timeout)} is longer than [health] interval ${formatDuration(h.interval)}; a check must end before the next one starts`)
  }
  if (ok('services.namer', 'services.name_match') && c.services.namer === 'regex' && c.services.name_match === '') {
    problems.push('[services] name_match must be set when [services] namer is "regex" (e.g. "^/(.+)(-[0-9a-z]{7,14})$")')
  }
  if (ok('api.port', 'sidecar.bind_port', 'api.bind_ip', 'sidecar.bind_ip') && c.api.port === s.bind_port && overlaps(c.api.bind_ip, s.bind_ip)) {
    problems.push(`[api] port and [sidecar] bind_port are both ${s.bind_port} on overlapping addresses; the API and gossip listeners need different ports`)
  }
  const px = c.proxy
  if (ok('proxy.ejection_base', 'proxy.ejection_max') && px.ejection_base > px.ejection_max) {
    problems.push(`[proxy] ejection_base ${formatDuration(px.ejection_base)} is longer than [proxy] ejection_max ${formatDuration(px.ejection_max)}`)
  }
  if (ok('proxy.site_failover', 'sidecar.site') && px.site_failover && s.site === '') {
    warnings.push('[proxy] site_failover is on but [sidecar] site is empty: this host\'s own site is the instances that have no site')
  }
  resolveConnectionCaps(c, ctx.openFiles, warnings)
  if (ok('listeners.urls', 'listeners.webhook')) {
    // compared as parsed: HTTP://A:80/x and http://a/x are one receiver
    const seen = new Map<string, string>()
    for (const url of [...c.listeners.urls, ...c.listeners.webhook.map((w) => w.url)]) {
      const key = sameUrlKey(url)
      const first = seen.get(key)
      if (first === url) problems.push(`[listeners] ${JSON.stringify(redactText(url))} is listed twice (in urls or webhook); each listener would get every event twice`)
      else if (first !== undefined) problems.push(`[listeners] ${JSON.stringify(redactText(url))} and ${JSON.stringify(redactText(first))} are the same URL, listed twice (in urls or webhook); each listener would get every event twice`)
      else seen.set(key, url)
    }
  }
  return { problems, warnings }
}

/** A URL as its receiver sees it (scheme and host in lower case, the default port dropped), or the text itself when it does not parse. */
function sameUrlKey (url: string): string {
  try {
    return new URL(url).href
  } catch {
    return url
  }
}

/** An unset [health] timeout (its default) follows an interval shorter than it: a check ends before the next starts. */
export function unsetHealthTimeout (defaultTimeout: number, interval: number): number {
  return Math.min(defaultTimeout, interval)
}

function overlaps (a: string, b: string): boolean {
  const any = (ip: string): boolean => ip === '0.0.0.0' || ip === '::'
  return a === b || any(a) || any(b)
}

/**
 * [api] max_connections, [proxy] max_total_connections and [proxy] max_listeners: "0" takes
 * their share of the open-file limit; a larger value is kept, with a warning that a client
 * flood (or a member's claims) could then take the descriptors health checks and gossip need.
 */
function resolveConnectionCaps (c: SidecarConfig, openFiles: number | undefined, warnings: string[]): void {
  const limit = openFiles ?? ASSUMED_OPEN_FILES
  const known = openFiles !== undefined ? `the open-file limit (${limit})` : `the open-file limit (unknown here; taken as ${limit})`
  /** "0" takes the share; a value set above it is kept, with a warning naming what could then use up the limit. */
  const resolve = (value: number, key: string, share: OpenFileShare, risk: string): number => {
    if (value === 0) return shareOf(limit, share)
    if (value > Math.floor(limit / share.divisor)) warnings.push(`${key} ${value} is more than ${share.fraction} of ${known}: ${risk} could leave too few descriptors for health checks and gossip`)
    return value
  }
  c.api.max_connections = resolve(c.api.max_connections, '[api] max_connections', API_CONNECTIONS, 'clients that open that many connections')
  c.proxy.max_total_connections = resolve(c.proxy.max_total_connections, '[proxy] max_total_connections', PROXY_CONNECTIONS, 'clients that open that many connections (each may hold a backend connection too)')
  c.proxy.max_listeners = resolve(c.proxy.max_listeners, '[proxy] max_listeners', LISTENERS, 'a member that claims that many service ports')
  if (openFiles !== undefined && openFiles < LOW_OPEN_FILES) {
    const caps = c.proxy.enabled
      ? `the API takes at most ${c.api.max_connections} client connections, all proxy ports together ${c.proxy.max_total_connections}, and the proxy opens at most ${c.proxy.max_listeners} ports`
      : `the API takes at most ${c.api.max_connections} client connections`
    warnings.push(`the open-file limit is ${openFiles}: ${caps}; raise it (ulimit -n, systemd LimitNOFILE=, docker run --ulimit nofile=) on a busy host`)
  }
}
