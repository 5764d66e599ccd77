// A deterministic in-process simulation of a sidecar cluster: N nodes, each with the real
// Catalog (src/catalog: merge, expiry rules), over a simulated network with per-message
// delay, loss and partitions, in simulated time (an event queue, no timers, no sleeps).
// It models the dissemination the daemon really does:
// - connections: each node dials random members until it holds MAX_PEERS (gossip.ts);
// - gossipsub as configured in gossip/node.ts (library defaults): flood publish to every
//   connected peer, forwarding along a mesh of degree D (Dlo..Dhi), a 1 s heartbeat that
//   sends IHAVE for the last 3 heartbeats' messages to max(Dlazy, 25 % of non-mesh peers),
//   answered by IWANT from the 5-heartbeat message cache, and a seen cache by message id;
// - the origin's announcer (gossip/announcer.ts): a new record sent at once, then re-stamped
//   and sent again each second, aliveRounds times in all, then every 60 s (+-20 %);
// - anti-entropy (gossip.ts): the first exchange 1.5-3.5 s after start, then every
//   push_pull_interval (+0-20 % jitter) a full-state swap with one random connected member.
// Not modelled: membership (departures, rejoin exchanges), TCP retransmission (a lost
// message is lost, which is pessimistic), CPU time. The same seed gives the same run.
import { Catalog } from '../../src/catalog/index.ts'
import type { Clock } from '../../src/service/clock.ts'
import { makeService, ServiceStatus, Time, withFields, type Service } from '../../src/service/index.ts'
import { prng as rng } from '../helpers/prng.ts'

/** Mirrors of the daemon's settings (sources named). */
export const DAEMON = {
  /** gossip.ts MAX_PEERS */ maxPeers: 32,
  /** gossipsub defaults (GossipsubD, Dlo, Dhi, Dlazy, GossipFactor, HistoryGossip, HistoryLength, HeartbeatInterval) */
  D: 6,
  Dlo: 4,
  Dhi: 12,
  Dlazy: 6,
  gossipFactor: 0.25,
  historyGossip: 3,
  historyLength: 5,
  heartbeatMs: 1000,
  /** gossip.ts: the announcer's aliveRounds and roundIntervalMs */ aliveRounds: 2,
  roundIntervalMs: 1000,
  /** gossip.ts: the announcer's heartbeatMs */ recordHeartbeatMs: 60_000,
  /** config defaults: push_pull_interval */ pushPullMs: 20_000,
  /** config defaults: alive_lifespan, tombstone_lifespan */ aliveLifespanMs: 80_000,
  tombstoneLifespanMs: 3 * 3600_000,
} as const

export interface SimOptions {
  nodes: number
  seed: number
  /** One-way delay of a message, uniform in [min, max] ms (network plus processing). */
  delayMs: [number, number]
  /** Probability that one message (gossip, IHAVE, IWANT) is lost. */
  loss: number
}


interface Event { at: number, seq: number, run: () => void }

/** A binary heap of events by time, then insertion order. */
class Queue {
  readonly #h: Event[] = []
  #seq = 0
  get size (): number { return this.#h.length }
  push (at: number, run: () => void): void {
    const h = this.#h
    h.push({ at, seq: this.#seq++, run })
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (less(h[p], h[i])) break
      ;[h[p], h[i]] = [h[i], h[p]]
      i = p
    }
  }

  pop (): Event | undefined {
    const h = this.#h
    if (h.length === 0) return undefined
    const top = h[0]
    const last = h.pop() as Event
    if (h.length > 0) {
      h[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < h.length && less(h[l], h[m])) m = l
        if (r < h.length && less(h[r], h[m])) m = r
        if (m === i) break
        ;[h[m], h[i]] = [h[i], h[m]]
        i = m
      }
    }
    return top
  }

  peek (): Event | undefined { return this.#h[0] }
}

function less (a: Event, b: Event): boolean { return a.at < b.at || (a.at === b.at && a.seq < b.seq) }

interface Msg { id: number, records: readonly Service[] }

interface SimNode {
  readonly i: number
  readonly hostname: string
  readonly catalog: Catalog
  readonly peers: number[]
  readonly mesh: Set<number>
  readonly seen: Set<number>
  /** Message cache by heartbeat window, newest first. */
  readonly mcache: Msg[][]
  group: number
}

/** Simulated time starts here (a fixed date, so runs repeat). */
const T0 = Time.parse('2026-01-01T00:00:00Z')

export class Simulation {
  readonly opts: SimOptions
  readonly nodes: SimNode[] = []
  readonly random: () => number
  now = 0
  readonly #q = new Queue()
  #msgId = 0
  readonly stats = { sent: 0, lost: 0, duplicates: 0, ihave: 0, iwant: 0, exchanges: 0 }

  constructor (opts: SimOptions) {
    this.opts = opts
    this.random = rng(opts.seed)
    const clock: Clock = { now: () => T0.plusMillis(this.now), nowMs: () => T0.toMillis() + this.now }
    for (let i = 0; i < opts.nodes; i++) {
      this.nodes.push({
        i,
        hostname: `n${i}`,
        catalog: new Catalog({ clock }, { hostname: `n${i}`, clusterName: 'sim', aliveLifespanMs: DAEMON.aliveLifespanMs, drainingLifespanMs: 600_000, tombstoneLifespanMs: DAEMON.tombstoneLifespanMs }),
        peers: [],
        mesh: new Set(),
        seen: new Set(),
        mcache: [[]],
        group: 0,
      })
    }
    this.#connect()
    this.#buildMesh()
    for (const n of this.nodes) {
      this.#q.push(this.random() * DAEMON.heartbeatMs, () => { this.#heartbeat(n) })
      this.#q.push(1500 + this.random() * 2000, () => { this.#antiEntropy(n) })
    }
  }

  /** Each node dials random others until it holds maxPeers connections (inbound ones count too). */
  #connect (): void {
    const n = this.nodes.length
    const linked = this.nodes.map(() => new Set<number>())
    for (const node of this.nodes) {
      let tries = 0
      while (linked[node.i].size < Math.min(DAEMON.maxPeers, n - 1) && tries++ < 10 * DAEMON.maxPeers) {
        const j = Math.floor(this.random() * n)
        if (j === node.i || linked[node.i].has(j)) continue
        linked[node.i].add(j)
        linked[j].add(node.i)
      }
    }
    for (const node of this.nodes) node.peers.push(...[...linked[node.i]].sort((a, b) => a - b))
  }

  /** Every node grafts D random peers (grafts are mutual); above Dhi a node prunes back to D. */
  #buildMesh (): void {
    for (const node of this.nodes) {
      for (const j of this.#pick(node.peers.filter(p => !node.mesh.has(p)), Math.max(0, DAEMON.D - node.mesh.size))) {
        node.mesh.add(j)
        this.nodes[j].mesh.add(node.i)
      }
    }
    for (const node of this.nodes) {
      if (node.mesh.size <= DAEMON.Dhi) continue
      for (const j of this.#pick([...node.mesh], node.mesh.size - DAEMON.D)) {
        if (this.nodes[j].mesh.size <= DAEMON.Dlo) continue
        node.mesh.delete(j)
        this.nodes[j].mesh.delete(node.i)
      }
    }
  }

  #pick (from: readonly number[], k: number): number[] {
    const a = [...from]
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1))
      ;[a[i], a[j]] = [a[j], a[i]]
    }
    return a.slice(0, Math.max(0, k))
  }

  /** Puts nodes into groups (group of node i = groupOf(i)); messages between groups are dropped. */
  partition (groupOf: (i: number) => number): void { for (const n of this.nodes) n.group = groupOf(n.i) }

  heal (): void { this.partition(() => 0) }

  /** Delivers fn at the other end after a delay, unless the message is lost or the link is cut. */
  #send (from: SimNode, to: SimNode, fn: () => void, lossy = true): boolean {
    this.stats.sent++
    if (from.group !== to.group || (lossy && this.random() < this.opts.loss)) { this.stats.lost++; return false }
    const [lo, hi] = this.opts.delayMs
    this.#q.push(this.now + lo + this.random() * (hi - lo), fn)
    return true
  }

  /** The origin announces a new record: merged locally, published now and re-stamped each round. */
  announce (origin: number, name: string): Service {
    const node = this.nodes[origin]
    const svc = makeService({
      ID: `${name}-${origin}`,
      Name: name,
      Image: `${name}:1`,
      Created: T0.plusMillis(this.now),
      Hostname: node.hostname,
      Ports: [{ Type: 'tcp', Port: 8000, ServicePort: 0, IP: '10.0.0.1' }],
      Updated: T0.plusMillis(this.now),
      ProxyMode: 'http',
      Status: ServiceStatus.ALIVE,
    })
    node.catalog.merge(svc)
    for (let round = 0; round < DAEMON.aliveRounds; round++) {
      this.#q.push(this.now + round * DAEMON.roundIntervalMs, () => {
        const stored = node.catalog.get(svc.Hostname, svc.ID)
        if (stored === undefined) return
        if (round > 0) node.catalog.merge(withFields(stored, { Updated: T0.plusMillis(this.now) }))
        this.#publish(node, { id: this.#msgId++, records: [node.catalog.get(svc.Hostname, svc.ID) as Service] })
        if (round === DAEMON.aliveRounds - 1) this.#heartbeatRecord(node, svc)
      })
    }
    return svc
  }

  /** The announcer's heartbeat: a local record re-stamped and sent again every heartbeatMs (+-20 %). */
  #heartbeatRecord (node: SimNode, svc: Service): void {
    this.#q.push(this.now + DAEMON.recordHeartbeatMs * (0.8 + 0.4 * this.random()), () => {
      const stored = node.catalog.get(svc.Hostname, svc.ID)
      if (stored === undefined || stored.Status === ServiceStatus.TOMBSTONE) return
      node.catalog.merge(withFields(stored, { Updated: T0.plusMillis(this.now) }))
      this.#publish(node, { id: this.#msgId++, records: [node.catalog.get(svc.Hostname, svc.ID) as Service] })
      this.#heartbeatRecord(node, svc)
    })
  }

  /** Flood publish: to every connected peer. */
  #publish (node: SimNode, msg: Msg): void {
    node.seen.add(msg.id)
    node.mcache[0].push(msg)
    for (const j of node.peers) { const to = this.nodes[j]; this.#send(node, to, () => { this.#receive(to, msg, node) }) }
  }

  #receive (node: SimNode, msg: Msg, from: SimNode): void {
    if (node.seen.has(msg.id)) { this.stats.duplicates++; return }
    node.seen.add(msg.id)
    for (const svc of msg.records) node.catalog.merge(svc, from.hostname)
    node.mcache[0].push(msg)
    for (const j of node.mesh) {
      if (j === from.i) continue
      const to = this.nodes[j]
      this.#send(node, to, () => { this.#receive(to, msg, node) })
    }
  }

  #heartbeat (node: SimNode): void {
    const ids = node.mcache.slice(0, DAEMON.historyGossip).flat()
    if (ids.length > 0) {
      const nonMesh = node.peers.filter(p => !node.mesh.has(p))
      const targets = this.#pick(nonMesh, Math.max(DAEMON.Dlazy, Math.floor(DAEMON.gossipFactor * nonMesh.length)))
      for (const j of targets) {
        const to = this.nodes[j]
        this.stats.ihave++
        this.#send(node, to, () => { this.#ihave(to, node, ids.map(m => m.id)) })
      }
    }
    node.mcache.unshift([])
    if (node.mcache.length > DAEMON.historyLength) node.mcache.pop()
    this.#q.push(this.now + DAEMON.heartbeatMs, () => { this.#heartbeat(node) })
  }

  #ihave (node: SimNode, from: SimNode, ids: readonly number[]): void {
    const want = ids.filter(id => !node.seen.has(id))
    if (want.length === 0) return
    this.stats.iwant++
    this.#send(node, from, () => {
      for (const msg of from.mcache.flat()) {
        if (want.includes(msg.id)) this.#send(from, node, () => { this.#receive(node, msg, from) })
      }
    })
  }

  /** Full state both ways with one random connected peer, over a stream (not lossy; a cut link fails it). */
  #antiEntropy (node: SimNode): void {
    const peer = this.nodes[node.peers[Math.floor(this.random() * node.peers.length)]]
    if (peer !== undefined) {
      this.stats.exchanges++
      const ours = node.catalog.services()
      this.#send(node, peer, () => {
        for (const svc of ours) peer.catalog.merge(svc, node.hostname)
        const theirs = peer.catalog.services()
        this.#send(peer, node, () => { for (const svc of theirs) node.catalog.merge(svc, peer.hostname) }, false)
      }, false)
    }
    this.#q.push(this.now + DAEMON.pushPullMs * (1 + 0.2 * this.random()), () => { this.#antiEntropy(node) })
  }

  /** Runs events until simulated time `until` (ms). */
  runUntil (until: number): void {
    for (;;) {
      const next = this.#q.peek()
      if (next === undefined || next.at > until) break
      this.#q.pop()
      this.now = next.at
      next.run()
    }
    this.now = until
  }

  /** Nodes holding host/id as ALIVE. */
  holding (svc: Service): number {
    let n = 0
    for (const node of this.nodes) if (node.catalog.get(svc.Hostname, svc.ID)?.Status === ServiceStatus.ALIVE) n++
    return n
  }

  /**
   * Announces a record on `origin` at the current time and runs until every node holds it or
   * limitMs passes; returns when 99 % and 100 % held it (ms after the announcement; Infinity if never).
   */
  spread (origin: number, name: string, limitMs: number, stepMs = 10): { p99Ms: number, allMs: number } {
    const t0 = this.now
    const svc = this.announce(origin, name)
    const n = this.nodes.length
    let p99Ms = Infinity
    let allMs = Infinity
    for (let t = t0; t <= t0 + limitMs; t += stepMs) {
      this.runUntil(t)
      const held = this.holding(svc)
      if (p99Ms === Infinity && held >= Math.ceil(0.99 * n)) p99Ms = t - t0
      if (held === n) { allMs = t - t0; break }
    }
    return { p99Ms, allMs }
  }

  /**
   * Cuts the nodes for which `cut(i)` holds off from the rest, announces a record on `origin`
   * (outside the cut), runs holdMs, heals, and runs until every node holds it or limitMs
   * after the heal; returns how many held it at the heal and when all did (ms after it).
   */
  partitionAndHeal (cut: (i: number) => boolean, origin: number, name: string, holdMs: number, limitMs: number, stepMs = 100): { heldAtHeal: number, cutOffHolding: number, afterHealMs: number } {
    this.partition(i => cut(i) ? 1 : 0)
    const svc = this.announce(origin, name)
    this.runUntil(this.now + holdMs)
    const heldAtHeal = this.holding(svc)
    const cutOffHolding = this.nodes.filter(n => cut(n.i) && n.catalog.get(svc.Hostname, svc.ID) !== undefined).length
    this.heal()
    const t0 = this.now
    for (let t = t0; t <= t0 + limitMs; t += stepMs) {
      this.runUntil(t)
      if (this.holding(svc) === this.nodes.length) return { heldAtHeal, cutOffHolding, afterHealMs: t - t0 }
    }
    return { heldAtHeal, cutOffHolding, afterHealMs: Infinity }
  }
}
