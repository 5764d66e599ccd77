// What /proc says about a process (Linux): its resident memory now and at its peak, and in parts.
import { readFileSync } from 'node:fs'

/** The "<key>: <n> kB" lines of a /proc file, in KiB (NaN for a key it lacks); undefined when the file cannot be read (the process is gone, or no /proc). */
function procKb<K extends string> (file: string, keys: Record<K, string>): Record<K, number> | undefined {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
  const out = {} as Record<K, number>
  for (const [name, key] of Object.entries(keys) as Array<[K, string]>) out[name] = Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN)
  return out
}

/** VmRSS and VmHWM (the peak) of a process, in KiB; undefined when it is gone (or no /proc). */
export function memoryKb (pid: number | undefined): { rss: number, peak: number } | undefined {
  return pid === undefined ? undefined : procKb(`/proc/${pid}/status`, { rss: 'VmRSS', peak: 'VmHWM' })
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
  return pid === undefined ? undefined : procKb(`/proc/${pid}/smaps_rollup`, { rss: 'Rss', anon: 'Anonymous', pss: 'Pss' })
}
