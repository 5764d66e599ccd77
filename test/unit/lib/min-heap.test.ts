import test from 'ava'
import { MinHeap } from '../../../src/lib/min-heap.ts'
import { prng } from '../../helpers/prng.ts'

test('min-heap: pops in order of the number, whatever the push order; filter keeps the order', t => {
  const random = prng(7)
  const h = new MinHeap<{ at: number, id: number }>(x => x.at)
  const items = Array.from({ length: 2000 }, (_, id) => ({ at: Math.floor(random() * 500), id }))
  for (const x of items) h.push(x)
  t.is(h.size, 2000)
  h.filter(x => x.id % 3 !== 0)
  const kept = items.filter(x => x.id % 3 !== 0)
  t.is(h.size, kept.length)
  t.is(h.peek()?.at, Math.min(...kept.map(x => x.at)))
  const out: number[] = []
  for (let x = h.pop(); x !== undefined; x = h.pop()) out.push(x.at)
  t.deepEqual(out, kept.map(x => x.at).sort((a, b) => a - b))
  t.is(h.pop(), undefined)
  t.is(h.size, 0)
})
