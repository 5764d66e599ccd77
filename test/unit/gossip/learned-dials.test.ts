// The budget of dials of peers learned from member lists (learned-dials.ts), on a given clock.
import test from 'ava'
import { LearnedDials } from '../../../src/gossip/learned-dials.ts'

const init = { perSender: { burst: 4, refillMs: 1000 }, total: { burst: 6, refillMs: 500 }, maxSenders: 3 }

/** How many of n dials sender may start at now. */
function takes (d: LearnedDials, sender: string, now: number, n: number): number {
  let ok = 0
  for (let i = 0; i < n; i++) if (d.take(sender, now)) ok++
  return ok
}

test('learned dials: a member whose listed peers never connect gets its burst, then one dial per refill interval', t => {
  const d = new LearnedDials(init)
  t.is(takes(d, 'rogue', 0, 100), 4)
  t.is(takes(d, 'rogue', 999, 100), 0, 'none back before a refill interval')
  t.is(takes(d, 'rogue', 1000, 100), 1)
  t.is(takes(d, 'rogue', 3000, 100), 2, 'two intervals, two dials')
  t.is(takes(d, 'rogue', 60_000, 100), 4, 'never more than the burst, however long it waited')
})

test('learned dials: dials that connect cost nothing, however many peers a member lists', t => {
  const d = new LearnedDials(init)
  for (let i = 0; i < 1000; i++) {
    t.true(d.take('honest', i), `dial ${i}`)
    d.give('honest', i)
  }
  t.is(takes(d, 'honest', 1000, 100), 4, 'its burst is whole')
})

test('learned dials: the total bounds many members listing peers that never connect, and comes back over time', t => {
  const d = new LearnedDials(init)
  t.deepEqual(['a', 'b', 'c'].map(s => takes(d, s, 0, 100)), [4, 2, 0], 'the total (6) ran out')
  t.is(takes(d, 'c', 500, 100), 1, 'one back in the total after its refill interval')
})

test('learned dials: past maxSenders the member remembered longest is forgotten, with a whole burst when it lists again', t => {
  const d = new LearnedDials({ ...init, total: { burst: 100, refillMs: 500 } })
  t.is(takes(d, 'a', 0, 100), 4)
  for (const s of ['b', 'c', 'd']) t.is(takes(d, s, 0, 1), 1)
  t.is(takes(d, 'a', 0, 100), 4, 'a was forgotten when d came')
})
