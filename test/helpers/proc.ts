// What /proc says about a process (Linux): its resident memory now and at its peak.
import { readFileSync } from 'node:fs'

/** VmRSS and VmHWM (the peak) of a process, in KiB; undefined when it is gone (or no /proc). */
export function memoryKb (pid: number | undefined): { rss: number, peak: number } | undefined {
  if (pid === undefined) return undefined
  let status: string
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8')
  } catch {
    return undefined
  }
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN)
  return { rss: kb('VmRSS'), peak: kb('VmHWM') }
}

/** VmRSS in KiB; NaN when the process is gone (so a comparison with it fails). */
export function rssKb (pid: number | undefined): number {
  return memoryKb(pid)?.rss ?? NaN
}
