// Many webhook listeners on one real daemon, and a peer whose records arrive in gossip pages
// of 1,000 (anti-entropy: each page is one catalog operation), for the fan-out test and bench.
// The listeners: a few that take every event from a receiver that answers at once, many
// filtered to one service name each (every event of theirs is delivered, none coalesced), and
// dead ones that take every event (half never answer, half refuse the connection), whose
// queues stay full. The receiver keeps what the checks need of each POST, not its body (each
// holds the whole state). Every wait is bounded in time.
import { createHmac } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { BulkPeerProcess } from './bulk-peer.ts'
import { DaemonProcess } from './daemon.ts'
import { StallMeter, type Stalls } from './stall-meter.ts'
import { waitFor } from './wait.ts'

export const FANOUT_SECRET = 'fan-out-secret'

export interface FanoutOptions {
  /** Loopback addresses: the daemon, the peer, the live receiver, the silent one, the refusing one. */
  ips: { daemon: string, peer: string, live: string, silent: string, refusing: string }
  /** Records of the peer: pages of 1,000 arrive as one catalog operation each. */
  records: number
  /** Listeners that take every event, answered at once. */
  everything: number
  /** Listeners filtered to one service name each (svc-0, svc-1, ...), answered at once. */
  filtered: number
  /** Listeners that take every event and never get an answer; as many again are refused. */
  dead: number
  queueSize: number
  /** Added to the daemon's NODE_OPTIONS (a profiler, for the bench). */
  nodeOptions?: string
}

/** What the receiver kept of one POST. */
export interface Post {
  path: string
  id: number
  /** ChangeEvent.Service: "<ID>" and Name. */
  record: string
  name: string
  /** Records of the peer's host in the body's State. */
  stateRecords: number
  signed: boolean
  at: number
}

export interface ListenerJson { name: string, url: string, delivered: number, coalesced: number, gaveUp: number, queueDepth: number, sending: number | null, failedAttempts: number }

export interface FanoutRun {
  d: DaemonProcess
  /** POSTs received, in arrival order. */
  posts: Post[]
  peerHostname: string
  /** performance.now() when the peer was started, and when it printed ready. */
  peerStartedAt: number
  listeners: () => Promise<ListenerJson[]>
  /** The daemon's stalls since the peer was started (ends the meter's window). */
  stalls: () => Promise<Stalls>
  close: () => Promise<void>
}

/** Path of a live listener: /all<i> or /only<i> (filtered to svc-<i>). */
export const livePath = (kind: 'all' | 'only', i: number): string => `/${kind}${i}`

export async function startFanout (o: FanoutOptions): Promise<FanoutRun> {
  const cleanups: Array<() => Promise<void> | void> = []
  const close = async (): Promise<void> => { for (const c of cleanups.reverse()) await c() }
  try {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-fanout-'))
    cleanups.push(async () => { await rm(dir, { recursive: true, force: true }) })
    const posts: Post[] = []
    const peerHostname = 'fanout-peer'
    const live = http.createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        const raw = Buffer.concat(chunks)
        const body = JSON.parse(raw.toString('utf8')) as { State: { Servers: Record<string, { Services: object }> }, ChangeEvent: { Service: { ID: string, Name: string } } }
        const signed = req.headers['x-sidecar-signature'] === `sha256=${createHmac('sha256', FANOUT_SECRET).update(raw).digest('hex')}`
        posts.push({ path: req.url ?? '', id: Number(req.headers['x-sidecar-event-id']), record: body.ChangeEvent.Service.ID, name: body.ChangeEvent.Service.Name, stateRecords: Object.keys(body.State.Servers[peerHostname]?.Services ?? {}).length, signed, at: performance.now() })
        res.end()
      })
    })
    await new Promise<void>(resolve => live.listen(0, o.ips.live, resolve))
    cleanups.push(async () => { live.closeAllConnections(); await new Promise(resolve => live.close(resolve)) })
    // takes each POST and never reads it: a paused socket never sees the daemon's FIN, so close() destroys them
    const held = new Set<net.Socket>()
    const silent = net.createServer(s => { s.pause(); s.on('error', () => {}); held.add(s) })
    await new Promise<void>(resolve => silent.listen(0, o.ips.silent, resolve))
    cleanups.push(async () => { for (const s of held) s.destroy(); await new Promise(resolve => silent.close(resolve)) })
    // a port nothing listens on: taken from the system, then given back
    const closed = net.createServer()
    await new Promise<void>(resolve => closed.listen(0, o.ips.refusing, resolve))
    const refusedPort = (closed.address() as net.AddressInfo).port
    await new Promise(resolve => closed.close(resolve))

    const base = (ip: string, port: number): string => `http://${ip}:${port}`
    const livePort = (live.address() as net.AddressInfo).port
    const silentPort = (silent.address() as net.AddressInfo).port
    const urls = [
      ...Array.from({ length: o.everything }, (_, i) => base(o.ips.live, livePort) + livePath('all', i)),
      ...Array.from({ length: o.dead }, (_, i) => `${base(o.ips.silent, silentPort)}/silent${i}`),
      ...Array.from({ length: o.dead }, (_, i) => `${base(o.ips.refusing, refusedPort)}/refused${i}`),
    ]
    // filtered ones: half of them with status_changes_only too (a new record ALIVE is a status change)
    const webhooks = Array.from({ length: o.filtered }, (_, i) => `[[listeners.webhook]]\nurl = "${base(o.ips.live, livePort)}${livePath('only', i)}"\nservices = ["svc-${i}"]\nstatus_changes_only = ${i % 2 === 1}\n`).join('')
    const toml = `[listeners]\nurls = ${JSON.stringify(urls)}\nsecret = "${FANOUT_SECRET}"\nqueue_size = ${o.queueSize}\ntimeout = "60s"\n${webhooks}`
    await writeFile(path.join(dir, 'sidecar.toml'), toml)
    await writeFile(path.join(dir, 'static.json'), '[]')
    const meter = new StallMeter('fanout')
    cleanups.push(async () => { await meter.close() })
    const d = new DaemonProcess({
      ip: o.ips.daemon,
      hostname: 'fanout',
      cwd: dir,
      args: ['-d', 'static', '-f', path.join(dir, 'sidecar.toml')],
      env: { STATIC_CONFIG_FILE: path.join(dir, 'static.json'), SIDECAR_LOGGING_LEVEL: 'info', SIDECAR_ALIVE_LIFESPAN: '10m', PROXY_ENABLED: 'false', ...meter.env(o.nodeOptions) },
    })
    cleanups.push(async () => { await d.stop('SIGTERM', 10_000) })
    await d.ready()
    const listeners = async (): Promise<ListenerJson[]> => (await d.json<{ listeners: ListenerJson[] }>('/api/listeners.json')).listeners
    await waitFor(async () => (await listeners()).length === o.everything + 2 * o.dead + o.filtered, { timeoutMs: 30_000, message: 'every listener configured' })

    meter.start(d.child.pid as number)
    const peerStartedAt = performance.now()
    const peer = await BulkPeerProcess.start({ ip: o.ips.peer, hostname: peerHostname, records: o.records, seeds: [o.ips.daemon] }, 120_000)
    cleanups.push(async () => { await peer.stop() })
    return { d, posts, peerHostname, peerStartedAt, listeners, stalls: async () => await meter.read(), close }
  } catch (err) {
    await close()
    throw err
  }
}

/** Waits until every listener has been offered all `accepted(l)` events and nothing is left to send but what the dead ones hold. */
export async function untilSettled (run: FanoutRun, accepted: (l: ListenerJson) => number, timeoutMs: number): Promise<ListenerJson[]> {
  let last: ListenerJson[] = []
  // an event is delivered, waiting, being sent, coalesced or given up: once all are accounted for, nothing is still being handed out
  const accounted = (l: ListenerJson): number => l.delivered + l.queueDepth + (l.sending === null ? 0 : 1) + l.coalesced + l.gaveUp
  return await waitFor(async () => {
    last = await run.listeners()
    const live = last.filter(l => l.url.includes('/all') || l.url.includes('/only'))
    return last.every(l => accounted(l) === accepted(l)) && live.every(l => l.queueDepth === 0 && l.sending === null) && last
  }, { timeoutMs, intervalMs: 200, message: () => `every listener offered every event; ${JSON.stringify(last.filter(l => accounted(l) !== accepted(l)).slice(0, 5))}\n${run.d.output.split('\n').filter(l => !l.includes('DEBUG')).slice(-20).join('\n')}` })
}
