// Loaded into a daemon by stall-meter.ts (node --import): the event loop's stalls at 1 ms
// resolution. The daemon's own gauges sample every 10 ms, and what they record is the time
// between two samples, so a stall of d ms reads as anything from d to d + 10 ms; here, d to
// d + 1. Silent until the first SIGUSR2, which starts it; each later SIGUSR2 writes what it saw
// since the one before to the file named by SIDECAR_STALL_FILE, as one JSON line, and starts
// again. It adds nothing else to the process: no listener on any port, no output.
import { writeFileSync } from 'node:fs'
import { monitorEventLoopDelay } from 'node:perf_hooks'

const file = process.env.SIDECAR_STALL_FILE
if (file !== undefined && file !== '') {
  const histogram = monitorEventLoopDelay({ resolution: 1 })
  let seq = 0
  process.on('SIGUSR2', () => {
    if (seq > 0) {
      const ms = (ns: number): number => Math.round(ns / 1e4) / 100
      writeFileSync(file, JSON.stringify({ seq, maxMs: ms(histogram.max), p99Ms: ms(histogram.percentile(99)), samples: histogram.count }) + '\n')
    }
    seq++
    histogram.reset()
    histogram.enable()
  })
}
