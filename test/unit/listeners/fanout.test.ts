// Handing changes out to many listeners: the catalog operation only appends to a backlog, the
// listeners are offered the changes afterwards, in slices, each in the order of the changes.
import test, { type ExecutionContext } from 'ava'
import { nextTurn } from '../../../src/lib/slicer.ts'
import { ServiceStatus } from '../../../src/service/index.ts'
import { waitFor } from '../../helpers/wait.ts'
import { fixture, receiver } from './fixture.ts'

const { ALIVE, UNHEALTHY } = ServiceStatus

/** A receiver that takes each POST and answers only when the test ends. */
async function stuck (t: ExecutionContext): Promise<Awaited<ReturnType<typeof receiver>>> {
  const r = await receiver(t)
  let release: () => void = () => {}
  const gate = new Promise<void>(resolve => { release = resolve })
  t.teardown(() => { release() })
  r.respond = async (_q, _req, res) => { await gate; res.end() }
  return r
}

test('fan-out: 1,000 changes in one catalog operation are handed to 300 listeners after it, in slices, every listener offered every change', async t => {
  const r = await stuck(t)
  const f = await fixture(t, { urls: Array.from({ length: 300 }, (_, i) => r.url(`/${i}`)), queueSize: 2000 })
  for (let i = 0; i < 1000; i++) f.change(`web${i}`, ALIVE)
  t.is(f.listeners.backlog, 1000, 'the operation only appended its changes')
  t.true(f.listeners.list().every(l => l.queueDepth === 0), 'no listener was offered one inside the operation')

  while (f.listeners.backlog === 1000) await nextTurn()
  // 300,000 offers take far longer than a slice: the first slice ends part way
  t.true(f.listeners.backlog > 0, 'one slice did not hand out everything')
  const offered = f.listeners.list().map(l => l.queueDepth + (l.sending === null ? 0 : 1))
  t.true(offered.every((n, i) => i === 0 || n <= offered[i - 1]) && offered[0] - (offered.at(-1) as number) <= 1, `each change goes to every listener before the next: ${offered[0]}..${offered.at(-1)}`)

  await waitFor(() => f.listeners.backlog === 0, { timeoutMs: 30_000, message: () => `the backlog handed out (${f.listeners.backlog} left)` })
  const views = f.listeners.list()
  t.true(views.every(l => l.queueDepth + (l.sending === null ? 0 : 1) === 1000 && l.coalesced === 0), JSON.stringify(views[0]))
  t.is(new Set(views.map(l => l.sending)).size, 1, 'every listener sends the same first event')
  t.regex(await f.metrics.text(), /^sidecar_listener_backlog 0$/m)
})

test('fan-out: a listener added while changes wait to be handed out gets only the changes made after it', async t => {
  const r = await receiver(t)
  const f = await fixture(t, { urls: [r.url('/config')] })
  f.change('a', ALIVE)
  f.setTargets([{ name: 'Service(late-late)', url: r.url('/late') }])
  f.change('b', ALIVE)
  await waitFor(() => r.requests.length === 3, { timeoutMs: 20_000, message: () => `3 POSTs, got ${r.requests.length}` })
  await new Promise(resolve => setTimeout(resolve, 100))
  const got = (p: string): string[] => r.bodies().filter((_, i) => r.requests[i].path === p).map(b => b.ChangeEvent.Service.Name)
  t.deepEqual(got('/config'), ['a', 'b'])
  t.deepEqual(got('/late'), ['b'])
})

test('fan-out: past 50,000 waiting changes each further one hands out the oldest at once, so the backlog stays bounded and nothing is lost or reordered', async t => {
  t.timeout(120_000)
  const r = await stuck(t)
  const f = await fixture(t, { urls: [r.url()], queueSize: 100_000 })
  const changes = 50_010
  for (let i = 0; i < changes; i++) f.change(`web${i % 100}`, Math.floor(i / 100) % 2 === 0 ? ALIVE : UNHEALTHY)
  t.is(f.listeners.backlog, 50_000)
  t.is(f.listeners.list()[0].queueDepth, 10, 'the 10 oldest were offered inside the operation')
  await waitFor(() => f.listeners.backlog === 0, { timeoutMs: 60_000, message: () => `the backlog handed out (${f.listeners.backlog} left)` })
  const [l] = f.listeners.list()
  t.is(l.queueDepth + (l.sending === null ? 0 : 1), changes)
  t.is(l.coalesced, 0)
})
