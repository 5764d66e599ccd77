// The heap reclaimer: its rule and schedule on injected figures, then V8's own collection on
// this process's real heap.
import test from 'ava'
import { getHeapStatistics } from 'node:v8'
import { HeapReclaimer, MAX_INTERVAL_MS, MAX_USED_BYTES, MIN_INTERVAL_MS, MIN_SLACK_BYTES, nextInterval, v8Gc, worthReclaiming, type HeapFigures } from '../../../src/lib/heap-reclaim.ts'
import { silentLogger } from '../../../src/lib/logger.ts'
import { Metrics } from '../../../src/lib/metrics.ts'

const MB = 1024 * 1024
const fig = (committed: number, used: number): HeapFigures => ({ committed: committed * MB, used: used * MB })

test('worth reclaiming: only a heap that holds much more than it uses', t => {
  t.false(worthReclaiming(fig(41.5, 35.9)), 'a warmed-up daemon (figures of the gossip fuzz run)')
  t.false(worthReclaiming(fig(83.1, 77.5)), 'under a flood: the memory is in use')
  t.true(worthReclaiming(fig(70.8, 48.3)), 'two minutes after the flood: its caches collected, their pages kept')
  t.true(worthReclaiming(fig(57.1, 45.2)), 'the same, on a slower machine (a lower peak)')
  t.true(worthReclaiming(fig(53.5, 45)), 'a lower peak still: 8.5 MB to give back')
  t.false(worthReclaiming(fig(12, 5)), 'a small heap: too little to give back for a pause')
  t.true(worthReclaiming({ committed: 5 * MB + MIN_SLACK_BYTES, used: 5 * MB }))
  t.false(worthReclaiming({ committed: 5 * MB + MIN_SLACK_BYTES - 1, used: 5 * MB }))
  t.true(worthReclaiming({ committed: 2 * MAX_USED_BYTES, used: MAX_USED_BYTES }))
  t.false(worthReclaiming({ committed: 2 * MAX_USED_BYTES, used: MAX_USED_BYTES + 1 }))
  t.false(worthReclaiming(fig(120, 106)), 'a larger heap with a normal headroom (13 %)')
  t.false(worthReclaiming(fig(600, 300)), 'a heap too large for an atomic collection')
})

test('next interval: the shortest after a collection that gave back, doubling up to the longest after ones that did not', t => {
  t.is(nextInterval(MIN_INTERVAL_MS, fig(70, 48), fig(37, 33)), MIN_INTERVAL_MS)
  t.is(nextInterval(4 * MIN_INTERVAL_MS, fig(70, 48), fig(55, 47)), MIN_INTERVAL_MS, 'half of the slack or more')
  t.is(nextInterval(MIN_INTERVAL_MS, fig(70, 48), fig(68, 47)), 2 * MIN_INTERVAL_MS)
  t.is(nextInterval(MAX_INTERVAL_MS, fig(70, 48), fig(68, 47)), MAX_INTERVAL_MS)
})

interface Rig { r: HeapReclaimer, collected: number[], clock: { ms: number }, heap: { now: HeapFigures }, metrics: Metrics }

/** A reclaimer on a fake heap: collect() turns the heap into afterCollect; growing() is its components' growing. */
function rig (afterCollect: HeapFigures, growing?: () => boolean): Rig {
  const clock = { ms: 1_000_000 }
  const heap = { now: fig(41.5, 35.9) }
  const collected: number[] = []
  const metrics = new Metrics({ defaultMetrics: false })
  const r = new HeapReclaimer({
    logger: silentLogger(),
    metrics,
    figures: () => heap.now,
    collect: () => { collected.push(clock.ms); heap.now = afterCollect },
    nowMs: () => clock.ms,
    growing,
  })
  return { r, collected, clock, heap, metrics }
}

test('reclaimer: collects when worth it, at most once a minute, less often when it gave back little; counted in metrics', async t => {
  const { r, collected, clock, heap, metrics } = rig(fig(68, 47))
  await r.start()
  try {
    clock.ms += MIN_INTERVAL_MS
    t.false(r.check(), 'a settled heap')
    heap.now = fig(70, 48)
    clock.ms -= 1
    t.false(r.check(), 'not in the first minute after start')
    clock.ms += 1
    t.true(r.check())
    t.deepEqual(collected, [clock.ms])
    heap.now = fig(70, 48)
    clock.ms += MIN_INTERVAL_MS
    t.false(r.check(), 'it gave back little (2 of 22 MB): the next wait is doubled')
    clock.ms += MIN_INTERVAL_MS
    t.true(r.check())
    t.is(collected.length, 2)
    const text = await metrics.text()
    t.regex(text, /^sidecar_heap_reclaims_total 2$/m)
    t.regex(text, new RegExp(`^sidecar_heap_reclaimed_bytes_total ${2 * 2 * MB}$`, 'm'))
  } finally {
    await r.stop()
  }
})

test('reclaimer: after a collection that gave back most of the slack, the next one may come a minute later', async t => {
  const { r, collected, clock, heap } = rig(fig(36.9, 33.1))
  await r.start()
  try {
    heap.now = fig(70.8, 48.3)
    clock.ms += MIN_INTERVAL_MS
    t.true(r.check())
    heap.now = fig(70.8, 48.3)
    clock.ms += MIN_INTERVAL_MS - 1
    t.false(r.check())
    clock.ms += 1
    t.true(r.check())
    t.is(collected.length, 2)
  } finally {
    await r.stop()
  }
})

test('reclaimer: nothing while the heap is meant to grow (proxy load, a burst), even with slack; once it is not, the collection comes', async t => {
  // the figures of a daemon under proxy load (bench/proxy, 2026-12-04): the 30 % headroom committed reads as slack
  let growing = true
  const { r, collected, clock, heap } = rig(fig(33.0, 29.0), () => growing)
  await r.start()
  try {
    heap.now = fig(41.8, 31.7)
    for (let i = 0; i < 5; i++) {
      clock.ms += MIN_INTERVAL_MS
      t.false(r.check(), `minute ${i + 1} of the load`)
    }
    t.deepEqual(collected, [])
    growing = false
    t.true(r.check(), 'the load is over and the slack is still there')
    t.deepEqual(collected, [clock.ms])
  } finally {
    await r.stop()
  }
})

test.serial('v8Gc: V8\'s collection, not exposed on the global object, gives back the pages of a dropped structure', t => {
  const gc = v8Gc()
  t.is(typeof gc, 'function')
  t.is((globalThis as { gc?: unknown }).gc, undefined, 'no global gc() for other code to call')
  // 300,000 entries (well over 16 MB), one small object in ten kept alive, scattered over the pages; the map dies on return
  const kept: Array<{ n: number }> = []
  const fill = (): number => {
    const big = new Map<string, { n: number, s: Set<number> }>()
    for (let i = 0; i < 300_000; i++) {
      big.set(`key-${i}-${'x'.repeat(24)}`, { n: i, s: new Set([i]) })
      if (i % 10 === 0) kept.push({ n: i })
    }
    return big.size
  }
  t.is(fill(), 300_000)
  const full = getHeapStatistics().total_heap_size
  gc?.({ type: 'major', execution: 'sync', flavor: 'last-resort' })
  const after = getHeapStatistics().total_heap_size
  t.true(after < full - 30 * MB, `committed heap ${(full / MB).toFixed(1)} -> ${(after / MB).toFixed(1)} MB`)
  t.is(kept.length, 30_000)
})
