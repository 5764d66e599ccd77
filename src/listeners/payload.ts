// The body POSTed to listeners: the original's StateChangedEvent (reference §1.7),
//   {"State":<ServicesState>,"ChangeEvent":{"Service":<Service>,"PreviousStatus":<int>,"Time":<time>}}
// so receivers written for the Go Sidecar (its `receiver` package) keep working.
import { createHmac } from 'node:crypto'
import { encodeState, goEscape, type ChangeEvent, type StateSnapshot } from '../catalog/index.ts'
import { encodeService } from '../service/index.ts'

/** The original's ChangeEvent JSON: field order Service, PreviousStatus, Time; Go's string escapes. */
export function encodeChangeEvent (change: ChangeEvent): string {
  return `{"Service":${goEscape(encodeService(change.service))},"PreviousStatus":${change.previousStatus},"Time":${JSON.stringify(change.time.toString())}}`
}

/**
 * The StateChangedEvent for one change. The State part is exactly encodeState(state)
 * (what /api/state.json serves for the same snapshot); compact, no trailing newline.
 */
export function encodeStateChangedEvent (state: StateSnapshot, change: ChangeEvent): string {
  return `{"State":${encodeState(state)},"ChangeEvent":${encodeChangeEvent(change)}}`
}

/**
 * encodeStateChangedEvent's bytes, in parts, from the state already encoded (encodeHostsParts),
 * which the events of one catalog operation share: only the last part is new per event. The
 * parts are sent one after the other, never copied into one buffer (2.7 MB per POST at 10,000
 * services, and garbage right after).
 */
export function stateChangedEventBody (state: readonly Buffer[], change: ChangeEvent): Buffer[] {
  return [STATE_OPEN, ...state, Buffer.from(`,"ChangeEvent":${encodeChangeEvent(change)}}`)]
}

const STATE_OPEN = Buffer.from('{"State":')

/** The hex HMAC-SHA256 of the exact body bytes (its parts in order) with the secret as key: one pass over the body. */
export function bodyMac (body: Uint8Array | readonly Uint8Array[], secret: string): string {
  const hmac = createHmac('sha256', secret)
  for (const part of body instanceof Uint8Array ? [body] : body) hmac.update(part)
  return hmac.digest('hex')
}

/** The X-Sidecar-Signature value: "sha256=" + hex HMAC-SHA256 of the exact body bytes (its parts in order). */
export function signBody (body: Uint8Array | readonly Uint8Array[], secret: string): string {
  return `sha256=${bodyMac(body, secret)}`
}

/** What X-Sidecar-Request-Signature's v1 covers besides the body. */
export interface RequestStamp {
  /** Unix seconds of the attempt (each attempt its own). */
  readonly timestamp: number
  /** X-Sidecar-Event-Id. */
  readonly eventId: number
  /** X-Sidecar-Hostname: visible ASCII ([sidecar] hostname is checked so). */
  readonly hostname: string
}

/**
 * The text v1 is the HMAC of: "v1:<unix s>:<event id>:<hostname>:<bodyMac hex>". Unambiguous:
 * the timestamp and id are digits, the body's MAC 64 hex digits at the end, so a hostname with
 * a ":" cannot shift the fields. It starts with "v1:" where every body starts with '{"State":',
 * so no body's X-Sidecar-Signature is ever a valid v1, nor the reverse.
 */
export function requestSigningText (stamp: RequestStamp, mac: string): string {
  return `v1:${stamp.timestamp}:${stamp.eventId}:${stamp.hostname}:${mac}`
}

/**
 * The X-Sidecar-Request-Signature value, "t=<unix s>,v1=<hex>", from the body's MAC (bodyMac,
 * made once per event): an HMAC of about 100 bytes per attempt, whatever the body's size (5-6 MB
 * at 10,000 services), so each retry carries its own time at no cost that grows with the body.
 */
export function signRequest (stamp: RequestStamp, mac: string, secret: string): string {
  return `t=${stamp.timestamp},v1=${createHmac('sha256', secret).update(requestSigningText(stamp, mac)).digest('hex')}`
}
