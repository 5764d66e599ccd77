import test from 'ava'
import { LogThrottle } from '../../../src/lib/log-throttle.ts'

test('log throttle: the first occurrence is due at once, the rest of the period is counted into the next line', t => {
  const th = new LogThrottle(60_000)
  t.is(th.note(1000), 1, 'the first one goes out, alone')
  for (let ms = 1001; ms < 61_000; ms += 100) t.is(th.note(ms), undefined, `${ms} ms: within the period`)
  // 600 were held back; the next one after the period carries them and itself.
  t.is(th.note(61_000), 601)
  t.is(th.note(61_001), undefined, 'a new period starts at the line')
  t.is(th.note(121_000), 2)
})

test('log throttle: n counts several at once, and nothing counted is never due', t => {
  const th = new LogThrottle(10_000)
  t.is(th.note(0, 0), undefined, 'nothing yet')
  t.is(th.note(5, 3), 3)
  t.is(th.note(20, 4), undefined)
  t.is(th.note(20_000, 0), 4, 'what was held back goes out with the next call after the period, even one that adds nothing')
  t.is(th.note(40_000, 0), undefined, 'and then there is nothing to say')
  t.is(th.note(40_001, 1), 1)
})

test('log throttle: a flood of a million in one period gives one line, with the whole count', t => {
  const th = new LogThrottle(1000)
  let lines = 0
  let total = 0
  for (let i = 0; i < 1_000_000; i++) {
    const c = th.note(i / 1000) // a million within 1,000 ms
    if (c !== undefined) { lines++; total += c }
  }
  t.is(lines, 1)
  t.is(total + (th.note(5000, 0) ?? 0), 1_000_000, 'every one is counted in some line')
})
