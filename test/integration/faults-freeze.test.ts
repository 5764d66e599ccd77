// SIGSTOP of a minority (2 of 5) and of a majority (3 of 5) of real daemons (127.0.18.x),
// each frozen past departure detection, with a change made meanwhile on a running host;
// after SIGCONT every node must hold one identical state: every live record ALIVE, the
// change everywhere, every member listed.
import os from 'node:os'
import test from 'ava'
import { ALIVE, makeCluster, startAll, statusIn, waitOnAll, type ClusterNode, type ServicesJson, type StateJson } from '../helpers/cluster.ts'
import { comparable } from '../helpers/faults.ts'
import { sleep, waitFor } from '../helpers/wait.ts'

const IPS = ['127.0.18.2', '127.0.18.3', '127.0.18.4', '127.0.18.5', '127.0.18.6']
/** Frozen this long: past the 3 s of silence and the 1 s grace that make a member departed. */
const FROZEN_MS = 8000
/** Recovery limit after SIGCONT (generous: the machine is shared). */
const RECOVER_MS = 30_000

function allAlive (nodes: readonly ClusterNode[]) {
  return (s: StateJson): boolean => nodes.every(n => n.services.every(name => statusIn(s, n.hostname, name) === ALIVE))
}

test.serial('a frozen minority and a frozen majority (SIGSTOP) recover after SIGCONT', async t => {
  t.timeout(240_000)
  const nodes = await makeCluster(t, IPS.map((ip, i) => ({ ip, hostname: `z${i}`, args: ['-c', IPS.filter(o => o !== ip).join(',')], env: { SIDECAR_LOGGING_LEVEL: 'info' } })))
  await startAll(nodes)
  await waitOnAll(nodes, 'the cluster forms', allAlive(nodes), 60_000)

  for (const [what, frozen] of [['minority', nodes.slice(0, 2)], ['majority', nodes.slice(2, 5)]] as const) {
    const running = nodes.filter(n => !frozen.includes(n))
    for (const n of frozen) n.d.child.kill('SIGSTOP')
    const changed = running[0]
    await changed.setServices([...changed.services, `while-${what}-frozen`])
    await waitOnAll(running, `the change on ${changed.hostname} reaches the running nodes`, s => statusIn(s, changed.hostname, `while-${what}-frozen`) === ALIVE, RECOVER_MS)
    await sleep(FROZEN_MS)
    for (const n of frozen) n.d.child.kill('SIGCONT')
    const t0 = Date.now()
    let last = ''
    await waitFor(async () => {
      const states = await Promise.all(nodes.map(async n => await n.state()))
      const docs = new Set(states.map(comparable))
      last = `${docs.size} different states; all alive: ${states.map(s => allAlive(nodes)(s)).join(',')}`
      return docs.size === 1 && states.every(allAlive(nodes))
    }, { timeoutMs: RECOVER_MS, intervalMs: 200, message: () => `one identical state with every record ALIVE after the ${what} wakes: ${last}` })
    const ms = Date.now() - t0
    const names = nodes.map(n => n.hostname).sort().join()
    await waitFor(async () => {
      for (const n of nodes) if (Object.keys((await n.d.json<ServicesJson>('/services.json')).ClusterMembers ?? {}).sort().join() !== names) return false
      return true
    }, { timeoutMs: RECOVER_MS, message: `every node lists all 5 members after the ${what} wakes` })
    t.log(`SIGSTOP of a ${what} (${frozen.map(n => n.hostname).join(', ')}) for ${FROZEN_MS} ms: one identical state ${ms} ms after SIGCONT; load ${os.loadavg()[0].toFixed(2)}`)
  }
  t.pass()
})
