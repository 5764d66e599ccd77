// The check queue on mocked timers and an injected clock: the concurrency cap, due order,
// no overlap of one job, the spread of re-checks, trigger, remove and stop.
import test from 'ava'
import { mock } from 'node:test'
import { CheckScheduler, JITTER } from '../../../src/health/scheduler.ts'
import { silentLogger } from '../../../src/lib/logger.ts'

/** Microtasks, and a few real turns of the event loop (runs past a turn's starts go on in the next). */
async function turns (): Promise<void> {
  for (let k = 0; k < 3; k++) {
    for (let i = 0; i < 20; i++) await Promise.resolve()
    await new Promise<void>(resolve => { setImmediate(resolve) })
  }
}

let now = 0
async function advance (ms: number): Promise<void> {
  now += ms
  mock.timers.tick(ms)
  await turns()
}

function scheduler (concurrency: number, intervalMs = 1000, random = () => 0.5): CheckScheduler {
  return new CheckScheduler({ logger: silentLogger() }, { intervalMs, concurrency, random, now: () => now })
}

/** A task that waits until released; records its runs. */
function gated () {
  const open: Array<() => void> = []
  let runs = 0
  let active = 0
  let maxActive = 0
  const task = async (signal: AbortSignal): Promise<void> => {
    runs++
    active++
    maxActive = Math.max(maxActive, active)
    await new Promise<void>(resolve => { open.push(resolve); signal.addEventListener('abort', () => { resolve() }) })
    active--
  }
  return { task, open, get runs () { return runs }, get active () { return active }, get maxActive () { return maxActive } }
}

test.beforeEach(() => { now = 0; mock.timers.enable({ apis: ['setTimeout'] }) })
test.afterEach.always(() => { mock.timers.reset() })

test.serial('scheduler: new jobs run at once, at most `concurrency` at a time; the rest wait in the queue', async t => {
  const s = scheduler(3)
  await s.start()
  const g = gated()
  for (let i = 0; i < 10; i++) s.add(`job ${i}`, g.task)
  await turns()
  t.is(g.runs, 3)
  t.is(s.inflight, 3)
  for (let round = 0; round < 3; round++) { for (const release of g.open.splice(0)) release(); await turns() }
  t.is(g.runs, 10, 'each freed slot takes the next due job')
  t.is(g.maxActive, 3)
  for (const release of g.open.splice(0)) release()
  await s.stop()
})

test.serial('scheduler: a job is due again one interval (within the jitter) after its run ended, never overlapping itself', async t => {
  const starts: number[] = []
  const s = scheduler(10, 1000, () => 1) // the latest the jitter allows
  await s.start()
  s.add('one', () => { starts.push(now); return Promise.resolve() })
  await turns()
  await advance(1000 * (1 + JITTER) - 1)
  t.deepEqual(starts, [0])
  await advance(1)
  t.deepEqual(starts, [0, 1100])
  await s.stop()
})

test.serial('scheduler: re-checks of a burst spread out with the jitter instead of running in lockstep', async t => {
  let r = 0
  const s = scheduler(1000, 1000, () => (r++ % 10) / 10)
  await s.start()
  const starts: number[] = []
  for (let i = 0; i < 100; i++) s.add(`job ${i}`, () => { starts.push(now); return Promise.resolve() })
  await turns()
  for (let i = 0; i < 24; i++) await advance(50)
  const second = starts.slice(100)
  t.is(second.length, 100)
  t.true(new Set(second).size >= 4, `second runs at ${[...new Set(second)].join(', ')} ms`)
  t.true(second.every(at => at >= 900 && at <= 1100))
  await s.stop()
})

test.serial('scheduler: trigger runs an idle job now, and a running one again right after its run', async t => {
  const g = gated()
  const s = scheduler(5, 60_000)
  await s.start()
  const job = s.add('one', g.task)
  await turns()
  t.is(g.runs, 1)
  s.trigger(job)
  g.open.shift()?.()
  await turns()
  t.is(g.runs, 2, 'woken run, not a minute later')
  g.open.shift()?.()
  await turns()
  t.is(g.runs, 2)
  s.trigger(job)
  await turns()
  t.is(g.runs, 3)
  await s.stop()
})

test.serial('scheduler: remove aborts the run in flight and the job never runs again', async t => {
  const g = gated()
  const s = scheduler(5, 100)
  await s.start()
  const job = s.add('one', g.task)
  await turns()
  await s.remove(job)
  t.is(g.active, 0, 'aborted run settled before remove resolved')
  await advance(10_000)
  t.is(g.runs, 1)
  await s.stop()
})

test.serial('scheduler: stop aborts and awaits every run in flight and leaves no timer; start runs every job again', async t => {
  const g = gated()
  const s = scheduler(2, 100)
  await s.start()
  s.add('a', g.task)
  s.add('b', g.task)
  s.add('c', g.task)
  await turns()
  t.is(g.active, 2)
  await s.stop()
  t.is(g.active, 0)
  t.is(s.inflight, 0)
  await advance(10_000)
  t.is(g.runs, 2, 'nothing runs while stopped')
  await s.start()
  await turns()
  t.is(g.runs, 4, 'restarted: jobs are due at once, within the cap')
  await s.stop()
})

test.serial('scheduler: at most startsPerTurn runs start in one turn of the event loop, even when each ends at once; the rest follow in the next turns', async t => {
  const s = new CheckScheduler({ logger: silentLogger() }, { intervalMs: 60_000, concurrency: 256, startsPerTurn: 10, now: () => now })
  await s.start()
  let turn = 0
  let ticking = true
  const tick = (): void => { turn++; if (ticking) setImmediate(tick) }
  setImmediate(tick)
  const startedIn = new Map<number, number>()
  // Quick checks: each ends in a microtask, which frees its slot for the next one at once.
  for (let i = 0; i < 95; i++) s.add(`quick ${i}`, async () => { startedIn.set(turn, (startedIn.get(turn) ?? 0) + 1) })
  for (let k = 0; k < 40 && [...startedIn.values()].reduce((a, b) => a + b, 0) < 95; k++) await new Promise<void>(resolve => { setImmediate(resolve) })
  ticking = false
  t.is([...startedIn.values()].reduce((a, b) => a + b, 0), 95, 'every job ran')
  t.true(Math.max(...startedIn.values()) <= 10, `runs started per turn: ${JSON.stringify([...startedIn])}`)
  t.true(startedIn.size >= 10, 'spread over ten turns or more')
  await s.stop()
})
