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

/** The X-Sidecar-Signature value: "sha256=" + hex HMAC-SHA256 of the exact body bytes (its parts in order). */
export function signBody (body: Uint8Array | readonly Uint8Array[], secret: string): string {
  const hmac = createHmac('sha256', secret)
  for (const part of body instanceof Uint8Array ? [body] : body) hmac.update(part)
  return `sha256=${hmac.digest('hex')}`
}
