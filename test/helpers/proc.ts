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

/**
 * A process's resident memory in parts, KiB (Linux 4.14+, /proc/<pid>/smaps_rollup): rss; anon,
 * its private memory (heap, stacks, malloc); pss, rss with each page shared with other processes
 * counted in proportion (the node executable's code, mapped by every Node process on the host,
 * is about half of an idle daemon's RSS). undefined when gone or not readable.
 */
export function memoryPartsKb (pid: number | undefined): { rss: number, anon: number, pss: number } | undefined {
  if (pid === undefined) return undefined
  let rollup: string
  try {
    rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8')
  } catch {
    return undefined
  }
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(rollup)?.[1] ?? NaN)
  return { rss: kb('Rss'), anon: kb('Anonymous'), pss: kb('Pss') }
}
