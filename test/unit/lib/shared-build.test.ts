import test from 'ava'
import { InFlight, SharedBuild } from '../../../src/lib/shared-build.ts'

/** A build that ends when the test says so, counting how many run at once. */
function builds () {
  const log: string[] = []
  let running = 0
  let most = 0
  const pending: Array<() => void> = []
  const build = async (key: number): Promise<string> => {
    running++
    most = Math.max(most, running)
    log.push(`start ${key}`)
    await new Promise<void>(resolve => { pending.push(resolve) })
    running--
    return `doc ${key}`
  }
  const finish = async (): Promise<void> => {
    while (pending.length === 0) await new Promise(resolve => setImmediate(resolve))
    pending.shift()?.()
    await new Promise(resolve => setImmediate(resolve))
  }
  return { log, build, finish, most: () => most }
}

test('readers of one key share one build, and later readers get the kept document', async t => {
  const doc = new SharedBuild<number, string>()
  const b = builds()
  const readers = [doc.get(() => 1, b.build), doc.get(() => 1, b.build), doc.get(() => 1, b.build)]
  await b.finish()
  t.deepEqual(await Promise.all(readers), ['doc 1', 'doc 1', 'doc 1'])
  t.is(await doc.get(() => 1, b.build), 'doc 1')
  t.deepEqual(b.log, ['start 1'])
})

test('a key that moves on during a build: the new reader waits, then gets a build begun after it arrived; never two at once', async t => {
  const doc = new SharedBuild<number, string>()
  const b = builds()
  let key = 1
  const first = doc.get(() => key, b.build)
  key = 2
  const second = doc.get(() => key, b.build) // arrives while key 1 is built
  key = 3
  await b.finish() // key 1 done: the second reader starts one for the key of then (3)
  t.is(await first, 'doc 1')
  key = 4
  const third = doc.get(() => key, b.build) // key 4, while key 3 is built: waits for it
  await b.finish()
  t.is(await second, 'doc 3', 'a build begun after the reader arrived')
  await b.finish()
  t.is(await third, 'doc 4')
  t.deepEqual(b.log, ['start 1', 'start 3', 'start 4'])
  t.is(b.most(), 1, 'one build at a time')
})

test('under a key that changes faster than builds end, every reader still gets an answer, one build at a time', async t => {
  const doc = new SharedBuild<number, string>()
  let key = 0
  let running = 0
  let most = 0
  const build = async (k: number): Promise<string> => {
    running++
    most = Math.max(most, running)
    for (let i = 0; i < 3; i++) { key++; await new Promise(resolve => setImmediate(resolve)) }
    running--
    return `doc ${k}`
  }
  const answers = await Promise.all(Array.from({ length: 50 }, async (_, i) => {
    await new Promise(resolve => setTimeout(resolve, i % 5))
    return await doc.get(() => key, build)
  }))
  t.is(answers.length, 50)
  t.is(most, 1)
})

test('a failed build fails its readers, and the next reader builds again', async t => {
  const doc = new SharedBuild<number, string>()
  let fail = true
  const build = async (k: number): Promise<string> => {
    await new Promise(resolve => setImmediate(resolve))
    if (fail) throw new Error('boom')
    return `doc ${k}`
  }
  const readers = [doc.get(() => 1, build), doc.get(() => 1, build)]
  for (const r of readers) await t.throwsAsync(r, { message: 'boom' })
  fail = false
  t.is(await doc.get(() => 1, build), 'doc 1')
})

test('InFlight: readers of a key share the build in progress, other keys build apart, and a key built again once its build ended or failed', async t => {
  const runs = new InFlight<string, string>()
  const b = builds()
  const build = (key: number) => async () => await b.build(key)
  const [x1, x2, y] = [runs.run('x', build(1)), runs.run('x', build(2)), runs.run('y', build(3))]
  await b.finish()
  await b.finish()
  t.deepEqual(await Promise.all([x1, x2, y]), ['doc 1', 'doc 1', 'doc 3'])
  const again = runs.run('x', build(4))
  await b.finish()
  t.is(await again, 'doc 4', 'nothing kept once the build ended')
  await t.throwsAsync(runs.run('z', async () => { throw new Error('boom') }), { message: 'boom' })
  t.is(await runs.run('z', async () => 'ok'), 'ok')
  t.deepEqual(b.log, ['start 1', 'start 3', 'start 4'])
})
