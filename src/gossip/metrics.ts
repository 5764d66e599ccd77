// The gossip layer's Prometheus metrics, registered on the daemon's registry.
import type { Counter, Gauge, Histogram } from 'prom-client'
import type { Metrics } from '../lib/metrics.ts'

export interface GossipMetrics {
  received: Counter
  published: Counter
  publishErrors: Counter
  rejected: Counter<'reason'>
  exchanges: Counter<'direction' | 'result'>
  exchangeSeconds: Histogram<'direction'>
  heldBack: Counter
  versionsRefused: Counter
  propagationSeconds: Histogram
  exchangeBytes: Histogram<'direction' | 'way'>
  lastExchangeBytes: Gauge<'way'>
  lastExchangeStateBytes: Gauge
  members: Gauge
  refused: Counter<'reason'>
  validated: Counter<'result'>
  pinConflicts: Counter
  refusedBy: Gauge
  versionMismatch: Gauge
  unsealable: Counter
  streamsMended: Counter
  sendOverflows: Counter
}

export function gossipMetrics (m: Metrics): GossipMetrics {
  return {
    received: m.counter('sidecar_gossip_messages_received_total', 'gossip messages accepted from peers'),
    published: m.counter('sidecar_gossip_messages_published_total', 'gossip messages this node published'),
    publishErrors: m.counter('sidecar_gossip_publish_errors_total', 'gossip publishes that failed'),
    rejected: m.counter('sidecar_gossip_messages_rejected_total', 'gossip messages and anti-entropy frames rejected as invalid, by reason', ['reason']),
    exchanges: m.counter('sidecar_anti_entropy_exchanges_total', 'full-state exchanges, by direction (out: this node asked) and result (refused: a peer asked for more than 2 at once or more than 20 a second, or for more versions than its budget, docs/security-gossip.md)', ['direction', 'result']),
    heldBack: m.counter('sidecar_anti_entropy_records_held_back_total', 'records a peer lacked that an exchange it asked for did not send, its budget spent (at most this node\'s state plus 1,000 records a minute per peer): it gets them at its next exchanges'),
    versionsRefused: m.counter('sidecar_anti_entropy_versions_refused_total', 'exchanges a peer asked for that were ended before their versions phase, the versions to send over its budget (4 times this node\'s state plus 10,000 a minute per peer); nothing of them was sent'),
    exchangeSeconds: m.histogram('sidecar_anti_entropy_duration_seconds', 'time one full-state exchange took', [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], ['direction']),
    propagationSeconds: m.histogram('sidecar_gossip_propagation_delay_seconds', 'arrival time of a gossiped record minus its Updated (origin clock)', [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]),
    exchangeBytes: m.histogram('sidecar_anti_entropy_exchange_bytes', 'bytes one anti-entropy exchange sent or received (way), by direction (out: this node asked)', [256, 1024, 4096, 16_384, 65_536, 262_144, 1_048_576, 4_194_304, 16_777_216, 67_108_864], ['direction', 'way']),
    lastExchangeBytes: m.gauge('sidecar_anti_entropy_last_exchange_bytes', 'bytes the last completed anti-entropy exchange sent or received (way)', ['way']),
    lastExchangeStateBytes: m.gauge('sidecar_anti_entropy_last_exchange_state_bytes', 'estimated encoded size of this node\'s state at the last completed exchange, to compare the exchange bytes with'),
    members: m.gauge('sidecar_cluster_members', 'live cluster members, this node included'),
    refused: m.counter('sidecar_gossip_records_refused_total', 'remote records refused by the admission gate, by reason (docs/security-gossip.md)', ['reason']),
    validated: m.counter('sidecar_gossip_messages_validated_total', 'gossip messages judged, by result: accept (forwarded and merged), ignore (nothing admitted), reject (malformed or forged)', ['result']),
    pinConflicts: m.counter('sidecar_gossip_pin_conflicts_total', 'peers that claimed a hostname pinned to another peer id'),
    refusedBy: m.gauge('sidecar_gossip_refused_by_peers', 'peers that said they refuse this host (its hostname pinned to another peer id there); /health names them'),
    versionMismatch: m.gauge('sidecar_gossip_version_mismatch_peers', 'hosts of this cluster seen speaking another gossip protocol version (a rolling upgrade under way), neither side seeing the other\'s services; /health names them'),
    streamsMended: m.counter('sidecar_gossip_streams_mended_total', 'outbound gossip streams opened again to a member still connected (gossipsub does not reopen them itself)'),
    sendOverflows: m.counter('sidecar_gossip_send_overflows_total', 'outbound gossip streams closed because 16 MiB were queued for a member that was not reading them'),
    unsealable: m.counter('sidecar_gossip_records_not_relayed_total', 'records not sent in a full state because no proof for their stored version is held'),
  }
}
