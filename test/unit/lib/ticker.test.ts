// Ticker on mocked timers (node:test's MockTimers): no real sleeps, every step explicit.
import test from 'ava'
import { mock } from 'node:test'
import { Ticker } from '../../../src/lib/ticker.ts'
import type { Logger } from '../../../src/lib/logger.ts'

/** Lets settled promises run their callbacks (the task's end, the ticker's reschedule). */
async function turns (): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve()
}

function recordingLogger (errors: string[]): Logger {
  return { error: (_obj: unknown, msg: string) => { errors.push(msg) } } as unknown as Logger
}

test.beforeEach(() => { mock.timers.enable({ apis: ['setTimeout'] }) })
test.afterEach.always(() => { mock.timers.reset() })

test.serial('ticker: the first run waits firstDelayMs, then each run starts intervalMs after the previous one ended', async t => {
  const runs: number[] = []
  let clock = 0
  const ticker = new Ticker(() => { runs.push(clock) }, { name: 't', intervalMs: 100, firstDelayMs: 30 })
  ticker.start()
  const tick = async (ms: number): Promise<void> => { clock += ms; mock.timers.tick(ms); await turns() }
  await tick(29)
  t.deepEqual(runs, [])
  await tick(1)
  t.deepEqual(runs, [30])
  await tick(99)
  t.deepEqual(runs, [30])
  await tick(1)
  await tick(100)
  t.deepEqual(runs, [30, 130, 230])
  await ticker.stop()
})

test.serial('ticker: a slow run is never overlapped; the next starts one interval after it settles', async t => {
  let active = 0
  let maxActive = 0
  const ends: Array<() => void> = []
  const ticker = new Ticker(async () => {
    active++
    maxActive = Math.max(maxActive, active)
    await new Promise<void>(resolve => ends.push(resolve))
    active--
  }, { name: 't', intervalMs: 10, firstDelayMs: 0 })
  ticker.start()
  mock.timers.tick(0); await turns()
  t.is(ends.length, 1)
  mock.timers.tick(1000); await turns()
  t.is(ends.length, 1, 'still one run while the first has not settled')
  ends[0](); await turns()
  mock.timers.tick(9); await turns()
  t.is(ends.length, 1)
  mock.timers.tick(1); await turns()
  t.is(ends.length, 2)
  t.is(maxActive, 1)
  ends[1]()
  await ticker.stop()
})

test.serial('ticker: a failing run is logged and the loop goes on', async t => {
  const errors: string[] = []
  let n = 0
  const ticker = new Ticker(() => { n++; if (n === 1) throw new Error('boom') }, { name: 'flaky', intervalMs: 10, firstDelayMs: 0, logger: recordingLogger(errors) })
  ticker.start()
  mock.timers.tick(0); await turns()
  mock.timers.tick(10); await turns()
  t.is(n, 2)
  t.deepEqual(errors, ['flaky failed'])
  await ticker.stop()
})

test.serial('ticker: trigger() runs at once when idle, and right after the run in flight otherwise', async t => {
  let n = 0
  let release: (() => void) | undefined
  const ticker = new Ticker(async () => { n++; await new Promise<void>(resolve => { release = resolve }) }, { name: 't', intervalMs: 60_000, firstDelayMs: 60_000 })
  ticker.start()
  ticker.trigger()
  mock.timers.tick(0); await turns()
  t.is(n, 1, 'triggered long before the first delay')
  ticker.trigger()
  release?.(); await turns()
  mock.timers.tick(0); await turns()
  t.is(n, 2, 'the trigger during the run ran it again at once, not an interval later')
  release?.()
  await ticker.stop()
})

test.serial('ticker: stop() aborts the run in flight, waits for it, cancels the schedule and is idempotent', async t => {
  let aborted = false
  let settled = false
  const ticker = new Ticker(async (signal) => {
    await new Promise<void>(resolve => { signal.addEventListener('abort', () => { aborted = true; resolve() }) })
    settled = true
  }, { name: 't', intervalMs: 10, firstDelayMs: 0 })
  ticker.start()
  t.true(ticker.started)
  mock.timers.tick(0); await turns()
  await ticker.stop()
  t.true(aborted)
  t.true(settled, 'stop resolved after the run settled')
  t.false(ticker.started)
  await ticker.stop()
  let ran = false
  const idle = new Ticker(() => { ran = true }, { name: 'idle', intervalMs: 10, firstDelayMs: 5 })
  idle.start()
  await idle.stop()
  mock.timers.tick(1000); await turns()
  t.false(ran, 'nothing runs after stop')
})
