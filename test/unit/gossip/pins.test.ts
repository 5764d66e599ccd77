// host-pins.json edited by an operator while the node runs (the documented way to unpin a host
// that lost its data_dir): the node takes the edit at the host's next claim, and its own next
// write does not put the removed pin back.
import test, { type ExecutionContext } from 'ava'
import { readFileSync, utimesSync, writeFileSync } from 'node:fs'
import { mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { Writable } from 'node:stream'
import { HostPins, MAX_PINS, PINS_FILE } from '../../../src/gossip/pins.ts'
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

/** A logger that keeps its messages in lines. */
function capture (): { logger: ReturnType<typeof createLogger>, lines: string[] } {
  const lines: string[] = []
  const logger = createLogger({ level: 'info', format: 'json', destination: new Writable({ write (c: Buffer, _e, cb) { lines.push(...c.toString().split('\n').filter(l => l !== '').map(l => (JSON.parse(l) as { msg: string }).msg)); cb() } }) })
  return { logger, lines }
}

async function tempDir (t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-pins-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

const onDisk = async (dir: string): Promise<Record<string, string>> => (JSON.parse(await readFile(path.join(dir, PINS_FILE), 'utf8')) as { pins: Record<string, string> }).pins

test('pins: a renamed host (its old name held by no connected member) moves its pin: the old name is free for another machine, on disk too', async t => {
  const dir = await tempDir(t)
  const { logger, lines } = capture()
  const pins = new HostPins({ logger }, { dataDir: dir, hostname: 'me', peerId: 'peer-me' })
  await pins.load()
  t.is(pins.claim('h3', 'peer-k', () => false), 'new')
  t.is(pins.claim('h4', 'peer-k', () => false), 'new', 'the same key, a new name, h3 gone')
  t.is(pins.peerOf('h3'), undefined)
  t.is(pins.hostnameOf('peer-k'), 'h4')
  t.deepEqual(lines, ['h3 renamed to h4 (peer peer-k, proven over its connection): released the pin of h3, which another machine may take now'])
  t.is(pins.claim('h3', 'peer-new'), 'new', 'a new machine named h3 is taken')
  await pins.flush()
  t.deepEqual(await onDisk(dir), { h3: 'peer-new', h4: 'peer-k', me: 'peer-me' })

  // after a restart of this node, the same
  const again = new HostPins({ logger }, { dataDir: dir, hostname: 'me', peerId: 'peer-me' })
  await again.load()
  t.is(again.peerOf('h3'), 'peer-new')
  t.is(again.hostnameOf('peer-k'), 'h4')
})

test('pins: a member moves only its own pin: it cannot free a name pinned to another peer, and a rename frees its own name only', async t => {
  const dir = await tempDir(t)
  const { logger } = capture()
  const pins = new HostPins({ logger }, { dataDir: dir, hostname: 'me', peerId: 'peer-me' })
  await pins.load()
  t.is(pins.claim('web', 'peer-web'), 'new')
  t.is(pins.claim('evil', 'peer-evil'), 'new')
  t.is(pins.claim('web', 'peer-evil', () => false), 'conflict', 'another host\'s name')
  t.is(pins.claim('me', 'peer-evil', () => false), 'conflict', 'this host\'s name')
  t.is(pins.claim('evil2', 'peer-evil', () => false), 'new')
  t.is(pins.peerOf('web'), 'peer-web', 'untouched')
  t.is(pins.peerOf('me'), 'peer-me')
  t.is(pins.peerOf('evil'), undefined, 'its own old name only')
  t.is(pins.claim('web', 'peer-evil', () => false), 'conflict', 'still')
  await pins.flush()
  t.deepEqual(await onDisk(dir), { evil2: 'peer-evil', me: 'peer-me', web: 'peer-web' })
})

test('pins: a key that claims a second name while its first is still connected (a copied data_dir) keeps both pins, warned once, and never flaps', async t => {
  const dir = await tempDir(t)
  const { logger, lines } = capture()
  const pins = new HostPins({ logger }, { dataDir: dir, hostname: 'me', peerId: 'peer-me' })
  await pins.load()
  const connected = (h: string): boolean => h === 'h3' || h === 'h5'
  t.is(pins.claim('h3', 'peer-shared', connected), 'new')
  t.is(pins.claim('h5', 'peer-shared', connected), 'new')
  for (let i = 0; i < 5; i++) {
    t.is(pins.claim('h3', 'peer-shared', connected), 'pinned')
    t.is(pins.claim('h5', 'peer-shared', connected), 'pinned')
  }
  t.is(pins.claim('h3', 'peer-other', () => false), 'conflict', 'neither name is free')
  await pins.flush()
  t.deepEqual(await onDisk(dir), { h3: 'peer-shared', h5: 'peer-shared', me: 'peer-me' })
  t.deepEqual(lines.filter(l => l.includes('known as')), ['peer peer-shared, known as h3, now claims hostname h5 while h3 is still connected under the same key: two hosts sharing one node key (a copied data_dir or peer.key: one of them drops out of the cluster; give each host its own data_dir); both names stay pinned to it'])
})

test('pins: this host renamed (its data_dir pins its old name to its own key) releases its old name at start, on disk too', async t => {
  const dir = await tempDir(t)
  const { logger, lines } = capture()
  await writeFile(path.join(dir, PINS_FILE), JSON.stringify({ version: 1, pins: { h3: 'peer-me', web: 'peer-web' } }))
  const pins = new HostPins({ logger }, { dataDir: dir, hostname: 'h4', peerId: 'peer-me' })
  await pins.load()
  t.is(pins.peerOf('h3'), undefined)
  t.true(lines.includes('this host was h3 and is h4 now (same node key): released the pin of h3'), lines.join('\n'))
  t.is(pins.claim('h3', 'peer-new'), 'new')
  await pins.flush()
  t.deepEqual(await onDisk(dir), { h3: 'peer-new', h4: 'peer-me', web: 'peer-web' })
})

test('pins: an edit adopted after a release does not bring the released pin back', async t => {
  const dir = await tempDir(t)
  const { logger } = capture()
  const file = path.join(dir, PINS_FILE)
  const pins = new HostPins({ logger }, { dataDir: dir, hostname: 'me', peerId: 'peer-me' })
  await pins.load()
  t.is(pins.claim('h3', 'peer-k'), 'new')
  await pins.flush()
  t.is(pins.claim('h4', 'peer-k', () => false), 'new')
  // the operator edits the file before the node's write (synchronously: the write is queued): it still has h3 -> peer-k
  const doc = JSON.parse(readFileSync(file, 'utf8')) as { version: number, pins: Record<string, string> }
  doc.pins.web = 'peer-web'
  writeFileSync(file, JSON.stringify(doc))
  const later = new Date(Date.now() + 5000)
  utimesSync(file, later, later)
  await pins.flush()
  t.deepEqual(await onDisk(dir), { h4: 'peer-k', me: 'peer-me', web: 'peer-web' })
})

test('pins: a fleet that replaced MAX_PINS machines under new names still admits a new one: the pin least recently claimed by a host not connected gives way', async t => {
  const dir = await tempDir(t)
  const { logger, lines } = capture()
  const pins = new HostPins({ logger }, { dataDir: dir, hostname: 'me', peerId: 'peer-me' })
  await pins.load()
  // machines come and go for months, each under a name of its own: every one was pinned
  for (let i = 0; pins.size < MAX_PINS; i++) t.is(pins.claim(`ip-${i}`, `peer-${i}`, () => false), 'new')
  t.is(pins.claim('ip-0', 'peer-0'), 'pinned', 'ip-0 connects again: now the most recently seen')
  const connected = (h: string): boolean => h === 'ip-1'
  t.is(pins.claim('ip-new', 'peer-new', connected), 'new', 'a new machine is still taken (it was refused for good)')
  t.is(pins.size, MAX_PINS)
  t.is(pins.peerOf('ip-new'), 'peer-new')
  t.is(pins.peerOf('ip-2'), undefined, 'the least recently seen host not connected gave way')
  t.is(pins.peerOf('ip-0'), 'peer-0')
  t.is(pins.peerOf('ip-1'), 'peer-1', 'a connected member keeps its pin')
  t.is(pins.peerOf('me'), 'peer-me')
  t.true(lines.some(l => l.includes(`holds ${MAX_PINS} pins: released the pin of ip-2 (peer peer-2, not connected, the least recently seen) to pin ip-new`)), lines.slice(-3).join('\n'))
  await pins.flush()
  const disk = await onDisk(dir)
  t.is(Object.keys(disk).length, MAX_PINS)
  t.false('ip-2' in disk)
  t.is(disk['ip-new'], 'peer-new')
  // when every pin is this host's or a connected member's, a newcomer is refused, with a warning
  t.is(pins.claim('ip-other', 'peer-other', () => true), 'full')
  t.true(lines.some(l => l.includes(`holds ${MAX_PINS} pins and every one is this host's or a connected member's: peer peer-other (ip-other) refused`)))
})
