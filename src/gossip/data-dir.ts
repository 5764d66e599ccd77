// data_dir's preparation at start (the node key, the host pins) with a deadline: a directory
// whose filesystem never answers (a hung network mount; Node's mkdir under /proc) held the
// start in "starting" for good, with no log line. Past the deadline the start ends with an
// error naming data_dir and the step that did not finish.
import { ConfigError } from '../lib/errors.ts'

/** A local disk answers in milliseconds; a filesystem silent for 10 s is not one data_dir can be on. */
export const DATA_DIR_DEADLINE_MS = 10_000

/**
 * Runs work, which tells step() what it is doing in dataDir; throws a ConfigError (the
 * configuration names a directory the daemon cannot use) when it has not settled within
 * deadlineMs. A stuck system call cannot be cancelled: it is left behind, and the process ends.
 */
export async function inDataDir<T> (dataDir: string, work: (step: (doing: string) => void) => Promise<T>, deadlineMs = DATA_DIR_DEADLINE_MS): Promise<T> {
  let doing = 'preparing it'
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      reject(new ConfigError([`[sidecar] data_dir ${dataDir}: ${doing} did not finish within ${deadlineMs / 1000} s (a hung network mount, or a filesystem that is not a disk?); give a directory on a local filesystem`]))
    }, deadlineMs)
  })
  try {
    return await Promise.race([work((d) => { doing = d }), expired])
  } finally {
    clearTimeout(timer)
  }
}
