// The daemon's slicing: slices bounded by time, one per turn of the event loop whoever's
// they are, and a per-turn budget for work that arrives as events.
import test from 'ava'
import { setImmediate as plainImmediate } from 'node:timers/promises'
import { nextTurn, SLICE_MS, Slicer, TurnBudget, TurnQueue, waitingSlices } from '../../../src/lib/slicer.ts'

/** Busy for ms (a step of real work). */
function busy (ms: number): void {
  const end = performance.now() + ms
  while (performance.now() < end) { /* work */ }
}

/**
 * Runs three jobs of `slices` slices (3 ms each) that yield with `yieldFn`, while a timer
 * counts turns of the event loop; returns the turn each slice ran in, per job.
 */
async function run (yieldFn: () => Promise<void>, slices: number): Promise<{ turns: number[][], order: string[] }> {
  let turn = 0
  let ticking = true
  const tick = (): void => { turn++; if (ticking) setTimeout(tick, 0) }
  setTimeout(tick, 0)
  const order: string[] = []
  const job = async (name: string): Promise<number[]> => {
    const seen: number[] = []
    for (let i = 0; i < slices; i++) {
      if (i > 0) await yieldFn()
      seen.push(turn)
      order.push(name)
      busy(3)
    }
    return seen
  }
  await yieldFn() // start all three from the same turn
  const turns = await Promise.all([job('a'), job('b'), job('c')])
  ticking = false
  return { turns, order }
}

test.serial('slicer: slices of several jobs run one per turn of the event loop, so timers and I/O run between any two', async t => {
  const { turns, order } = await run(nextTurn, 10)
  const later = turns.flatMap(seen => seen.slice(1)) // the first slices run at once, together, before any yield
  t.is(new Set(later).size, later.length, `every slice after a yield has a turn of its own: ${JSON.stringify(turns)}`)
  t.deepEqual(order.slice(3, 12), ['a', 'b', 'c', 'a', 'b', 'c', 'a', 'b', 'c'], 'first come, first served: no job starves')
  t.is(waitingSlices(), 0)
})

test.serial('slicer: plain setImmediate runs every job\'s next slice in the same turn (what nextTurn prevents)', async t => {
  const { turns } = await run(async () => { await plainImmediate() }, 10)
  const later = turns.flatMap(seen => seen.slice(1))
  t.true(new Set(later).size <= later.length / 2, `slices shared turns: ${JSON.stringify(turns)}`)
})

test.serial('slicer: a loop of 1 ms steps is cut into slices of SLICE_MS, whatever the count; a small job finishes at once', async t => {
  const steps = 5 * SLICE_MS
  const perSlice: number[] = [0]
  let yields = 0
  const s = new Slicer()
  for (let i = 0; i < steps; i++) {
    if (s.due()) { await s.next(); yields++; perSlice.push(0) }
    busy(1)
    perSlice[perSlice.length - 1]++
  }
  // Each step takes 1 ms or more, so a slice is due after SLICE_MS steps at most (fewer when the host is slow).
  t.true(perSlice.every(n => n >= 1 && n <= SLICE_MS), `steps per slice: ${JSON.stringify(perSlice)}`)
  t.true(yields >= 4, `${yields} yields`)
  const small = new Slicer()
  let n = 0
  for (let i = 0; i < 3; i++) { if (small.due()) await small.next(); n++ }
  t.is(n, 3)
  t.false(small.due(), 'three quick steps fit one slice')
})

test.serial('slicer: a TurnBudget is spent by the work it times within one turn, and is whole again in the next', async t => {
  const budget = new TurnBudget()
  let runs = 0
  while (!budget.exhausted && runs < 1000) { budget.run(() => { busy(1) }); runs++ }
  t.true(runs >= 1 && runs <= SLICE_MS, `${runs} runs of 1 ms spent the budget`)
  t.true(budget.exhausted)
  await plainImmediate()
  t.true(budget.exhausted, 'a setImmediate queued in this turn runs in it: still spent')
  await nextTurn()
  t.false(budget.exhausted, 'a later turn has its budget again')
  t.throws(() => { budget.run(() => { busy(SLICE_MS); throw new Error('boom') }) }, { message: 'boom' })
  t.true(budget.exhausted, 'time spent by work that threw counts too')
})

test.serial('slicer: a TurnQueue runs a burst of tasks as each turn\'s budget allows, in order, and hands back what they return or throw', async t => {
  const q = new TurnQueue()
  let turn = 0
  let ticking = true
  const tick = (): void => { turn++; if (ticking) setTimeout(tick, 0) }
  setTimeout(tick, 0)
  const ran: Array<{ i: number, turn: number }> = []
  const tasks = Array.from({ length: 8 * SLICE_MS }, async (_, i) => await q.run(() => { ran.push({ i, turn }); busy(1); return i }))
  t.true(ran.length >= 1 && ran.length <= SLICE_MS, `${ran.length} ran at once`)
  t.true(q.waiting > 0)
  t.deepEqual(await Promise.all(tasks), tasks.map((_, i) => i))
  ticking = false
  t.deepEqual(ran.map(r => r.i), ran.map((_, i) => i), 'in the order they came')
  const perTurn = new Map<number, number>()
  for (const r of ran) perTurn.set(r.turn, (perTurn.get(r.turn) ?? 0) + 1)
  t.true([...perTurn.values()].every(n => n <= SLICE_MS), `1 ms tasks per turn: ${JSON.stringify([...perTurn])}`)
  t.true(perTurn.size >= 4, `${perTurn.size} turns`)
  await t.throwsAsync(q.run(() => { throw new Error('boom') }), { message: 'boom' })
  t.is(await q.run(() => 'after'), 'after')
})
