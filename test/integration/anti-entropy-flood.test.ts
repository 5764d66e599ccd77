// A member that asks a daemon for its whole state without pause (127.0.66.20-.29): a rogue
// member (helpers/rogue.ts) runs 8 loops of exchanges claiming to hold nothing against a real
// daemon holding 5,000 records of an origin member (helpers/bulk-peer.ts). Before the per-peer
// serving limits (src/gossip/serve-limits.ts) the daemon sent it the whole state every time,
// 94-140 copies in 10 s (at 20,000 records one loop drew 3.6 GB a minute, and 8 put its /health at 90 ms
// at the median): now at most one state a minute, the rest refused or held back, counted in
// its metrics. A late joiner's full pull from the same daemon still comes at once, and its
// periodic exchanges with it are not refused.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import test from 'ava'
import { BulkPeerProcess } from '../helpers/bulk-peer.ts'
import { startDaemon, type DaemonProcess } from '../helpers/daemon.ts'
import { startHealthProber } from '../helpers/health-prober.ts'
import { metric, startRogue, untilMember } from '../helpers/rogue.ts'
import { waitFor } from '../helpers/wait.ts'

const RECORDS = 5000
const FLOOD_MS = 10_000
const ip = (i: number): string => `127.0.66.${20 + i}`

async function metrics (d: DaemonProcess): Promise<string> {
  return await (await fetch(d.url('/metrics'), { signal: AbortSignal.timeout(10_000) })).text()
}

test('anti-entropy: a member pulling the whole state in 8 loops gets about one state a minute, and a late joiner still pulls at once', async t => {
  t.timeout(150_000)
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-ae-flood-'))
  const daemons: DaemonProcess[] = []
  t.teardown(async () => { for (const d of daemons) await d.stop(); await rm(dir, { recursive: true, force: true }) })
  const origin = await BulkPeerProcess.start({ ip: ip(0), hostname: 'origin', records: RECORDS }, 60_000)
  t.teardown(async () => { await origin.stop() })
  await writeFile(path.join(dir, 'static.json'), '[]')
  // the bulk peer does not heartbeat its records: a long alive lifespan keeps them through a slow run
  const env = { STATIC_CONFIG_FILE: path.join(dir, 'static.json'), SIDECAR_ALIVE_LIFESPAN: '10m', SIDECAR_PUSH_PULL_INTERVAL: '1s', SIDECAR_LOGGING_LEVEL: 'debug' }
  const alive = async (d: DaemonProcess): Promise<number> => metric(await metrics(d), 'sidecar_services', 'status="alive"')
  const target = await startDaemon({ ip: ip(1), hostname: 'target', cwd: dir, args: ['-d', 'static', '--cluster-ip', ip(0)], env })
  daemons.push(target)
  await waitFor(async () => await alive(target) >= RECORDS, { timeoutMs: 60_000, message: 'the target holds the origin\'s records' })

  const rogue = await startRogue(t, { ip: ip(9), hostname: 'rogue', clusterName: 'default' })
  const peer = await rogue.join(ip(1))
  await untilMember(target, 'rogue')
  // the first full pull is served whole: a late joiner's is the same exchange
  const first = await rogue.pull(peer)
  t.is(first.error, undefined)
  t.true(first.pages >= RECORDS / 1000, `the first pull got ${first.pages} records pages`)

  // 8 loops of full pulls for 10 s (at most 4,000 exchanges)
  const end = Date.now() + FLOOD_MS
  let pulls = 0
  let bytes = 0
  let failed = 0
  const prober = startHealthProber(target.url('/health'))
  await Promise.all([...Array.from({ length: 8 }, async () => {
    while (Date.now() < end && pulls < 4000) {
      pulls++
      const r = await rogue.pull(peer)
      bytes += r.recordBytes
      if (r.error !== undefined) failed++
    }
  })])
  const { times, failures } = await prober.stop()
  const latencies = times.sort((a, b) => a - b)
  const m = await metrics(target)
  const refused = metric(m, 'sidecar_anti_entropy_exchanges_total', 'direction="in",result="refused"')
  const heldBack = metric(m, 'sidecar_anti_entropy_records_held_back_total')
  t.log(`one full pull ${first.recordBytes} bytes of records pages; in ${FLOOD_MS / 1000} s the rogue ran ${pulls} exchanges (${failed} refused) and got ${bytes} bytes of records (${(bytes / first.recordBytes).toFixed(2)} states); the target refused ${refused}, held back ${heldBack} records; its /health p50 ${latencies[Math.floor(latencies.length / 2)].toFixed(1)} ms, max ${latencies.at(-1)?.toFixed(0)} ms`)
  // the budget refills one state (plus 1,000 records) a minute: about a fifth of a state in 10 s
  t.true(bytes < 0.8 * first.recordBytes, `the rogue got ${(bytes / first.recordBytes).toFixed(2)} states in ${FLOOD_MS / 1000} s`)
  t.true(refused > 0 && heldBack > 0, 'refused exchanges and held-back records are counted')
  t.deepEqual(failures, [], '/health answered throughout')
  await target.waitForOutput(/anti-entropy asked by \S+: \d+ exchanges? refused .*records held back/)

  // a late joiner pulls the whole state from the target at once, and its periodic exchanges are served
  const joiner = await startDaemon({ ip: ip(2), hostname: 'joiner', cwd: dir, args: ['-d', 'static', '--cluster-ip', ip(1)], env })
  daemons.push(joiner)
  const t0 = Date.now()
  await waitFor(async () => await alive(joiner) >= RECORDS, { timeoutMs: 30_000, message: 'the joiner holds the origin\'s records' })
  t.log(`the joiner held all ${RECORDS} records ${Date.now() - t0} ms after its API answered`)
  const ok = async (): Promise<number> => metric(await metrics(joiner), 'sidecar_anti_entropy_exchanges_total', 'direction="out",result="ok"')
  const before = await ok()
  await waitFor(async () => await ok() >= before + 5, { timeoutMs: 30_000, message: 'the joiner ran 5 more exchanges' })
  t.is(metric(await metrics(joiner), 'sidecar_anti_entropy_exchanges_total', 'direction="out",result="error"'), 0, 'none of the joiner\'s exchanges failed')
  t.is(metric(await metrics(target), 'sidecar_anti_entropy_exchanges_total', 'direction="in",result="refused"'), refused, 'the target refused none of them')
})
