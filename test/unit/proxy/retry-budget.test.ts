// The retry budget's arithmetic over time, on a clock the test moves (no sleeps).
import test from 'ava'
import { RetryBudget, WINDOW_S } from '../../../src/proxy/retry-budget.ts'

const T0 = 1_765_000_000_000 // a wall-clock ms on a second boundary

/** Retries it grants at now until it refuses one (at most limit). */
function drain (b: RetryBudget, now: number, limit = 100_000): number {
  let n = 0
  while (n < limit && b.retry(now)) n++
  return n
}

test('retry budget: with no requests only the floor is allowed: minPerSecond times the 10 s window', t => {
  t.is(drain(new RetryBudget(0.2, 10), T0), 10 * WINDOW_S)
  t.is(drain(new RetryBudget(0.2, 0), T0), 0)
  t.is(drain(new RetryBudget(1, 3), T0), 30)
})

test('retry budget: each request adds ratio to the retries allowed, on top of the floor', t => {
  const b = new RetryBudget(0.2, 0)
  for (let i = 0; i < 14; i++) b.request(T0)
  t.is(drain(b, T0), 2, '14 requests * 0.2 = 2.8: two retries')
  b.request(T0)
  t.is(drain(b, T0), 1, '15 * 0.2 = 3 (3.0000000000000004 in floating point): the third')
  const c = new RetryBudget(0.2, 10)
  for (let i = 0; i < 1000; i++) c.request(T0 + 500)
  t.is(drain(c, T0 + 500), 200 + 100)
  t.is(c.available(T0 + 500), 0)
})

test('retry budget: ratio 0 allows the floor only, ratio 1 a retry per request', t => {
  const zero = new RetryBudget(0, 2)
  for (let i = 0; i < 500; i++) zero.request(T0)
  t.is(drain(zero, T0), 20)
  const one = new RetryBudget(1, 0)
  for (let i = 0; i < 7; i++) one.request(T0)
  t.is(drain(one, T0), 7)
})

test('retry budget: retries are compared with the requests of the last 10 s: what the oldest second granted goes when it leaves the window', t => {
  const b = new RetryBudget(0.5, 0)
  for (let i = 0; i < 10; i++) b.request(T0) // second 0: allows 5
  t.is(drain(b, T0 + 100), 5)
  for (let i = 0; i < 4; i++) b.request(T0 + 3000) // second 3: 14 requests in the window, 7 allowed, 5 used
  t.is(drain(b, T0 + 3000), 2)
  t.is(b.available(T0 + 9999), 0, 'second 0 is still in the window at 9.999 s')
  // at 10 s second 0 leaves: its 10 requests and its 5 retries with it; second 3's 4 requests allow 2, 2 used
  t.is(b.available(T0 + 10_000), 0)
  for (let i = 0; i < 6; i++) b.request(T0 + 10_000)
  t.is(drain(b, T0 + 10_000), 3, '10 requests in the window allow 5, 2 are used')
  // at 13 s second 3 leaves too: 6 requests, 3 retries
  t.is(b.available(T0 + 13_000), 0)
  t.is(b.available(T0 + 20_000), 0, 'all gone: an empty window allows nothing beyond a floor of 0')
})

test('retry budget: the floor comes back as the window moves (a spent budget is not spent for good)', t => {
  const b = new RetryBudget(0.2, 10)
  t.is(drain(b, T0), 100)
  t.false(b.retry(T0 + 5000))
  t.is(drain(b, T0 + 10_000), 100, 'a window later the retries of second 0 no longer count')
})

test('retry budget: a gap of a window or more empties it; a clock that goes back counts into the current second', t => {
  const b = new RetryBudget(0.2, 0)
  for (let i = 0; i < 50; i++) b.request(T0)
  t.is(drain(b, T0), 10)
  t.is(b.available(T0 + 3_600_000), 0)
  for (let i = 0; i < 50; i++) b.request(T0 + 3_600_000)
  t.is(b.available(T0 + 3_600_000), 10)
  // the clock steps back an hour: counted as now, nothing is lost or granted twice
  for (let i = 0; i < 5; i++) b.request(T0)
  t.is(drain(b, T0), 11)
  t.is(b.available(T0 + 3_600_000 + 9_000), 0)
  t.is(b.available(T0 + 3_600_000 + 10_000), 0)
})
