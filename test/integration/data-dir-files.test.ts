// data_dir's files (peer.key, host-pins.json) that are not regular files, or absurdly large:
// the daemon refuses to start at once (exit 2), naming the file and the fix, and its process
// ends. Before, a FIFO held the start 10 s and then the process never exited. Real daemons on
// 127.0.49.20-29.
import { execFileSync } from 'node:child_process'
import { mkdir, mkdtemp, rm, symlink, truncate, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import test from 'ava'
import { DaemonProcess } from '../helpers/daemon.ts'
import { sleep } from '../helpers/wait.ts'

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
