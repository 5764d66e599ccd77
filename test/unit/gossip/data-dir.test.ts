// data_dir's preparation with a deadline: a filesystem that never answers ends the start with
// an error naming the directory and the step, instead of holding it in "starting" for good.
import test from 'ava'
import { inDataDir } from '../../../src/gossip/data-dir.ts'
import { ConfigError } from '../../../src/lib/errors.ts'

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
