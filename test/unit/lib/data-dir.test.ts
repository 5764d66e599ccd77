// data_dir's preparation with a deadline: a filesystem that never answers ends the start with
// an error naming the directory and the step, instead of holding it in "starting" for good;
// and its files, read only when they are regular files of a sane size.
import test, { type ExecutionContext } from 'ava'
import { execFileSync } from 'node:child_process'
import { mkdir, mkdtemp, readdir, rm, stat, symlink, truncate, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { Writable } from 'node:stream'
import { inDataDir, readDataFile, readDataFileSync } from '../../../src/lib/data-dir.ts'
import { loadPeerKey } from '../../../src/gossip/node.ts'
import { HostPins, PINS_FILE } from '../../../src/gossip/pins.ts'
import { ConfigError } from '../../../src/lib/errors.ts'
import { createLogger } from '../../../src/lib/logger.ts'

const silent = createLogger({ level: 'fatal', format: 'json', destination: new Writable({ write (_c, _e, cb) { cb() } }) })

test('data dir: work that never settles fails at the deadline with a ConfigError naming data_dir and the last step', async t => {
  const t0 = Date.now()
  const err = await t.throwsAsync(inDataDir('/srv/nfs/sidecar', async (step) => {
    step('reading the node key /srv/nfs/sidecar/peer.key')
    await Promise.resolve()
    step('creating the directory')
    await new Promise(() => {}) // a system call that never returns
  }, 100), { instanceOf: ConfigError })
  t.is(err?.message, '[sidecar] data_dir /srv/nfs/sidecar: creating the directory did not finish within 0.1 s (a hung network mount, or a filesystem that is not a disk?); give a directory on a local filesystem')
  t.true(Date.now() - t0 < 2000)
})

test('data dir: work that settles in time gives its value or its own error', async t => {
  t.is(await inDataDir('/var/lib/sidecar', async () => 'key', 60_000), 'key')
  await t.throwsAsync(inDataDir('/var/lib/sidecar', async () => { throw new Error('EACCES') }, 60_000), { message: 'EACCES' })
})

/** data_dir's files made into what they must never be: each refused at once, naming the file and what it is. */
async function oddFiles (t: ExecutionContext, name: string): Promise<Array<[string, string, RegExp]>> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'sidecar-odd-'))
  t.teardown(async () => { await rm(root, { recursive: true, force: true }) })
  const at = async (kind: string, make: (file: string) => Promise<void>): Promise<string> => {
    const dir = path.join(root, kind)
    await mkdir(dir)
    await make(path.join(dir, name))
    return dir
  }
  const fifo = async (f: string): Promise<void> => { execFileSync('mkfifo', [f]) }
  return [
    [await at('fifo', fifo), 'a FIFO', /is a FIFO \(named pipe\), not a regular file/],
    [await at('dir', async f => { await mkdir(f) }), 'a directory', /is a directory, not a regular file/],
    [await at('zero', async f => { await symlink('/dev/zero', f) }), 'a symlink to /dev/zero', /is a symlink to a character device, not a regular file/],
    [await at('tofifo', async f => { await fifo(`${f}.pipe`); await symlink(`${f}.pipe`, f) }), 'a symlink to a FIFO', /is a symlink to a FIFO \(named pipe\), not a regular file/],
    [await at('huge', async f => { await writeFile(f, ''); await truncate(f, 1024 ** 3) }), 'a 1 GB sparse file', /is 1073741824 bytes, more than the \d+ such a file can hold \(not read\)/],
  ]
}

test('data dir: a peer.key that is a FIFO, a directory, a symlink to /dev/zero or to a FIFO, or 1 GB, is refused at once (ConfigError naming it), nothing replaced', async t => {
  for (const [dir, what, expected] of await oddFiles(t, 'peer.key')) {
    const t0 = Date.now()
    const err = await t.throwsAsync(inDataDir(dir, async (step) => await loadPeerKey(dir, silent, 'h1', step)), { instanceOf: ConfigError }, what)
    t.regex(err?.message ?? '', new RegExp(`^\\[sidecar\\] data_dir ${dir}: ${path.join(dir, 'peer.key')} ${expected.source}; remove it \\(this host then gets a new peer id`), what)
    t.true(Date.now() - t0 < 2000, `${what}: ${Date.now() - t0} ms`)
    t.deepEqual((await readdir(dir)).filter(f => f.startsWith('peer.key.')).filter(f => !f.endsWith('.pipe')), [], `${what}: no key written beside it`)
  }
})

test('data dir: a host-pins.json that is a FIFO, a directory, a symlink to /dev/zero or to a FIFO, or 1 GB, is refused at start (ConfigError), at once', async t => {
  for (const [dir, what, expected] of await oddFiles(t, PINS_FILE)) {
    const t0 = Date.now()
    const pins = new HostPins({ logger: silent }, { dataDir: dir, hostname: 'h1', peerId: 'peer-1' })
    const err = await t.throwsAsync(pins.load(), { instanceOf: ConfigError }, what)
    t.regex(err?.message ?? '', new RegExp(`${path.join(dir, PINS_FILE)} ${expected.source}; remove it \\(this node then pins each host again as it connects\\)`), what)
    const direct = await t.throwsAsync(readDataFile(path.join(dir, PINS_FILE), 1024, 'fix'), { instanceOf: ConfigError }, what)
    t.is(t.throws(() => readDataFileSync(path.join(dir, PINS_FILE), 1024, 'fix'), { instanceOf: ConfigError }, what)?.message, direct?.message, `${what}: refused alike, read synchronously or not`)
    t.true(Date.now() - t0 < 2000, `${what}: ${Date.now() - t0} ms`)
  }
})

test('data dir: a regular file (or a symlink to one) within the size is read whole', async t => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-odd-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  await writeFile(path.join(dir, 'real'), 'x'.repeat(1000))
  await symlink(path.join(dir, 'real'), path.join(dir, 'link'))
  const real = await stat(path.join(dir, 'real'))
  const read = await readDataFile(path.join(dir, 'link'), 1000, 'fix')
  t.is(read.bytes.length, 1000)
  t.is(read.stats.ino, real.ino, 'the stats of the file read, not of the link')
  t.is(readDataFileSync(path.join(dir, 'real'), 1000, 'fix').bytes.toString(), 'x'.repeat(1000))
  t.like(readDataFileSync(path.join(dir, 'link'), 1000, 'fix'), { bytes: Buffer.from('x'.repeat(1000)), stats: { ino: real.ino, size: 1000 } })
  await t.throwsAsync(readDataFile(path.join(dir, 'none'), 1000, 'fix'), { code: 'ENOENT' })
  t.throws(() => readDataFileSync(path.join(dir, 'none'), 1000, 'fix'), { code: 'ENOENT' })
})

test('data dir: a host-pins.json replaced by a FIFO on a running node is not read (the claim answers at once, warned), and the pins held are kept', async t => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-odd-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const lines: string[] = []
  const logger = createLogger({ level: 'info', format: 'json', destination: new Writable({ write (c: Buffer, _e, cb) { lines.push(...c.toString().split('\n').filter(l => l !== '').map(l => (JSON.parse(l) as { msg: string }).msg)); cb() } }) })
  const pins = new HostPins({ logger }, { dataDir: dir, hostname: 'h1', peerId: 'peer-1' })
  await pins.load()
  t.is(pins.claim('h2', 'peer-2'), 'new')
  await pins.flush()
  await rm(path.join(dir, PINS_FILE))
  execFileSync('mkfifo', [path.join(dir, PINS_FILE)])
  t.is(pins.claim('h2', 'peer-x'), 'conflict', 'answered: the FIFO is not read')
  t.is(pins.peerOf('h2'), 'peer-2')
  t.true(lines.some(l => l.startsWith(`${path.join(dir, PINS_FILE)} was edited but cannot be read ([sidecar] data_dir ${dir}: ${path.join(dir, PINS_FILE)} is a FIFO (named pipe), not a regular file;`)), lines.join('\n'))
})
