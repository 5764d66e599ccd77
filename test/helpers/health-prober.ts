// Probes a daemon's /health from a worker thread of its own, so what it measures is the
// daemon's answer time, not the test process's: a test that parses megabytes of answers in a
// loop holds its own event loop for hundreds of milliseconds, and a prober beside it would
// count that against the daemon. The worker's thread runs at a raised priority (niceness -10,
// where the process may set it: root, as in CI): at niceness 0 on a loaded machine it waited
// for a core for up to 1.7 s of a 5 s window (747 ms of one 821 ms probe), and each such wait
// was counted as the daemon's. In api-scale beside api-security-browser's Chromium, the
// explain phase got 13 answers in 5 s (median 134 ms; CI once 9) at niceness 0, 44 (median
// 9 ms) at -10.
import { Worker } from 'node:worker_threads'

export interface HealthProbes {
  /** Answer times in ms, in the order they came. */
  times: number[]
  /** Each failed probe: the error's name (TimeoutError past timeoutMs), its cause's code, and when it gave up. */
  failures: string[]
}

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads')
const { url, intervalMs, timeoutMs } = workerData
try {
  const tid = Number(require('node:fs').readlinkSync('/proc/thread-self').split('/').pop())
  require('node:os').setPriority(tid, -10) // this thread only (Linux); refused without the privilege
} catch {}
const times = []
const failures = []
let stop = false
parentPort.on('message', () => { stop = true })
;(async () => {
  while (!stop) {
    const t0 = performance.now()
    try {
      await (await fetch(url, { signal: AbortSignal.timeout(timeoutMs) })).arrayBuffer()
      times.push(performance.now() - t0)
    } catch (err) {
      const code = err && err.cause && err.cause.code
      failures.push(err.name + (code ? ' (' + code + ')' : '') + ' after ' + (performance.now() - t0).toFixed(0) + ' ms')
    }
    await new Promise(resolve => setTimeout(resolve, intervalMs))
  }
  parentPort.postMessage({ times, failures })
})()
`

/** Starts probing url every intervalMs (after each answer); stop() ends the loop and returns what it saw. */
export function startHealthProber (url: string, opts: { intervalMs?: number, timeoutMs?: number } = {}): { stop: () => Promise<HealthProbes> } {
  const worker = new Worker(WORKER, { eval: true, workerData: { url, intervalMs: opts.intervalMs ?? 100, timeoutMs: opts.timeoutMs ?? 5000 } })
  const result = new Promise<HealthProbes>((resolve, reject) => {
    worker.once('message', (m: HealthProbes) => { resolve(m) })
    worker.once('error', reject)
    worker.once('exit', code => { reject(new Error(`the /health prober exited (${code}) before it reported`)) })
  })
  return {
    stop: async () => {
      worker.postMessage('stop')
      try {
        return await result
      } finally {
        await worker.terminate()
      }
    },
  }
}
