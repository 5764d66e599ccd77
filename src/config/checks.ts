// Value checks for single config strings (or list items). Each returns the problem as a
// lowercase phrase naming the value, or undefined when the value is fine.
import net from 'node:net'
import { cidrList } from '../lib/backend-ips.ts'
import { compileRe2 } from '../lib/re2.ts'
import { redactText } from '../lib/redact.ts'
import { parsePortRange } from '../lib/port-ranges.ts'
import { RECORD_LIMITS } from '../service/codec.ts'

export type Check = (value: string) => string | undefined

const q = (v: string): string => JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}...` : v)
const PRINTABLE = /^[\x21-\x7e]+$/ // visible ASCII: no spaces or control characters

function isPort (text: string): boolean {
  if (!/^\d{1,5}$/.test(text)) return false
  const n = Number(text)
  return n >= 1 && n <= 65535
}

function isHostName (host: string): boolean {
  return host.length <= 253 && /^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$/.test(host)
}

/** A seed: "host", "host:port", "ip", "ip:port", a bare IPv6 address or "[ipv6]:port". */
export const checkSeed: Check = (v) => {
  if (net.isIP(v) !== 0) return undefined
  // "http://10.0.0.1:7946" read as host "http" and port "//10.0.0.1:7946": say what is wrong
  const url = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(v)
  if (url !== null) return `seed ${q(v)} is a URL: a seed is host or host:port${url[1] !== '' ? ` (here ${q(url[1])})` : ''}`
  const m = /^\[([^\]]+)\](?::(.*))?$/.exec(v) ?? /^([^:]+)(?::(.*))?$/.exec(v)
  if (m === null) return `seed ${q(v)} is not host or host:port`
  const [, host, port] = m
  // "300.1.2.3" or "10.0.0" is no DNS name (its last label is a number) but was looked up as one, and failed (or, by the
  // resolver's old shorthand, "10.0.0" dialled 10.0.0.0) at every retry for as long as the daemon ran
  if (!v.startsWith('[') && /^[\d.]+$/.test(host) && !net.isIPv4(host)) return `seed ${q(v)} is not an IPv4 address: four numbers 0..255, e.g. 10.0.0.1`
  const hostOk = v.startsWith('[') ? net.isIPv6(host) : net.isIPv4(host) || isHostName(host)
  if (!hostOk) {
    return `seed ${q(v)} is not host or host:port (bad host ${q(host)})`
  }
  if (port !== undefined && !isPort(port)) return `seed ${q(v)} has port ${q(port)}, expected 1..65535`
  return undefined
}

/** An IPv4 or IPv6 address (net.isIP). */
export const checkIp: Check = (v) => net.isIP(v) !== 0 ? undefined : `${q(v)} is not an IP address`

/** The grammar is cidrList's (lib/backend-ips.ts, which the gossip gate builds from the same list); the message shortens long values. */
export const checkCidr: Check = (v) => {
  try {
    cidrList([v])
    return undefined
  } catch {
    return `${q(v)} is not a CIDR such as 10.1.0.0/16 or fd00::/8`
  }
}

/** A webhook target: an absolute http: or https: URL. Quoted with its credentials masked: the message is printed and logged. */
/** The longest webhook URL taken: what common servers accept in a request line (a longer one would be refused by most receivers, and it is repeated in every listener's metric labels). */
export const MAX_URL_LENGTH = 8192

export const checkHttpUrl: Check = (v) => {
  if (v.length > MAX_URL_LENGTH) return `${q(redactText(v))} is ${v.length} characters long: a URL may be at most ${MAX_URL_LENGTH}`
  if (!URL.canParse(v)) return `${q(redactText(v))} is not a URL, expected e.g. "http://127.0.0.1:7778/api/update"`
  const u = new URL(v)
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return `${q(redactText(v))} must be an http:// or https:// URL`
  return undefined
}

/** The Docker endpoint: unix:///path/to.sock, tcp://host:port, http(s)://host:port. */
export const checkDockerUrl: Check = (v) => {
  const hint = 'expected unix:///var/run/docker.sock, tcp://HOST:PORT or http(s)://HOST:PORT'
  if (!URL.canParse(v)) return `${q(v)} is not a URL, ${hint}`
  const u = new URL(v)
  if (u.protocol === 'unix:') return u.pathname.length > 1 ? undefined : `${q(v)} names no socket path, ${hint}`
  if (['tcp:', 'http:', 'https:'].includes(u.protocol)) return u.hostname !== '' ? undefined : `${q(v)} names no host, ${hint}`
  return `${q(v)} has unsupported scheme ${q(u.protocol)}, ${hint}`
}

/** A port or a range of them: "8080", "10000-19999". */
export const checkPortRange: Check = (v) => parsePortRange(v) !== undefined ? undefined : `${q(v)} is not a port or a range of ports such as "10000-19999" (1..65535, low to high)`

/** An HTTP path for default checks; '' (meaning "/") is allowed. */
export const checkEndpoint: Check = (v) => {
  if (v === '' || (v.startsWith('/') && PRINTABLE.test(v))) return undefined
  return `${q(v)} must be a path starting with "/"`
}

/**
 * The regex namer's pattern: RE2 syntax (Go's regexp, which the original used), matched in time
 * linear in the container name (discovery/docker/namer.ts says why), with a group 1 to name by.
 */
export const checkNamePattern: Check = (v) => {
  let groups: number
  try {
    groups = compileRe2(v).groupCount()
  } catch (err) {
    const why = (err as Error).message.replace(/^error parsing regexp: /, '')
    return `${q(v)} is not a valid regular expression in RE2 syntax (as Go's regexp): ${why}; lookarounds and backreferences are not taken, as they cannot be matched in linear time on a name anyone who starts a container chooses`
  }
  return groups >= 1 ? undefined : `${q(v)} has no capture group: group 1 is the service name, e.g. "^/(.+)(-[0-9a-z]{7,14})$"`
}

/** The first character PRINTABLE refuses, named for the message: a space, a control character or a non-ASCII one. */
function notPrintable (v: string): string {
  for (const ch of v) {
    const code = ch.codePointAt(0) ?? 0
    if (code >= 0x21 && code <= 0x7e) continue
    const u = `U+${code.toString(16).toUpperCase().padStart(4, '0')}`
    if (ch === ' ') return 'a space'
    if (code < 0x20 || code === 0x7f || (code >= 0x80 && code < 0xa0)) return `a control character (${u})`
    return `the non-ASCII character ${q(ch)} (${u})`
  }
  return 'no character'
}

export const checkHostname: Check = (v) => {
  if (v.length > RECORD_LIMITS.maxHostnameLength) return `hostname is longer than ${RECORD_LIMITS.maxHostnameLength} characters`
  return v === '' || PRINTABLE.test(v) ? undefined : `hostname ${q(v)} contains ${notPrintable(v)}: only visible ASCII characters are allowed`
}

export const checkClusterName: Check = (v) => {
  if (v.length > 128) return 'cluster name is longer than 128 characters'
  return PRINTABLE.test(v) ? undefined : `cluster name ${q(v)} contains ${notPrintable(v)}: only visible ASCII characters are allowed`
}

/**
 * An [api] allowed_hosts entry: a host name, or a domain with the names under it (`.example.com`
 * or `*.example.com`, api/host-names.ts) of at least two labels: `.com` or `*.lan` would let in
 * every site under that top-level domain, which anyone may register names in.
 */
export const checkAllowedHost: Check = (v) => {
  const domain = /^\*?\.(.*)$/.exec(v)?.[1]
  if (domain === undefined) {
    if (v.includes('*')) return `${q(v)} is not a host name: a wildcard is written *.example.com (the names under example.com) or .example.com (example.com too)`
    return checkHostName(v)
  }
  const bad = checkHostName(domain)
  if (bad !== undefined) return `${q(v)} is not a domain wildcard: ${q(domain)} is not a host name (letters, digits, hyphens and dots)`
  if (!domain.replace(/\.$/, '').includes('.')) return `${q(v)} would allow every name under the top-level domain ${q(domain)}, which anyone may register names in: list the names, or a domain of two labels or more (.example.com)`
  return undefined
}

/** A DNS name as a browser sends it in Host (letters, digits, hyphens, dots; no port). */
export const checkHostName: Check = (v) => {
  if (v.length > 253) return `host name ${q(v.slice(0, 40))}... is longer than 253 characters`
  return /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$/.test(v) ? undefined : `${q(v)} is not a host name (letters, digits, hyphens and dots, without a port)`
}

/** An origin a page may frame the UI from: http(s)://host[:port], nothing else (it goes into a CSP header). */
export const checkFrameOrigin: Check = (v) => {
  const m = /^(https?):\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?\/?$/.exec(v)
  const hint = 'expected an origin such as https://dashboard.example.com or http://10.0.0.5:3000'
  if (m === null) return `frame origin ${q(v)} is not scheme://host[:port], ${hint}`
  const [, , host, port] = m
  const hostOk = host.startsWith('[') ? net.isIPv6(host.slice(1, -1)) : net.isIPv4(host) || checkHostName(host) === undefined
  if (!hostOk) return `frame origin ${q(v)} has a bad host ${q(host)}, ${hint}`
  if (port !== undefined && !isPort(port)) return `frame origin ${q(v)} has a bad port ${port}, ${hint}`
}

export const checkSite: Check = (v) => {
  return v.length <= RECORD_LIMITS.maxSiteLength ? undefined : `site is longer than ${RECORD_LIMITS.maxSiteLength} characters`
}
