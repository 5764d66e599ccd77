// A rolling upgrade: a host upgraded in place starts on the data_dir an older version wrote
// (fixtures/: peer.key as sidecar 0.1.0 wrote it; peer.key and host-pins.json as the first
// version with pins, a03514b, wrote them), and keeps its peer id and its pins.
import { copyFile, mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import test from 'ava'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { loadPeerKey } from '../../../src/gossip/node.ts'
import { HostPins, PINS_FILE } from '../../../src/gossip/pins.ts'
import { silentLogger } from '../../../src/lib/logger.ts'

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures')

/** A copy of a fixture data_dir in a temporary directory (the node writes in it). */
async function copyOf (fixture: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-upgrade-'))
  for (const f of await readdir(path.join(FIXTURES, fixture))) await copyFile(path.join(FIXTURES, fixture, f), path.join(dir, f))
  return dir
}

test('upgrade: a data_dir written by sidecar 0.1.0 keeps its peer id, and the key file is not rewritten', async t => {
  const dir = await copyOf('data-dir-0.1.0')
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const before = await readFile(path.join(dir, 'peer.key'))
  const { key, unkept } = await loadPeerKey(dir, silentLogger(), 'host-a')
  t.is(unkept, undefined)
  // the peer id host-a had under 0.1.0 (its log: "member host-a joined (12D3KooWJjnp...")
  t.is(peerIdFromPrivateKey(key).toString(), '12D3KooWJjnp7AY5J6ryR8SY2oDnhBzEyGY1Qy9Es6CRQALBjaWe')
  t.deepEqual(await readFile(path.join(dir, 'peer.key')), before)
  // 0.1.0 wrote no pins: the first start makes the file, with this host pinned to its own key
  const pins = new HostPins({ logger: silentLogger() }, { dataDir: dir, hostname: 'host-a', peerId: peerIdFromPrivateKey(key).toString() })
  await pins.load()
  t.is(pins.peerOf('host-a'), '12D3KooWJjnp7AY5J6ryR8SY2oDnhBzEyGY1Qy9Es6CRQALBjaWe')
})

test('upgrade: host-pins.json as its first version wrote it is read, pins kept, this host still its own', async t => {
  const dir = await copyOf('data-dir-first-pins')
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const { key } = await loadPeerKey(dir, silentLogger(), 'host-a')
  const self = peerIdFromPrivateKey(key).toString()
  t.is(self, '12D3KooWDucA7Ky6vBR2bFMT9yvZBh62frFZFwjuoq4ReZbVF2HP')
  const pins = new HostPins({ logger: silentLogger() }, { dataDir: dir, hostname: 'host-a', peerId: self })
  await pins.load()
  t.is(pins.peerOf('host-b'), '12D3KooWAJCViq2xdUVcnsR48MSaJF51kXUu72yGcmTsYJo5F98T')
  t.is(pins.claim('host-b', '12D3KooWAJCViq2xdUVcnsR48MSaJF51kXUu72yGcmTsYJo5F98T'), 'pinned', 'host-b, upgraded with its own data_dir, is accepted')
  t.is(pins.claim('host-b', self), 'conflict', 'another key under host-b is still refused')
  await pins.flush()
  const doc = JSON.parse(await readFile(path.join(dir, PINS_FILE), 'utf8')) as { version: number, pins: Record<string, string> }
  t.is(doc.version, 1)
  t.deepEqual(doc.pins, { 'host-a': self, 'host-b': '12D3KooWAJCViq2xdUVcnsR48MSaJF51kXUu72yGcmTsYJo5F98T' })
})
