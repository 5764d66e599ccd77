// BatchWorker's thread runs at a lower CPU priority than the rest of the process (Linux keeps a
// nice value per thread): read from /proc, the worker thread's niceness is the process's plus
// WORKER_NICENESS, and the main thread's, and so the event loop's, is unchanged.
import { readFileSync, readlinkSync } from 'node:fs'
import test from 'ava'
import { BatchWorker, WORKER_NICENESS } from '../../../src/lib/batch-worker.ts'

/** Field 19 of /proc/<path>/stat: the thread's nice value (read after the command's closing parenthesis). */
function niceOf (statPath: string): number {
  const stat = readFileSync(statPath, 'utf8')
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16])
}

// answers with the worker thread's own /proc entry ("<pid>/task/<tid>")
const WHERE_AM_I = `
const { parentPort } = require('node:worker_threads')
parentPort.on('message', ({ id }) => { parentPort.postMessage({ id, res: require('node:fs').readlinkSync('/proc/thread-self') }) })
`

const linux = process.platform === 'linux'

;(linux ? test : test.skip)('batch-worker: the worker thread runs WORKER_NICENESS lower in priority than the main thread, which keeps its own', async t => {
  const before = niceOf('/proc/thread-self/stat')
  const w = new BatchWorker<null, string>('test', WHERE_AM_I, null, 10_000)
  t.teardown(async () => { await w.close() })
  const task = await w.run(null)
  const [pid] = readlinkSync('/proc/thread-self').split('/')
  t.true(task.startsWith(`${pid}/task/`), `a thread of this process (${task})`)
  t.not(task, readlinkSync('/proc/thread-self'), 'not the main thread')
  t.is(niceOf(`/proc/${task}/stat`), Math.min(19, before + WORKER_NICENESS), 'the worker thread')
  t.is(niceOf('/proc/thread-self/stat'), before, 'the main thread: unchanged')
  t.is(niceOf(`/proc/${pid}/stat`), before, 'the process (its main thread) as seen from outside: unchanged')
})
