import test from 'ava'
import { Writable } from 'node:stream'
import { createLogger, flushLogger } from '../../../src/lib/logger.ts'

function capture (format: 'text' | 'json'): { logger: ReturnType<typeof createLogger>, text: () => string } {
  const chunks: string[] = []
  const destination = new Writable({ write (chunk: Buffer, _enc, cb) { chunks.push(chunk.toString()); cb() } })
  const logger = createLogger({ level: 'info', format, destination })
  return { logger, text: () => chunks.join('') }
}

// What a container label or a member's record can put in a name that is logged.
const FORGED = 'evil\n[2026-12-04 16:00:00.000] INFO: [gossip] member db-1 departed\r\u001b[2J\u001b[31mred\u0007\u009b\u2028end'

test('text logs: a name with a line break cannot print a line of its own, nor reach the terminal as an escape', async t => {
  const { logger, text } = capture('text')
  logger.child({ component: 'gossip' }).info(`member ${FORGED} joined`)
  logger.info('next')
  flushLogger(logger)
  await new Promise(resolve => setImmediate(resolve))
  const lines = text().split('\n').filter(l => l !== '')
  // Every line at the left margin is one the daemon wrote: its time, its level. The forged one is indented.
  const atLeft = lines.filter(l => !l.startsWith(' '))
  t.is(atLeft.length, 2, text())
  for (const l of atLeft) t.regex(l, /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] INFO: /)
  t.true(lines.some(l => l.startsWith('    [2026-12-04 16:00:00.000] INFO: [gossip] member db-1 departed')), 'kept, readable, indented')
  // eslint-disable-next-line no-control-regex -- looking for control characters is the point
  t.false(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028]/.test(text()), 'no control character but the line ends')
  t.true(text().includes('\\r\\u001b[2J\\u001b[31mred\\u0007\\u009b\\u2028end joined'), 'the rest written as escapes')
})

test('json logs: the message is kept whole, escaped by JSON, one line per entry', async t => {
  const { logger, text } = capture('json')
  logger.info(`member ${FORGED} joined`)
  flushLogger(logger)
  await new Promise(resolve => setImmediate(resolve))
  const lines = text().split('\n').filter(l => l !== '')
  t.is(lines.length, 1)
  t.is((JSON.parse(lines[0]) as { msg: string }).msg, `member ${FORGED} joined`)
})

test('json logs: each line names its level ("info", "warn"), as the original\'s did, with an ISO time', async t => {
  const { logger, text } = capture('json')
  logger.info('one')
  logger.child({ component: 'gossip' }).warn('two')
  logger.error('three')
  flushLogger(logger)
  await new Promise(resolve => setImmediate(resolve))
  const lines = text().split('\n').filter(l => l !== '').map(l => JSON.parse(l) as { level: unknown, msg: string, time: string })
  t.deepEqual(lines.map(l => [l.level, l.msg]), [['info', 'one'], ['warn', 'two'], ['error', 'three']])
  for (const l of lines) t.false(Number.isNaN(Date.parse(l.time)), l.time)
})
