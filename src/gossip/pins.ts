// Hostname <-> peer id pins: the first peer id seen claiming a hostname (over a direct,
// authenticated libp2p connection: identify's agent version) owns that hostname from then
// on, on this node, across restarts (the pins live in data_dir/host-pins.json). Records for
// a hostname are accepted only under its pinned peer's signature (admission.ts), so no member
// can publish records for another host, and a peer that claims a pinned hostname later is
// refused loudly. A host that lost its data_dir (new peer id) must be unpinned by hand:
// delete its entry from host-pins.json on every node (docs/security-gossip.md).
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { Logger } from '../lib/logger.ts'

export const PINS_FILE = 'host-pins.json'
/** Hostnames pinned at most: far above any cluster this is built for; a flood of made-up hostnames stops here. */
export const MAX_PINS = 10_000
/** Conflict log lines per minute at most: a peer retrying every second must not flood the log. */
const CONFLICT_LOGS_PER_MINUTE = 5

export type PinResult = 'pinned' | 'new' | 'conflict' | 'full'

export interface PinsInit {
  dataDir: string
  /** This host and its peer id: pinned from the start, never re-pinnable. */
  hostname: string
  peerId: string
}

export class HostPins {
  readonly #logger: Logger
  readonly #init: PinsInit
  readonly #file: string
  readonly #pins = new Map<string, string>()
  readonly #byPeer = new Map<string, string>()
  readonly #onConflict: (hostname: string, pinned: string, claimed: string) => void
  #saving: Promise<void> = Promise.resolve()
  #dirty = false
  #log = { minute: 0, count: 0 }

  constructor (components: { logger: Logger, onConflict?: (hostname: string, pinned: string, claimed: string) => void }, init: PinsInit) {
    this.#logger = components.logger
    this.#onConflict = components.onConflict ?? (() => {})
    this.#init = init
    this.#file = path.join(init.dataDir, PINS_FILE)
  }

  /** Reads the pins kept by an earlier run; a missing or unreadable file starts empty (with a warning when unreadable). */
  async load (): Promise<void> {
    this.#pins.clear()
    this.#byPeer.clear()
    try {
      const doc = JSON.parse(await readFile(this.#file, 'utf8')) as { pins?: Record<string, unknown> }
      for (const [host, peer] of Object.entries(doc.pins ?? {})) {
        if (typeof peer === 'string' && this.#pins.size < MAX_PINS) this.#set(host, peer)
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.#logger.warn(`${this.#file} is not a readable pin file (${(err as Error).message}): starting with no pinned hosts`)
    }
    const own = this.#pins.get(this.#init.hostname)
    if (own !== undefined && own !== this.#init.peerId) {
      this.#logger.warn(`${this.#file} pinned this host's name ${this.#init.hostname} to ${own}, but this node's key is ${this.#init.peerId} (peer.key replaced?): other nodes that pinned the old id will refuse this host until its entry is removed from their ${PINS_FILE}`)
    }
    this.#set(this.#init.hostname, this.#init.peerId)
  }

  #set (hostname: string, peer: string): void {
    const old = this.#pins.get(hostname)
    if (old !== undefined && this.#byPeer.get(old) === hostname) this.#byPeer.delete(old)
    this.#pins.set(hostname, peer)
    this.#byPeer.set(peer, hostname)
  }

  /** The peer id pinned to hostname, if any. */
  peerOf (hostname: string): string | undefined {
    return this.#pins.get(hostname)
  }

  /** The hostname pinned to peer, if any. */
  hostnameOf (peer: string): string | undefined {
    return this.#byPeer.get(peer)
  }

  get size (): number { return this.#pins.size }

  /**
   * A peer claims hostname: 'pinned' (already its), 'new' (pinned now, saved), 'conflict'
   * (pinned to another peer: logged rate-limited, onConflict called) or 'full' (MAX_PINS reached).
   */
  claim (hostname: string, peer: string): PinResult {
    const pinned = this.#pins.get(hostname)
    if (pinned === peer) return 'pinned'
    if (pinned !== undefined) {
      this.#onConflict(hostname, pinned, peer)
      const minute = Math.floor(Date.now() / 60_000)
      if (this.#log.minute !== minute) this.#log = { minute, count: 0 }
      if (++this.#log.count <= CONFLICT_LOGS_PER_MINUTE) {
        this.#logger.warn(`peer ${peer} claims hostname ${hostname}, which is pinned to peer ${pinned}: refused (another machine using this name, or ${hostname} lost its data_dir; if so, remove ${hostname} from ${this.#file} on every node)`)
      }
      return 'conflict'
    }
    if (this.#pins.size >= MAX_PINS) return 'full'
    this.#set(hostname, peer)
    this.#save()
    return 'new'
  }

  /** Resolves when every change so far is on disk (or failed, with a warning). */
  async flush (): Promise<void> {
    await this.#saving
  }

  #save (): void {
    if (this.#dirty) return
    this.#dirty = true
    this.#saving = this.#saving.then(async () => {
      this.#dirty = false
      const doc = { version: 1, pins: Object.fromEntries([...this.#pins].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)) }
      const tmp = `${this.#file}.${process.pid}.tmp`
      try {
        await mkdir(this.#init.dataDir, { recursive: true, mode: 0o700 })
        await writeFile(tmp, JSON.stringify(doc, null, 1) + '\n', { mode: 0o600 })
        await rename(tmp, this.#file)
      } catch (err) {
        this.#logger.warn(`cannot keep host pins in ${this.#file} (${(err as Error).message}): they are lost on restart`)
      }
    })
  }
}
