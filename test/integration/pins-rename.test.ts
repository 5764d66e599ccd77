// A host renamed with the same data_dir (so the same node key) moves its hostname pin: its
// peers release the old name, which a new machine can then take; a key used by two hosts at
// once (a copied data_dir) keeps both names pinned, without flapping. Real daemons on
// 127.0.49.1-19.
import test from 'ava'
import { copyFile, mkdir, readFile, stat } from 'node:fs/promises'
import path from 'node:path'
import { ALIVE, makeCluster, startAll, statusIn, waitOnAll, type ClusterNode } from '../helpers/cluster.ts'
import { sleep, waitFor } from '../helpers/wait.ts'

const CLUSTER = 'pins-rename'
const args = (seed: string): string[] => ['-n', CLUSTER, '-c', seed]
const pinsOf = async (dir: string): Promise<Record<string, string>> => (JSON.parse(await readFile(path.join(dir, 'host-pins.json'), 'utf8')) as { pins: Record<string, string> }).pins
const peerIdIn = async (n: ClusterNode): Promise<string> => (await n.d.waitForOutput(/gossip on \S+\/p2p\/(\w+)/))[1]
const logTail = (n: ClusterNode): string => n.d.output.split('\n').filter(l => !l.includes('DEBUG')).slice(-25).join('\n')

test('a host renamed (same data_dir) releases its old name on its peers and on itself: a new machine with that name is accepted', async t => {
  t.timeout(180_000)
  const [seed, old, fresh] = await makeCluster(t, [
    { ip: '127.0.49.2', hostname: 'rn-seed', args: args('127.0.49.2') },
    { ip: '127.0.49.3', hostname: 'rn-h3', args: args('127.0.49.2') },
    { ip: '127.0.49.5', hostname: 'rn-new', args: args('127.0.49.2') }, // named rn-h3 once that is free (its own directory meanwhile)
  ])
  const seedData = path.join(seed.dir, 'data')
  // a grace longer than the restart: the renamed host is back before its old name departed
  seed.spec.env = { SIDECAR_DATA_DIR: seedData, SIDECAR_DEPARTURE_GRACE: '30s' }
  old.spec.env = { SIDECAR_DATA_DIR: path.join(old.dir, 'data') }
  fresh.spec.env = { SIDECAR_DATA_DIR: path.join(fresh.dir, 'data') }
  await startAll([seed, old])
  await waitOnAll([seed], 'the seed holds rn-h3\'s record', s => statusIn(s, 'rn-h3', old.services[0]) === ALIVE, 30_000)
  const key = await peerIdIn(old)

  // renamed: the same machine, the same data_dir, a new hostname
  await old.d.stop()
  old.spec.hostname = 'rn-h4'
  old.spawn()
  await old.d.ready()
  await waitOnAll([seed], 'the seed holds rn-h4\'s record', s => statusIn(s, 'rn-h4', old.services[0]) === ALIVE, 30_000)
  await waitFor(() => seed.d.output.includes(`rn-h3 renamed to rn-h4 (peer ${key}, proven over its connection): released the pin of rn-h3`), { timeoutMs: 10_000, message: () => `the seed logs the release; log:\n${logTail(seed)}` })
  await seed.d.waitForOutput(`member rn-h3 (${key}) departed: back as rn-h4`)
  await old.d.waitForOutput(/this host was rn-h3 and is rn-h4 now \(same node key\): released the pin of rn-h3/)
  await waitFor(async () => (await pinsOf(seedData))['rn-h3'] === undefined, { timeoutMs: 5000, message: 'rn-h3 gone from the seed\'s host-pins.json' })

  // a new machine takes the free name: both peers accept it
  fresh.spec.hostname = 'rn-h3'
  fresh.spawn()
  await fresh.d.ready()
  await waitOnAll([seed, old], 'the new rn-h3\'s record held', s => statusIn(s, 'rn-h3', fresh.services[0]) === ALIVE, 30_000)
  const freshKey = await peerIdIn(fresh)
  t.not(freshKey, key)
  t.deepEqual(await pinsOf(seedData), { 'rn-h3': freshKey, 'rn-h4': key, 'rn-seed': await peerIdIn(seed) })
  t.is((await pinsOf(path.join(old.dir, 'data')))['rn-h3'], freshKey, 'the renamed host pinned the new machine too')
  for (const n of [seed, old]) t.notRegex(n.d.output, /claims hostname rn-h3, which is pinned/, `${n.hostname} refused no one`)
  t.notRegex(fresh.d.output, /refuses this host/)

  // kept across a restart of the seed
  await seed.d.stop()
  seed.spawn()
  await seed.d.ready()
  await waitOnAll([seed], 'the restarted seed holds both', s => statusIn(s, 'rn-h3', fresh.services[0]) === ALIVE && statusIn(s, 'rn-h4', old.services[0]) === ALIVE, 30_000)
  t.notRegex(seed.d.output, /claims hostname rn-h3, which is pinned/)
})

test('one node key on two live hosts (a copied data_dir): both names stay pinned to it, no release, no pin flapping', async t => {
  t.timeout(180_000)
  const [seed, a, b] = await makeCluster(t, [
    { ip: '127.0.49.11', hostname: 'cp-seed', args: args('127.0.49.11') },
    { ip: '127.0.49.12', hostname: 'cp-a', args: args('127.0.49.11') },
    { ip: '127.0.49.13', hostname: 'cp-b', args: args('127.0.49.11') },
  ])
  const seedData = path.join(seed.dir, 'data')
  seed.spec.env = { SIDECAR_DATA_DIR: seedData }
  a.spec.env = { SIDECAR_DATA_DIR: path.join(a.dir, 'data') }
  b.spec.env = { SIDECAR_DATA_DIR: path.join(b.dir, 'data') }
  await startAll([seed, a])
  await waitOnAll([seed], 'the seed holds cp-a\'s record', s => statusIn(s, 'cp-a', a.services[0]) === ALIVE, 30_000)
  const key = await peerIdIn(a)
  await mkdir(path.join(b.dir, 'data'), { recursive: true })
  await copyFile(path.join(a.dir, 'data', 'peer.key'), path.join(b.dir, 'data', 'peer.key'))

  b.spawn()
  await b.d.ready()
  t.is(await peerIdIn(b), key, 'the same key')
  await waitFor(async () => (await pinsOf(seedData))['cp-b'] === key, { timeoutMs: 20_000, message: () => `the seed pins cp-b; log:\n${logTail(seed)}` })
  await seed.d.waitForOutput(new RegExp(`peer ${key}, known as cp-(a|b), now claims hostname cp-(a|b) while cp-(a|b) is still connected under the same key: two hosts sharing one node key`))
  const pinned = await stat(path.join(seedData, 'host-pins.json'))
  await sleep(10_000) // reconnects of both hosts, each under its name
  t.deepEqual(await pinsOf(seedData), { 'cp-a': key, 'cp-b': key, 'cp-seed': await peerIdIn(seed) }, 'both names kept')
  t.is((await stat(path.join(seedData, 'host-pins.json'))).mtimeMs, pinned.mtimeMs, 'not written again: no flapping')
  t.notRegex(seed.d.output, /released the pin/)
})
