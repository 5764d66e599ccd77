// data_dir's preparation at start (the node key, the host pins) with a deadline: a directory
// whose filesystem never answers (a hung network mount; Node's mkdir under /proc) held the
// start in "starting" for good, with no log line. Past the deadline the start ends with an
// error naming data_dir and the step that did not finish. Its files are read only when they
// are regular files of a sane size (readDataFile).
import { close, closeSync, constants, fstat, fstatSync, lstat, lstatSync, open, openSync, read, readSync, stat, statSync, type Stats } from 'node:fs'
import { readFile, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import { ConfigError, StartError } from './errors.ts'

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
export async function readDataFile (file: string, maxBytes: number, fix: string): Promise<DataFile> {
  const steps = readSteps(file, maxBytes, fix)
  let next = steps.next()
  while (next.done !== true) next = steps.next(await next.value.async().then(value => ({ value }), (err: unknown) => ({ err })))
  return next.value
}

/** A file of data_dir as read: its bytes, and the stats of the open file they were read from (checked before the read). */
export interface DataFile { bytes: Buffer, stats: Stats }

/** readDataFile, synchronous: for a small read that runs on a live node (a pins file edited). */
export function readDataFileSync (file: string, maxBytes: number, fix: string): DataFile {
  const steps = readSteps(file, maxBytes, fix)
  let next = steps.next()
  while (next.done !== true) next = steps.next(settle(next.value.sync))
  return next.value
}

/**
 * Throws the ConfigError for a data_dir that exists but is not a directory (a file): before,
 * the daemon ran on with three warnings (ENOTDIR, EEXIST) and a new peer id at every start. A
 * missing data_dir is created; one that cannot be (unwritable) is warned about by the caller.
 */
export async function refuseNonDirectory (dataDir: string): Promise<void> {
  const s = await fsAsync.stat(dataDir).catch(() => undefined)
  if (s === undefined || s.isDirectory()) return
  throw new ConfigError([`[sidecar] data_dir ${dataDir} is ${s.isFile() ? 'a file' : kindOf(s)}, not a directory; point data_dir (SIDECAR_DATA_DIR) at a directory, or remove it (it is then created)`])
}

/** Not on Windows, which has no FIFOs to block on. */
const NONBLOCK = constants.O_NONBLOCK ?? 0

/** One file system call of readSteps in both its forms: readDataFileSync makes the one, readDataFile the other. */
interface Call { sync: () => unknown, async: () => Promise<unknown> }
type Outcome = { value: unknown } | { err: unknown }

function settle (sync: () => unknown): Outcome {
  try {
    return { value: sync() }
  } catch (err) {
    return { err }
  }
}

/** Has the driver make a call: its value, or its error thrown here. */
function * call<T> (sync: () => T, async: () => Promise<T>): Generator<Call, T, Outcome> {
  const outcome = yield { sync, async }
  if ('err' in outcome) throw outcome.err
  return outcome.value as T
}

const fsAsync = { stat: promisify(stat), lstat: promisify(lstat), open: promisify(open), fstat: promisify(fstat), read: promisify(read), close: promisify(close) }

/**
 * The one read of a data_dir file, its checks in their order, for readDataFile and
 * readDataFileSync alike (so a fix cannot land in only one): each file system call is yielded
 * to the driver, which makes it synchronously or not.
 */
function * readSteps (file: string, maxBytes: number, fix: string): Generator<Call, DataFile, Outcome> {
  const first = yield * call(() => statSync(file), async () => await fsAsync.stat(file))
  if (!first.isFile()) refuseOdd(file, first, maxBytes, fix, (yield * call(() => lstatSync(file), async () => await fsAsync.lstat(file))).isSymbolicLink())
  refuseOdd(file, first, maxBytes, fix)
  // O_NONBLOCK: should the file be swapped for a FIFO since the stat, the open does not wait for a writer
  const flags = constants.O_RDONLY | NONBLOCK
  const fd = yield * call(() => openSync(file, flags), async () => await fsAsync.open(file, flags))
  try {
    const s = yield * call(() => fstatSync(fd), async () => await fsAsync.fstat(fd))
    refuseOdd(file, s, maxBytes, fix)
    const buf = Buffer.alloc(s.size)
    let got = 0
    while (got < buf.length) {
      const at = got
      const n = yield * call(() => readSync(fd, buf, at, buf.length - at, at), async () => (await fsAsync.read(fd, buf, at, buf.length - at, at)).bytesRead)
      if (n === 0) break // shrunk meanwhile
      got += n
    }
    return { bytes: buf.subarray(0, got), stats: s }
  } finally {
    yield * call(() => { closeSync(fd) }, async () => { await fsAsync.close(fd) })
  }
}

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

/** The file in data_dir that says which process runs on it. */
export const LOCK_FILE = 'sidecar.pid'

/**
 * Claims dataDir for this process, writing its pid to sidecar.pid, and returns what gives it
 * back (at stop). A second daemon on the same data_dir (two sharing SIDECAR_DATA_DIR, or the
 * same --hostname) took the same node key: both ran, each seed between them failed with "Can not
 * dial self", and the cluster saw one peer id at two addresses. It is now refused at once
 * (StartError, exit 1, as a port in use). A file left by a process that is gone (killed, or
 * before a reboot) is taken over. A data_dir that cannot be written is not claimed: the node
 * key's warning already says so.
 */
export async function claimDataDir (dataDir: string): Promise<() => Promise<void>> {
  const file = path.join(dataDir, LOCK_FILE)
  const release = async (): Promise<void> => {
    const now = await readFile(file, 'utf8').catch(() => '')
    if (Number(now.trim()) === process.pid) await rm(file, { force: true })
  }
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(file, `${process.pid}\n`, { flag: 'wx', mode: 0o600 })
      return release
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return async () => {}
    }
    const owner = await runningOwner(file)
    if (owner !== undefined) {
      throw new StartError(`[sidecar] data_dir ${dataDir} is in use by another sidecar (pid ${owner}, see ${file}): two daemons on one data_dir share one node identity; give each its own data_dir (SIDECAR_DATA_DIR) or --hostname, or stop the other`)
    }
    await rm(file, { force: true }) // left by a process that is gone
  }
  return async () => {} // another start took it between our look and our write: let that one have it
}

/** The pid in a lock file when that process still runs and is a sidecar (not this process, nor a pid reused since). */
async function runningOwner (file: string): Promise<number | undefined> {
  let read: DataFile
  try {
    read = await readDataFile(file, 64, 'it is taken over') // not a regular file of a pid, or gone: nobody's
  } catch {
    return undefined
  }
  const written = read.stats.mtimeMs
  const pid = Number(read.bytes.toString('utf8').trim())
  if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid) return undefined
  try {
    process.kill(pid, 0)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return undefined // no such process
  }
  // Linux: a pid reused by another program (after a reboot, say) is not a sidecar
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined)
  if (cmdline !== undefined && !cmdline.includes('sidecar')) return undefined
  const bootMs = await bootTimeMs()
  if (bootMs !== undefined && written < bootMs) return undefined
  return pid
}

async function bootTimeMs (): Promise<number | undefined> {
  const stat = await readFile('/proc/stat', 'utf8').catch(() => '')
  const m = /^btime (\d+)$/m.exec(stat)
  return m === null ? undefined : Number(m[1]) * 1000
}
