// A peer speaking another version of the gossip protocol (a rolling upgrade half done) is told
// apart from other clusters and programs, and named with both versions and the side to upgrade.
import test from 'ava'
import { stateProtocolOf } from '../../../src/gossip/node.ts'
import { compareVersions, MAX_OTHER_VERSIONS, otherStateVersion, OtherVersions } from '../../../src/gossip/versions.ts'

test('versions: a peer listing our cluster\'s state protocol under another version is told apart from other clusters and programs', t => {
  const own = stateProtocolOf('prod')
  t.is(otherStateVersion(['/ipfs/id/1.0.0', '/sidecar/prod/state/1.0.0', '/sidecar/prod/probe/1.0.0'], own), '1.0.0')
  t.is(otherStateVersion(['/sidecar/prod/state/3.0.0'], own), '3.0.0')
  t.is(otherStateVersion([own, '/sidecar/prod/state/1.0.0'], own), '1.0.0', 'only called for peers without ours')
  t.is(otherStateVersion(['/sidecar/staging/state/1.0.0'], own), undefined, 'another cluster is not another version')
  t.is(otherStateVersion(['/sidecar/prod/state/x; rm -rf', '/sidecar/prod/state/'], own), undefined, 'a version is dotted numbers')
  t.true(compareVersions('1.0.0', '2.0.0') < 0)
  t.true(compareVersions('2.10.0', '2.9') > 0)
  t.is(compareVersions('2', '2.0.0'), 0)
})

test('versions: each peer is logged once, names both versions and which side to upgrade, and leaves /health when it joins', t => {
  const counts: number[] = []
  const v = new OtherVersions('2.0.0', (n) => { counts.push(n) })
  const line = v.note('peerA', 'host-a', '/ip4/10.0.0.1/tcp/7946/p2p/peerA', '1.0.0', 1000)
  t.is(line, 'peer peerA (host host-a, /ip4/10.0.0.1/tcp/7946) speaks sidecar gossip protocol 1.0.0, as sidecar 0.1.0 does, this node 2.0.0: upgrade it; until then neither sees the other\'s services')
  t.is(v.note('peerA', 'host-a', '/ip4/10.0.0.1/tcp/7946', '1.0.0', 2000), undefined, 'seen again: not logged again')
  t.regex(v.note('peerN', 'host-n', '/ip4/10.0.0.9/tcp/7946', '3.0.0', 2000) ?? '', /speaks sidecar gossip protocol 3\.0\.0, this node 2\.0\.0: upgrade this node;/)
  t.deepEqual(Object.keys(v.problems(2000)), ['host-a', 'host-n'])
  v.joined('peerA', 'host-a')
  t.deepEqual(Object.keys(v.problems(2000)), ['host-n'], 'host-a is back upgraded')
  t.deepEqual(Object.keys(v.problems(2000 + 5 * 60_000 + 1)), [], 'a peer not seen for 5 minutes is forgotten')
  t.deepEqual(counts, [1, 1, 2, 1, 0])
})

test('versions: peers with made-up hostnames fill at most MAX_OTHER_VERSIONS entries', t => {
  const v = new OtherVersions('2.0.0')
  for (let i = 0; i < MAX_OTHER_VERSIONS * 3; i++) v.note(`peer${i}`, `host-${i}`, '/ip4/10.0.0.1/tcp/7946', '1.0.0', 1000)
  t.is(Object.keys(v.problems(1000)).length, MAX_OTHER_VERSIONS)
})
