// What a burst to a stuck receiver keeps in memory: at most queue_size events (each with
// its state snapshot), however many changes come. Measured as heap after a full GC.
import v8 from 'node:v8'
import vm from 'node:vm'
import test from 'ava'
import { encodeState } from '../../../src/catalog/index.ts'
import { ServiceStatus } from '../../../src/service/index.ts'
import { waitFor } from '../../helpers/wait.ts'
import { fixture, receiver } from './fixture.ts'

v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc') as () => void
const MiB = 1024 * 1024

function heapAfterGc (): number {
  gc()
  gc()
  return process.memoryUsage().heapUsed
}

test('memory: 1,000 changes queued for a stuck receiver keep only queue_size events, then the final state is delivered', async t => {
  const SERVICES = 500
  const QUEUE = 20
  const r = await receiver(t)
  let release: () => void = () => {}
  const gate = new Promise<void>(resolve => { release = resolve })
  r.respond = async (_q, _req, res) => { await gate; res.end() }
  const f = await fixture(t, { urls: [r.url()], queueSize: QUEUE })
  for (let i = 0; i < SERVICES; i++) f.change(`svc${i}`, ServiceStatus.ALIVE)
  await waitFor(() => r.requests.length === 1, { timeoutMs: 20_000, message: 'first POST held by the receiver' })

  const before = heapAfterGc()
  for (let k = 0; k < 1000; k++) {
    f.change(`svc${k % SERVICES}`, Math.floor(k / SERVICES) % 2 === 0 ? ServiceStatus.UNHEALTHY : ServiceStatus.ALIVE)
    await new Promise(resolve => setImmediate(resolve)) // each change its own catalog operation, so its own snapshot
  }
  await waitFor(() => f.listeners.backlog === 0, { timeoutMs: 20_000, message: 'every change handed to the listener' })
  const grown = heapAfterGc() - before
  const view = f.listeners.list()[0]
  t.log(`heap kept by 1,000 queued changes over ${SERVICES} services: ${(grown / MiB).toFixed(2)} MiB (queue ${view.queueDepth}, coalesced ${view.coalesced})`)
  t.is(view.queueDepth, QUEUE)
  t.is(view.coalesced, SERVICES + 1000 - 1 - QUEUE)
  // 1,000 retained snapshots of a 500-record host would take tens of MiB.
  t.true(grown < 8 * MiB, `heap grew ${(grown / MiB).toFixed(2)} MiB`)

  release()
  await waitFor(() => f.listeners.list()[0].queueDepth === 0 && f.listeners.list()[0].sending === null, { timeoutMs: 30_000, message: 'queue drained' })
  t.true(r.requests.at(-1)?.raw.toString().startsWith(`{"State":${encodeState(f.catalog.snapshot())},`))
})
