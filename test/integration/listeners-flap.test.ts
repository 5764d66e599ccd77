// A member (127.0.60.21, its own key, every version signed by it, so each is valid by the
// gossip rules) flips the health of a few of its records as fast as it can, as a host whose
// check flaps or a key holder that misbehaves. The victim (127.0.60.20, default [listeners]
// settings) has a webhook listener on a fast receiver (127.0.60.22). Before [listeners]
// min_interval, the receiver got a POST of the whole state for every flip: 120-230 a second
// (74-144 MB/s with 2,000 records in the state), and hundreds more after the storm while the
// queue drained. What the receiver must see: after a burst of queue_size (100) POSTs, at most one
// per min_interval (50 ms), the
// newest state soon after the storm, and a lone flip after a quiet spell at once.
import test from 'ava'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { startDaemon } from '../helpers/daemon.ts'
import { FlapPeerProcess } from '../helpers/flap-peer.ts'
import { startReceiver, type StateChangedEvent } from '../helpers/receiver.ts'
import { metric, untilMember } from '../helpers/rogue.ts'
import { sleep, waitFor } from '../helpers/wait.ts'

const VICTIM = '127.0.60.20'
const FLAPPER = '127.0.60.21'
const HOOKS = '127.0.60.22'
const RECORDS = 4
const STORM_MS = 5000
/** The default [listeners] min_interval. */
const MIN_INTERVAL_MS = 50
/** The default burst: [listeners] queue_size POSTs back to back, before min_interval applies. */
const BURST = 100
const UNHEALTHY = 2

interface ListenerJson { delivered: number, coalesced: number, gaveUp: number, queueDepth: number, sending: number | null }

/** The flapper's records in a POST's state, by ID: their statuses. */
function flapperStatuses (e: StateChangedEvent | undefined): number[] {
  const s = e?.State.Servers.flapper?.Services ?? {}
  return Object.keys(s).sort().map(id => s[id].Status)
}

test('listeners: a member flipping its records hundreds of times a second gets a listener of another host a burst and then at most one POST per min_interval, the newest state last', async t => {
  t.timeout(120_000)
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-listeners-flap-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const receiver = await startReceiver(HOOKS)
  t.teardown(async () => { await receiver.close() })
  await writeFile(path.join(dir, 'victim.json'), '[]')
  const victim = await startDaemon({ ip: VICTIM, hostname: 'victim', cwd: dir, args: ['-d', 'static'], env: { SIDECAR_LOGGING_LEVEL: 'info', STATIC_CONFIG_FILE: path.join(dir, 'victim.json'), LISTENERS_URLS: receiver.url('/hook') } })
  t.teardown(() => { victim.kill() })
  const flapper = await FlapPeerProcess.start({ ip: FLAPPER, hostname: 'flapper', records: RECORDS, seeds: [VICTIM], nice: 10 })
  t.teardown(async () => { await flapper.stop() })
  await untilMember(victim, 'flapper', 30_000)
  const listener = async (): Promise<ListenerJson> => (await victim.json<{ listeners: ListenerJson[] }>('/api/listeners.json')).listeners[0]
  await waitFor(async () => flapperStatuses(receiver.bodies().at(-1)).length === RECORDS, { timeoutMs: 30_000, message: 'the listener got every flapper record' })
  await waitFor(async () => (await listener()).queueDepth === 0 && (await listener()).sending === null, { message: 'the listener is idle' })
  const changesOf = async (): Promise<number> => metric(await (await fetch(victim.url('/metrics'))).text(), 'sidecar_catalog_changes_total')

  // a lone flip after a quiet spell is POSTed at once (its 4 changes 50 ms apart)
  await sleep(500)
  await flapper.set('unhealthy')
  const lone = Date.now()
  await waitFor(() => flapperStatuses(receiver.bodies().at(-1)).every(s => s === UNHEALTHY), { timeoutMs: 5000, message: 'the flip to UNHEALTHY POSTed' })
  const loneMs = Date.now() - lone
  await sleep(500)
  const before = await listener()
  const changes0 = await changesOf()
  const posts = receiver.requests.length

  // the storm: every record flipped as fast as the flapper can, bounded in time and flips
  let flips = 0
  const t0 = Date.now()
  while (Date.now() - t0 < STORM_MS && flips < 5000) await flapper.set(flips++ % 2 === 0 ? 'alive' : 'unhealthy')
  await flapper.set('mixed') // the final state: every third record (by ID) UNHEALTHY, the rest ALIVE
  const stormMs = Date.now() - t0
  const inStorm = receiver.requests.length - posts
  const end = Date.now()
  const final = Array.from({ length: RECORDS }, (_, i) => i % 3 === 0 ? UNHEALTHY : 0)
  const caughtUp = await waitFor(() => JSON.stringify(flapperStatuses(receiver.bodies().at(-1))) === JSON.stringify(final), { timeoutMs: 10_000, message: 'the final state POSTed' }).then(() => Date.now() - end, () => NaN)
  await waitFor(async () => { const l = await listener(); return l.queueDepth === 0 && l.sending === null }, { message: 'the listener is idle' })
  await sleep(500)
  const after = await listener()
  const changes = await changesOf() - changes0
  const total = receiver.requests.length - posts
  const times = receiver.requests.slice(posts).map(r => r.arrivedAt)
  // the busiest second from 2 s into the storm, when the burst is spent (with what it earned meanwhile)
  const paced = times.filter(at => at >= t0 + 2000)
  // a token bucket's bound: by any POST, at most BURST plus one per interval since the storm began
  const overBound = times.findIndex((at, i) => i + 1 > BURST + (at - t0) / MIN_INTERVAL_MS + 3)
  const perSecondMax = Math.max(0, ...paced.map(at => paced.filter(x => x >= at && x < at + 1000).length))
  t.log(`${flips} flips of ${RECORDS} records in ${stormMs} ms: ${changes} changes on the victim; ${inStorm} POSTs during the storm (${(inStorm / stormMs * 1000).toFixed(0)}/s), ${total} in all, at most ${perSecondMax} in one second; final state ${caughtUp} ms after the storm; lone flip ${loneMs} ms`)

  t.true(changes >= stormMs / 1000 * 40, `the storm reached the victim: ${changes} changes in ${stormMs} ms`)
  // a burst, then at most one POST per interval; slack for timers, arrival jitter and the tail
  // of the burst on a loaded machine (21-23 seen in CI against 20; the old code: 390 a second,
  // 800 in the busiest one). overBound below is the exact check.
  t.true(perSecondMax <= 2 * 1000 / MIN_INTERVAL_MS, `at most ${perSecondMax} POSTs in one second after the burst`)
  t.is(overBound, -1, `POST ${overBound + 1} came ${times[overBound] - t0} ms into the storm`)
  // every change offered to the listener was POSTed or coalesced away, none lost to a failure
  t.is(after.delivered - before.delivered + after.coalesced - before.coalesced, changes)
  t.is(after.gaveUp, 0)
  t.is(after.delivered - before.delivered, total)
  // the newest state arrives a few intervals after the storm, not queue_size (100) intervals (5 s); 0.2-1.4 s measured on a loaded 2-core machine
  t.true(caughtUp < 4000, `the final state ${caughtUp} ms after the storm`)
  t.deepEqual(flapperStatuses(receiver.bodies().at(-1)), final)
  t.true(loneMs < 3000, `a lone flip POSTed ${loneMs} ms after it was made`)
})
