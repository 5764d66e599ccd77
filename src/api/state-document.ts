// /state.json built without stalling the event loop: the same bytes as catalog/encodeState
// (Go's encoding: keys sorted by bytes, <, >, & escaped), in slices (encodeHostsParts), from
// catalog.stateLists() instead of a frozen snapshot, whose frozen view of a host of many
// records is built in one piece after each change of that host. The lists never change once
// taken (a change makes new ones), so the document is the state as of the call even if merges
// land while it is being encoded.
import { setImmediate as yieldToLoop } from 'node:timers/promises'
import type { Catalog, StateMemo } from '../catalog/index.ts'
import { encodeHostsParts } from '../catalog/index.ts'

/** Records encoded between two yields: a few ms of work. */
const SLICE = 2000

/**
 * The pace of a /state.json build: SLICE records, then a setImmediate of its own, not a turn in
 * the shared slice queue (nextTurn): with 20 readers of 100,000 records, taking turns there
 * took their p99 from about 8 s to 16 s (bench:anti-entropy).
 */
function ownPace (): { due: () => boolean, next: () => Promise<void> } {
  let n = 0
  return { due: () => ++n % SLICE === 0, next: async () => { await yieldToLoop() } }
}

/** With a memo, only the blocks of records that changed since the last document are encoded (StateMemo). */
export async function encodeStateSliced (catalog: Catalog, memo?: StateMemo): Promise<Buffer[]> {
  const lists = catalog.stateLists()
  return await encodeHostsParts(lists.hosts, lists, ownPace(), memo)
}
