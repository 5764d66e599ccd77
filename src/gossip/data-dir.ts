// data_dir's preparation at start (the node key, the host pins) with a deadline: a directory
// whose filesystem never answers (a hung network mount; Node's mkdir under /proc) held the
// start in "starting" for good, with no log line. Past the deadline the start ends with an
// error naming data_dir and the step that did not finish. Its files are read only when they
// are regular files of a sane size (readDataFile).
import { closeSync, constants, fstatSync, lstatSync, openSync, readSync, statSync, type Stats } from 'node:fs'
import { lstat, open, stat } from 'node:fs/promises'
import path from 'node:path'
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

/**
 * Reads a small file of data_dir (peer.key, host-pins.json) without ever blocking on it. A FIFO
 * or a device there (or a symlink to one) held the read for good: the start ended at the
 * deadline above, but the process never exited, waiting for the stuck thread-pool read. A file
 * that is not a regular file, or larger than maxBytes, is refused at once with a ConfigError
 * that names it and says what to do (fix); a missing file throws ENOENT as readFile does.
 */
export async function readDataFile (file: string, maxBytes: number, fix: string): Promise<Buffer> {
  const first = await stat(file)
  if (!first.isFile()) refuseOdd(file, first, maxBytes, fix, (await lstat(file)).isSymbolicLink())
  refuseOdd(file, first, maxBytes, fix)
  // O_NONBLOCK: should the file be swapped for a FIFO since the stat, the open does not wait for a writer
  const fh = await open(file, constants.O_RDONLY | NONBLOCK)
  try {
    const s = await fh.stat()
    refuseOdd(file, s, maxBytes, fix)
    const buf = Buffer.alloc(s.size)
    let got = 0
    while (got < buf.length) {
      const { bytesRead } = await fh.read(buf, got, buf.length - got, got)
      if (bytesRead === 0) break // shrunk meanwhile
      got += bytesRead
    }
    return buf.subarray(0, got)
  } finally {
    await fh.close()
  }
}

/** readDataFile, synchronous: for a small read that runs on a live node (a pins file edited). */
export function readDataFileSync (file: string, maxBytes: number, fix: string): Buffer {
  const first = statSync(file)
  if (!first.isFile()) refuseOdd(file, first, maxBytes, fix, lstatSync(file).isSymbolicLink())
  refuseOdd(file, first, maxBytes, fix)
  const fd = openSync(file, constants.O_RDONLY | NONBLOCK)
  try {
    const s = fstatSync(fd)
    refuseOdd(file, s, maxBytes, fix)
    const buf = Buffer.alloc(s.size)
    let got = 0
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, got)
      if (n === 0) break
      got += n
    }
    return buf.subarray(0, got)
  } finally {
    closeSync(fd)
  }
}

/**
 * Throws the ConfigError for a data_dir that exists but is not a directory (a file): before,
 * the daemon ran on with three warnings (ENOTDIR, EEXIST) and a new peer id at every start. A
 * missing data_dir is created; one that cannot be (unwritable) is warned about by the caller.
 */
export async function refuseNonDirectory (dataDir: string): Promise<void> {
  const s = await stat(dataDir).catch(() => undefined)
  if (s === undefined || s.isDirectory()) return
  throw new ConfigError([`[sidecar] data_dir ${dataDir} is ${s.isFile() ? 'a file' : kindOf(s)}, not a directory; point data_dir (SIDECAR_DATA_DIR) at a directory, or remove it (it is then created)`])
}

/** Not on Windows, which has no FIFOs to block on. */
const NONBLOCK = constants.O_NONBLOCK ?? 0

/** Throws the ConfigError for a file of data_dir (stat s) that is not a regular file, or too large; symlink: file itself is one. */
function refuseOdd (file: string, s: Stats, maxBytes: number, fix: string, symlink = false): void {
  if (!s.isFile()) {
    throw new ConfigError([`[sidecar] data_dir ${path.dirname(file)}: ${file} is ${symlink ? 'a symlink to ' : ''}${kindOf(s)}, not a regular file; ${fix}`])
  }
  if (s.size > maxBytes) {
    throw new ConfigError([`[sidecar] data_dir ${path.dirname(file)}: ${file} is ${s.size} bytes, more than the ${maxBytes} such a file can hold (not read); ${fix}`])
  }
}

function kindOf (s: Stats): string {
  if (s.isDirectory()) return 'a directory'
  if (s.isFIFO()) return 'a FIFO (named pipe)'
  if (s.isCharacterDevice()) return 'a character device'
  if (s.isBlockDevice()) return 'a block device'
  if (s.isSocket()) return 'a socket'
  return 'not a file'
}
