import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { Writable } from 'node:stream'
import test from 'ava'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { parseSeed } from '../../../src/gossip/seeds.ts'
import { agentVersion, hostnameOfAgent, loadPeerKey, probeProtocolOf, stateProtocolOf, swarmKeyOf, topicOf } from '../../../src/gossip/node.ts'
import { createLogger, silentLogger } from '../../../src/lib/logger.ts'

test('node: the cluster name is part of the topic and of every protocol id', t => {
  t.not(topicOf('a'), topicOf('b'))
  t.not(stateProtocolOf('a'), stateProtocolOf('b'))
  t.not(probeProtocolOf('a'), probeProtocolOf('b'))
  t.is(stateProtocolOf('prod/eu'), '/sidecar/prod%2Feu/state/2.0.0', 'a slash cannot make two names collide')
})

test('node: the hostname travels in the agent version and only a sidecar agent yields one', t => {
  t.is(hostnameOfAgent(agentVersion('0.1.0', 'web-1.example.com')), 'web-1.example.com')
  t.is(hostnameOfAgent('js-libp2p/3.0.0 node/24'), undefined)
  t.is(hostnameOfAgent(undefined), undefined)
  t.is(hostnameOfAgent('sidecar/0.1.0 host/has space'), undefined)
  t.is(hostnameOfAgent(`sidecar/0.1.0 host/${'x'.repeat(254)}`), undefined)
})

test('node: any cluster key gives a well-formed swarm key, different keys different swarm keys', t => {
  const k = new TextDecoder().decode(swarmKeyOf('s3cret'))
  t.regex(k, /^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}$/)
  t.not(k, new TextDecoder().decode(swarmKeyOf('s3cret ')))
})

test('node: seeds parse as host, host:port, IPv6 and [IPv6]:port', t => {
  t.deepEqual(parseSeed('10.0.0.1', 7946), { host: '10.0.0.1', port: 7946 })
  t.deepEqual(parseSeed('seed.example.com:8000', 7946), { host: 'seed.example.com', port: 8000 })
  t.deepEqual(parseSeed('::1', 7946), { host: '::1', port: 7946 })
  t.deepEqual(parseSeed('[fe80::1]:7000', 7946), { host: 'fe80::1', port: 7000 })
})

test('node: the peer key is kept in the data dir, so the peer id survives restarts; a broken file is replaced', async t => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-key-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const data = path.join(dir, 'data')
  const first = await loadPeerKey(data, silentLogger(), 'me')
  const again = await loadPeerKey(data, silentLogger(), 'me')
  t.true(peerIdFromPrivateKey(first.key).equals(peerIdFromPrivateKey(again.key)))
  t.is(first.unkept, undefined)
  t.is((await stat(path.join(data, 'peer.key'))).mode & 0o777, 0o600)
  await writeFile(path.join(data, 'peer.key'), 'garbage')
  const replaced = await loadPeerKey(data, silentLogger(), 'me')
  t.false(peerIdFromPrivateKey(replaced.key).equals(peerIdFromPrivateKey(first.key)))
  t.true(peerIdFromPrivateKey((await loadPeerKey(data, silentLogger(), 'me')).key).equals(peerIdFromPrivateKey(replaced.key)))
})

test('node: a data dir that cannot be written gives a key that is not kept, and says why and what it costs at the next restart', async t => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-key-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const blocker = path.join(dir, 'a-file')
  await writeFile(blocker, 'not a directory')
  const lines: string[] = []
  const logger = createLogger({ level: 'info', format: 'json', destination: new Writable({ write (c: Buffer, _e, cb) { lines.push(...c.toString().split('\n').filter(l => l !== '').map(l => (JSON.parse(l) as { msg: string }).msg)); cb() } }) })
  const data = path.join(blocker, 'data') // its parent is a file: ENOTDIR
  const first = await loadPeerKey(data, logger, 'host-x')
  const second = await loadPeerKey(data, logger, 'host-x')
  t.false(peerIdFromPrivateKey(first.key).equals(peerIdFromPrivateKey(second.key)), 'a new identity each time')
  t.regex(first.unkept ?? '', /^cannot keep the node key in .*\/a-file\/data \(ENOTDIR\): this run's peer id is lost at exit, and after a restart every peer that knew host-x refuses the new one/)
  await new Promise(resolve => setImmediate(resolve))
  t.true(lines.some(l => l.startsWith('cannot read ') && l.includes('(ENOTDIR): creating a new key')), lines.join('\n'))
  t.false(lines.some(l => l.includes('is not a usable key')), 'an unreadable path is not called a bad key')
})
