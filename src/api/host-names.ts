// DNS rebinding: an attacker points a name of theirs first at their own server, then at this
// host. Their page, loaded under that name, is then same-origin with the API: the browser lets
// it read every answer and send writes with a matching Origin. What gives it away is the Host
// header, which a page cannot set: it names the attacker's name. A name nobody else can point
// here is an IP address, localhost (and *.localhost, which browsers resolve to loopback
// themselves), this host's own names and what the operator listed ([api] allowed_hosts).
import os from 'node:os'

/** What a refused name is not, for the refusals of reads (guard.ts) and writes (write-rules.ts). */
export const NOT_ALLOWED_NAME = "which is neither an IP address, localhost, this host's name nor in [api] allowed_hosts"

/** A name as compared: lower case, without a trailing dot. */
function bare (name: string): string {
  return name.toLowerCase().replace(/\.$/, '')
}

/** The names a request may name (lower case, without a trailing dot), exact or by their domain. */
export interface AllowedNames {
  has: (name: string) => boolean
}

/**
 * The allowed names: those of [api] allowed_hosts, and exactNames (this host's names) as given. An entry is a name,
 * or a domain with every name under it: `.example.com` allows example.com and every name ending
 * in .example.com, `*.example.com` only the latter (config/checks.ts refuses one of a single
 * label, such as `.com`: it would let in any site of that top-level domain).
 */
export function hostNameSet (names: readonly string[], exactNames: readonly string[] = []): AllowedNames {
  // this host's own names are names whatever they look like: a [sidecar] hostname such as ".com" allows no domain
  const exact = new Set<string>(exactNames.map(bare))
  const under: string[] = [] // ".example.com": a name must end with it
  for (const raw of names) {
    const n = bare(raw)
    if (n.startsWith('*.')) under.push(n.slice(1))
    else if (n.startsWith('.')) {
      exact.add(n.slice(1))
      under.push(n)
    } else exact.add(n)
  }
  return { has: name => exact.has(name) || under.some(d => name.endsWith(d) && name.length > d.length) }
}

/** This machine's names besides the configured ones: the OS hostname. */
export function machineNames (): string[] {
  return [os.hostname()]
}

/**
 * undefined when `host` (a Host header: name or address, with or without a port) is a name
 * that cannot be rebound; else the name as the URL parser reads it, for the refusal's message
 * (the header itself, cut, when it is no host at all). Any numeric form of an IP address
 * (`2130706433`, `0x7f.1`, `[::1]`) is an address: the URL parser, as browsers, reads it as one.
 */
export function foreignHostName (host: string, allowed: AllowedNames): string | undefined {
  const cut = host.slice(0, 200)
  // a userinfo, path, query or fragment would be read past: "evil.example@127.0.0.1" names 127.0.0.1
  if (/[@/?#\\\s]/.test(host.trim())) return cut
  let name: string
  try {
    name = new URL(`http://${host.trim()}`).hostname
  } catch {
    return cut
  }
  if (name.startsWith('[') || /^\d+\.\d+\.\d+\.\d+$/.test(name)) return undefined
  const compared = bare(name)
  if (compared === 'localhost' || compared.endsWith('.localhost')) return undefined
  return allowed.has(compared) ? undefined : name.slice(0, 200)
}

/**
 * The first name of an X-Forwarded-Host list that could be rebound (foreignHostName), or
 * undefined when every one is allowed or there is none. A reverse proxy that sends its
 * upstream's address as Host writes there the Host the browser sent; a proxy that appends adds
 * one entry per hop, and each is judged, since the browser's may be any of them. Looked at
 * besides Host, never instead of it: a page that sets the header itself only adds a name to judge.
 */
export function foreignForwardedName (forwardedHost: string | undefined, allowed: AllowedNames): string | undefined {
  for (const part of (forwardedHost ?? '').split(',')) {
    const entry = part.trim()
    if (entry === '') continue
    const name = foreignHostName(entry, allowed)
    if (name !== undefined) return name
  }
  return undefined
}
