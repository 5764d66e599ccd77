import test from 'ava'
import { KeyedMinHeap, MinHeap } from '../../../src/lib/min-heap.ts'
import { prng } from '../../helpers/prng.ts'

test('min-heap: pops in order of the number, whatever the push order', t => {
  const random = prng(7)
  const h = new MinHeap<{ at: number, id: number }>(x => x.at)
  const items = Array.from({ length: 2000 }, (_, id) => ({ at: Math.floor(random() * 500), id }))
  for (const x of items) h.push(x)
  t.is(h.size, 2000)
  t.is(h.peek()?.at, Math.min(...items.map(x => x.at)))
  const out: number[] = []
  for (let x = h.pop(); x !== undefined; x = h.pop()) out.push(x.at)
  t.deepEqual(out, items.map(x => x.at).sort((a, b) => a - b))
  t.is(h.pop(), undefined)
  t.is(h.size, 0)
})

test('keyed min-heap: one entry per key; set moves a key up or down, delete removes it; pops in order, against a plain model', t => {
  const random = prng(11)
  const h = new KeyedMinHeap<string>()
  const model = new Map<string, number>()
  for (let step = 0; step < 20_000; step++) {
    const key = `k${Math.floor(random() * 500)}`
    const r = random()
    if (r < 0.6) {
      const at = Math.floor(random() * 10_000)
      h.set(key, at)
      model.set(key, at)
    } else if (r < 0.8) {
      t.is(h.delete(key), model.delete(key))
    } else if (r < 0.9) {
      const top = h.pop()
      const least = Math.min(...model.values())
      if (model.size === 0) { t.is(top, undefined); continue }
      t.is(top?.at, least, 'pops a least number')
      t.is(model.get(top?.key as string), least, 'and the key that holds it')
      model.delete(top?.key as string)
    }
    if (h.size !== model.size) { t.fail(`size ${h.size} against ${model.size} at step ${step}`); return }
  }
  for (const [k, at] of model) t.is(h.get(k), at)
  t.false(h.has('nope'))
  const out: number[] = []
  for (let x = h.pop(); x !== undefined; x = h.pop()) out.push(x.at)
  t.deepEqual(out, [...model.values()].sort((a, b) => a - b))
  h.set('a', 1)
  h.clear()
  t.is(h.size, 0)
  t.is(h.peek(), undefined)
})
