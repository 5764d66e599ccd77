// The admission rules for one remote record, as small pure functions (admission.ts applies
// them with the node's state). Each returns undefined (admitted) or a refusal reason.
import type { BlockList } from 'node:net'
import { backendIpRefusal } from '../lib/backend-ips.ts'
import { ServiceStatus, Time, type Service } from '../service/index.ts'
import type { Proof } from './proof.ts'

/**
 * How far ahead of our clock a record's Updated (or Created) may be. Hosts keep NTP time
 * within milliseconds, and a host far off is corrected at its origin (the prober's measured
 * offset, through the injected clock); 30 s still tolerates a host whose correction has not
 * converged yet, while a forged record stamped ahead outlives its origin's next refresh by 30 s
 * at most (it was 5 minutes, which let one forged tombstone hold a service down for 5 minutes).
 */
export const MAX_FUTURE_SKEW_MS = 30_000

/**
 * The earliest Created accepted: 2013-01-01, before Docker's first release (March 2013),
 * so before any container or service this daemon can discover. The port-conflict rule gives a
 * ServicePort to the oldest Created: a forged 0001-01-01 or Unix-epoch Created (the zero
 * values a forger reaches for) would win every port. An origin can still choose any Created in
 * [2013, now + skew] for its own records: members are trusted with their own ports.
 */
export const MIN_CREATED = Time.parse('2013-01-01T00:00:00Z')

export type RefuseReason =
  | 'unsigned' | 'signature' | 'unknown-host' | 'pin' | 'not-member' | 'observer' | 'not-departed'
  | 'future' | 'created' | 'backend-ip' | 'cap-host' | 'cap-total' | 'cap-unknown' | 'superseded'

/** Refusals that prove the sender relayed a forgery (gossipsub scores it down); the others are a view that differs, or a bound. */
export const FORGERY_REASONS: ReadonlySet<RefuseReason> = new Set(['unsigned', 'signature', 'observer'])

/** What the node knows of a record's host when it judges the record. */
export interface HostView {
  /** This node's hostname. */
  self: string
  /** The peer id pinned to the record's hostname. */
  pinnedPeer: string | undefined
  /** The hostname pinned to the proof's signer. */
  signerHost: string | undefined
  /** The record's host is a live member (or within its departure grace) in our view. */
  isMember: boolean
  /** Addresses the record's host reported for itself (identify) and connects from. */
  hostIps: ReadonlySet<string>
}

/** Who may vouch for the record: its origin for any record, an observer only for a departed host's tombstone. */
export function checkSigner (svc: Service, proof: Proof, v: HostView): RefuseReason | undefined {
  if (!proof.observer) {
    // a host that never proved itself to us: only its tombstones (a late joiner still learns what left before it; they route nothing)
    if (v.pinnedPeer === undefined) return svc.Status === ServiceStatus.TOMBSTONE && !v.isMember && svc.Hostname !== v.self ? undefined : 'unknown-host'
    if (v.pinnedPeer !== proof.peer) return 'pin'
    if (svc.Status !== ServiceStatus.TOMBSTONE && svc.Hostname !== v.self && !v.isMember) return 'not-member'
    return undefined
  }
  // an observer's statement: "svc.Hostname departed in my view", as a tombstone
  if (svc.Status !== ServiceStatus.TOMBSTONE || v.signerHost === svc.Hostname) return 'observer'
  if (v.signerHost === undefined) return 'unknown-host' // an observer that has not proved its hostname to us (yet)
  if (svc.Hostname === v.self || v.isMember) return 'not-departed'
  return undefined
}

/** Updated and Created within the clock bounds. */
export function checkTimes (svc: Service, now: Time): RefuseReason | undefined {
  const limit = now.plusMillis(MAX_FUTURE_SKEW_MS)
  if (svc.Updated.isAfter(limit)) return 'future'
  if (svc.Created.isAfter(limit) || svc.Created.isBefore(MIN_CREATED)) return 'created'
  return undefined
}

/**
 * Every backend IP of a live record must be its host's own address (as the host reports it)
 * or in an allowed CIDR; an allowed CIDR never admits a loopback, unspecified or link-local
 * address (those would point this node's proxy at itself). A host's own records are not checked.
 */
export function checkBackends (svc: Service, v: HostView, allowed: BlockList): RefuseReason | undefined {
  if (svc.Hostname === v.self || svc.Status === ServiceStatus.TOMBSTONE) return undefined
  for (const p of svc.Ports ?? []) if (backendIpRefusal(p.IP, v.hostIps, allowed) !== undefined) return 'backend-ip'
  return undefined
}

/** What a refusal means, for the gate's log line; init: the caps the node runs with. */
export function explainRefusal (reason: RefuseReason, init: { maxRecordsPerHost: number, maxRecords: number }): string {
  switch (reason) {
    case 'unsigned': return 'the record carries no origin proof'
    case 'signature': return 'its signature does not verify'
    case 'unknown-host': return 'its hostname has not proved itself to this node yet (not pinned)'
    case 'pin': return 'signed by a peer other than the one its hostname is pinned to'
    case 'not-member': return 'its host is not a live member in this node\'s view'
    case 'observer': return 'an observer may only sign a tombstone of another, departed host'
    case 'not-departed': return 'a tombstone by an observer for a host that has not departed in this node\'s view'
    case 'future': return 'Updated is too far ahead of this node\'s clock'
    case 'created': return 'Created is before 2013 or ahead of this node\'s clock'
    case 'backend-ip': return 'a backend IP is neither its host\'s own address nor in [sidecar] backend_cidrs'
    case 'cap-host': return `its host already has ${init.maxRecordsPerHost} records ([sidecar] max_records_per_host)`
    case 'cap-total': return `this node already holds ${init.maxRecords} records ([sidecar] max_records)`
    case 'cap-unknown': return `hostnames not pinned on this node already have ${init.maxRecordsPerHost} records together ([sidecar] max_records_per_host)`
    case 'superseded': return 'its host gave up a newer tombstone on this node to make room for a new record: this version is older than what that tombstone recorded'
  }
}
