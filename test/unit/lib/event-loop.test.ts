import { spawn } from 'node:child_process'
import os from 'node:os'
import test from 'ava'
import { EventLoopMonitor, runQueueWaitSeconds } from '../../../src/lib/event-loop.ts'
import { Metrics } from '../../../src/lib/metrics.ts'

const linux = runQueueWaitSeconds() !== undefined
const ltest = linux ? test.serial : test.skip

async function cpuWait (metrics: Metrics): Promise<number> {
  const m = /^sidecar_event_loop_cpu_wait_seconds_total (\S+)$/m.exec(await metrics.text())
  if (m === null) throw new Error('no sidecar_event_loop_cpu_wait_seconds_total in /metrics')
  return Number(m[1])
}

/** Keeps the main thread busy for ms; returns [wall, this thread's CPU] in seconds. */
function spin (ms: number): [number, number] {
  const cpu0 = process.threadCpuUsage()
  const t0 = performance.now()
  while (performance.now() - t0 < ms);
  const cpu = process.threadCpuUsage(cpu0)
  return [(performance.now() - t0) / 1000, (cpu.user + cpu.system) / 1e6]
}

ltest('event loop: the main thread\'s wait for a CPU is counted; a busy thread among many busy ones was either on a CPU or waiting for one', async t => {
  const metrics = new Metrics({ defaultMetrics: false })
  const monitor = new EventLoopMonitor({ metrics })
  await monitor.start()
  t.teardown(async () => { await monitor.stop() })
  const first = await cpuWait(metrics)
  t.true(first >= 0)

  // idle: sleeping is not waiting for a CPU
  await new Promise(resolve => setTimeout(resolve, 300))
  const idle = await cpuWait(metrics) - first
  t.true(idle < 0.05, `waited ${idle} s while asleep`)

  // 4 busy threads per core in another process (each stops by itself after 1.5 s), and this thread busy among them
  const threads = 4 * os.availableParallelism() + 1
  const child = spawn(process.execPath, ['-e', `
    const { Worker } = require('node:worker_threads')
    const code = 'const t = Date.now(); while (Date.now() - t < 1500);'
    for (let i = 0; i < ${threads}; i++) new Worker(code, { eval: true })
    process.stdout.write('started\\n')`], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { child.kill('SIGKILL') })
  await new Promise(resolve => child.stdout.once('data', resolve))
  await new Promise(resolve => setTimeout(resolve, 200)) // the workers are spinning
  const before = await cpuWait(metrics)
  const [wall, cpu] = spin(500)
  const waited = await cpuWait(metrics) - before
  t.log(`busy ${wall.toFixed(3)} s among ${threads} busy threads: on a CPU ${cpu.toFixed(3)} s, waiting for one ${waited.toFixed(3)} s`)
  t.true(waited > 0.1 * wall, 'it waited for a CPU')
  // a thread that never sleeps is, at every instant, either running or runnable
  t.true(waited + cpu > 0.7 * wall && waited + cpu < 1.15 * wall, `running ${cpu.toFixed(3)} + waiting ${waited.toFixed(3)} s against ${wall.toFixed(3)} s busy`)
  await new Promise(resolve => child.once('exit', resolve))
})
