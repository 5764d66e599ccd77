// A port of thousands of instances is planned whole at every change of one of them (src/proxy/
// manager.ts): its plans are spaced out so that they take at most a quarter of the time, and the
// changes made meanwhile are planned together. What must hold: every change is still followed,
// soon, and a small port on the same host is not held back by the large one. In-process proxy
// over a real catalog; listeners on 127.0.13.95 (the backends are never dialled).
import test from 'ava'
import { ServiceStatus } from '../../../src/service/index.ts'
import { waitFor } from '../../helpers/wait.ts'
import { harness, instance, proxyConfig } from './setup.ts'

const IP = '127.0.13.95'
const BIG = 42_100
const SMALL = 42_101
const N = 3000

test('a port of 3,000 instances follows 300 drains made one per turn, in fewer plans than changes; a small port meanwhile follows each change in the next turn', async t => {
  t.timeout(120_000)
  const h = await harness(t, { proxy: proxyConfig(IP) })
  for (let i = 0; i < N; i++) h.put(instance(`big`, `h${i % 5}`, '127.0.13.96', 20_000 + i, BIG, { ID: `b${i}` }))
  h.put(instance('small', 'h0', '127.0.13.97', 30_000, SMALL, { ID: 's0' }))
  const pool = (port: number) => h.proxy.listeners().find(l => l.port === port)?.pool
  await waitFor(() => pool(BIG)?.backends.length === N && pool(SMALL)?.backends.length === 1, { timeoutMs: 20_000, message: 'both listeners with their backends' })
  const big = pool(BIG)
  if (big === undefined) throw new Error('no listener on the large port')
  let updates = 0
  const update = big.update.bind(big)
  big.update = (specs) => { updates++; update(specs) }

  const draining = (port: number): number => (pool(port)?.backends ?? []).filter(b => b.spec.status === ServiceStatus.DRAINING).length
  for (let i = 0; i < 300; i++) {
    h.put(instance('big', `h${i % 5}`, '127.0.13.96', 20_000 + i, BIG, { ID: `b${i}`, Status: ServiceStatus.DRAINING }))
    if (i === 150) {
      // a change on the small port while the large one is busy: planned in the next turn
      h.put(instance('small', 'h0', '127.0.13.97', 30_000, SMALL, { ID: 's0', Status: ServiceStatus.DRAINING }))
      await new Promise(resolve => setImmediate(resolve))
      await new Promise(resolve => setImmediate(resolve))
      t.is(draining(SMALL), 1, 'the small port\'s change was planned in the next turn')
    }
    await new Promise(resolve => setImmediate(resolve))
  }
  await waitFor(() => draining(BIG) === 300, { timeoutMs: 10_000, message: () => `all 300 drains in the large port's pool (${draining(BIG)})` })
  t.log(`300 changes, one per turn: the large port's pool was updated ${updates} times`)
  t.true(updates < 300, `changes planned together: ${updates} plans for 300 changes`)
  t.is(pool(BIG)?.candidates, N - 300, 'the drained instances take no new requests')
})
