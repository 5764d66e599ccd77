// HeapMode on V8's real collector, in child processes started with bin/sidecar.js's heap
// flags: while the heap grows fast it turns --optimize-for-size off, which takes the full
// collections of the same growth down by more than half, and turns it on again once the heap
// settles; where the process did not start with the flag, it does nothing.
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import test from 'ava'

const main = fileURLToPath(new URL('../../helpers/heap-burst-main.ts', import.meta.url))
interface Run { majors: number, sawThroughput: boolean, after: 'small' | 'throughput' }

async function run (flags: string[], watching: 'on' | 'off'): Promise<Run> {
  const { stdout } = await promisify(execFile)(process.execPath, [...flags, main, watching], { timeout: 60_000 })
  return JSON.parse(stdout.trim().split('\n').at(-1) as string) as Run
}

test('heap-mode: a fast-growing heap turns optimize-for-size off (fewer full collections), a settled one turns it on again', async t => {
  const flags = ['--max-semi-space-size=1', '--optimize-for-size']
  const without = await run(flags, 'off')
  const withMode = await run(flags, 'on')
  t.log(`full collections of the same growth: ${without.majors} with the flag throughout, ${withMode.majors} with HeapMode`)
  t.false(without.sawThroughput)
  t.true(withMode.sawThroughput, 'off during the growth')
  t.is(withMode.after, 'small', 'on again once the heap settled')
  t.true(withMode.majors * 2 < without.majors, `${withMode.majors} full collections against ${without.majors}`)
})

test('heap-mode: a process started without the flag (a user\'s own heap flags) is left alone', async t => {
  const r = await run(['--max-semi-space-size=4'], 'on')
  t.false(r.sawThroughput)
  t.is(r.after, 'small')
})
