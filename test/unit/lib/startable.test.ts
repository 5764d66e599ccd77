// startAll / stopAll: order, rollback on a failed start, and a stop that never throws.
import test from 'ava'
import { startAll, stopAll, type Startable } from '../../../src/lib/startable.ts'

function part (name: string, log: string[], fail: { start?: boolean, stop?: boolean } = {}): Startable {
  return {
    async start () { log.push(`start ${name}`); if (fail.start === true) throw new Error(`${name} cannot start`) },
    async stop () { log.push(`stop ${name}`); if (fail.stop === true) throw new Error(`${name} broke its contract`) },
  }
}

test('startAll: starts in order', async t => {
  const log: string[] = []
  await startAll([part('a', log), part('b', log), part('c', log)])
  t.deepEqual(log, ['start a', 'start b', 'start c'])
})

test('startAll: once cancelled() says yes, the rest are not started; it returns the ones that were', async t => {
  const log: string[] = []
  let cancel = false
  const b: Startable = { async start () { log.push('start b'); cancel = true }, async stop () { log.push('stop b') } }
  const a = part('a', log)
  const started = await startAll([a, b, part('c', log)], () => cancel)
  t.deepEqual(log, ['start a', 'start b'])
  t.deepEqual(started, [a, b])
})

test('startAll: a failed start stops the started ones in reverse, not the failed one nor the rest, and rethrows it', async t => {
  const log: string[] = []
  const err = await t.throwsAsync(startAll([part('a', log), part('b', log), part('c', log, { start: true }), part('d', log)]))
  t.is(err?.message, 'c cannot start')
  t.deepEqual(log, ['start a', 'start b', 'start c', 'stop b', 'stop a'])
})

test('startAll: the rollback goes on past a stop that throws, and the start failure is what the caller sees', async t => {
  const log: string[] = []
  const err = await t.throwsAsync(startAll([part('a', log), part('b', log, { stop: true }), part('c', log, { start: true })]))
  t.is(err?.message, 'c cannot start')
  t.deepEqual(log, ['start a', 'start b', 'start c', 'stop b', 'stop a'])
})

test('stopAll: stops in reverse and never throws, even when every stop does', async t => {
  const log: string[] = []
  await t.notThrowsAsync(stopAll([part('a', log, { stop: true }), part('b', log, { stop: true })]))
  t.deepEqual(log, ['stop b', 'stop a'])
})

test('stopAll: a synchronous throw counts like a rejection', async t => {
  const log: string[] = []
  const bad: Startable = { async start () {}, stop () { throw new Error('sync') } }
  await t.notThrowsAsync(stopAll([part('a', log), bad]))
  t.deepEqual(log, ['stop a'])
})
