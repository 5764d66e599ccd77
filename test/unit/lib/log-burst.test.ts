import { Writable } from 'node:stream'
import test from 'ava'
import { pino } from 'pino'
import { BurstLog } from '../../../src/lib/log-burst.ts'
import { sleep } from '../../helpers/wait.ts'

interface Line { level: number, msg: string }

function capture (level: string): { logger: pino.Logger, lines: Line[] } {
  const lines: Line[] = []
  const sink = new Writable({ write (chunk: Buffer, _enc, cb) { for (const l of chunk.toString().split('\n')) if (l !== '') lines.push(JSON.parse(l) as Line); cb() } })
  return { logger: pino({ level, base: undefined }, sink), lines }
}
const INFO = 30
const WARN = 40
const DEBUG = 20

test('a burst: the first lines of the window as usual, the rest only at debug, then one line with their count', async t => {
  const { logger, lines } = capture('info')
  const log = new BurstLog(logger, { what: 'health checks added', perWindow: 20 })
  for (let i = 0; i < 10_000; i++) log.line('info', { id: i }, `adding health check for s${i}`)
  log.flush()
  await sleep(20)
  t.is(lines.length, 21)
  t.deepEqual(lines.slice(0, 20).map(l => l.msg), Array.from({ length: 20 }, (_, i) => `adding health check for s${i}`))
  t.like(lines[20], { level: INFO, msg: '... and 9980 more health checks added within 1 s (each one at debug level)' })
})

test('a few lines log exactly as without it, and each window starts afresh', async t => {
  const { logger, lines } = capture('info')
  const log = new BurstLog(logger, { what: 'x', perWindow: 3 })
  for (let i = 0; i < 3; i++) log.line('info', {}, `a${i}`)
  log.flush()
  for (let i = 0; i < 3; i++) log.line('info', {}, `b${i}`)
  log.flush()
  await sleep(20)
  t.deepEqual(lines.map(l => l.msg), ['a0', 'a1', 'a2', 'b0', 'b1', 'b2'])
})

test('at debug level every line is kept; a held warning makes the summary a warning', async t => {
  const { logger, lines } = capture('debug')
  const log = new BurstLog(logger, { what: 'services now unhealthy', perWindow: 2 })
  for (let i = 0; i < 5; i++) log.line('warn', {}, `down ${i}`)
  log.flush()
  await sleep(20)
  t.deepEqual(lines.map(l => [l.level, l.msg]), [[WARN, 'down 0'], [WARN, 'down 1'], [DEBUG, 'down 2'], [DEBUG, 'down 3'], [DEBUG, 'down 4'], [WARN, '... and 3 more services now unhealthy within 1 s (each one at debug level)']])
})

test('the window ends by itself: the count comes without a flush', async t => {
  const { logger, lines } = capture('info')
  const log = new BurstLog(logger, { what: 'expired services tombstoned', perWindow: 1, windowMs: 50 })
  log.line('info', {}, 'first')
  log.line('info', {}, 'second')
  await sleep(300)
  t.deepEqual(lines.map(l => l.msg), ['first', '... and 1 more expired services tombstoned within 0.05 s (each one at debug level)'])
  log.line('info', {}, 'third')
  log.flush()
  await sleep(20)
  t.is(lines.at(-1)?.msg, 'third')
})
