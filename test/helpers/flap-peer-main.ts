// Runs a BulkPeer whose records' health flaps on command, as its own process: a cluster
// member holding its own key that signs every version it sends, so each flip is valid by the
// gossip rules (a host whose checks flap, or a key holder that misbehaves). Started with one
// JSON argument (BulkPeerOptions); prints "ready", then takes IPC messages
// { op: 'set', pattern } and answers { op: 'done', changed } once the flip is merged (the
// announcer publishes it at once, in slices). Stops on SIGTERM or when its parent goes away.
import { systemClock } from '../../src/service/clock.ts'
import { ServiceStatus, withFields } from '../../src/service/index.ts'
import { BulkPeer, type BulkPeerOptions } from './bulk-peer.ts'
import type { FlapPattern } from './flap-peer.ts'

const opts = JSON.parse(process.argv[2]) as BulkPeerOptions
const peer = await BulkPeer.start(opts)
process.stdout.write('ready\n')

/** The status record i (in ID order) gets under a pattern. */
function statusOf (pattern: FlapPattern, i: number): number {
  if (pattern === 'alive') return ServiceStatus.ALIVE
  if (pattern === 'unhealthy') return ServiceStatus.UNHEALTHY
  return i % 3 === 0 ? ServiceStatus.UNHEALTHY : ServiceStatus.ALIVE
}

process.on('message', (m: { op: 'set', pattern: FlapPattern }) => {
  if (m.op !== 'set') return
  const records = peer.catalog.hostRecords(opts.hostname).sort((a, b) => a.ID < b.ID ? -1 : 1)
  let changed = 0
  for (const [i, svc] of records.entries()) {
    const status = statusOf(m.pattern, i)
    if (svc.Status === status) continue
    peer.catalog.merge(withFields(svc, { Status: status as typeof svc.Status, Updated: systemClock.now() }))
    changed++
  }
  process.send?.({ op: 'done', changed })
})

const stop = (): void => { void peer.stop().finally(() => process.exit(0)) }
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
process.once('disconnect', stop)
