// Hostname <-> peer id pins: the first peer id seen claiming a hostname (over a direct,
// authenticated libp2p connection: identify's agent version) owns that hostname from then
// on, on this node, across restarts (the pins live in data_dir/host-pins.json). Records for
// a hostname are accepted only under its pinned peer's signature (admission.ts), so no member
// can publish records for another host, and a peer that claims a pinned hostname later is
// refused loudly. A host that lost its data_dir (new peer id) must be unpinned by hand:
// delete its entry from host-pins.json on every node (docs/security-gossip.md). A running node
// takes such an edit as it is: before it refuses a claim, and before it writes the file, it
// looks whether the file changed since it last read or wrote it, and if so adopts it (keeping
// only what it pinned itself since). Before, the edit did nothing until a restart, and the
// node's next write put the removed pin back.
// A renamed host (same data_dir, so the same key) moves its pin: when its peer id proves a new
// hostname and no connected member holds the old one, the old name is released, for another
// machine to take (before, it stayed pinned for good, and every node needed an edit). Only the
// key a name is pinned to can release it, so no member frees another host's name; a key that
// holds two names at once (a copied data_dir) keeps both, so its pins never flap.
import { statSync } from 'node:fs'
import { mkdir, rename, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { ConfigError } from '../lib/errors.ts'
import { fileStamp } from '../lib/file-stamp.ts'
import type { Logger } from '../lib/logger.ts'
import { readDataFile, readDataFileSync } from '../lib/data-dir.ts'

export const PINS_FILE = 'host-pins.json'
/**
 * Hostnames pinned at most: far above any cluster this is built for; a flood of made-up hostnames
 * stops here. A fleet that replaces machines under new names reaches it in time (100 a day: in
 * 100 days), so when it is full the pin least recently claimed by a host not connected now gives
 * way (before, every new host was refused from then on, silently and for good).
 */
export const MAX_PINS = 10_000
/** The pins file is at most this large: MAX_PINS pins of the longest hostnames take about 3 MB. */
const MAX_PINS_FILE_BYTES = 8 * 1024 * 1024
const PINS_FILE_FIX = 'remove it (this node then pins each host again as it connects)'
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
  /**
   * hostname -> peer id, least recently claimed first. In memory only: the file is written sorted
   * by name, so after a restart the hosts not seen since come first, in name order.
   */
  readonly #pins = new Map<string, string>()
  readonly #byPeer = new Map<string, string>()
  readonly #onConflict: (hostname: string, pinned: string, claimed: string) => void
  #saving: Promise<void> = Promise.resolve()
  #dirty = false
  #log = { minute: 0, count: 0 }
  /** The file as this node last read or wrote it (fileStamp; '' for no file): another stamp is an edit. */
  #stamp = ''
  /** Pins this node made since it last read or wrote the file: kept when it adopts an edit. */
  readonly #added = new Map<string, string>()
  /** Hostnames this node released (renamed hosts) since it last read or wrote the file: not taken back from an edit. */
  readonly #released = new Map<string, string>()

  constructor (components: { logger: Logger, onConflict?: (hostname: string, pinned: string, claimed: string) => void }, init: PinsInit) {
    this.#logger = components.logger
    this.#onConflict = components.onConflict ?? (() => {})
    this.#init = init
    this.#file = path.join(init.dataDir, PINS_FILE)
  }

  /** The pins' file in data_dir. */
  get file (): string { return this.#file }

  /** Reads the pins kept by an earlier run; a missing or unreadable file starts empty (with a warning when unreadable). */
  async load (): Promise<void> {
    this.#pins.clear()
    this.#byPeer.clear()
    try {
      // the stamp of the file read (its fstat), not of a stat before: an edit landing in between is not taken as read
      const { bytes, stats } = await readDataFile(this.#file, MAX_PINS_FILE_BYTES, PINS_FILE_FIX)
      this.#stamp = fileStamp(stats)
      this.#fill(bytes.toString('utf8'))
    } catch (err) {
      if (err instanceof ConfigError) throw err // a FIFO, a directory, a huge file: nothing to start from, and nowhere to save
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.#logger.warn(`${this.#file} is not a readable pin file (${(err as Error).message}): starting with no pinned hosts`)
        this.#stamp = this.#stampNow() // one that cannot be opened (EACCES) is warned about here, not again later as an edit
      }
    }
    const own = this.#pins.get(this.#init.hostname)
    if (own !== undefined && own !== this.#init.peerId) {
      this.#logger.warn(`${this.#file} pinned this host's name ${this.#init.hostname} to ${own}, but this node's key is ${this.#init.peerId} (peer.key replaced?): other nodes that pinned the old id will refuse this host until its entry is removed from their ${PINS_FILE}`)
    }
    // this host renamed (same data_dir, same key): its old name is its own to give up
    const renamed = [...this.#pins].filter(([host, peer]) => peer === this.#init.peerId && host !== this.#init.hostname).map(([host]) => host)
    for (const host of renamed) this.#release(host, this.#init.peerId)
    if (renamed.length > 0) this.#logger.info(`this host was ${renamed.join(', ')} and is ${this.#init.hostname} now (same node key): released the pin of ${renamed.join(', ')}`)
    this.#set(this.#init.hostname, this.#init.peerId)
    if (renamed.length > 0) this.#save()
  }

  #fill (text: string): void {
    const doc = JSON.parse(text) as { pins?: Record<string, unknown> }
    for (const [host, peer] of Object.entries(doc.pins ?? {})) {
      if (typeof peer === 'string' && this.#pins.size < MAX_PINS) this.#set(host, peer)
    }
  }

  /** The file's stamp now ('' when there is none). */
  #stampNow (): string {
    try {
      return fileStamp(statSync(this.#file))
    } catch {
      return ''
    }
  }

  /**
   * Adopts the file if it was edited since this node last read or wrote it: its pins, plus this
   * host's own and those this node made since. An unreadable edit is ignored (warned). Small
   * and synchronous: it runs only before a refusal and before a write.
   */
  #adoptEdit (): void {
    const now = this.#stampNow()
    if (now === this.#stamp) return
    let text = '{}'
    let stamp = now
    try {
      if (now !== '') {
        const { bytes, stats } = readDataFileSync(this.#file, MAX_PINS_FILE_BYTES, PINS_FILE_FIX)
        text = bytes.toString('utf8')
        stamp = fileStamp(stats) // the file read, should another edit have replaced it since the stat above
      }
      JSON.parse(text)
    } catch (err) {
      this.#logger.warn(`${this.#file} was edited but cannot be read (${(err as Error).message}): keeping the pins held before`)
      this.#stamp = now
      return
    }
    const before = new Map(this.#pins)
    this.#pins.clear()
    this.#byPeer.clear()
    this.#fill(text)
    for (const [host, peer] of this.#released) if (this.#pins.get(host) === peer) this.#unset(host)
    for (const [host, peer] of this.#added) if (!this.#pins.has(host)) this.#set(host, peer)
    this.#set(this.#init.hostname, this.#init.peerId)
    // least recently claimed first, as before the edit; pins only the file had come first
    const order = [...this.#pins].filter(([h]) => !before.has(h)).concat([...before.keys()].filter(h => this.#pins.has(h)).map(h => [h, this.#pins.get(h) as string]))
    this.#pins.clear()
    for (const [h, p] of order) this.#pins.set(h, p)
    this.#stamp = stamp
    const removed = [...before.keys()].filter(h => this.#pins.get(h) !== before.get(h))
    this.#logger.info(`${this.#file} was edited: ${this.#pins.size} host${this.#pins.size === 1 ? '' : 's'} pinned now${removed.length > 0 ? `, no longer (or differently): ${removed.slice(0, 10).join(', ')}${removed.length > 10 ? ` and ${removed.length - 10} more` : ''}` : ''}`)
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
   * (pinned to another peer: logged rate-limited, onConflict called) or 'full' (MAX_PINS reached
   * and every pin is this host's or held: otherwise the least recently claimed of the others gives way).
   * held(name) tells whether a connected member holds that name: a peer's previous name, pinned
   * to it, is released when it claims a new one and held() says no (a renamed host).
   */
  claim (hostname: string, peer: string, held: (hostname: string) => boolean = () => true): PinResult {
    let pinned = this.#pins.get(hostname)
    if (pinned === peer) return this.#touch(hostname, peer)
    if (pinned !== undefined) {
      // the operator may just have removed it (a host that lost its data_dir)
      this.#adoptEdit()
      pinned = this.#pins.get(hostname)
      if (pinned === peer) return this.#touch(hostname, peer)
    }
    if (pinned !== undefined) {
      this.#onConflict(hostname, pinned, peer)
      if (this.#logAllowed()) {
        this.#logger.warn(`peer ${peer} claims hostname ${hostname}, which is pinned to peer ${pinned}: refused (another machine using this name, or ${hostname} lost its data_dir; if so, remove ${hostname} from ${this.#file} on every node: a running node takes the edit at the host's next try)`)
      }
      return 'conflict'
    }
    const before = this.#byPeer.get(peer)
    if (before !== undefined && before !== hostname && before !== this.#init.hostname && this.#pins.get(before) === peer) {
      if (!held(before)) {
        // a renamed host: only this peer could hold its old name, and nothing does now
        this.#release(before, peer)
        // rate-limited as conflicts: a member that renames itself at each connection must not flood the log
        if (this.#logAllowed()) this.#logger.info(`${before} renamed to ${hostname} (peer ${peer}, proven over its connection): released the pin of ${before}, which another machine may take now`)
      } else if (this.#logAllowed()) {
        // two machines started from one copied data_dir: both pins kept, so neither flaps
        this.#logger.warn(`peer ${peer}, known as ${before}, now claims hostname ${hostname} while ${before} is still connected under the same key: two hosts sharing one node key (a copied data_dir or peer.key: one of them drops out of the cluster; give each host its own data_dir); both names stay pinned to it`)
      }
    }
    if (this.#pins.size >= MAX_PINS && !this.#evictFor(hostname, held)) {
      if (this.#logAllowed()) this.#logger.warn(`${this.#file} holds ${MAX_PINS} pins and every one is this host's or a connected member's: peer ${peer} (${hostname}) refused`)
      return 'full'
    }
    this.#set(hostname, peer)
    this.#added.set(hostname, peer)
    this.#released.delete(hostname)
    this.#save()
    return 'new'
  }

  /** A claim of a pinned name: it becomes the most recently claimed. */
  #touch (hostname: string, peer: string): 'pinned' {
    this.#pins.delete(hostname)
    this.#pins.set(hostname, peer)
    return 'pinned'
  }

  /**
   * Makes room for hostname in a full table: releases the pin least recently claimed whose host
   * is not connected (held) and is not this one. False when there is none.
   */
  #evictFor (hostname: string, held: (hostname: string) => boolean): boolean {
    for (const [host, peer] of this.#pins) {
      if (host === this.#init.hostname || held(host)) continue
      this.#release(host, peer)
      if (this.#logAllowed()) this.#logger.info(`${this.#file} holds ${MAX_PINS} pins: released the pin of ${host} (peer ${peer}, not connected, the least recently seen) to pin ${hostname}`)
      return true
    }
    return false
  }

  /** Unpins hostname (its peer took another name); kept so through an edit adopted before the next write. */
  #release (hostname: string, peer: string): void {
    this.#unset(hostname)
    this.#added.delete(hostname)
    this.#released.set(hostname, peer)
  }

  #unset (hostname: string): void {
    const peer = this.#pins.get(hostname)
    this.#pins.delete(hostname)
    if (peer !== undefined && this.#byPeer.get(peer) === hostname) this.#byPeer.delete(peer)
  }

  /** True for the first CONFLICT_LOGS_PER_MINUTE warnings of a minute. */
  #logAllowed (): boolean {
    const minute = Math.floor(Date.now() / 60_000)
    if (this.#log.minute !== minute) this.#log = { minute, count: 0 }
    return ++this.#log.count <= CONFLICT_LOGS_PER_MINUTE
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
      this.#adoptEdit() // an edit made since the last write is not overwritten with what it removed
      const doc = { version: 1, pins: Object.fromEntries([...this.#pins].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)) }
      const tmp = `${this.#file}.${process.pid}.tmp`
      try {
        await mkdir(this.#init.dataDir, { recursive: true, mode: 0o700 })
        await writeFile(tmp, JSON.stringify(doc, null, 1) + '\n', { mode: 0o600 })
        // the stamp of what this node wrote (a rename keeps inode, size and mtime); stat()ed after the
        // rename, an edit landing in between was stamped as this node's own write: never adopted, written over
        const written = await stat(tmp)
        await rename(tmp, this.#file)
        this.#stamp = fileStamp(written)
        this.#added.clear()
        this.#released.clear()
      } catch (err) {
        this.#logger.warn(`cannot keep host pins in ${this.#file} (${(err as Error).message}): they are lost on restart`)
      }
    })
  }
}
