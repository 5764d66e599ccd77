// The benches' stall meter in a real child process: a known block of the child's event loop
// reads as that long (within the meter's 1 ms resolution and a margin), and each read starts
// a new window.
import test from 'ava'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { StallMeter } from '../../helpers/stall-meter.ts'
import { waitFor } from '../../helpers/wait.ts'

// Blocks its event loop for N ms on each line "N" it reads; prints "ready" first and "done" after each block.
const CHILD = `
process.stdout.write('ready\\n')
process.stdin.setEncoding('utf8')
process.stdin.on('data', (text) => {
  for (const line of text.split('\\n').filter(Boolean)) {
    const t0 = performance.now()
    while (performance.now() - t0 < Number(line)) { /* the stall */ }
    process.stdout.write('done\\n')
  }
})
`

test('stall meter: a child blocked 120 ms reads 120-135 ms, sampled every millisecond; the next window, without a block, reads less', async t => {
  const meter = new StallMeter('unit')
  t.teardown(async () => { await meter.close() })
  const child = spawn(process.execPath, ['-e', CHILD], { env: { ...process.env, ...meter.env() }, stdio: ['pipe', 'pipe', 'inherit'] })
  t.teardown(() => { child.kill() })
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (s: string) => { out += s })
  await waitFor(() => out.includes('ready'), { timeoutMs: 30_000, message: 'the child started' })
  meter.start(child.pid as number)
  await new Promise(resolve => setTimeout(resolve, 200))
  child.stdin.write('120\n')
  await waitFor(() => out.includes('done'), { timeoutMs: 30_000, message: 'the block ended' })
  const blocked = await meter.read()
  t.true(blocked.maxMs >= 120 && blocked.maxMs < 135, `${blocked.maxMs} ms`)
  // one a millisecond while the loop is free (a 10 ms sampler would have taken about 20 in the 200 ms before the block)
  t.true(blocked.samples >= 80, `${blocked.samples} samples`)
  await new Promise(resolve => setTimeout(resolve, 300))
  const free = await meter.read()
  t.true(free.maxMs < blocked.maxMs, `${free.maxMs} ms without a block, ${blocked.maxMs} with one`)
  child.kill()
  await once(child, 'exit')
})
