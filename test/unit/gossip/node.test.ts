import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import test from 'ava'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { parseSeed } from '../../../src/gossip/seeds.ts'
import { agentVersion, hostnameOfAgent, loadPeerKey, probeProtocolOf, stateProtocolOf, swarmKeyOf, topicOf } from '../../../src/gossip/node.ts'
import { silentLogger } from '../../../src/lib/logger.ts'

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
  const first = await loadPeerKey(data, silentLogger())
  const again = await loadPeerKey(data, silentLogger())
  t.true(peerIdFromPrivateKey(first).equals(peerIdFromPrivateKey(again)))
  t.is((await stat(path.join(data, 'peer.key'))).mode & 0o777, 0o600)
  await writeFile(path.join(data, 'peer.key'), 'garbage')
  const replaced = await loadPeerKey(data, silentLogger())
  t.false(peerIdFromPrivateKey(replaced).equals(peerIdFromPrivateKey(first)))
  t.true(peerIdFromPrivateKey(await loadPeerKey(data, silentLogger())).equals(peerIdFromPrivateKey(replaced)))
})
