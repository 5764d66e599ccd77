// Who is in the cluster: peers that identified as sidecars of this cluster (identify lists
// our state protocol and an agent version naming their hostname). Keeps the mesh well
// connected: seeds are retried with backoff for as long as the daemon runs, and members
// learned through anti-entropy are dialled, so the cluster never hangs off one seed.
// A member whose connections all close and that is not back within the grace period, or
// that answers no probe (prober.ts) for 3 s and then not within the grace period either,
// has departed: 'depart' fires, and the caller tombstones its records. A member that another
// reports departed, or one of whose connections closed while another stays open (a QUIC
// connection outlives a killed process), is probed at once and departs unless it answers
// within the grace period. A member reached over QUIC alone is given a TCP connection as well,
// whose close tells at once that its process died.
import { EventEmitter } from 'node:events'
import type { Connection, IdentifyResult, PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { Logger } from '../lib/logger.ts'
import { LogThrottle } from '../lib/log-throttle.ts'
import type { Startable } from '../lib/startable.ts'
import { Ticker } from '../lib/ticker.ts'
import { hostnameOfAgent, type GossipNode } from './node.ts'
import type { OffsetSample } from './clock-offset.ts'
import { LearnedDials } from './learned-dials.ts'
import { Prober } from './prober.ts'
import { SeedDialer } from './seeds.ts'
import { otherStateVersion } from './versions.ts'
import type { MemberInfo } from './wire.ts'

export interface Member {
  readonly peerId: string
  readonly hostname: string
  /** When it became a member (ms). */
  readonly since: number
  /** IPs it reported for itself (identify listen addresses) and connected from. */
  readonly ips: ReadonlySet<string>
}

export interface MembershipInit {
  hostname: string
  /** "host" or "host:port" (IPv6 as "[addr]:port"); the port defaults to bindPort. */
  seeds: readonly string[]
  bindPort: number
  /** ip:port strings that are this node: a seed naming one of them is skipped. */
  self: ReadonlySet<string>
  /** Peers without this protocol are not of our cluster. */
  stateProtocol: string
  /** The failure detector's protocol. */
  probeProtocol: string
  graceMs: number
  /** Connections kept to other members at most; below it every learned member is dialled. */
  maxPeers: number
  /** Decides whether peerId may be hostname (the pins); a refused peer is hung up on. Default: any. */
  claim?: (hostname: string, peerId: string) => boolean
  /** Tells a peer refused by claim why, before the hang-up (refusal.ts sendNotice; bounded in time). */
  tellRefused?: (peerId: PeerId, hostname: string) => Promise<void>
  /** When a peer may be dialled again (0: now): a peer that refuses this host is retried slowly (refusal.ts). */
  retryAt?: (peerId: string) => number
  /** A sidecar of this cluster that speaks another version of the state protocol (versions.ts), hung up on; it logs. Default: an info line as for any foreign peer. */
  otherVersion?: (peerId: string, hostname: string, remoteAddr: string, version: string) => void
}

/** Each member is probed this often. */
const PROBE_INTERVAL_MS = 1000
/** A member that answered no probe for this long is suspected, and departs unless it answers within the grace period: a frozen host is tombstoned within about 4-5 s. */
const SUSPECT_AFTER_MS = 3000
/** A member reported departed, or one of whose connections closed, is probed out of turn at most this often. */
const REPORT_DAMPING_MS = 5000
/** A suspicion's timer this much late means this process was starved: the member gets that time again. */
const STARVED_MS = 100
/** Peers remembered as not ours (another cluster, program or version, our hostname, a refused pin), so they are not dialled again at once; one forgets it by identifying as a member. */
const MAX_FOREIGN = 1024
/**
 * A peer hung up on that another member's member list names (that member took it: upgraded in
 * place, its hostname or our pin fixed since) is dialled again this often at most; before, it was
 * never dialled again, and stayed out unless it dialled us. As slow as a refused host's retries.
 */
const FOREIGN_REDIAL_MS = 30_000
const SAME_NAME_LOG_MS = 10 * 60_000
/**
 * A member lost again within this long of its last prompt redial gets no other: it hangs up on
 * us right after the handshake (it refuses this host, e.g. a hostname pinned to another peer
 * id), and redialling at once would loop ten times a second. It departs after the grace unless
 * it dials us; seeds are retried with backoff, other members through anti-entropy's member lists.
 * Short, so a connection that merely flaps under load is still redialled at once.
 */
const REDIAL_DAMPING_MS = 2000
/**
 * Dials of peers named in member lists that did not connect, per listing member and in total
 * (learned-dials.ts); one that connects costs nothing. A member's list names its members
 * (a cluster of up to maxPeers joins through one seed at once), so the burst is maxPeers; a
 * member down or unreachable from here costs one token per exchange that lists it. Before, a
 * member listing 1,000 made-up peers at 16 ports of a victim made each node open 4,800-9,800
 * connections a minute to it (push_pull_interval 2 s).
 */
const LEARNED_DIALS = { perSender: { burst: 32, refillMs: 10_000 }, total: { burst: 64, refillMs: 5000 }, maxSenders: 256 }
/** Addresses dialled per peer learned from a member list: a member announces two (TCP and QUIC on its advertise IP). */
const MAX_LEARNED_ADDRS = 4
/** A connection not identified this long after it opened is identified again (libp2p tries once, for 5 s). */
const IDENTIFY_RETRY_MS = 6000
/** One such attempt: longer than libp2p's own, for a host that is busy. */
const IDENTIFY_TIMEOUT_MS = 15_000
/** How often connections are reconciled with the member list and seeds are retried: a new or lost peer is acted on within half a second. */
const RECONCILE_INTERVAL_MS = 500
/** A member connected over QUIC alone this long gets a TCP connection dialled as well (#tcpBeside). */
const TCP_BESIDE_AFTER_MS = 1000
/** The wait before another TCP dial to it after one failed doubles up to this. */
const TCP_BESIDE_MAX_WAIT_MS = 60_000
/** One such dial at most (libp2p's own dial timeout of the node is 5 s). */
const TCP_BESIDE_TIMEOUT_MS = 5000

/**
 * 'join': a peer became a member, or (returning = true) a member whose connections had all
 * closed is back within the grace period; either way it may have missed our updates.
 * 'depart': a member left and did not come back within the grace period.
 */
export class Membership extends EventEmitter<{ join: [Member, { returning: boolean }], depart: [Member] }> implements Startable {
  readonly #node: GossipNode
  readonly #logger: Logger
  readonly #init: MembershipInit
  readonly #members = new Map<string, Member>()
  readonly #leaving = new Map<string, NodeJS.Timeout>()
  /** Members connected but silent: departed when the grace period ends without an answer. */
  readonly #suspected = new Map<string, NodeJS.Timeout>()
  /** Peers hung up on (#flagForeign): when one may be dialled again from a member list that names it. */
  readonly #foreign = new Map<string, number>()
  readonly #dialing = new Set<string>()
  readonly #learnedDials = new LearnedDials(LEARNED_DIALS)
  /** The WARN naming a member whose listed peers spent its dials: once a minute at most. */
  readonly #budgetSpentLog = new LogThrottle(60_000)
  /**
   * The WARN about a peer that uses this host's own name: at the first hang-up, then every 10
   * minutes at most, counting the others (such a peer is redialled every 30 s, and it dials as
   * often as it likes, under as many peer ids as it likes); the rest at debug.
   */
  readonly #sameNameLog = new LogThrottle(SAME_NAME_LOG_MS)
  /** Peers identified again by us (identifyAgain): when the last attempt ended, Infinity while one runs. */
  readonly #identifyTried = new Map<string, number>()
  /** When each member was last redialled at once after losing it (REDIAL_DAMPING_MS). */
  readonly #redialedAt = new Map<string, number>()
  /** When each member was last probed out of turn: reported departed, or one of its connections closed (REPORT_DAMPING_MS). */
  readonly #reportedAt = new Map<string, number>()
  /** Members connected over QUIC alone: when a TCP dial to each is due (Infinity while one is in flight) and the wait after a failure. */
  readonly #tcpBesideDue = new Map<string, { at: number, waitMs: number }>()
  readonly #seeds: SeedDialer
  #ticker: Ticker | undefined
  readonly #prober: Prober
  #abort = new AbortController()
  readonly #onIdentify = (e: CustomEvent<IdentifyResult>): void => {
    const r = e.detail
    this.#identified(r.peerId, r.protocols, r.agentVersion, r.connection.remoteAddr.toString(), r.listenAddrs.map(String))
  }
  readonly #onDisconnect = (e: CustomEvent<PeerId>): void => { this.#disconnected(e.detail.toString()) }
  readonly #onConnectionClose = (e: CustomEvent<Connection>): void => { this.#connectionClosed(e.detail) }

  constructor (components: { node: GossipNode, logger: Logger, onClockSample?: (peerId: string, sample: OffsetSample) => void }, init: MembershipInit) {
    super()
    this.#node = components.node
    this.#logger = components.logger
    this.#init = init
    this.#prober = new Prober({
      node: this.#node,
      logger: this.#logger,
      members: () => this.connected().map(m => m.peerId),
      onSilent: (id, silentMs) => { this.#silent(id, silentMs) },
      onAnswer: (id) => { this.#answered(id) },
      onClockSample: (id, sample) => { if (this.#members.has(id)) components.onClockSample?.(id, sample) },
      mayDial: (id) => this.#retryAt(id) === 0,
    }, { protocol: init.probeProtocol, intervalMs: PROBE_INTERVAL_MS, suspectAfterMs: SUSPECT_AFTER_MS })
    this.#seeds = new SeedDialer({ node: this.#node, logger: this.#logger, isForeign: (id) => this.#foreign.has(id), retryAt: (id) => this.#retryAt(id) }, init)
  }

  async start (): Promise<void> {
    if (this.#ticker !== undefined) return
    this.#abort = new AbortController()
    this.#node.addEventListener('peer:identify', this.#onIdentify)
    this.#node.addEventListener('peer:disconnect', this.#onDisconnect)
    this.#node.addEventListener('connection:close', this.#onConnectionClose)
    this.#ticker = new Ticker(async () => {
      this.#seeds.tick(this.#abort.signal)
      await this.#reconcile()
    }, { name: 'membership', intervalMs: RECONCILE_INTERVAL_MS, firstDelayMs: 0, logger: this.#logger })
    this.#ticker.start()
    await this.#prober.start()
  }

  async stop (): Promise<void> {
    this.#abort.abort()
    await this.#prober.stop()
    this.#node.removeEventListener('peer:identify', this.#onIdentify)
    this.#node.removeEventListener('peer:disconnect', this.#onDisconnect)
    this.#node.removeEventListener('connection:close', this.#onConnectionClose)
    await this.#ticker?.stop()
    this.#ticker = undefined
    for (const t of [...this.#leaving.values(), ...this.#suspected.values()]) clearTimeout(t)
    this.#leaving.clear()
    this.#suspected.clear()
    this.#redialedAt.clear()
    this.#reportedAt.clear()
    this.#identifyTried.clear()
    this.#tcpBesideDue.clear()
  }

  /** Live members (not this node), including any within their departure grace. */
  members (): Member[] {
    return [...this.#members.values()]
  }

  /** Members we hold a connection to right now. */
  connected (): Member[] {
    return [...this.#members.values()].filter(m => !this.#leaving.has(m.peerId))
  }

  /** When the failure detector last heard from a member (Date.now() ms); undefined before its first probe. */
  lastHeard (peerId: string): number | undefined {
    return this.#prober.lastHeard(peerId)
  }

  hostnameOf (peerId: string): string | undefined {
    return this.#members.get(peerId)?.hostname
  }

  /** Members and their addresses, for an anti-entropy header. */
  async memberInfos (): Promise<MemberInfo[]> {
    const out: MemberInfo[] = []
    for (const m of this.#members.values()) {
      try {
        const peer = await this.#node.peerStore.get(peerIdFromString(m.peerId))
        out.push({ id: m.peerId, addrs: peer.addresses.map(a => a.multiaddr.toString()).slice(0, 16) })
      } catch {
        // forgotten by the peer store meanwhile: not worth listing
      }
    }
    return out
  }

  /**
   * Dials members that from (the peer whose anti-entropy hello listed them) told us about and
   * that we are not connected to, while below maxPeers and while from's and the total budget
   * of such dials allow it (learned-dials.ts): a member listing made-up peers at another host's
   * ports gets LEARNED_DIALS.perSender.burst dials, then one per refillMs; at most
   * MAX_LEARNED_ADDRS addresses of each are dialled.
   */
  learn (infos: readonly MemberInfo[], from: string): void {
    const self = this.#node.peerId.toString()
    let room = this.#init.maxPeers - this.#node.getPeers().length - this.#dialing.size
    for (const info of infos) {
      if (room <= 0) return
      const now = Date.now()
      if (info.id === self || this.#members.has(info.id) || (this.#foreign.get(info.id) ?? 0) > now || this.#dialing.has(info.id) || this.#retryAt(info.id) > now) continue
      let peerId: PeerId
      let addrs: Multiaddr[]
      try {
        peerId = peerIdFromString(info.id)
        addrs = learnedAddrs(info)
      } catch {
        continue // a peer's garbage: ignore the entry
      }
      if (addrs.length === 0 || this.#node.getConnections(peerId).length > 0) continue
      if (!this.#learnedDials.take(from, now)) {
        this.#budgetSpent(from, now)
        return
      }
      if (this.#foreign.has(info.id)) this.#foreign.set(info.id, now + FOREIGN_REDIAL_MS)
      room--
      void this.#dialPeer(peerId, addrs, from)
    }
  }

  /** Says, at most once a minute, that a member's lists name peers that do not answer. */
  #budgetSpent (from: string, now: number): void {
    if (this.#budgetSpentLog.note(now) === undefined) return
    this.#logger.warn(`member ${this.#members.get(from)?.hostname ?? 'unknown'} (${from}) lists peers that this node could not reach: dialling more of those it lists only as dials succeed or every ${LEARNED_DIALS.perSender.refillMs / 1000} s (a host down, unreachable from here, or a member naming other hosts' addresses)`)
  }

  /** Dials peerId on these addresses alone (not others the peer store may hold for it); a dial that connects gives from's budget back. */
  async #dialPeer (peerId: PeerId, addrs: Multiaddr[], from: string): Promise<void> {
    const id = peerId.toString()
    this.#dialing.add(id)
    try {
      await this.#node.dial(addrs.map(a => a.encapsulate(`/p2p/${id}`)), { signal: AbortSignal.any([this.#abort.signal, AbortSignal.timeout(10_000)]) })
      this.#learnedDials.give(from, Date.now())
    } catch (err) {
      // libp2p's dialer noted the failure in the peer store, which keeps an entry until something
      // reads it 6 hours on: one per made-up peer a member lists, for as long as the daemon ran.
      // A peer neither connected nor a member is forgotten; a real one is listed again.
      if (!this.#members.has(id) && this.#node.getConnections(peerId).length === 0) await this.#node.peerStore.delete(peerId).catch(() => {})
      this.#logger.debug(`cannot dial member ${id}: ${(err as Error).message}`)
    } finally {
      this.#dialing.delete(id)
    }
  }

  /**
   * Events can be missed (an identify that raced a departure, a disconnect during a freeze):
   * every tick, connected peers that identified as ours become members, and members left
   * without a connection start their grace period.
   */
  async #reconcile (): Promise<void> {
    const peers = this.#node.getPeers()
    for (const peerId of peers) {
      const id = peerId.toString()
      if (this.#members.has(id)) continue
      if (this.#foreign.has(id)) {
        // hung up on once (another cluster, version or name), yet connected again: the key's
        // holder may have been upgraded or reconfigured since. What the peer store holds of it is
        // the old connection's identify, so only this connection's tells; libp2p's own may have
        // failed (a busy host), and it stayed connected and never a member. Identified again,
        // every IDENTIFY_RETRY_MS at most; one that is still not ours is hung up on again.
        this.#identifyAgain(peerId)
        continue
      }
      try {
        const peer = await this.#node.peerStore.get(peerId)
        const agent = peer.metadata.get('AgentVersion')
        if (agent === undefined || peer.protocols.length === 0) { this.#identifyAgain(peerId); continue } // not identified yet
        const conn = this.#node.getConnections(peerId)[0]
        // With the addresses identify stored for it: the connection's source alone (an ephemeral
        // QUIC port on 127.0.0.1, a NAT) is often not the address its records name, which the
        // admission gate would then refuse as "a backend IP is neither its host's own address".
        if (conn !== undefined) this.#identified(peerId, peer.protocols, new TextDecoder().decode(agent), conn.remoteAddr.toString(), peer.addresses.map(a => a.multiaddr.toString()))
      } catch {
        this.#identifyAgain(peerId) // not in the peer store yet: identify has not run, or failed
      }
    }
    if (this.#identifyTried.size > 0) {
      const connected = new Set(peers.map(String))
      for (const id of this.#identifyTried.keys()) if (!connected.has(id) || this.#members.has(id)) this.#identifyTried.delete(id)
    }
    for (const m of this.#members.values()) if (!this.#leaving.has(m.peerId)) this.#disconnected(m.peerId)
    this.#tcpBeside(Date.now())
  }

  /**
   * libp2p dials a member's TCP address first and its QUIC one when that fails; on a loaded
   * start the TCP handshake (noise, in JS) times out where QUIC's (native) succeeds, and the
   * member is then reached over QUIC alone. When such a member's process is killed, UDP brings
   * no word of it: it was found gone by 3 s of silence plus the grace, where a TCP connection
   * closes at once. So a member connected over QUIC alone for TCP_BESIDE_AFTER_MS gets a TCP
   * connection dialled beside it (the QUIC one stays: gossip's streams ride on it), tried again
   * with a doubling wait while it fails; the close of that TCP connection then probes the member
   * at once (#connectionClosed).
   */
  #tcpBeside (now: number): void {
    for (const m of this.#members.values()) {
      const id = m.peerId
      const open = this.#node.getConnections(r(id)).filter(c => c.status === 'open')
      if (open.length === 0 || open.some(c => !isQuic(c.remoteAddr))) continue
      if (this.#leaving.has(id) || this.#suspected.has(id) || this.#retryAt(id) > now || this.#abort.signal.aborted) continue
      const due = this.#tcpBesideDue.get(id)
      if (due === undefined) { this.#tcpBesideDue.set(id, { at: now + TCP_BESIDE_AFTER_MS, waitMs: TCP_BESIDE_AFTER_MS }); continue }
      if (now < due.at) continue
      due.at = Infinity
      void this.#dialTcpBeside(m, open[0].remoteAddr, due)
    }
  }

  /**
   * One TCP dial beside a QUIC connection, to a TCP address the member lists for itself (the
   * one on the address its QUIC connection comes from when it lists one: a member dialling from
   * an ephemeral port on 127.0.0.1 does not). Each attempt, won or lost, doubles the wait
   * before the next: a member whose TCP connections keep closing is dialled at most once a minute.
   */
  async #dialTcpBeside (m: Member, quicAddr: Multiaddr, due: { at: number, waitMs: number }): Promise<void> {
    try {
      const from = quicAddr.getComponents()[0]?.value
      const peer = await this.#node.peerStore.get(r(m.peerId))
      const listed = peer.addresses.map(a => a.multiaddr).filter(a => /^\/ip[46]\/[^/]+\/tcp\/\d+$/.test(a.toString()))
      const addr = listed.find(a => a.getComponents()[0]?.value === from) ?? listed[0]
      if (addr === undefined) throw new Error('it lists no TCP address')
      await this.#node.dial(addr.encapsulate(`/p2p/${m.peerId}`), { force: true, signal: AbortSignal.any([this.#abort.signal, AbortSignal.timeout(TCP_BESIDE_TIMEOUT_MS)]) })
      this.#logger.info(`member ${m.hostname} (${m.peerId}) was reached over QUIC alone: dialled a TCP connection beside it (${addr.toString()}), whose close tells at once if its process dies`)
    } catch (err) {
      this.#logger.debug(`no TCP connection beside the QUIC one to member ${m.hostname} (${m.peerId}): ${(err as Error).message}; tried again in ${Math.min(due.waitMs * 2, TCP_BESIDE_MAX_WAIT_MS)} ms at the earliest`)
    } finally {
      due.waitMs = Math.min(due.waitMs * 2, TCP_BESIDE_MAX_WAIT_MS)
      due.at = Date.now() + due.waitMs
    }
  }

  /**
   * libp2p identifies a connection once, with a 5 s timeout, and never again: on a host busy
   * enough to miss it, that peer stayed connected but never a member, and its records were
   * refused as "not pinned" for as long as the connection lasted (seen with 20 daemons starting
   * on 2 cores). A connection still unidentified after IDENTIFY_RETRY_MS is identified again, one
   * attempt per peer at a time, at most every IDENTIFY_RETRY_MS.
   */
  #identifyAgain (peerId: PeerId): void {
    const id = peerId.toString()
    const conn = this.#node.getConnections(peerId)[0]
    if (conn === undefined) return
    const now = Date.now()
    const last = this.#identifyTried.get(id) ?? conn.timeline.open
    if (now - last < IDENTIFY_RETRY_MS) return
    this.#identifyTried.set(id, Infinity) // in flight
    this.#node.services.identify.identify(conn, { signal: AbortSignal.any([this.#abort.signal, AbortSignal.timeout(IDENTIFY_TIMEOUT_MS)]) })
      .then(() => { this.#logger.debug(`identified ${id} on a second attempt`) }, (err: unknown) => { this.#logger.debug(`identify of ${id} failed again: ${(err as Error).message}`) })
      .finally(() => { if (this.#identifyTried.get(id) === Infinity) this.#identifyTried.set(id, Date.now()) })
  }

  /** The live member (or one within its grace) called hostname, if any. */
  memberByHostname (hostname: string): Member | undefined {
    for (const m of this.#members.values()) if (m.hostname === hostname) return m
    return undefined
  }

  /** Whether a member called hostname is connected now (not within its departure grace). */
  connectedAs (hostname: string): boolean {
    const m = this.memberByHostname(hostname)
    return m !== undefined && !this.#leaving.has(m.peerId)
  }

  #identified (peerId: PeerId, protocols: readonly string[], agentVersion: string | undefined, remoteAddr: string, listenAddrs: readonly string[] = []): void {
    const id = peerId.toString()
    const hostname = hostnameOfAgent(agentVersion)
    if (!protocols.includes(this.#init.stateProtocol) || hostname === undefined) {
      // a sidecar of this cluster in another version (a rolling upgrade): said each time it is seen, for /health
      const theirs = hostname === undefined ? undefined : otherStateVersion(protocols, this.#init.stateProtocol)
      if (theirs !== undefined && hostname !== undefined) this.#init.otherVersion?.(id, hostname, remoteAddr, theirs)
      if (!this.#foreign.has(id)) {
        if (theirs === undefined || this.#init.otherVersion === undefined) this.#logger.info(`peer ${id} (${remoteAddr}, ${agentVersion ?? 'no agent'}) ${foreignWhy(protocols, this.#init.stateProtocol)}: hanging up`)
      }
      this.#flagForeign(id)
      void this.#node.hangUp(peerId).catch(() => {})
      return
    }
    if (hostname === this.#init.hostname) {
      const times = this.#sameNameLog.note(Date.now())
      const line = `peer ${id} at ${remoteAddr} also calls itself ${hostname}: every host needs its own hostname; hanging up`
      if (times !== undefined) this.#logger.warn(times > 1 ? `${line} (${times} hang-ups for this since the last such WARN)` : line)
      else this.#logger.debug(line)
      this.#flagForeign(id)
      void this.#node.hangUp(peerId).catch(() => {})
      return
    }
    if (this.#init.claim !== undefined && !this.#init.claim(hostname, id)) {
      this.#flagForeign(id)
      void (this.#init.tellRefused?.(peerId, hostname) ?? Promise.resolve()).finally(() => this.#node.hangUp(peerId)).catch(() => {})
      return
    }
    // flagged when it spoke another version, used our hostname or was refused a pin: the key's
    // holder (noise authenticated it) now identifies as a member, and is dialled as one again
    this.#foreign.delete(id)
    const leaving = this.#leaving.get(id)
    const known = this.#members.get(id)
    // back under another name within the grace (a renamed host restarted quickly): its old name departs
    const renamed = leaving !== undefined && known !== undefined && known.hostname !== hostname ? known : undefined
    if (leaving !== undefined || known === undefined) this.#prober.reset(id)
    if (leaving !== undefined) {
      clearTimeout(leaving)
      this.#leaving.delete(id)
      // it just completed a handshake and identify: a suspicion from before (a probe out of turn,
      // a silence) would otherwise depart it, as the prober's reset forgets that it was waited for
      clearTimeout(this.#suspected.get(id))
      this.#suspected.delete(id)
      if (renamed === undefined) this.#logger.info(`member ${hostname} (${id}) is back within the grace period`)
      if (known !== undefined && renamed === undefined) this.emit('join', known, { returning: true })
    }
    if (known?.hostname === hostname) {
      // an identify after the reconcile found it: add the addresses it reports for itself
      for (const ip of ipsOf([remoteAddr, ...listenAddrs])) if (known.ips.size < MAX_MEMBER_IPS) (known.ips as Set<string>).add(ip)
      return
    }
    const member: Member = { peerId: id, hostname, since: Date.now(), ips: ipsOf([remoteAddr, ...listenAddrs]) }
    this.#members.set(id, member)
    this.#logger.info(`member ${hostname} joined (${id} at ${remoteAddr})`)
    if (renamed !== undefined && this.memberByHostname(renamed.hostname) === undefined) {
      this.#logger.info(`member ${renamed.hostname} (${id}) departed: back as ${hostname}`)
      this.emit('depart', renamed)
    }
    this.emit('join', member, { returning: false })
  }

  /**
   * A peer hung up on: not counted as a seed that answers, nor dialled from a member list for
   * FOREIGN_REDIAL_MS, until it identifies as a member (only its key's holder can: noise
   * authenticated the connection).
   */
  #flagForeign (id: string): void {
    if (!this.#foreign.has(id) && this.#foreign.size >= MAX_FOREIGN) this.#foreign.clear()
    this.#foreign.set(id, Date.now() + FOREIGN_REDIAL_MS)
  }

  #disconnected (id: string): void {
    const member = this.#members.get(id)
    if (member === undefined || this.#leaving.has(id) || this.#abort.signal.aborted) return
    if (this.#node.getConnections(r(id)).length > 0) return
    this.#leaving.set(id, setTimeout(() => { this.#depart(member) }, this.#init.graceMs))
    const now = Date.now()
    const last = this.#redialedAt.get(id)
    if (this.#retryAt(id) > now) {
      this.#logger.info(`lost every connection to member ${member.hostname} (${id}), which refuses this host: departed unless back within ${this.#init.graceMs} ms, retried in ${Math.ceil((this.#retryAt(id) - now) / 1000)} s`)
      return
    }
    if (last !== undefined && now - last < REDIAL_DAMPING_MS) {
      this.#logger.warn(`member ${member.hostname} (${id}) hung up again ${now - last} ms after we reconnected: not redialling at once (its log says why, e.g. this hostname pinned to another peer id there); departed unless back within ${this.#init.graceMs} ms`)
      return
    }
    this.#logger.info(`lost every connection to member ${member.hostname} (${id}): departed unless back within ${this.#init.graceMs} ms`)
    // One prompt redial: a dropped connection to a live peer comes back well within the grace.
    this.#redialedAt.set(id, now)
    void this.#node.dial(r(id), { signal: AbortSignal.any([this.#abort.signal, AbortSignal.timeout(this.#init.graceMs)]) }).catch(() => {})
  }

  #retryAt (id: string): number {
    return this.#init.retryAt?.(id) ?? 0
  }

  /**
   * Another member reports (by a signed tombstone, admission.ts) that a member we still hold a
   * connection to has departed. A connection can outlive its peer's process: QUIC over UDP
   * gets no word when the process is killed, nor does any connection when the host loses power,
   * and the probes alone would find it after SUSPECT_AFTER_MS of silence. It is probed at once,
   * out of turn, and departs unless it answers within the grace period. A report never departs
   * a member that answers: a false one (a hostile member's) costs one probe, at most one per
   * member per REPORT_DAMPING_MS.
   */
  departureReported (hostname: string, by: string): void {
    const member = this.memberByHostname(hostname)
    if (member !== undefined) this.#probeAtOnce(member, `${by} reports that member ${member.hostname} (${member.peerId}) departed: probed at once, departed here too unless it answers within ${this.#init.graceMs} ms`)
  }

  /**
   * One of a member's connections closed while another stays open: a killed process closes its
   * TCP connections at once, while a QUIC one to the same member lingers. Probed at once, as on
   * a report; the last connection's close starts the grace period instead (#disconnected).
   */
  #connectionClosed (conn: Connection): void {
    const id = conn.remotePeer.toString()
    const member = this.#members.get(id)
    if (member === undefined || !this.#node.getConnections(conn.remotePeer).some(c => c.id !== conn.id && c.status === 'open')) return
    this.#probeAtOnce(member, `a connection to member ${member.hostname} (${id}) closed while another stays open: probed at once, departed unless it answers within ${this.#init.graceMs} ms`)
  }

  /** Probes a connected member out of turn and suspects it until it answers (at most once per member per REPORT_DAMPING_MS). */
  #probeAtOnce (member: Member, why: string): void {
    const id = member.peerId
    if (this.#leaving.has(id) || this.#suspected.has(id) || this.#abort.signal.aborted) return
    const now = Date.now()
    if (now - (this.#reportedAt.get(id) ?? -Infinity) < REPORT_DAMPING_MS) return
    this.#reportedAt.set(id, now)
    if (this.#prober.probeNow(id)) this.#suspect(member, why)
  }

  #silent (id: string, silentMs: number): void {
    const member = this.#members.get(id)
    if (member === undefined || this.#leaving.has(id) || this.#suspected.has(id) || this.#abort.signal.aborted) return
    this.#suspect(member, `member ${member.hostname} (${id}) answered no ping for ${silentMs} ms: departed unless it answers within ${this.#init.graceMs} ms`)
  }

  #suspect (member: Member, why: string): void {
    const id = member.peerId
    this.#logger.info(why)
    const arm = (ms: number): void => {
      const due = Date.now() + ms
      this.#suspected.set(id, setTimeout(() => {
        // This process was starved meanwhile (the timer is late): the member's answer may be
        // waiting to be read, so it gets the time this process lost, as the prober forgives it.
        const late = Date.now() - due
        if (late > STARVED_MS) { arm(late); return }
        this.#suspected.delete(id)
        void this.#node.hangUp(r(id)).catch(() => {})
        this.#depart(member, true)
      }, ms))
    }
    arm(this.#init.graceMs)
  }

  #answered (id: string): void {
    const t = this.#suspected.get(id)
    if (t === undefined) return
    clearTimeout(t)
    this.#suspected.delete(id)
    this.#logger.info(`member ${this.#members.get(id)?.hostname ?? id} answers again within the grace period`)
  }

  #depart (member: Member, silent = false): void {
    if (this.#members.get(member.peerId) !== member) return // already departed, or replaced
    clearTimeout(this.#leaving.get(member.peerId))
    this.#leaving.delete(member.peerId)
    if (!silent && this.#node.getConnections(r(member.peerId)).length > 0) return // reconnected, identify pending
    const suspected = this.#suspected.get(member.peerId)
    if (suspected !== undefined) clearTimeout(suspected)
    this.#suspected.delete(member.peerId)
    this.#members.delete(member.peerId)
    this.#redialedAt.delete(member.peerId)
    this.#reportedAt.delete(member.peerId)
    this.#tcpBesideDue.delete(member.peerId)
    if ([...this.#members.values()].some(m => m.hostname === member.hostname)) return // the host is still here under another peer id
    this.#logger.info(`member ${member.hostname} (${member.peerId}) departed`)
    this.emit('depart', member)
  }
}

/** Addresses kept per member: a host has a few; a peer listing thousands must not grow our memory. */
const MAX_MEMBER_IPS = 32

/** The IPs in multiaddr strings (/ip4/A/... or /ip6/A/...), at most MAX_MEMBER_IPS. */
function ipsOf (addrs: readonly string[]): Set<string> {
  const out = new Set<string>()
  for (const a of addrs.slice(0, MAX_MEMBER_IPS)) {
    const m = /^\/ip[46]\/([^/]+)\//.exec(a)
    if (m !== null) out.add(m[1])
  }
  return out
}

/** The addresses of a member list's entry worth dialling: IP with a TCP or QUIC port, at most MAX_LEARNED_ADDRS, without a /p2p/ part naming another peer. Throws on a malformed one. */
function learnedAddrs (info: MemberInfo): Multiaddr[] {
  const out: Multiaddr[] = []
  for (const a of info.addrs) {
    const m = /^(\/ip[46]\/[^/]+\/(?:tcp\/\d+|udp\/\d+\/quic-v1))(?:\/p2p\/(\w+))?$/.exec(multiaddr(a).toString())
    if (m === null || (m[2] !== undefined && m[2] !== info.id)) continue
    out.push(multiaddr(m[1]))
    if (out.length === MAX_LEARNED_ADDRS) break
  }
  return out
}

function isQuic (addr: Multiaddr): boolean {
  return addr.toString().includes('/quic')
}

function r (id: string): PeerId {
  return peerIdFromString(id)
}

/** The name a sidecar state protocol carries (/sidecar/<name>/state/...), if it is one. */
function clusterOf (protocol: string): string | undefined {
  const m = /^\/sidecar\/([^/]+)\/state\//.exec(protocol)
  if (m === null) return undefined
  try {
    return decodeURIComponent(m[1])
  } catch {
    return undefined
  }
}

/** Why a peer is not one of this cluster: another cluster's sidecar (named, with the fix) or not a sidecar at all. */
export function foreignWhy (protocols: readonly string[], ownStateProtocol: string): string {
  const theirs = protocols.map(clusterOf).find(c => c !== undefined)
  const own = clusterOf(ownStateProtocol)
  if (theirs === undefined || own === undefined || theirs === own) return 'is not a sidecar of this cluster'
  return `is a sidecar of cluster ${JSON.stringify(theirs.slice(0, 100))}, not of this one (${JSON.stringify(own)}): give both the same [sidecar] cluster_name (-n) if they belong together`
}
