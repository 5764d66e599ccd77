// host-pins.json edited by an operator while the node runs (the documented way to unpin a host
// that lost its data_dir): the node takes the edit at the host's next claim, and its own next
// write does not put the removed pin back.
import test from 'ava'
import { mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { Writable } from 'node:stream'
import { HostPins, PINS_FILE } from '../../../src/gossip/pins.ts'
import { createLogger } from '../../../src/lib/logger.ts'

test('pins: an edit of the file on a running node is taken at the next claim, and never written over', async t => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-pins-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const lines: string[] = []
  const logger = createLogger({ level: 'info', format: 'json', destination: new Writable({ write (c: Buffer, _e, cb) { lines.push(...c.toString().split('\n').filter(l => l !== '').map(l => (JSON.parse(l) as { msg: string }).msg)); cb() } }) })
  const file = path.join(dir, PINS_FILE)
  const pins = new HostPins({ logger }, { dataDir: dir, hostname: 'me', peerId: 'peer-me' })
  await pins.load()
  t.is(pins.claim('h3', 'peer-old'), 'new')
  await pins.flush()
  t.is(pins.claim('h3', 'peer-new'), 'conflict', 'h3 came back with a new key (a wiped data_dir)')
  t.true(lines.some(l => l.includes('a running node takes the edit at the host\'s next try')), lines.join('\n'))

  // the operator removes h3, as the log says, without a restart
  const doc = JSON.parse(await readFile(file, 'utf8')) as { version: number, pins: Record<string, string> }
  delete doc.pins.h3
  await writeFile(file, JSON.stringify(doc))
  const later = new Date(Date.now() + 5000)
  await utimes(file, later, later) // a new mtime whatever the file system's clock granularity
  t.is(pins.claim('h3', 'peer-new'), 'new', 'the new key is taken at its next try')
  t.is(pins.peerOf('h3'), 'peer-new')
  t.true(lines.some(l => l.includes(`${PINS_FILE} was edited: 1 host pinned now, no longer (or differently): h3`)), lines.join('\n'))
  await pins.flush()
  t.deepEqual((JSON.parse(await readFile(file, 'utf8')) as { pins: Record<string, string> }).pins, { h3: 'peer-new', me: 'peer-me' })

  // an edit between two writes: the node's next write keeps it (a removed pin is not put back)
  t.is(pins.claim('h4', 'peer-4'), 'new')
  await pins.flush()
  const edited = JSON.parse(await readFile(file, 'utf8')) as { version: number, pins: Record<string, string> }
  delete edited.pins.h4
  await writeFile(file, JSON.stringify(edited))
  const later2 = new Date(Date.now() + 10_000)
  await utimes(file, later2, later2)
  t.is(pins.claim('h5', 'peer-5'), 'new')
  await pins.flush()
  t.deepEqual((JSON.parse(await readFile(file, 'utf8')) as { pins: Record<string, string> }).pins, { h3: 'peer-new', h5: 'peer-5', me: 'peer-me' })
  t.is(pins.peerOf('h4'), undefined)
  // this host's own pin cannot be edited away
  t.is(pins.peerOf('me'), 'peer-me')
})

test('pins: a peer that claims a second hostname (a renamed host, or two hosts sharing a copied node key) is warned about, naming both', async t => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-pins-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const lines: string[] = []
  const logger = createLogger({ level: 'info', format: 'json', destination: new Writable({ write (c: Buffer, _e, cb) { lines.push(...c.toString().split('\n').filter(l => l !== '').map(l => (JSON.parse(l) as { msg: string }).msg)); cb() } }) })
  const pins = new HostPins({ logger }, { dataDir: dir, hostname: 'me', peerId: 'peer-me' })
  await pins.load()
  t.is(pins.claim('h3', 'peer-shared'), 'new')
  t.is(lines.length, 0)
  t.is(pins.claim('h5', 'peer-shared'), 'new', 'taken: a rename is legitimate')
  t.is(pins.hostnameOf('peer-shared'), 'h5')
  await pins.flush()
  t.deepEqual(lines.filter(l => l.includes('peer-shared')), ['peer peer-shared, known as h3, now claims hostname h5: a renamed host (then nothing is wrong; h3\'s records expire), or two hosts sharing one node key (a copied data_dir or peer.key: one of them drops out of the cluster; give each host its own data_dir)'])
})
