// The libp2p node every daemon runs: TCP (and QUIC where it loads and is safe), noise,
// yamux, identify, ping, gossipsub. The numbers below fix the traps measured in
// shared/reference/stack-notes.md §1 (connection rate limits, IP-colocation scoring,
// a 13 s failure detector). Also used by tests and benchmarks to run peers of their own.
import { ConfigError, SidecarError, StartError } from '../lib/errors.ts'
import { createHash } from 'node:crypto'
import { mkdir, rename, writeFile } from 'node:fs/promises'
import net from 'node:net'
import path from 'node:path'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { gossipsub, type GossipSub } from '@libp2p/gossipsub'
import { identify, type Identify } from '@libp2p/identify'
import type { AbortOptions, PeerId, PrivateKey, Stream } from '@libp2p/interface'
import { ping, type Ping } from '@libp2p/ping'
import { preSharedKey } from '@libp2p/pnet'
import { tcp } from '@libp2p/tcp'
import { createLibp2p, type Libp2p } from 'libp2p'
import type { Logger } from '../lib/logger.ts'
import { nextTurn } from '../lib/slicer.ts'
import { readDataFile, refuseNonDirectory } from '../lib/data-dir.ts'
import { applyStackFixes, releaseTimersOnStop } from './stack-fixes.ts'

const EMPTY = new Uint8Array(0)

/**
 * Gossip queued for one member and not yet taken by it, at most: 16 MiB. A host that starts with
 * 10,000 services publishes about 4 MB, which a member that reads at all takes within a second;
 * a member that took none of 98 MB of relayed records made a daemon hold 425 MB more in its heap
 * and buffers (test/integration/gossip-unread.test.ts). A bound on bytes that is one on memory
 * too: queued bytes are copied out of the pool slabs they were cut from (stack-fixes.ts, fix 4).
 */
export const GOSSIP_SEND_BUFFER_BYTES = 16 * 1024 * 1024

export type GossipNode = Libp2p<{ pubsub: GossipSub, identify: Identify, ping: Ping }>

export interface NodeInit {
  /** Our hostname: sent to peers in identify's agent version (see agentVersion()). */
  hostname: string
  clusterName: string
  bindIp: string
  bindPort: number
  /** The address peers should dial. */
  advertiseIp: string
  /** '' for none; else every connection must prove the same key (libp2p private network). */
  clusterKey: string
  /** Try QUIC (UDP) next to TCP. */
  quic: boolean
  privateKey: PrivateKey
  /** Package version, for the agent version string. */
  version: string
}

/** No open connection to the peer, and openStream() was not to dial. */
export class NotConnectedError extends SidecarError {}

/**
 * A stream to peer on a connection already open; without one it dials only when dial is true
 * (libp2p's dialProtocol always dials). Who connects, and how often, is decided by membership
 * and the seed dialer, with their damping and backoff: an exchange or a probe that dialled a
 * peer refusing this host brought it back four times a second, each time within the departure
 * grace (two machines with one hostname). Anti-entropy still dials other peers: a join exchange
 * that lost the race with a connection's replacement would otherwise wait for the next
 * periodic one (a late joiner took 4-8 s to hold the state instead of about 2 s).
 */
export async function openStream (node: GossipNode, peer: PeerId, protocol: string, options: AbortOptions, dial = false): Promise<Stream> {
  const conn = node.getConnections(peer).find(c => c.status === 'open')
  if (conn !== undefined) return await conn.newStream(protocol, options)
  if (dial) return await node.dialProtocol(peer, protocol, options)
  throw new NotConnectedError(`not connected to ${peer.toString()}`)
}

/** Gossipsub topic of a cluster: the cluster name is part of it, so clusters never mix. */
export function topicOf (clusterName: string): string {
  return `/sidecar/${encodeURIComponent(clusterName)}/services/1`
}

/**
 * The anti-entropy protocol's version (2.0.0: digest first, one frame in flight per direction;
 * 1.0.0 was sidecar 0.1.0's). Peers listing another version are not members (versions.ts).
 */
export const STATE_PROTOCOL_VERSION = '2.0.0'

/** The anti-entropy protocol id of a cluster. */
export function stateProtocolOf (clusterName: string): string {
  return `/sidecar/${encodeURIComponent(clusterName)}/state/${STATE_PROTOCOL_VERSION}`
}

/** The failure detector's echo protocol id of a cluster. */
export function probeProtocolOf (clusterName: string): string {
  return `/sidecar/${encodeURIComponent(clusterName)}/probe/1.0.0`
}

/** "sidecar/0.1.0 host/<hostname>": how a peer learns our hostname through identify. */
export function agentVersion (version: string, hostname: string): string {
  return `sidecar/${version} host/${hostname}`
}

/** The hostname in a peer's agent version, or undefined when it is not a sidecar's. */
export function hostnameOfAgent (agent: string | undefined): string | undefined {
  const m = agent === undefined ? null : /^sidecar\/\S{1,64} host\/([\x21-\x7e]{1,253})$/.exec(agent)
  return m === null ? undefined : m[1]
}

/** The 32-byte libp2p swarm key derived from any cluster_key string, in the file format @libp2p/pnet reads. */
export function swarmKeyOf (clusterKey: string): Uint8Array {
  const hex = createHash('sha256').update(`sidecar cluster key\0${clusterKey}`).digest('hex')
  return new TextEncoder().encode(`/key/swarm/psk/1.0.0/\n/base16/\n${hex}`)
}

function ipProto (ip: string): string {
  return net.isIPv6(ip) ? 'ip6' : 'ip4'
}

export function tcpAddr (ip: string, port: number): string {
  return `/${ipProto(ip)}/${ip}/tcp/${port}`
}

export function quicAddr (ip: string, port: number): string {
  return `/${ipProto(ip)}/${ip}/udp/${port}/quic-v1`
}

/**
 * Loads the QUIC transport, or explains why not: its native build may be missing on this
 * platform, and it bypasses the pre-shared key (libp2p skips connection protectors for
 * transports that bring their own encryption), so it is off whenever a cluster key is set.
 */
type QuicFactory = ReturnType<typeof import('@chainsafe/libp2p-quic').quic>

async function loadQuic (init: NodeInit): Promise<{ transport?: QuicFactory, why?: string }> {
  if (!init.quic) return { why: 'QUIC disabled by [sidecar] quic = false' }
  if (init.clusterKey !== '') return { why: 'QUIC off: a cluster_key is set and QUIC connections would not be checked against it' }
  try {
    const { quic } = await import('@chainsafe/libp2p-quic')
    return { transport: quic() }
  } catch (err) {
    return { why: `QUIC unavailable on this platform (${(err as Error).message.split('\n')[0]})` }
  }
}

/** Creates the node, not started (the caller starts it in a later turn of the event loop). Returns whether QUIC is on. */
export async function createGossipNode (init: NodeInit, logger: Logger): Promise<{ node: GossipNode, quic: boolean }> {
  await applyStackFixes()
  const q = await loadQuic(init)
  await nextTurn() // loading QUIC's native module took 10-20 ms: not in the same turn of the event loop as the node's creation
  if (q.why !== undefined) logger.info(`${q.why}; gossip over TCP only`)
  const listen = [tcpAddr(init.bindIp, init.bindPort), ...(q.transport !== undefined ? [quicAddr(init.bindIp, init.bindPort)] : [])]
  const announce = [tcpAddr(init.advertiseIp, init.bindPort), ...(q.transport !== undefined ? [quicAddr(init.advertiseIp, init.bindPort)] : [])]
  const topic = topicOf(init.clusterName)
  const node = await createLibp2p({
    start: false, // the caller starts it in a later turn of the event loop: creating and starting were one 40-60 ms step
    privateKey: init.privateKey,
    nodeInfo: { name: 'sidecar', version: init.version, userAgent: agentVersion(init.version, init.hostname) },
    addresses: { listen, announce },
    transports: [tcp(), ...(q.transport !== undefined ? [q.transport] : [])],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    ...(init.clusterKey !== '' ? { connectionProtector: preSharedKey({ psk: swarmKeyOf(init.clusterKey), timeout: 5000 }) } : {}),
    connectionManager: {
      // Every loopback or NATed peer dials from one address: the default 5/s per address rejects a cluster starting at once.
      inboundConnectionThreshold: 1000,
      maxIncomingPendingConnections: 100,
      dialTimeout: 5000,
    },
    // Frozen peers are found by membership's prober (prober.ts), which tolerates a starved machine; this monitor aborts on one slow ping.
    connectionMonitor: { enabled: false },
    services: {
      identify: identify(),
      ping: ping(),
      pubsub: gossipsub({
        allowPublishToZeroTopicPeers: true,
        ignoreDuplicatePublishError: true,
        allowedTopics: [topic],
        // Content-addressed ids: a newer version of a record is new bytes and passes; the same bytes again are dropped.
        msgIdFn: (msg) => createHash('sha256').update(msg.data).digest(),
        // The same id, computed before the signature check: every copy a mesh forwards after the first is dropped without an Ed25519 verify.
        fastMsgIdFn: (msg) => createHash('sha256').update(msg.data ?? EMPTY).digest('base64'),
        // A private cluster behind one address (loopback, NAT) would otherwise score its own peers down and graylist them past 10.
        scoreParams: { IPColocationFactorWeight: 0 },
        maxInboundDataLength: 256 * 1024,
        // A member that reads nothing of what is sent to it (its muxer stops widening the window) would have every
        // message queued for it without end; past this the stream is closed and the mender opens a new one (stream-mender.ts).
        maxOutboundBufferSize: GOSSIP_SEND_BUFFER_BYTES,
        // IDONTWANT (gossipsub 1.2) only for large messages: for a record of a few hundred bytes the control message
        // to each mesh peer costs them as much as the duplicate it spares them, and on a fast network it comes too late.
        idontwantMinDataSize: 16 * 1024,
      }),
    },
  })
  releaseTimersOnStop(node, node.services.pubsub)
  return { node, quic: q.transport !== undefined }
}

/** What a failure to start the node means for the user: libp2p's own message talks about transportManager.faultTolerance. */
export function listenError (err: unknown, init: Pick<NodeInit, 'bindIp' | 'bindPort'>, quic: boolean): StartError {
  if (/EADDRINUSE|Address already in use/.test(String((err as Error).message))) {
    return new StartError(`gossip: cannot listen on ${init.bindIp}:${init.bindPort}: address in use (another sidecar running? choose another port with [sidecar] bind_port or --bind-port)`, { cause: err })
  }
  return new StartError(`gossip: cannot listen on ${init.bindIp}:${init.bindPort} (TCP${quic ? ' and UDP' : ''}): ${(err as Error).message}; choose another address or port with --bind-ip / --bind-port`, { cause: err })
}

/**
 * The node's private key, kept in dataDir so its peer id survives restarts; created on
 * first use. A key file that cannot be read as a key is replaced (with a warning): the
 * only cost is a new peer id; one that is not a regular file (a FIFO, a directory, a device) or is
 * larger than any key is refused with a ConfigError, at once (data-dir.ts readDataFile). `unkept` says why a new key could not be kept: then this run's
 * identity is thrown away at exit, and peers that pinned this hostname to it refuse the
 * next one (pins.ts), so the daemon says so in the log and in /health. step() is told what
 * it does on disk, for the message of a data_dir that never answers (data-dir.ts).
 */
/** A node key file is at most this large: an Ed25519 key takes 68 bytes, an RSA-4096 one 2.4 kB. */
const MAX_KEY_BYTES = 16 * 1024

export async function loadPeerKey (dataDir: string, logger: Logger, hostname: string, step: (doing: string) => void = () => {}): Promise<{ key: PrivateKey, unkept?: string }> {
  const file = path.join(dataDir, 'peer.key')
  let bytes: Uint8Array | undefined
  step('looking at the directory')
  await refuseNonDirectory(dataDir)
  try {
    step(`reading the node key ${file}`)
    bytes = (await readDataFile(file, MAX_KEY_BYTES, `remove it (this host then gets a new peer id, which the peers that pinned ${hostname} refuse until unpinned) or put the node key back in its place`)).bytes
  } catch (err) {
    if (err instanceof ConfigError) throw err // not a key file at all: the operator decides, nothing is replaced
    const code = (err as NodeJS.ErrnoException).code
    if (code !== 'ENOENT') logger.warn(`cannot read ${file} (${code ?? (err as Error).message}): creating a new key, this node gets a new peer id`)
  }
  if (bytes !== undefined) {
    try {
      return { key: privateKeyFromProtobuf(bytes) }
    } catch (err) {
      logger.warn(`${file} is not a usable key (${(err as Error).message}): creating a new one, this node gets a new peer id`)
    }
  }
  const key = await generateKeyPair('Ed25519')
  try {
    step('creating the directory')
    await mkdir(dataDir, { recursive: true, mode: 0o700 })
    const tmp = `${file}.${process.pid}.tmp`
    step(`writing the node key ${file}`)
    await writeFile(tmp, privateKeyToProtobuf(key), { mode: 0o600 })
    await rename(tmp, file)
  } catch (err) {
    const unkept = `cannot keep the node key in ${dataDir} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): this run's peer id is lost at exit, and after a restart every peer that knew ${hostname} refuses the new one (host-pins.json); make [sidecar] data_dir writable, or point it at a directory that is, before restarting`
    logger.warn(unkept)
    return { key, unkept }
  }
  return { key }
}
