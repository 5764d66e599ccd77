import test from 'ava'
import { TokenBucket } from '../../../src/lib/token-bucket.ts'

/** Takes tokens one by one at now while there is a whole one; how many. */
function drain (b: TokenBucket, now: number): number {
  let n = 0
  while (b.refill(now) >= 1) { b.take(); n++ }
  return n
}

test('token bucket: full at first, then fractional tokens come back continuously, never above the capacity', t => {
  const b = new TokenBucket({ capacity: 3, periodMs: 100 }, 1000)
  t.is(b.tokens, 3)
  t.is(drain(b, 1000), 3)
  t.is(b.refill(1050), 0.5, 'half a period, half a token')
  t.is(drain(b, 1099), 0)
  t.is(drain(b, 1100), 1, 'the whole token is back one period after the burst was spent')
  t.is(b.refill(10_000), 3, 'however long it waited')
})

test('token bucket: perPeriod tokens come back each period, and take() never goes below 0', t => {
  const b = new TokenBucket({ capacity: 40, periodMs: 1000, perPeriod: 20 }, 0)
  for (let i = 0; i < 100; i++) b.take()
  t.is(b.tokens, 0, 'taking from an empty bucket earns nothing back')
  t.is(b.refill(50), 1)
  t.is(b.refill(1000), 20)
  b.take(25)
  t.is(b.tokens, 0)
})

test('token bucket: a capacity that follows something else is read at each refill, and perPeriod "capacity" fills it in one period', t => {
  let size = 1000
  const b = new TokenBucket({ capacity: () => size, periodMs: 60_000, perPeriod: 'capacity' }, 0)
  t.is(b.tokens, 1000)
  b.take(1000)
  size = 2000
  t.is(b.refill(30_000), 1000, 'half a period of the new size')
  t.is(b.refill(90_000), 2000)
  size = 500
  t.is(b.refill(90_000), 500, 'tokens above a shrunk capacity are dropped')
})

test('token bucket: whole periods keep what is left of a period, so tokens come back exactly a period apart', t => {
  const b = new TokenBucket({ capacity: 4, periodMs: 1000, whole: true }, 0)
  t.is(drain(b, 0), 4)
  t.is(b.refill(1500), 1, 'no half token')
  b.take()
  t.is(b.refill(1999), 0)
  t.is(b.refill(2000), 1, 'the next one a period after the last, not after the take')
  t.is(b.refill(4000), 3)
})

test('token bucket: a whole bucket that is full starts its period again at now', t => {
  const b = new TokenBucket({ capacity: 2, periodMs: 1000, whole: true }, 0)
  b.refill(5500)
  b.take()
  t.is(b.refill(6499), 1, 'the time the bucket sat full does not count')
  t.is(b.refill(6500), 2, 'a token taken from a full bucket is back a period after it was taken')
})

test('token bucket: whole periods count exactly on an integer clock, where tenths of a period add up to less than one', t => {
  const frac = new TokenBucket({ capacity: 1, periodMs: 10 }, 0)
  const whole = new TokenBucket({ capacity: 1, periodMs: 10, whole: true }, 0)
  frac.take()
  whole.take()
  for (let ms = 1; ms <= 10; ms++) { frac.refill(ms); whole.refill(ms) }
  t.true(frac.tokens < 1, `fractional: ${frac.tokens}`)
  t.is(whole.tokens, 1)
})

test('token bucket: give() returns tokens up to the capacity, and a clock that goes back gives nothing', t => {
  const b = new TokenBucket({ capacity: 2, periodMs: 1000, whole: true }, 0)
  b.take(2)
  b.give()
  b.give()
  b.give()
  t.is(b.tokens, 2)
  b.take(2)
  b.refill(10_000)
  b.take(2)
  t.is(b.refill(5000), 0, 'the clock went back: nothing')
  t.is(b.refill(5999), 0)
  t.is(b.refill(6000), 1, 'and the period counts from where the clock went back to')
  const f = new TokenBucket({ capacity: 2, periodMs: 1000 }, 10_000)
  f.take(2)
  t.is(f.refill(5000), 0)
  t.is(f.refill(5500), 0.5)
})
