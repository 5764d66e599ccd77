// data_dir's files (peer.key, host-pins.json) that are not regular files, or absurdly large:
// the daemon refuses to start at once (exit 2), naming the file and the fix, and its process
// ends. Before, a FIFO held the start 10 s and then the process never exited. Real daemons on
// 127.0.49.20-29.
import { execFileSync } from 'node:child_process'
import { access, mkdir, mkdtemp, readFile, rm, symlink, truncate, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import test from 'ava'
import { DaemonProcess, startDaemon } from '../helpers/daemon.ts'
import { sleep, waitFor } from '../helpers/wait.ts'

const cases: Array<{ file: string, what: string, make: (f: string) => Promise<void>, says: string }> = [
  { file: 'peer.key', what: 'a FIFO', make: async f => { execFileSync('mkfifo', [f]) }, says: 'is a FIFO (named pipe), not a regular file; remove it (this host then gets a new peer id' },
  { file: 'host-pins.json', what: 'a FIFO', make: async f => { execFileSync('mkfifo', [f]) }, says: 'is a FIFO (named pipe), not a regular file; remove it (this node then pins each host again as it connects)' },
  { file: 'peer.key', what: 'a symlink to /dev/zero', make: async f => { await symlink('/dev/zero', f) }, says: 'is a symlink to a character device, not a regular file' },
  { file: 'host-pins.json', what: 'a directory', make: async f => { await mkdir(f) }, says: 'is a directory, not a regular file' },
  { file: 'host-pins.json', what: 'a 1 GB sparse file', make: async f => { await writeFile(f, ''); await truncate(f, 1024 ** 3) }, says: 'is 1073741824 bytes, more than the 8388608 such a file can hold (not read)' },
]

for (const [i, c] of cases.entries()) {
  test(`a ${c.file} that is ${c.what}: the start is refused at once (exit 2, naming the file and the fix) and the process ends`, async t => {
    t.timeout(60_000)
    const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-ddfiles-'))
    t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
    const data = path.join(dir, 'data')
    await mkdir(data)
    await writeFile(path.join(dir, 'static.json'), '[]')
    await c.make(path.join(data, c.file))
    const d = new DaemonProcess({ ip: `127.0.49.${20 + i}`, hostname: 'dd-files', cwd: dir, args: ['-d', 'static'], env: { STATIC_CONFIG_FILE: path.join(dir, 'static.json'), SIDECAR_DATA_DIR: data } })
    t.teardown(() => { d.kill() })
    // generous (a start takes 2-6 s on a busy machine): what tells "at once" from the 10 s
    // deadline of data-dir.ts is the message below, which names the file's type or size
    const ended = await Promise.race([d.exited, sleep(45_000).then(() => undefined)])
    t.not(ended, undefined, `still running after 45 s; output:\n${d.output.slice(-3000)}`)
    t.is(ended?.code, 2, d.output.slice(-3000))
    t.false(d.output.includes('did not finish within'), d.output.slice(-3000))
    t.true(d.output.includes(`FATAL: sidecar could not start: [sidecar] data_dir ${data}: ${path.join(data, c.file)} ${c.says}`), d.output.slice(-3000))
  })
}

// data_dir itself a file: before, the daemon ran on with three warnings (ENOTDIR, EEXIST) and a
// new peer id at every start. A real daemon on 127.0.54.20.
test('a data_dir that is a file: the start is refused at once (exit 2) with one line saying so', async t => {
  t.timeout(60_000)
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-ddfiles-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  await writeFile(path.join(dir, 'static.json'), '[]')
  const data = path.join(dir, 'afile')
  await writeFile(data, 'not a directory')
  const d = new DaemonProcess({ ip: '127.0.54.20', hostname: 'dd-notdir', cwd: dir, args: ['-d', 'static'], env: { STATIC_CONFIG_FILE: path.join(dir, 'static.json'), SIDECAR_DATA_DIR: data } })
  t.teardown(() => { d.kill() })
  const ended = await Promise.race([d.exited, sleep(45_000).then(() => undefined)])
  t.not(ended, undefined, `still running after 45 s; output:\n${d.output.slice(-3000)}`)
  t.is(ended?.code, 2, d.output.slice(-3000))
  t.true(d.output.includes(`FATAL: sidecar could not start: [sidecar] data_dir ${data} is a file, not a directory; point data_dir (SIDECAR_DATA_DIR) at a directory`), d.output.slice(-3000))
  t.false(d.output.includes('peer.key'), d.output.slice(-3000))
})

// Two daemons on one data_dir (a shared SIDECAR_DATA_DIR): before, both ran with one node key,
// the second's seed failed with "Can not dial self" at every retry, and the cluster saw one peer
// id at two addresses. Real daemons on 127.0.54.21-23.
test('a second daemon on a data_dir in use is refused at once (exit 1), naming the other; a pid file left by a dead process is taken over', async t => {
  t.timeout(120_000)
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-ddlock-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const file = path.join(dir, 'static.json')
  await writeFile(file, '[]')
  const data = path.join(dir, 'data')
  await mkdir(data)
  // a pid file left by a process that is gone (a crash): taken over without a word
  const gone = execFileSync('sh', ['-c', 'sh -c \'echo $$\''], { encoding: 'utf8' }).trim()
  await writeFile(path.join(data, 'sidecar.pid'), `${gone}\n`)
  const env = { STATIC_CONFIG_FILE: file, SIDECAR_DATA_DIR: data }
  const first = await startDaemon({ ip: '127.0.54.21', hostname: 'dd-one', cwd: dir, args: ['-d', 'static'], env })
  t.teardown(() => { first.kill() })
  await waitFor(async () => (await first.json<{ status: string }>('/health')).status === 'ok', { timeoutMs: 30_000, message: () => first.output.slice(-2000) })
  const pid = (await readFile(path.join(data, 'sidecar.pid'), 'utf8')).trim()
  t.not(pid, gone)

  const second = new DaemonProcess({ ip: '127.0.54.22', hostname: 'dd-two', cwd: dir, args: ['-d', 'static', '-c', '127.0.54.21'], env })
  t.teardown(() => { second.kill() })
  const ended = await Promise.race([second.exited, sleep(45_000).then(() => undefined)])
  t.not(ended, undefined, `still running after 45 s; output:\n${second.output.slice(-3000)}`)
  t.is(ended?.code, 1, second.output.slice(-3000))
  t.true(second.output.includes(`FATAL: sidecar could not start: [sidecar] data_dir ${data} is in use by another sidecar (pid ${pid}, see ${path.join(data, 'sidecar.pid')}): two daemons on one data_dir share one node identity; give each its own data_dir (SIDECAR_DATA_DIR) or --hostname, or stop the other`), second.output.slice(-3000))
  t.false(second.output.includes('dial self'), second.output.slice(-3000))
  t.is((await first.json<{ status: string }>('/health')).status, 'ok', 'the first runs on')

  t.is((await first.stop()).code, 0)
  await t.throwsAsync(access(path.join(data, 'sidecar.pid')), undefined, 'given back at stop')
  const third = await startDaemon({ ip: '127.0.54.23', hostname: 'dd-three', cwd: dir, args: ['-d', 'static'], env })
  t.teardown(() => { third.kill() })
  await waitFor(async () => (await third.json<{ status: string }>('/health')).status === 'ok', { timeoutMs: 30_000, message: () => third.output.slice(-2000) })
})
