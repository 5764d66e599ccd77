// Clock skew and departure on real daemons (127.0.90.x): an observer whose wall clock is 25 s
// ahead of a host's (libfaketime; two hosts, so no clock correction: neither is a majority)
// declares the host departed while it is frozen (SIGSTOP). Once the host is back (SIGCONT),
// the observer must show the host's services ALIVE again within seconds. It used to tombstone
// them at its own now, 25 s ahead of the host's stamps, and held them down for about 25 s.
import { existsSync } from 'node:fs'
import os from 'node:os'
import test from 'ava'
import { ALIVE, makeCluster, startAll, statusIn, TOMBSTONE, waitOnAll } from '../helpers/cluster.ts'
import { FAKETIME_LIB, skewEnv } from '../helpers/faults.ts'
import { sleep, waitFor } from '../helpers/wait.ts'

const IPS = ['127.0.90.2', '127.0.90.3']
/** The observer's clock ahead of the host's: under the 30 s a record may be ahead of its receiver, so both see each other's records. */
const SKEW_S = 25
/** Frozen this long: past the 3 s of silence and the 1 s grace that make a member departed. */
const FROZEN_MS = 7000
/**
 * How soon after SIGCONT the host's services must be ALIVE on the observer: the host reconnects,
 * re-announces and is exchanged with in a few seconds (generous: the machine is shared). Before
 * the fix they stayed tombstoned until the host's clock passed the observer's stamp, about
 * SKEW_S - FROZEN_MS + 4 s = 22 s after SIGCONT.
 */
const BACK_MS = 12_000

const missing = existsSync(FAKETIME_LIB) ? undefined : `no ${FAKETIME_LIB} (apt-get install faketime)`
if (missing !== undefined) console.log(`skew-departure: SKIPPED, ${missing}`)
const maybe = missing === undefined ? test.serial : test.serial.skip

maybe(`an observer ${SKEW_S} s ahead that declared a frozen host departed shows its services ALIVE again within seconds of its return`, async t => {
  t.timeout(180_000)
  const [observer, host] = await makeCluster(t, [
    { ip: IPS[0], hostname: 'skew-x', args: ['-c', IPS[1]], env: { SIDECAR_LOGGING_LEVEL: 'info', ...skewEnv(SKEW_S) } },
    { ip: IPS[1], hostname: 'skew-h', args: ['-c', IPS[0]], env: { SIDECAR_LOGGING_LEVEL: 'info' } },
  ])
  await startAll([host, observer])
  const hostAlive = (s: Parameters<typeof statusIn>[0]): boolean => host.services.every(name => statusIn(s, host.hostname, name) === ALIVE)
  await waitOnAll([observer], 'the host\'s services ALIVE on the observer', hostAlive, 60_000)

  host.d.child.kill('SIGSTOP')
  await waitOnAll([observer], 'the frozen host departed on the observer (its services tombstoned)', s => host.services.every(name => statusIn(s, host.hostname, name) === TOMBSTONE), 30_000)
  await sleep(Math.max(0, FROZEN_MS - 4000))
  host.d.child.kill('SIGCONT')
  const t0 = Date.now()
  let last: number | undefined
  await waitFor(async () => {
    last = statusIn(await observer.state(), host.hostname, host.services[0])
    return last === ALIVE
  }, { timeoutMs: BACK_MS, intervalMs: 200, message: () => `the host's service ALIVE on the observer within ${BACK_MS} ms of SIGCONT (status ${String(last)}); observer output:\n${observer.d.output.slice(-3000)}` })
  const backMs = Date.now() - t0
  // and it stays ALIVE (no tombstone of the observer's wins it back)
  for (let i = 0; i < 10; i++) {
    await sleep(500)
    t.is(statusIn(await observer.state(), host.hostname, host.services[0]), ALIVE, `still ALIVE ${Date.now() - t0} ms after SIGCONT`)
  }
  t.log(`ALIVE on the observer ${backMs} ms after SIGCONT (skew ${SKEW_S} s); load ${os.loadavg()[0].toFixed(2)}`)
})
