// The cluster component: runs the libp2p node and wires its parts to the catalog.
//   peers --gossipsub--> validator (wire.ts, admission.ts) --> catalog.merge(record, peer)
//   peers <-anti-entropy-> admission.ts --> catalog (digests, then what differs, both ways; on join and every push_pull_interval)
//   catalog 'change' (this node's records) --> GossipAnnouncer --> gossipsub
//   membership 'depart' --> catalog.tombstoneDeparted(its records), in slices --> (its tombstones are announced)
import { setTimeout as sleep } from 'node:timers/promises'
import os from 'node:os'
import type { Message } from '@libp2p/gossipsub'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Catalog, ClusterMember } from '../catalog/index.ts'
import type { Clock } from '../service/clock.ts'
import { errorMessage } from '../lib/errors.ts'
import type { Logger } from '../lib/logger.ts'
import type { Metrics } from '../lib/metrics.ts'
import type { Startable } from '../lib/startable.ts'
import { nextTurn, Slicer } from '../lib/slicer.ts'
import { Ticker } from '../lib/ticker.ts'
import type { OwnedRecords } from '../local/types.ts'
import { statusString, Time } from '../service/index.ts'
import { AntiEntropy } from './anti-entropy.ts'
import { ClockOffsets } from './clock-offset.ts'
import { ClockCorrector } from './clock-corrector.ts'
import { GossipAnnouncer } from './announcer.ts'
import { Membership, type Member } from './membership.ts'
import { Refuter } from './refuter.ts'
import { StreamMender } from './stream-mender.ts'
import { parseSeed } from './seeds.ts'
import { gossipMetrics, type GossipMetrics } from './metrics.ts'
import { createGossipNode, listenError, loadPeerKey, NotConnectedError, probeProtocolOf, STATE_PROTOCOL_VERSION, stateProtocolOf, topicOf, type GossipNode } from './node.ts'
import { decodeSealedMessage, WireError } from './wire.ts'
import { Admission, type AdmitResult } from './admission.ts'
import { claimDataDir, inDataDir } from '../lib/data-dir.ts'
import { HostPins } from './pins.ts'
import { Refusals, refusalProtocolOf, RETRY_MAX_MS, sendNotice } from './refusal.ts'
import { ProofVerifier, RecordSigner } from './proof.ts'
import { VerifyWorker } from './verify-worker.ts'
import { OtherVersions } from './versions.ts'

export interface GossipInit {
  hostname: string
  clusterName: string
  bindIp: string
  bindPort: number
  advertiseIp: string
  seeds: readonly string[]
  clusterKey: string
  dataDir: string
  pushPullIntervalMs: number
  /** [sidecar] alive_lifespan: each local record is heartbeated well inside it. Default ALIVE_LIFESPAN_FALLBACK_MS. */
  aliveLifespanMs?: number
  departureGraceMs: number
  quic: boolean
  version: string
  /** Records accepted per remote host at most ([sidecar] max_records_per_host). */
  maxRecordsPerHost: number
  /** Records held in total at most ([sidecar] max_records). */
  maxRecords: number
  /** CIDRs a remote record's backend IPs may be in besides its host's own address ([sidecar] backend_cidrs). */
  backendCidrs: readonly string[]
}

export interface GossipComponents {
  catalog: Catalog
  clock: Clock
  logger: Logger
  metrics: Metrics
  /** This host's records (src/local/, their only writer). */
  local: OwnedRecords
  /** Moves this host's clock by the correction measured against the cluster (CorrectedClock.correct); absent: never corrected. */
  correctClock?: (ms: number) => void
}

/** start() waits this long for a seed to answer (a first peer's full state), so a joining node knows the cluster before it announces. */
const JOIN_TIMEOUT_MS = 5000
/**
 * A join pull under way when JOIN_TIMEOUT_MS ends (a seed answered, a large state is coming: 100,000
 * records took 13 s on 2 cores) keeps the node "joining" (/health) this long from the start of the
 * join at most, with a progress line every JOIN_PROGRESS_MS; beyond it (a slow host, or a seed that
 * trickles to hold this node out of service), the pull goes on and the node is no longer "joining".
 */
const JOIN_PULL_MAX_MS = 30_000
const JOIN_PROGRESS_MS = 5000

/** Whether p settles within ms; false as soon as signal aborts. The timer is cleared either way. */
async function settlesWithin (p: Promise<unknown>, ms: number, signal: AbortSignal): Promise<boolean> {
  const giveUp = new AbortController()
  try {
    return await Promise.race([p.then(() => true), sleep(ms, false, { signal: AbortSignal.any([giveUp.signal, signal]) }).catch(() => false)])
  } finally {
    giveUp.abort()
  }
}
/** stop() waits this long for pending sends (the leave tombstones); shutdown must stay quick. */
const LEAVE_TIMEOUT_MS = 1000
/** Connections kept to other members: a full mesh up to this size, which covers the clusters this is built for. */
const MAX_PEERS = 32
/** An anti-entropy exchange in which no frame moves for this long is given up (a slow but moving one goes on). */
const EXCHANGE_TIMEOUT_MS = 30_000
/** A departed host's records are tombstoned this many at a time, as long as the slice lasts (a record that changed meanwhile is left alone). */
const DEPART_CHUNK = 256
/** Exchanges with a member back from departure start within this, at random. */
const REJOIN_SPREAD_MS = 1000
/** Departed hosts remembered for a rejoin exchange; past it a rejoin waits for the periodic exchange. */
const MAX_DEPARTED_REMEMBERED = 10_000
/** Rejected messages logged per minute at most: a flood of garbage must not flood the log. */
const REJECT_LOGS_PER_MINUTE = 10
/** Characters of a rejected message's error kept in the log line. */
const REJECT_LOG_CHARS = 200
/**
 * Sends of a new or changed local record: the first at once, one repeat a round later. The
 * original sent 5 (ALIVE_COUNT) because its UDP gossip lost messages; gossipsub runs over
 * reliable streams, its mesh delivers each message several times over and its IHAVE gossip
 * mends a miss within 3 s, and anti-entropy mends the rest. Each send is a new version that
 * every node verifies and forwards: bench/convergence at N = 20 on 2 cores measured a new
 * record on every node at p99 1.3-1.8 s with 5 sends (the cores saturate) and 0.14-0.46 s with 2.
 */
const ALIVE_ROUNDS = 2
/** Sends of a local tombstone (the original's TOMBSTONE_COUNT): a missed tombstone leaves a ghost until expiry, so more. */
const TOMBSTONE_ROUNDS = 10
/** Sends of a tombstone this node made for another host: every peer of that host makes its own, so few are needed. */
const OBSERVER_ROUNDS = 2
/** Time between two sends of one change (the original's TOMBSTONE_RETRANSMIT, 1 s). */
const ROUND_INTERVAL_MS = 1000
/** Each local record is re-sent this often even when unchanged (the original's ALIVE_BROADCAST_INTERVAL, 1 min), at most... */
const HEARTBEAT_MS = 60_000
/** ...and at most this fraction of the alive lifespan (48 s of the default 80 s; with its +20 % jitter 58 s), so peers never expire a live record. */
const HEARTBEAT_LIFESPAN_FRACTION = 0.6
/** The alive lifespan assumed when the init gives none (the original's ALIVE_LIFESPAN). */
const ALIVE_LIFESPAN_FALLBACK_MS = 80_000
/** The first periodic exchange comes early (1.5-3.5 s, jittered) so members that joined at the same time find each other; later ones follow push_pull_interval. */
const FIRST_EXCHANGE_MS = 1500
const FIRST_EXCHANGE_JITTER_MS = 2000
/** Each periodic exchange waits up to this share of push_pull_interval first, so members started together do not exchange in lockstep. */
const EXCHANGE_JITTER = 0.2

export class Gossip implements Startable {
  readonly #c: GossipComponents
  readonly #init: GossipInit
  readonly #metrics: GossipMetrics
  readonly #topic: string
  #node: GossipNode | undefined
  #membership: Membership | undefined
  #antiEntropy: AntiEntropy | undefined
  #announcer: GossipAnnouncer | undefined
  #admission: Admission | undefined
  #signer: RecordSigner | undefined
  #verifier: ProofVerifier | undefined
  #ticker: Ticker | undefined
  /** What the validator admitted of a message, for the message handler to merge and settle. */
  readonly #decoded = new WeakMap<Uint8Array, AdmitResult>()
  #rejectLog = { minute: 0, count: 0 }
  #joined: PromiseWithResolvers<void> = Promise.withResolvers()
  /** No join exchange has ended since start(): the next one is the start-up pull. */
  #firstJoin = true
  #stopped: Promise<void> | undefined
  #clock: ClockCorrector | undefined
  /** Hosts that departed (their records tombstoned here): when one is back, both sides may hold the other's records as tombstones. */
  readonly #departed = new Set<string>()
  #refuter: Refuter | undefined
  /** Peers that said they refuse this host (refusal.ts). */
  #refusals: Refusals | undefined
  #mender: StreamMender | undefined
  /** Aborted by stop(): cancels exchanges in flight. */
  #stopping = new AbortController()
  /** Aborted by abortStart(): start() waits no longer for a seed or the clock, and returns. */
  readonly #startAborted = new AbortController()
  /**
   * The start-up join exchange (a whole-state pull) while it runs: periodic exchanges wait, new-member exchanges
   * wait for its end, and others' exchanges cover our own records only, or they would pull the same state again
   * beside it. Not a rejoin: after a partition, every exchange repairs, and a rejoin cut off mid-way by the
   * network hangs until its idle timeout (30 s), which would hold all repair back that long.
   */
  #startupPull: PromiseWithResolvers<void> | undefined
  /** The member the join pull under way comes from. */
  #startupPullFrom = ''

  constructor (components: GossipComponents, init: GossipInit) {
    this.#c = components
    this.#init = init
    this.#metrics = gossipMetrics(components.metrics)
    this.#topic = topicOf(init.clusterName)
    this.#versions = new OtherVersions(STATE_PROTOCOL_VERSION, (count) => { this.#metrics.versionMismatch.set(count) })
  }

  /** This node's peer id (after start). */
  get peerId (): string | undefined { return this.#node?.peerId.toString() }
  /** Why this node's identity (peer.key) is not kept across restarts, when it is not (for /health). */
  get identityProblem (): string | undefined { return this.#identityProblem }
  #identityProblem: string | undefined
  /** Gives data_dir back (removes sidecar.pid) at stop; nothing while it is not claimed. */
  #releaseDataDir: () => Promise<void> = async () => {}
  /** Peers that refuse this host and why, with the fix (for /health); empty while none does. */
  get refusedBy (): Record<string, string> { return this.#refusals?.problems() ?? {} }
  /** Hosts of this cluster seen speaking another gossip protocol version, by hostname: why and which to upgrade (for /health). */
  get versionMismatch (): Record<string, string> { return this.#versions.problems() }
  readonly #versions: OtherVersions
  /** Its node listens for peers: from the end of its start (before the join) until its stop takes the node down. */
  get listening (): boolean { return this.#node !== undefined }
  #started = false
  /** A join pull that outlasted the join timeout, followed in the background (#followJoinPull) until it ends. */
  #joinPullFollowed = false
  /**
   * Its join is over: it started and pulled the members' state from a seed (clocks agreed), or no
   * seed answered within the join timeout, or it is the first node; until its stop. Before
   * that, a late joiner of a large cluster holds only part of the state (a 100,000-record pull
   * takes 13 s on 2 cores) and its proxy has not opened the ports of the services it will learn.
   */
  get joinOver (): boolean { return this.#node !== undefined && this.#started && !this.#joinPullFollowed }

  async start (): Promise<void> {
    if (this.#node !== undefined) return
    const { logger } = this.#c
    const init = this.#init
    if (init.clusterKey === '') {
      logger.warn(`no cluster_key: anyone who can reach ${init.bindIp}:${init.bindPort} can join this cluster, read every service record and announce services of its own; set [sidecar] cluster_key to a secret every node shares (generate one with: openssl rand -hex 32)`)
    }
    const { key, unkept } = await inDataDir(init.dataDir, async (step) => await loadPeerKey(init.dataDir, logger, init.hostname, step))
    this.#identityProblem = unkept
    if (unkept === undefined) this.#releaseDataDir = await inDataDir(init.dataDir, async (step) => { step('claiming it (sidecar.pid)'); return await claimDataDir(init.dataDir) })
    const { node, quic } = await createGossipNode({ ...init, privateKey: key }, logger)
    const peerId = node.peerId.toString()
    const pins = new HostPins({ logger, onConflict: () => { this.#metrics.pinConflicts.inc() } }, { dataDir: init.dataDir, hostname: init.hostname, peerId })
    await inDataDir(init.dataDir, async (step) => { step(`reading the host pins ${pins.file}`); await pins.load() })
    try {
      await nextTurn() // creating the node takes 15-30 ms, starting it as long: not in one turn of the event loop
      await node.start()
    } catch (err) {
      await Promise.resolve(node.stop()).catch(() => {})
      throw listenError(err, init, quic)
    }
    this.#node = node
    this.#joined = Promise.withResolvers()
    this.#firstJoin = true
    this.#stopping = new AbortController()
    const refusalProtocol = refusalProtocolOf(init.clusterName)
    const refusals = this.#refusals = new Refusals({
      node,
      logger,
      hostnameOf: (id) => pins.hostnameOf(id),
      rejected: (reason) => { this.#metrics.rejected.inc({ reason }) },
      changed: (count) => { this.#metrics.refusedBy.set(count) },
    }, { protocol: refusalProtocol, hostname: init.hostname, peerId })
    const corrector = this.#clock = new ClockCorrector({ logger, offsets: new ClockOffsets(), correct: this.#c.correctClock })
    const membership = this.#membership = new Membership({ node, logger, onClockSample: (id, s) => { corrector.add(id, s) } }, {
      hostname: init.hostname,
      seeds: init.seeds,
      bindPort: init.bindPort,
      self: selfAddresses(init),
      stateProtocol: stateProtocolOf(init.clusterName),
      probeProtocol: probeProtocolOf(init.clusterName),
      graceMs: init.departureGraceMs,
      maxPeers: MAX_PEERS,
      // a peer's old name is released when it proves a new one and nothing connected holds the old (a renamed host)
      claim: (hostname, id) => { const r = pins.claim(hostname, id, (old) => membership.connectedAs(old)); return r === 'pinned' || r === 'new' },
      tellRefused: async (id, hostname) => {
        const pinnedTo = pins.peerOf(hostname)
        if (pinnedTo !== undefined) await sendNotice(node, id, refusalProtocol, { hostname, pinnedTo })
      },
      retryAt: (id) => refusals.retryAt(id),
      otherVersion: (id, hostname, addr, version) => {
        const line = this.#versions.note(id, hostname, addr, version)
        if (line !== undefined) logger.warn(line)
      },
    })
    const signer = this.#signer = new RecordSigner(key, peerId, init.clusterName)
    const admission = this.#admission = new Admission({
      catalog: this.#c.catalog,
      clock: this.#c.clock,
      logger,
      metrics: this.#metrics,
      pins,
      verifier: this.#verifier = new ProofVerifier(init.clusterName, VerifyWorker.create()),
      signer,
      member: (hostname) => membership.memberByHostname(hostname),
      ownRecord: (svc, from) => { this.#refuter?.consider(svc, from) },
      departureReported: (hostname, observer) => { membership.departureReported(hostname, observer) },
    }, { hostname: init.hostname, maxRecordsPerHost: init.maxRecordsPerHost, maxRecords: init.maxRecords, backendCidrs: init.backendCidrs })
    this.#antiEntropy = new AntiEntropy({
      node,
      catalog: this.#c.catalog,
      clock: this.#c.clock,
      logger,
      metrics: this.#metrics,
      memberInfos: async () => await membership.memberInfos(),
      mayDial: (id) => !refusals.has(id),
      hostnameOf: (id) => membership.hostnameOf(id),
      learn: (m, from) => { membership.learn(m, from) },
      admission,
      // While we pull a member's whole state at start-up (join), exchanges others ask for cover our own records only:
      // the rest comes with the pull, and each asker would otherwise send it again (a 100,000-record join received
      // 13 copies of the state, from every origin's periodic exchange during the pull).
      servingScope: () => this.#startupPull !== undefined ? [init.hostname] : undefined,
    }, { protocol: stateProtocolOf(init.clusterName), hostname: init.hostname, clusterName: init.clusterName, timeoutMs: EXCHANGE_TIMEOUT_MS })
    this.#announcer = new GossipAnnouncer({
      catalog: this.#c.catalog,
      clock: this.#c.clock,
      logger,
      local: this.#c.local,
      seal: async (records) => await admission.sealAsync(records),
      publish: async (data) => { await this.#publish(data) },
    }, { hostname: init.hostname, aliveRounds: ALIVE_ROUNDS, tombstoneRounds: TOMBSTONE_ROUNDS, observerRounds: OBSERVER_ROUNDS, roundIntervalMs: ROUND_INTERVAL_MS, heartbeatMs: Math.min(HEARTBEAT_MS, (init.aliveLifespanMs ?? ALIVE_LIFESPAN_FALLBACK_MS) * HEARTBEAT_LIFESPAN_FRACTION) })

    this.#refuter = new Refuter({ catalog: this.#c.catalog, logger, reannounce: () => { this.#announcer?.reannounce() }, publish: async (data) => { await this.#publish(data) }, seal: (records) => admission.seal(records) })
    try {
      await this.#startParts(node, membership)
    } catch (err) {
      await this.stop()
      throw err
    }
  }

  async #startParts (node: GossipNode, membership: Membership): Promise<void> {
    const { logger } = this.#c
    const init = this.#init
    node.services.pubsub.topicValidators.set(this.#topic, async (_peer, msg) => await this.#validate(msg))
    node.services.pubsub.addEventListener('message', this.#onMessage)
    node.services.pubsub.subscribe(this.#topic)
    membership.on('join', this.#onJoin)
    membership.on('depart', this.#onDepart)
    this.#refuter?.start()
    await this.#antiEntropy?.start()
    await this.#refusals?.start()
    await membership.start()
    this.#mender = new StreamMender({ node, logger, members: () => membership.connected(), lastHeard: (id) => membership.lastHeard(id), mended: () => { this.#metrics.streamsMended.inc() }, overflowed: () => { this.#metrics.sendOverflows.inc() } })
    this.#mender.start()
    logger.info(`gossip on ${node.getMultiaddrs().map(String).join(', ')} (cluster ${init.clusterName}${init.clusterKey !== '' ? ', private network' : ''})`)
    logger.debug(this.#verifier?.backend === 'worker' ? 'record proofs are verified with libsodium (sodium-native): batches of 16 or more on worker threads, fewer with node:crypto on the thread pool, a lone record in the main thread' : 'sodium-native is not installed: record proofs are verified with node:crypto on the thread pool, at about twice the CPU')
    this.#metrics.members.set(1)

    const self = selfAddresses(init)
    if (init.seeds.length > 0 && init.seeds.every(s => self.has(seedKey(s, init.bindPort)))) {
      // the first node of a cluster, or a second daemon on this machine whose seed without :port took its own bind_port
      const portless = init.seeds.some(s => parseSeed(s, -1).port === -1)
      logger.info(`every seed (${init.seeds.join(', ')}) is this node itself: running alone until another node joins it${portless ? ` (a seed without :port is taken at this node's bind_port, ${init.bindPort})` : ''}`)
    }
    if (init.seeds.some(s => !self.has(seedKey(s, init.bindPort)))) {
      const t0 = Date.now()
      const ended = AbortSignal.any([this.#stopping.signal, this.#startAborted.signal])
      const joined = await settlesWithin(this.#joined.promise, JOIN_TIMEOUT_MS, ended)
      if (ended.aborted) return
      const refused = this.#refusals?.size ?? 0
      if (joined) logger.info(`joined the cluster in ${Date.now() - t0} ms`)
      else if (this.#startupPull !== undefined) {
        // a seed answered and its state is still coming (a large cluster): the start goes on
        // beside the pull, as this host's services would otherwise wait for it; /health says
        // "joining" until it ends
        logger.info(`joining: ${this.#startupPullFrom} answered and its state is still coming (${this.#othersHeld()} records of other hosts held so far): going on with the start beside the pull`)
        this.#joinPullFollowed = true
        void this.#followJoinPull(t0)
      } else if (refused > 0) logger.warn(`not in the cluster: ${refused} peer${refused === 1 ? '' : 's'} refuse${refused === 1 ? 's' : ''} this host and none accepted it within ${JOIN_TIMEOUT_MS / 1000} s (the ERROR above says why and what to do; /health shows refusedBy); retrying every ${RETRY_MAX_MS / 1000} s at most`)
      else logger.warn(`no seed answered within ${JOIN_TIMEOUT_MS / 1000} s: running alone for now, seeds are retried in the background`)
      // Our records are stamped once the clock is known to agree with the members' (or corrected).
      if (joined) await this.#clock?.settled(() => membership.connected().map(m => m.peerId), ended)
      if (ended.aborted) return
    }
    this.#ticker = new Ticker(async (signal) => { await this.#periodicExchange(signal) }, {
      name: 'anti-entropy',
      intervalMs: init.pushPullIntervalMs,
      firstDelayMs: FIRST_EXCHANGE_MS + Math.random() * FIRST_EXCHANGE_JITTER_MS,
      logger,
    })
    this.#ticker.start()
    await this.#announcer?.start()
    this.#started = true
  }

  /** Records held of hosts other than this one: how far a join pull got. */
  #othersHeld (): number {
    const { catalog } = this.#c
    return catalog.size - catalog.count(catalog.hostname)
  }

  /**
   * A join pull that outlasted the join timeout: says how far it got every JOIN_PROGRESS_MS and
   * when it ended, until JOIN_PULL_MAX_MS after the start of the join (a slow host, or a seed that
   * trickles its state to keep this node "joining"); the join is over then, whatever the pull does.
   */
  async #followJoinPull (t0: number): Promise<void> {
    const { logger } = this.#c
    const stopping = this.#stopping.signal
    try {
      for (;;) {
        const pull = this.#startupPull
        if (stopping.aborted) return
        if (pull === undefined) {
          // #exchangeWith ends a join pull and the join together, unless the seed refused this host
          if (!this.#firstJoin) logger.info(`joined the cluster in ${Date.now() - t0} ms (${this.#othersHeld()} records of other hosts held)`)
          return
        }
        const left = t0 + JOIN_PULL_MAX_MS - Date.now()
        if (left <= 0) {
          logger.warn(`the join pull from ${this.#startupPullFrom} has not ended ${Math.round((Date.now() - t0) / 1000)} s after the join began (${this.#othersHeld()} records of other hosts held): no longer "joining", the pull goes on`)
          return
        }
        const ended = await settlesWithin(pull.promise, Math.min(JOIN_PROGRESS_MS, left), stopping)
        if (!ended && !stopping.aborted && Date.now() - t0 < JOIN_PULL_MAX_MS) logger.info(`joining: pulling the cluster's state from ${this.#startupPullFrom}, ${this.#othersHeld()} records of other hosts held so far (${Math.round((Date.now() - t0) / 1000)} s)`)
      }
    } finally {
      this.#joinPullFollowed = false
    }
  }

  /**
   * A stop is coming during start() (a signal): start() waits no longer for a seed to answer
   * (up to 5 s) or for the clocks to agree, and returns without starting the periodic exchanges
   * or the announcer; the stop() that follows takes the node down. Once for the component's life.
   */
  abortStart (): void {
    this.#startAborted.abort()
  }

  /** Idempotent; a second call while stopping waits for the first. */
  async stop (): Promise<void> {
    this.#stopped ??= this.#stop().finally(() => { this.#stopped = undefined })
    await this.#stopped
  }

  async #stop (): Promise<void> {
    const node = this.#node
    if (node === undefined) { await this.#releaseDataDir(); return }
    const t0 = Date.now()
    // The local component's leave tombstones were merged just before (it stops first): send them while the node is up.
    await this.#announcer?.flush(LEAVE_TIMEOUT_MS)
    this.#node = undefined
    this.#started = false
    this.#stopping.abort()
    await this.#announcer?.stop()
    await this.#ticker?.stop()
    await this.#mender?.stop()
    await this.#membership?.stop()
    this.#membership?.off('join', this.#onJoin)
    this.#membership?.off('depart', this.#onDepart)
    this.#refuter?.stop()
    await this.#refusals?.stop()
    await this.#antiEntropy?.stop()
    node.services.pubsub.removeEventListener('message', this.#onMessage)
    await Promise.resolve(node.stop()).catch((err: unknown) => { this.#c.logger.warn({ err }, 'error stopping the libp2p node') })
    await this.#signer?.close()
    await this.#verifier?.close()
    await this.#releaseDataDir()
    this.#c.logger.debug(`gossip stopped in ${Date.now() - t0} ms`)
  }

  /** Cluster members for /services.json: this host and every live member. */
  members (): ClusterMember[] {
    const names = new Set([this.#init.hostname, ...(this.#membership?.members() ?? []).map(m => m.hostname)])
    return [...names].map(name => {
      const server = this.#c.catalog.serverSummary(name) // not server(): that builds a sorted snapshot of every record
      return { Name: name, LastUpdated: server?.lastUpdated ?? Time.EPOCH, ServiceCount: server?.count ?? 0 }
    })
  }

  async #publish (data: Uint8Array): Promise<void> {
    const node = this.#node
    if (node === undefined) return
    try {
      await node.services.pubsub.publish(this.#topic, data)
      this.#metrics.published.inc()
    } catch (err) {
      this.#metrics.publishErrors.inc()
      throw err
    }
  }

  async #validate (msg: Message): Promise<TopicValidatorResult> {
    const result = await this.#judge(msg)
    this.#metrics.validated.inc({ result: result === TopicValidatorResult.Accept ? 'accept' : result === TopicValidatorResult.Ignore ? 'ignore' : 'reject' })
    return result
  }

  async #judge (msg: Message): Promise<TopicValidatorResult> {
    try {
      const records = decodeSealedMessage(msg.data, this.#c.clock.now())
      const admission = this.#admission
      if (admission === undefined) return TopicValidatorResult.Ignore
      // The proofs verified ahead on the thread pool: a message of a few hundred records verified
      // here one at a time held a receiving peer's event loop for tens of ms, message after message,
      // while a 10,000-service host repeats its changes (its peer lost the connection to it).
      await admission.prepare(records)
      if (this.#node === undefined) return TopicValidatorResult.Ignore // stopped meanwhile
      const from = msg.type === 'signed' ? msg.from.toString() : 'an unsigned sender'
      const r = admission.admit(records, this.#membership?.hostnameOf(from) ?? from, 'gossip')
      // a forgery scores its sender down; records refused for a differing view or a bound are not forwarded by us
      if (r.forged > 0 || r.admitted.length === 0) {
        r.settle()
        return r.forged > 0 ? TopicValidatorResult.Reject : TopicValidatorResult.Ignore
      }
      this.#decoded.set(msg.data, r)
      // The new keys it admitted count against the caps until the message handler merged them
      // (gossipsub validates the next messages meanwhile). gossipsub dispatches an accepted
      // message within the microtasks that follow, unless the topic was left (stop): then
      // nothing merges them, and this ends their hold once those microtasks are done.
      setImmediate(r.settle)
      return TopicValidatorResult.Accept
    } catch (err) {
      const reason = err instanceof WireError ? err.reason : 'record'
      this.#metrics.rejected.inc({ reason })
      const minute = Math.floor(Date.now() / 60_000)
      if (this.#rejectLog.minute !== minute) this.#rejectLog = { minute, count: 0 }
      if (++this.#rejectLog.count <= REJECT_LOGS_PER_MINUTE) {
        const from = msg.type === 'signed' ? msg.from.toString() : 'an unsigned sender'
        this.#c.logger.warn(`rejected a gossip message from ${from} (${reason}): ${(err as Error).message.slice(0, REJECT_LOG_CHARS)}`)
      }
      return TopicValidatorResult.Reject
    }
  }

  readonly #onMessage = (e: CustomEvent<Message>): void => {
    try {
      const msg = e.detail
      if (msg.topic !== this.#topic) return
      const admitted = this.#decoded.get(msg.data)
      if (admitted === undefined) return // not admitted by the validator
      this.#decoded.delete(msg.data)
      try {
        this.#merge(msg, admitted)
      } finally {
        admitted.settle()
      }
    } catch (err) {
      this.#c.logger.error({ err }, 'failed to handle a gossip message')
    }
  }

  #merge (msg: Message, { admitted, room }: AdmitResult): void {
    const peer = msg.type === 'signed' ? msg.from.toString() : 'unknown'
    const from = this.#membership?.hostnameOf(peer) ?? peer
    this.#metrics.received.inc()
    for (const svc of admitted) {
      // admitted by the validator: a live record's version is its origin's own (signed), whoever published it
      const result = this.#c.catalog.merge(svc, from, true, room(svc))
      if (result === 'ignored' || result === 'stale') continue
      const delayMs = Number(this.#c.clock.now().ns - svc.Updated.ns) / 1e6
      this.#metrics.propagationSeconds.observe(Math.max(0, delayMs) / 1000)
      if (result !== 'refreshed') this.#c.logger.debug({ host: svc.Hostname, id: svc.ID }, `gossip: ${svc.Name} (${svc.ID}) on ${svc.Hostname} is now ${statusString(svc.Status)} (${result} via ${from}, ${delayMs.toFixed(1)} ms after its origin stamped it)`)
    }
  }

  readonly #onJoin = (member: Member, how: { returning: boolean }): void => {
    this.#versions.joined(member.peerId, member.hostname)
    const members = this.#membership?.members() ?? []
    this.#metrics.members.set(new Set(members.map(m => m.hostname)).size + 1)
    const back = this.#departed.delete(member.hostname)
    // The first member after being cut off from all (start, a partition, a freeze), or one we had
    // declared departed (a healed partition: it missed what our side did, and we what its side did,
    // for longer than gossip keeps messages): swap full states at once.
    if ((this.#membership?.connected() ?? []).length === 1) void this.#exchangeWith(member, how.returning ? 'rejoin' : 'join')
    // Spread over a second: every member that declared it departed asks it at once otherwise, just as it comes back from a freeze.
    // The same for a member whose connections had all closed and came back within the grace period: what either side
    // sent meanwhile is lost (a partition shorter than the departure time), and a converged exchange costs a few hundred bytes.
    else if (back || how.returning) void sleep(Math.random() * REJOIN_SPREAD_MS, undefined, { signal: this.#stopping.signal }).then(async () => { await this.#exchangeWith(member, 'rejoin') }, () => {})
    // Any other new member: its records were refused until it proved its hostname to us (admission.ts), so fetch
    // them now. Each side asks for the other's records once it has identified the other: the side that identifies
    // second would refuse what an exchange run before carried (unknown host), and nothing repaired that before the
    // next heartbeat, 48 s later (a 20-node start could miss one host for over 90 s). Only that host: the rest reaches
    // it by its own join pull and the periodic exchanges (a whole-state exchange here made every member push the full
    // state to a joining node at once, next to its join pull: issue 13, ~7x the state); and after our own pull, which
    // may bring the same records.
    else if (!how.returning) void this.#afterPull().then(async () => { await this.#exchangeWith(member, 'new member', undefined, [member.hostname]) })
    // A member that lost us may have tombstoned our records meanwhile (and passed the tombstones
    // on): announce them again, newer than any tombstone it made.
    if (how.returning || back) this.#announcer?.reannounce()
  }

  readonly #onDepart = (member: Member): void => {
    const members = this.#membership?.members() ?? []
    this.#metrics.members.set(new Set(members.map(m => m.hostname)).size + 1)
    this.#clock?.forget(member.peerId)
    if (this.#departed.size < MAX_DEPARTED_REMEMBERED) this.#departed.add(member.hostname)
    void this.#tombstoneDeparted(member.hostname)
  }

  /** Tombstones a departed host's records in slices: a host of 25,000 records took 170 ms at once. */
  async #tombstoneDeparted (hostname: string): Promise<void> {
    const records = this.#c.catalog.hostRecords(hostname)
    let tombstoned = 0
    const slicer = new Slicer()
    for (let i = 0; i < records.length; i += DEPART_CHUNK) {
      if (slicer.due()) await slicer.next()
      if (this.#stopping.signal.aborted) return
      tombstoned += this.#c.catalog.tombstoneDeparted(records.slice(i, i + DEPART_CHUNK)).length
    }
    this.#c.logger.info(`${hostname} departed: tombstoned ${tombstoned} of its record${tombstoned === 1 ? '' : 's'}`)
  }

  async #afterPull (): Promise<void> {
    await this.#startupPull?.promise
  }

  async #exchangeWith (member: Member, why: string, signal?: AbortSignal, scope?: readonly string[]): Promise<void> {
    const ae = this.#antiEntropy
    if (ae === undefined) return
    const pull = why === 'join' && this.#firstJoin && this.#startupPull === undefined ? Promise.withResolvers<void>() : undefined
    if (pull !== undefined) { this.#startupPull = pull; this.#startupPullFrom = member.hostname }
    let ok = false
    try {
      const r = await ae.exchange(peerIdFromString(member.peerId), AbortSignal.any([this.#stopping.signal, ...(signal !== undefined ? [signal] : [])]), scope)
      ok = true
      // A join, or a repair that changed something, is worth an info line; a converged periodic exchange is not (anti-entropy.ts logs every exchange at debug).
      if (why !== 'periodic' || r.merged > 0) this.#c.logger.info(`anti-entropy (${why}) with ${r.peerHostname}: received ${r.received} records (${r.merged} new to us), sent ${r.sent}; ${r.bytesSent} bytes sent, ${r.bytesReceived} received, ${r.ms.toFixed(1)} ms`)
    } catch (err) {
      // not connected (any more) to a peer that refuses this host: exchanges do not dial it (node.ts openStream)
      if (this.#stopping.signal.aborted) return
      if (err instanceof NotConnectedError) this.#c.logger.debug(`anti-entropy (${why}) with ${member.hostname} skipped: ${err.message}`)
      else this.#c.logger.warn(`anti-entropy (${why}) with ${member.hostname} failed: ${errorMessage(err) || String(err)}`)
    } finally {
      if (pull !== undefined) { this.#startupPull = undefined; pull.resolve() }
      // a member that refuses this host (it hung up after saying so) is no join: the next member's exchange is
      if (why === 'join' && (ok || this.#refusals?.has(member.peerId) !== true)) { this.#joined.resolve(); this.#firstJoin = false }
    }
  }

  async #periodicExchange (signal: AbortSignal): Promise<void> {
    await this.#admission?.prune()
    await sleep(Math.random() * EXCHANGE_JITTER * this.#init.pushPullIntervalMs, undefined, { signal }).catch(() => {})
    const members = this.#membership?.connected() ?? []
    if (members.length === 0 || signal.aborted || this.#startupPull !== undefined) return
    await this.#exchangeWith(members[Math.floor(Math.random() * members.length)], 'periodic', signal)
  }
}

function seedKey (seed: string, bindPort: number): string {
  const { host, port } = parseSeed(seed, bindPort)
  return `${host}:${port}`
}

/** ip:port strings that reach this node, so a seed list naming it is not dialled. */
function selfAddresses (init: GossipInit): Set<string> {
  const ips = new Set([init.bindIp, init.advertiseIp])
  if (init.bindIp === '0.0.0.0' || init.bindIp === '::') {
    for (const addrs of Object.values(os.networkInterfaces())) for (const a of addrs ?? []) ips.add(a.address)
  }
  return new Set([...ips].map(ip => `${ip}:${init.bindPort}`))
}
