// The process's open-file limit (RLIMIT_NOFILE, soft), and the shares of it that client
// connections may take. Node raises the soft limit to the hard one at start-up, so this is the
// hard limit the daemon was started with (`ulimit -n`, systemd's LimitNOFILE, docker --ulimit).
//
// Every connection a client opens to the API or a proxy port holds a descriptor, and a proxy
// client may hold a second one to its backend. Without a cap across all ports, a client that
// opens idle connections until the limit is reached makes every connect the daemon itself
// makes fail with EMFILE: its TCP and HTTP health checks report this host's services as failed
// to the whole cluster, and gossip cannot dial. The caps leave at least half of the limit for
// that work (health checks, gossip, backend connections, files). The proxy's listening sockets
// take at most another eighth: every host opens one for each service port any member claims.
import { readFileSync } from 'node:fs'

/** Assumed where the limit cannot be read (no /proc): a common container default's order of magnitude. */
export const ASSUMED_OPEN_FILES = 65_536
/** Below this, the warning at start says the caps are small and how to raise the limit. */
export const LOW_OPEN_FILES = 4096

/** The soft "Max open files" of /proc/self/limits; undefined when unreadable or unlimited. */
export function openFileLimit (limitsText?: string): number | undefined {
  let text = limitsText
  if (text === undefined) {
    try { text = readFileSync('/proc/self/limits', 'utf8') } catch { return undefined }
  }
  const m = /^Max open files\s+(\d+|unlimited)\s/m.exec(text)
  if (m === null || m[1] === 'unlimited') return undefined
  const n = Number(m[1])
  return Number.isSafeInteger(n) && n > 0 ? n : undefined
}

/** A share of the open-file limit that a "0" setting takes: limit / divisor, at least 16, at most ceiling. */
export interface OpenFileShare {
  divisor: number
  ceiling: number
  /** "an eighth", for messages. */
  fraction: string
}

/** [api] max_connections: the API's clients are UIs, watchers and scrapers. */
export const API_CONNECTIONS: OpenFileShare = { divisor: 8, ceiling: 4096, fraction: 'an eighth' }

/**
 * [proxy] max_total_connections: each client may hold a backend connection too. An idle client
 * connection holds about 10 KiB of RSS (4,000 of them: +43 MB), so the ceiling is about 700 MB
 * where the limit is large.
 */
export const PROXY_CONNECTIONS: OpenFileShare = { divisor: 4, ceiling: 65_536, fraction: 'a quarter' }

/**
 * [proxy] max_listeners: a listener holds about 17 KiB of RSS (3,000 of them: +52 MB), so every
 * port (65,535) would be about 1.1 GB on every host, for a member that claims them all; 4,096 is
 * far more service ports than a cluster proxies, about 70 MB.
 */
export const LISTENERS: OpenFileShare = { divisor: 8, ceiling: 4096, fraction: 'an eighth' }

/** What "0" resolves to under this limit. */
export function shareOf (openFiles: number, share: OpenFileShare): number {
  return Math.min(share.ceiling, Math.max(16, Math.floor(openFiles / share.divisor)))
}
