// A port of thousands of instances (src/proxy/manager.ts). While its owner and mode stay, a
// change of one instance is patched into the pool on its own, in the next turn. Planned whole
// (its records ask for two modes), it costs milliseconds, so its whole plans are spaced out to at most a quarter of the time and the
// changes made meanwhile are planned together. What must hold either way: every change is followed, soon, and a small port on the same host is not
// held back by the large one. In-process proxy over a real catalog; listeners on 127.0.13.95
// (the backends are never dialled).
import test from 'ava'
import { Pool } from '../../../src/proxy/pool.ts'
import { ServiceStatus } from '../../../src/service/index.ts'
import { waitFor } from '../../helpers/wait.ts'
import { harness, instance, proxyConfig } from './setup.ts'

const IP = '127.0.13.95'
const N = 3000

/**
 * conflict: a second name on the large port, created after big's oldest record or at the same
 * instant (a tie that the names break); or 'modes': big's oldest record asks for tcp, the others
 * for http (the newest ALIVE one decides: planned whole).
 */
async function drains (t: import('ava').ExecutionContext, big: number, small: number, conflict: 'none' | 'younger' | 'tie' | 'modes'): Promise<{ patches: number, updates: number }> {
  const h = await harness(t, { proxy: proxyConfig(IP) })
  for (let i = 0; i < N; i++) h.put(instance(`big`, `h${i % 5}`, '127.0.13.96', 20_000 + i, big, { ID: `b${i}`, ProxyMode: conflict === 'modes' && i === 0 ? 'tcp' : 'http' }))
  const created = h.catalog.get('h0', 'b0')?.Created
  if (conflict === 'younger' || conflict === 'tie') h.put(instance('late', 'h9', '127.0.13.96', 29_000, big, { ID: 'late', Created: conflict === 'tie' ? created : created?.plusMillis(1000) }))
  h.put(instance('small', 'h0', '127.0.13.97', 30_000, small, { ID: 's0' }))
  const pool = (port: number): Pool | undefined => h.proxy.listeners().find(l => l.port === port)?.pool
  await waitFor(() => pool(big)?.backends.length === N && pool(small)?.backends.length === 1, { timeoutMs: 20_000, message: 'both listeners with their backends' })
  t.deepEqual(h.proxy.listeners().find(l => l.port === big)?.ignored, conflict === 'younger' || conflict === 'tie' ? ['late'] : [])
  const bigPool = pool(big) as Pool
  let updates = 0
  let patches = 0
  const { update, patch } = bigPool
  bigPool.update = (specs) => { updates++; update.call(bigPool, specs) }
  bigPool.patch = (changes) => { patches++; patch.call(bigPool, changes) }

  const draining = (port: number): number => (pool(port)?.backends ?? []).filter(b => b.spec.status === ServiceStatus.DRAINING).length
  for (let i = 0; i < 300; i++) {
    h.put(instance('big', `h${i % 5}`, '127.0.13.96', 20_000 + i, big, { ID: `b${i}`, Status: ServiceStatus.DRAINING, ProxyMode: conflict === 'modes' && i === 0 ? 'tcp' : 'http' }))
    if (i === 150) {
      // a change on the small port while the large one is busy: planned in the next turn
      h.put(instance('small', 'h0', '127.0.13.97', 30_000, small, { ID: 's0', Status: ServiceStatus.DRAINING }))
      await new Promise(resolve => setImmediate(resolve))
      await new Promise(resolve => setImmediate(resolve))
      t.is(draining(small), 1, 'the small port\'s change was planned in the next turn')
    }
    await new Promise(resolve => setImmediate(resolve))
    if (conflict !== 'modes') t.is(draining(big), i + 1, 'each drain is in the pool in the next turn')
  }
  await waitFor(() => draining(big) === 300, { timeoutMs: 10_000, message: () => `all 300 drains in the large port's pool (${draining(big)})` })
  t.is(pool(big)?.candidates, N - 300, 'the drained instances take no new requests')
  t.log(`300 changes, one per turn: the large port's pool was replaced ${updates} times and patched ${patches} times`)
  return { updates, patches }
}

const PATCHED = [
  { title: 'one name: a port of 3,000 instances follows 300 drains made one per turn, each patched into its pool in the next turn; a small port beside it too', conflict: 'none', ports: [42_100, 42_101] },
  { title: 'a younger second name kept out of the port: the same, each drain patched in the next turn', conflict: 'younger', ports: [42_104, 42_105] },
  { title: 'a second name created at the same instant as big\'s oldest record, kept out as it sorts after big: the same', conflict: 'tie', ports: [42_106, 42_107] },
] as const
for (const c of PATCHED) {
  test(c.title, async t => {
    t.timeout(120_000)
    const { updates, patches } = await drains(t, c.ports[0], c.ports[1], c.conflict)
    t.is(updates, 0, 'never planned whole')
    t.is(patches, 300)
  })
}

test('records asking for two modes (planned whole): 300 drains followed in fewer plans than changes; a small port meanwhile follows each change in the next turn', async t => {
  t.timeout(120_000)
  const { updates, patches } = await drains(t, 42_102, 42_103, 'modes')
  t.is(patches, 0)
  t.true(updates < 300, `changes planned together: ${updates} plans for 300 changes`)
})

test('the first change right after the port was planned whole is patched in the next turn, not held back with the whole plans', async t => {
  t.timeout(120_000)
  const port = 42_108
  const h = await harness(t, { proxy: proxyConfig(IP) })
  for (let i = 0; i < N; i++) h.put(instance('big', `h${i % 5}`, '127.0.13.96', 20_000 + i, port, { ID: `b${i}` }))
  const pool = (): Pool | undefined => h.proxy.listeners().find(l => l.port === port)?.pool
  // The plan of 3,000 records takes milliseconds, and the port's next whole plan waits 3 times as
  // long: looked for every turn, the pool is seen well within that wait.
  const until = performance.now() + 20_000
  while (pool()?.backends.length !== N && performance.now() < until) await new Promise(resolve => setImmediate(resolve))
  t.is(pool()?.backends.length, N)
  h.put(instance('big', 'h0', '127.0.13.96', 20_000, port, { ID: 'b0', Status: ServiceStatus.DRAINING }))
  await new Promise(resolve => setImmediate(resolve))
  t.is(pool()?.backends.filter(b => b.spec.status === ServiceStatus.DRAINING).length, 1, 'the drain is in the pool in the next turn')
})
