// A late joiner whose seed answers but takes longer than the join timeout (5 s) to send its
// state: a large cluster's (100,000 records took 13 s on 2 cores), or a slow seed. Before, the
// joiner logged "no seed answered within 5 s: running alone" while the pull went on, and
// /health said 200 halfway through the state. Now it says the seed answered (the start goes on
// beside the pull, as before), logs progress, and /health says "joining" until the pull ends
// (30 s after the join began at most), then "joined the cluster".
// A real daemon on 127.0.70.21; its seed is a rogue member (test/helpers/rogue.ts) on
// 127.0.70.22 that sends each frame of an exchange 3 s late.
import test from 'ava'
import { makeCluster } from '../helpers/cluster.ts'
import type { DaemonProcess } from '../helpers/daemon.ts'
import { startRogue } from '../helpers/rogue.ts'
import { sleep } from '../helpers/wait.ts'

/** /health every 100 ms until it says "ok" (or timeoutMs): when it first said "joining", and when "ok". */
async function healthTimeline (d: DaemonProcess, timeoutMs: number): Promise<{ joiningAt?: number, okAt?: number }> {
  let joiningAt: number | undefined
  let okAt: number | undefined
  const deadline = Date.now() + timeoutMs
  while (okAt === undefined && Date.now() < deadline && d.running) {
    const status = await fetch(d.url('/health'), { signal: AbortSignal.timeout(5000) }).then(async r => ((await r.json()) as { status: string }).status, () => undefined)
    if (status === 'joining') joiningAt ??= Date.now()
    if (status === 'ok') okAt = Date.now()
    await sleep(100)
  }
  return { joiningAt, okAt }
}

test('a seed that answers but sends its state for longer than 5 s: the joiner says so, and /health says "joining" until the pull ends', async t => {
  t.timeout(120_000)
  const cluster = 'slow-join'
  const seed = await startRogue(t, { ip: '127.0.70.22', hostname: 'seed', clusterName: cluster })
  seed.delayServing(3000)
  const [joiner] = await makeCluster(t, [{ ip: '127.0.70.21', hostname: 'joiner', args: ['-n', cluster, '-c', '127.0.70.22'] }])
  const d = joiner.spawn()
  const { joiningAt, okAt } = await healthTimeline(d, 90_000)
  const log = d.output
  t.truthy(joiningAt, `/health said "joining"; log:\n${log.slice(-3000)}`)
  t.truthy(okAt, `/health said "ok" in the end; log:\n${log.slice(-3000)}`)
  t.true((okAt ?? 0) - (joiningAt ?? 0) > 5000, `"joining" until the pull ended, past the 5 s join timeout (${(okAt ?? 0) - (joiningAt ?? 0)} ms)`)
  await d.waitForOutput(/joining: seed answered and its state is still coming \(0 records of other hosts held so far\): going on with the start beside the pull/)
  await d.waitForOutput(/anti-entropy \(join\) with seed: received 0 records/)
  await d.waitForOutput(/joined the cluster in \d+ ms/)
  t.notRegex(d.output, /no seed answered/, 'the seed answered')
})

test('a seed that trickles its state holds the joiner in "joining" 30 s at most: then the start goes on, with a WARN', async t => {
  t.timeout(180_000)
  const cluster = 'trickle-join'
  const seed = await startRogue(t, { ip: '127.0.70.24', hostname: 'seed', clusterName: cluster })
  seed.delayServing(25_000) // two rounds, each under the 30 s in which an exchange without a frame is given up
  const [joiner] = await makeCluster(t, [{ ip: '127.0.70.23', hostname: 'joiner', args: ['-n', cluster, '-c', '127.0.70.24'] }])
  const d = joiner.spawn()
  const { joiningAt, okAt } = await healthTimeline(d, 100_000)
  const log = d.output
  t.truthy(okAt, `/health said "ok" in the end; log:\n${log.slice(-3000)}`)
  const joiningMs = (okAt ?? 0) - (joiningAt ?? 0)
  t.true(joiningMs > 28_000 && joiningMs < 45_000, `"joining" for about 30 s (${joiningMs} ms)`)
  await d.waitForOutput(/joining: pulling the cluster's state from seed, 0 records of other hosts held so far \(10 s\)/) // progress lines
  await d.waitForOutput(/WARN: \[gossip\] the join pull from seed has not ended 30 s after the join began \(0 records of other hosts held\): no longer "joining", the pull goes on/)
  t.notRegex(log, /joined the cluster in/)
})
