// Clock skew on real daemons (127.0.19.x): one host's wall clock 60 s ahead and another's
// 60 s behind (libfaketime on the daemon process, monotonic clock untouched), three correct.
// Each skewed host measures the others' clocks on its probes and corrects its own stamps:
// /health shows its offset, its records carry times within a few seconds of the correct
// hosts' clocks, they stay ALIVE for longer than the 20 s a 60 s-behind stamp would have
// left before expiry, and changes on both skewed hosts reach everyone.
import { existsSync } from 'node:fs'
import os from 'node:os'
import test from 'ava'
import { ALIVE, makeCluster, startAll, statusIn, TOMBSTONE, waitOnAll, type ClusterNode, type StateJson } from '../helpers/cluster.ts'
import { FAKETIME_LIB, skewEnv } from '../helpers/faults.ts'
import { sleep, waitFor } from '../helpers/wait.ts'

const IPS = ['127.0.19.2', '127.0.19.3', '127.0.19.4', '127.0.19.5', '127.0.19.6']
const SKEW_S = [60, -60, 0, 0, 0]
/** How close a corrected stamp must be to the correct hosts' clocks (measurement error is half a round trip; the machine is loaded). */
const STAMP_TOLERANCE_MS = 5000
/** Watched this long: a record stamped 60 s behind would expire (80 s lifespan) within 20 s. */
const WATCH_MS = 25_000

const missing = existsSync(FAKETIME_LIB) ? undefined : `no ${FAKETIME_LIB} (apt-get install faketime)`
if (missing !== undefined) console.log(`faults-skew: SKIPPED, ${missing}`)
const maybe = missing === undefined ? test.serial : test.serial.skip

function allAlive (nodes: readonly ClusterNode[]) {
  return (s: StateJson): boolean => nodes.every(n => n.services.every(name => statusIn(s, n.hostname, name) === ALIVE))
}

/** Updated (ms) of host's record named name in a state, or NaN. */
function updatedOf (s: StateJson, host: string, name: string): number {
  const r = Object.values(s.Servers[host]?.Services ?? {}).find(x => x.Name === name)
  return r === undefined ? NaN : Date.parse(r.Updated)
}

maybe('hosts 60 s ahead and 60 s behind correct their clocks from the cluster and stay in it', async t => {
  t.timeout(240_000)
  const nodes = await makeCluster(t, IPS.map((ip, i) => ({
    ip,
    hostname: `s${i}`,
    args: ['-c', IPS.filter(o => o !== ip).join(',')],
    env: { SIDECAR_LOGGING_LEVEL: 'info', ...(SKEW_S[i] !== 0 ? skewEnv(SKEW_S[i]) : {}) },
  })))
  const [ahead, behind, ...correct] = nodes
  // The correct hosts first; the skewed ones join the running cluster.
  await startAll(correct)
  const skewedStartedAt = Date.now()
  await startAll([ahead, behind])

  let offsets: number[] = []
  await waitFor(async () => {
    offsets = await Promise.all(nodes.map(async n => (await n.d.json<{ clockOffsetSeconds: number }>('/health')).clockOffsetSeconds))
    return offsets.every((o, i) => Math.abs(o - SKEW_S[i]) < 2)
  }, { timeoutMs: 30_000, message: () => `/health shows each host's skew (${SKEW_S.join(', ')} s), not ${offsets.join(', ')}` })
  t.log(`/health clockOffsetSeconds: ${nodes.map((n, i) => `${n.hostname} (skew ${SKEW_S[i]} s) ${offsets[i]}`).join(', ')}`)
  // the log line goes out with the correction, but logging is asynchronous: it may reach us a moment after /health shows the offset
  await waitFor(() => /this host's clock is off by \+(59|60)\.\d s/.test(ahead.d.output) && /this host's clock is off by -(59|60)\.\d s/.test(behind.d.output), { timeoutMs: 10_000, message: 'both skewed hosts log their correction' }).catch(() => {})
  t.regex(ahead.d.output, /this host's clock is off by \+(59|60)\.\d s/)
  t.regex(behind.d.output, /this host's clock is off by -(59|60)\.\d s/)

  await waitOnAll(nodes, 'every record ALIVE everywhere', allAlive(nodes), 30_000)
  // Records the skewed hosts made after joining carry corrected times.
  await ahead.setServices([...ahead.services, 'new-on-ahead'])
  await behind.setServices([...behind.services, 'new-on-behind'])
  await waitOnAll(nodes, 'the skewed hosts\' new records ALIVE everywhere', allAlive(nodes), 20_000)
  for (const n of correct) {
    const s = await n.state()
    const now = Date.now()
    for (const [host, name] of [[ahead.hostname, 'new-on-ahead'], [behind.hostname, 'new-on-behind'], [ahead.hostname, `svc-${ahead.hostname}`], [behind.hostname, `svc-${behind.hostname}`]]) {
      // Stamped between the skewed host's start and now (a record is re-stamped when gossip's
      // heartbeat sends it, not every second): an uncorrected clock would put it 60 s outside.
      const updated = updatedOf(s, host, name)
      t.true(updated >= skewedStartedAt - STAMP_TOLERANCE_MS && updated <= now + STAMP_TOLERANCE_MS, `${host}/${name} on ${n.hostname} stamped ${((updated - now) / 1000).toFixed(1)} s from its clock, ${((updated - skewedStartedAt) / 1000).toFixed(1)} s after the host started`)
    }
  }

  // Nothing of the skewed hosts expires on the others.
  const t0 = Date.now()
  while (Date.now() - t0 < WATCH_MS) {
    const states = await Promise.all(nodes.map(async n => await n.state()))
    const bad = states.findIndex(s => !allAlive(nodes)(s))
    t.is(bad, -1, bad === -1 ? '' : `a record is no longer ALIVE on ${nodes[bad].hostname} after ${Date.now() - t0} ms`)
    if (bad !== -1) break
    await sleep(1000)
  }

  // Removals on the skewed hosts win everywhere (their tombstones are newer than what peers hold).
  await ahead.setServices(ahead.services.filter(s => s !== 'new-on-ahead'))
  await behind.setServices(behind.services.filter(s => s !== 'new-on-behind'))
  await waitOnAll(nodes, 'the removals tombstoned everywhere', s => statusIn(s, ahead.hostname, 'new-on-ahead') === TOMBSTONE && statusIn(s, behind.hostname, 'new-on-behind') === TOMBSTONE && allAlive(nodes)(s), 20_000)
  t.log(`skewed hosts stayed ALIVE for ${WATCH_MS} ms on every node; load ${os.loadavg()[0].toFixed(2)}`)
})
