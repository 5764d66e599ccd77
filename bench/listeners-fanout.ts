// Webhook fan-out at scale (prints, never fails): a real daemon with hundreds of listeners
// (test/helpers/listener-fanout.ts) gets a peer's records in gossip pages of 1,000; prints the
// daemon's longest event-loop stall (1 ms sampling) and the time from the peer's start to the
// last POST. Addresses 127.0.42.40-.44.
// Run: node bench/listeners-fanout.ts [records=3000] [dead=100] [filtered=96] [everything=4]
// (FANOUT_NODE_OPTIONS=--cpu-prof profiles the daemon)
import os from 'node:os'
import { describeStall } from '../test/helpers/stall-meter.ts'
import { startFanout, untilSettled } from '../test/helpers/listener-fanout.ts'

const [records = 3000, dead = 100, filtered = 96, everything = 4] = process.argv.slice(2).map(Number)
const run = await startFanout({
  ips: { daemon: '127.0.42.40', peer: '127.0.42.41', live: '127.0.42.42', silent: '127.0.42.43', refusing: '127.0.42.44' },
  records,
  everything,
  filtered,
  dead,
  queueSize: 5,
  nodeOptions: process.env.FANOUT_NODE_OPTIONS ?? '',
})
try {
  const load = os.loadavg()[0]
  const perName = (i: number): number => Math.floor(records / 500) + (i < records % 500 ? 1 : 0)
  const accepted = (l: { url: string }): number => {
    const m = /\/only(\d+)$/.exec(l.url)
    return m === null ? records : perName(Number(m[1]))
  }
  await untilSettled(run, accepted, 300_000)
  const stalls = await run.stalls()
  const first = run.posts[0]?.at ?? NaN
  const last = run.posts.at(-1)?.at ?? NaN
  console.log(`${records} records, ${everything + filtered + 2 * dead} listeners (${everything} every event, ${filtered} filtered, ${dead} silent, ${dead} refused): ` +
    `${run.posts.length} POSTs; first ${(first - run.peerStartedAt).toFixed(0)} ms, last ${(last - run.peerStartedAt).toFixed(0)} ms after the peer started (${(last - first).toFixed(0)} ms apart); ` +
    `longest stall ${describeStall(stalls)}; load average ${load.toFixed(2)}`)
} finally {
  await run.close()
}
