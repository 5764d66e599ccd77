// Peers of this cluster that speak another version of sidecar's gossip: a rolling upgrade half
// done. Such a peer identifies with our cluster's state protocol under another version
// (/sidecar/<cluster>/state/1.0.0 for sidecar 0.1.0, 2.0.0 here), so neither side takes the
// other as a member and neither sees the other's services. Said once per peer in the log, as a
// WARN naming the peer, its host, both versions and which side to upgrade, and kept in /health
// (versionMismatch, by hostname) until the host joins as a member (upgraded) or has not been
// seen for FORGET_AFTER_MS (stopped). A peer's claims here are only words to show: the hostname
// is the one identify carried, bounded and never trusted for anything else.

/** Peers remembered at most: a cluster has far fewer hosts; peers with made-up ids stop here. */
export const MAX_OTHER_VERSIONS = 64
/**
 * A peer not identified again for this long is forgotten (it was stopped, or upgraded under a
 * new key). Seed dials of either side repeat at least every 30 s (seeds.ts), each with an identify.
 */
const FORGET_AFTER_MS = 5 * 60_000
/** Which sidecar release spoke a state protocol version, for the operator reading the line. */
const RELEASES: Readonly<Record<string, string>> = { '1.0.0': 'sidecar 0.1.0' }

/** The version of our cluster's state protocol a peer lists, when it lists one other than ours. */
export function otherStateVersion (protocols: readonly string[], ownStateProtocol: string): string | undefined {
  const cut = ownStateProtocol.lastIndexOf('/') + 1
  const prefix = ownStateProtocol.slice(0, cut)
  for (const p of protocols) {
    if (p === ownStateProtocol || !p.startsWith(prefix)) continue
    const version = p.slice(cut)
    if (/^\d{1,6}(\.\d{1,6}){0,2}$/.test(version)) return version
  }
  return undefined
}

/** Negative when version a is older than b (dotted numbers). */
export function compareVersions (a: string, b: string): number {
  const x = a.split('.').map(Number)
  const y = b.split('.').map(Number)
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0)
    if (d !== 0) return d
  }
  return 0
}

interface Seen {
  peerId: string
  hostname: string
  problem: string
  at: number
}

export class OtherVersions {
  readonly #own: string
  readonly #changed: (count: number) => void
  /** By hostname. */
  readonly #peers = new Map<string, Seen>()
  /** Peer ids already named in the log. */
  readonly #logged = new Set<string>()

  /** ownVersion: this node's state protocol version; changed: called with the number of peers after each change (a gauge). */
  constructor (ownVersion: string, changed: (count: number) => void = () => {}) {
    this.#own = ownVersion
    this.#changed = changed
  }

  /** The line that names a peer of another version: why neither side sees the other's services, and which to upgrade. */
  describe (peerId: string, hostname: string, remoteAddr: string, theirs: string): string {
    const release = (v: string): string => RELEASES[v] !== undefined ? `, as ${RELEASES[v]} does` : ''
    const older = compareVersions(theirs, this.#own) < 0
    return `peer ${peerId} (host ${hostname}, ${remoteAddr.replace(/\/p2p\/[^/]*$/, '')}) speaks sidecar gossip protocol ${theirs}${release(theirs)}, this node ${this.#own}: ` +
      `upgrade ${older ? 'it' : 'this node'}; until then neither sees the other's services`
  }

  /** Records a peer of another version; returns the line to log the first time this peer id is seen, else undefined. */
  note (peerId: string, hostname: string, remoteAddr: string, theirs: string, now = Date.now()): string | undefined {
    this.#expire(now)
    const line = this.describe(peerId, hostname, remoteAddr, theirs)
    if (!this.#peers.has(hostname) && this.#peers.size >= MAX_OTHER_VERSIONS) return undefined
    this.#peers.set(hostname, { peerId, hostname, problem: line, at: now })
    this.#changed(this.#peers.size)
    if (this.#logged.has(peerId)) return undefined
    if (this.#logged.size >= MAX_OTHER_VERSIONS) this.#logged.clear()
    this.#logged.add(peerId)
    return line
  }

  /** A member joined: that host (or that peer id) speaks our version now. */
  joined (peerId: string, hostname: string): void {
    let changed = this.#peers.delete(hostname)
    for (const [host, s] of this.#peers) if (s.peerId === peerId) { this.#peers.delete(host); changed = true }
    this.#logged.delete(peerId)
    if (changed) this.#changed(this.#peers.size)
  }

  /** For /health: hostname -> the line, for each peer of another version seen lately. */
  problems (now = Date.now()): Record<string, string> {
    this.#expire(now)
    return Object.fromEntries([...this.#peers.values()].map(s => [s.hostname, s.problem]))
  }

  #expire (now: number): void {
    let changed = false
    for (const [host, s] of this.#peers) if (now - s.at > FORGET_AFTER_MS) { this.#peers.delete(host); changed = true }
    if (changed) this.#changed(this.#peers.size)
  }
}
