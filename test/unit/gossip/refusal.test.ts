// Refusal notices (src/gossip/refusal.ts) are information from a peer about itself: the decoder
// takes only a well-formed notice about this host, and the store keeps one per peer, a bounded
// number in all, logs one ERROR per refusing peer, and ends a refusal the peer contradicts.
import test from 'ava'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { Writable } from 'node:stream'
import { decodeNotice, encodeNotice, InvalidNoticeError, MAX_NOTICE_BYTES, MAX_REFUSALS, Refusals, RETRY_MAX_MS } from '../../../src/gossip/refusal.ts'
import type { GossipNode } from '../../../src/gossip/node.ts'
import { createLogger } from '../../../src/lib/logger.ts'

const OWN = { hostname: 'web1', peerId: '12D3KooWOwnOwnOwnOwnOwnOwnOwnOwnOwnOwnOwnOwn' }
const PINNED = '12D3KooWPinnedPinnedPinnedPinnedPinnedPinned'
const bytes = (v: unknown): Uint8Array => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v))

test('decodeNotice: a notice about this host round-trips', t => {
  t.deepEqual(decodeNotice(encodeNotice({ hostname: 'web1', pinnedTo: PINNED }), OWN), { hostname: 'web1', pinnedTo: PINNED })
})

test('decodeNotice: malformed, oversized or foreign notices are refused with InvalidNoticeError, never another error', t => {
  const cases: Array<[string, Uint8Array]> = [
    ['oversized', new Uint8Array(MAX_NOTICE_BYTES + 1).fill(0x20)],
    ['not JSON', bytes('{"v":1,')],
    ['not UTF-8', new Uint8Array([0xff, 0xfe, 0x7b])],
    ['an array', bytes([1, 2])],
    ['null', bytes('null')],
    ['version 2', bytes({ v: 2, reason: 'pinned', hostname: 'web1', pinnedTo: PINNED })],
    ['unknown reason', bytes({ v: 1, reason: 'banned', hostname: 'web1', pinnedTo: PINNED })],
    ['another hostname', bytes({ v: 1, reason: 'pinned', hostname: 'web2', pinnedTo: PINNED })],
    ['pinnedTo not a peer id', bytes({ v: 1, reason: 'pinned', hostname: 'web1', pinnedTo: 'x\n[ERROR] forged log line' })],
    ['pinnedTo a number', bytes({ v: 1, reason: 'pinned', hostname: 'web1', pinnedTo: 12 })],
    ['pinned to this very host', bytes({ v: 1, reason: 'pinned', hostname: 'web1', pinnedTo: OWN.peerId })],
    ['a prototype trick', bytes('{"__proto__":{"v":1},"reason":"pinned","hostname":"web1","pinnedTo":"' + PINNED + '"}')],
  ]
  for (const [what, b] of cases) t.throws(() => decodeNotice(b, OWN), { instanceOf: InvalidNoticeError }, what)
})

function store (connected: Set<string> = new Set(), opened = 0): { refusals: Refusals, errors: string[], infos: string[] } {
  const errors: string[] = []
  const infos: string[] = []
  const logger = createLogger({
    level: 'info',
    format: 'json',
    destination: new Writable({
      write (c: Buffer, _e, cb) {
        for (const l of c.toString().split('\n').filter(l => l !== '')) {
          const { level, msg } = JSON.parse(l) as { level: string | number, msg: string }
          ;(String(level) === 'error' || level === 50 ? errors : infos).push(msg)
        }
        cb()
      },
    }),
  })
  const node = { getConnections: (p: { toString: () => string }) => connected.has(p.toString()) ? [{ status: 'open', timeline: { open: opened } }] : [] } as unknown as GossipNode
  const refusals = new Refusals({ node, logger, hostnameOf: id => id === PEERS[0] ? 'alpha' : undefined }, { protocol: '/p', ...OWN })
  return { refusals, errors, infos }
}

/** Valid, distinct peer ids (base58 text; only their form is checked here). */
/** Real peer ids (the store only ever sees those of authenticated connections). */
const PEERS = await Promise.all(Array.from({ length: MAX_REFUSALS + 40 }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()))

test('refusals: one ERROR per refusing peer, not per retry; /health names the peer by the hostname this host pinned, with the fix', t => {
  const { refusals, errors } = store()
  const notice = { hostname: 'web1', pinnedTo: PINNED }
  for (let i = 0; i < 8; i++) refusals.record(PEERS[0], notice, 1000 + i * 500)
  t.is(errors.length, 1, errors.join('\n'))
  t.regex(errors[0], /^alpha \(\S+\) refuses this host: there, hostname web1 is pinned to peer 12D3KooWPinned\S+, and this host is peer 12D3KooWOwn\S+\. This host's key changed or another machine uses the hostname web1: on that node remove web1's line from data_dir\/host-pins\.json, or restore this host's old data_dir\/peer\.key, or give this machine its own hostname/)
  t.deepEqual(Object.keys(refusals.problems()), [`alpha (${PEERS[0]})`])
  t.is(refusals.retryAt(PEERS[0]), 1000 + 7 * 500 + RETRY_MAX_MS, 'retried at the slowest pace after repeated refusals')
  t.is(refusals.retryAt(PEERS[1]), 0, 'a peer that said nothing is dialled any time')
})

test('refusals: at most MAX_REFUSALS peers are kept, one notice each', t => {
  const { refusals } = store()
  for (const [i, p] of PEERS.entries()) { refusals.record(p, { hostname: 'web1', pinnedTo: PINNED }, i); refusals.record(p, { hostname: 'web1', pinnedTo: PINNED }, i) }
  t.is(new Set(PEERS).size, PEERS.length)
  t.is(refusals.size, MAX_REFUSALS)
  t.true(refusals.has(PEERS.at(-1) ?? ''), 'the newest is kept')
  t.false(refusals.has(PEERS[0]), 'the oldest made room')
})

test('refusals: a connection held 3 s since the last notice means the peer accepts this host (it took it back, or contradicts it); a silent one is forgotten after 3 min', t => {
  const connected = new Set<string>()
  const { refusals, infos } = store(connected, 1000)
  refusals.record(PEERS[0], { hostname: 'web1', pinnedTo: PINNED }, 0)
  refusals.record(PEERS[1], { hostname: 'web1', pinnedTo: PINNED }, 0)
  connected.add(PEERS[0]) // a retry's connection, opened at 1000 ms
  refusals.sweep(3000)
  t.true(refusals.has(PEERS[0]), 'not before 3 s since the connection opened: a refusing peer says so, then hangs up, within 1 s')
  refusals.sweep(4000)
  t.false(refusals.has(PEERS[0]))
  t.true(infos.some(l => l.startsWith('alpha (') && l.includes('accepts this host now')), infos.join('\n'))
  refusals.sweep(3 * 60_000 - 1)
  t.true(refusals.has(PEERS[1]))
  refusals.sweep(3 * 60_000)
  t.false(refusals.has(PEERS[1]))
  t.deepEqual(refusals.problems(), {})
})
