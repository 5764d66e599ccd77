// Loaded into a daemon by stall-meter.ts (node --import): the event loop's stalls at 1 ms
// resolution. The daemon's own gauges sample every 10 ms, and what they record is the time
// between two samples, so a stall of d ms reads as anything from d to d + 10 ms; here, d to
// d + 1. Silent until the first SIGUSR2, which starts it; each later SIGUSR2 writes what it saw
// since the one before to the file named by SIDECAR_STALL_FILE, as one JSON line, and starts
// again. It adds nothing else to the process: no listener on any port, no output.
//
// Where the longest stall went (Linux): a 1 ms timer reads the main thread's scheduler counters
// (/proc/thread-self/schedstat: time on a CPU, time runnable but waiting for one) at each turn,
// so the longest gap between two turns splits into time on a CPU (the daemon's own work,
// collections included), time waiting for a core (other processes or threads had them) and the
// rest, blocked (a system call, or V8 waiting for its helper threads). The gap with the most
// time on a CPU is kept as well: the longest piece of the process's own work.
import { closeSync, openSync, readSync, writeFileSync } from 'node:fs'
import { monitorEventLoopDelay } from 'node:perf_hooks'

const file = process.env.SIDECAR_STALL_FILE
if (file !== undefined && file !== '') {
  const histogram = monitorEventLoopDelay({ resolution: 1 })
  const sched = schedReader()
  let longest = { ms: 0, cpuMs: 0, waitMs: 0 }
  // the gap with the most time on a CPU: the longest piece of the process's own work (collections included)
  let busiest = { ms: 0, cpuMs: 0, waitMs: 0 }
  let last = { at: 0, cpuNs: 0, waitNs: 0 }
  let seq = 0
  const turn = (): void => {
    const now = { at: performance.now(), ...sched() }
    const ms = now.at - last.at
    if (ms > longest.ms || ms > busiest.cpuMs) {
      const gap = { ms, cpuMs: (now.cpuNs - last.cpuNs) / 1e6, waitMs: (now.waitNs - last.waitNs) / 1e6 }
      if (ms > longest.ms) longest = gap
      if (gap.cpuMs > busiest.cpuMs) busiest = gap
    }
    last = now
  }
  process.on('SIGUSR2', () => {
    if (seq === 0) setInterval(turn, 1).unref() // like the histogram, from the first signal on
    if (seq > 0) {
      const ms = (ns: number): number => Math.round(ns / 1e4) / 100
      const r = (g: typeof longest): typeof longest => ({ ms: Math.round(g.ms * 100) / 100, cpuMs: Math.round(g.cpuMs * 100) / 100, waitMs: Math.round(g.waitMs * 100) / 100 })
      writeFileSync(file, JSON.stringify({ seq, maxMs: ms(histogram.max), p99Ms: ms(histogram.percentile(99)), samples: histogram.count, longest: r(longest), busiest: r(busiest) }) + '\n')
    }
    seq++
    histogram.reset()
    histogram.enable()
    longest = { ms: 0, cpuMs: 0, waitMs: 0 }
    busiest = { ms: 0, cpuMs: 0, waitMs: 0 }
    last = { at: performance.now(), ...sched() }
  })
}

/** Reads the main thread's time on a CPU and waiting for one (ns); zeros where /proc has no schedstat. */
function schedReader (): () => { cpuNs: number, waitNs: number } {
  let opened: number
  try {
    opened = openSync('/proc/thread-self/schedstat', 'r')
  } catch {
    return () => ({ cpuNs: 0, waitNs: 0 })
  }
  const fd = opened
  const buf = Buffer.alloc(128)
  process.on('exit', () => { closeSync(fd) })
  return () => {
    const n = readSync(fd, buf, 0, buf.length, 0)
    const [cpu, wait] = buf.toString('latin1', 0, n).split(' ')
    return { cpuNs: Number(cpu), waitNs: Number(wait) }
  }
}
