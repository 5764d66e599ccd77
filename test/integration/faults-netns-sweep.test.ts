// The sweep of network namespaces left by a fault test killed before its teardown
// (test/helpers/netns.ts): a dead process's namespaces go, a live one's stay.
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import test from 'ava'
import { IP, namespaceNames, netnsUnavailable, sweepStaleNamespaces } from '../helpers/netns.ts'

const missing = netnsUnavailable()
if (missing !== undefined) console.log(`faults-netns-sweep: SKIPPED, ${missing}`)
const maybe = missing === undefined ? test.serial : test.serial.skip

maybe('netns sweep: the namespaces of a process that is gone are deleted, those of a live one are kept', async t => {
  const gone = spawn(process.execPath, ['-e', ''])
  await once(gone, 'exit')
  const live = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'])
  t.teardown(() => { live.kill('SIGKILL') })
  const dead = [`sfp${gone.pid}nh`, `sfp${gone.pid}n0`, `sfp${gone.pid}`]
  const kept = [`sfp${live.pid}nh`, `sfp${live.pid}n0`]
  t.teardown(() => { for (const n of [...dead, ...kept]) spawnSync(IP, ['netns', 'del', n], { stdio: 'ignore' }) })
  for (const n of [...dead, ...kept]) t.is(spawnSync(IP, ['netns', 'add', n], { encoding: 'utf8' }).status, 0, `ip netns add ${n}`)

  const deleted = sweepStaleNamespaces()

  t.deepEqual(dead.filter(n => !deleted.includes(n)), [], 'every namespace of the dead pid is reported deleted')
  const now = namespaceNames()
  t.deepEqual(dead.filter(n => now.includes(n)), [], 'no namespace of the dead pid is left')
  t.deepEqual(kept.filter(n => !now.includes(n)), [], 'the live process\'s namespaces are kept')
})
