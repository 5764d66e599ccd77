import test from 'ava'
import { bucketCount, bucketHashes, bucketOf, differingBuckets, differingHosts, hostDigest, MAX_BUCKETS, recordsToPush, versionHash, type HostDigest } from '../../../src/gossip/digest.ts'
import { ServiceStatus, withFields } from '../../../src/service/index.ts'
import { BASE_TIME, makeTestService } from '../../helpers/factories.ts'

const recs = (n: number, host = 'h1') => Array.from({ length: n }, (_, i) => makeTestService({ ID: `id${i}`, Hostname: host, Updated: BASE_TIME.plusNanos(BigInt(i)) }))

test('digest: a host digest depends on the versions, not on the order of the records', t => {
  const a = recs(50)
  t.deepEqual(hostDigest('h1', a), hostDigest('h1', [...a].reverse()))
  t.is(hostDigest('h1', a).count, 50)
  t.regex(hostDigest('h1', a).hash, /^[0-9a-f]{16}$/)
})

test('digest: a newer Updated of one record changes the digest; a status alone does not (the merge rule may keep DRAINING)', t => {
  const a = recs(20)
  const newer = [...a]
  newer[7] = withFields(a[7], { Updated: a[7].Updated.plusNanos(1n) })
  t.not(hostDigest('h1', a).hash, hostDigest('h1', newer).hash)
  const drained = [...a]
  drained[7] = withFields(a[7], { Status: ServiceStatus.DRAINING })
  t.is(hostDigest('h1', a).hash, hostDigest('h1', drained).hash)
})

test('digest: the version hash is cached per frozen record and differs between records', t => {
  const [a, b] = recs(2)
  t.is(versionHash(a), versionHash(a))
  t.notDeepEqual(versionHash(a), versionHash(b))
})

test('digest: bucket counts are powers of two, about 16 records each, capped', t => {
  t.is(bucketCount(0), 1)
  t.is(bucketCount(16), 1)
  t.is(bucketCount(17), 2)
  t.is(bucketCount(20_000), 2048)
  t.is(bucketCount(10_000_000), MAX_BUCKETS)
  for (const n of [1, 2, 64, 4096]) for (const id of ['a', 'b', 'zz', 'x'.repeat(200)]) t.true(bucketOf(id, n) >= 0 && bucketOf(id, n) < n)
})

test('digest: only the buckets of changed records differ', t => {
  const a = recs(1000)
  const n = bucketCount(1000)
  const b = [...a]
  b[123] = withFields(a[123], { Updated: a[123].Updated.plusNanos(5n) })
  b.push(makeTestService({ ID: 'new-one', Hostname: 'h1' }))
  const diff = differingBuckets(bucketHashes(a, n), bucketHashes(b, n))
  t.deepEqual(diff, [...new Set([bucketOf('id123', n), bucketOf('new-one', n)])].sort((x, y) => x - y))
})

test('digest: differing hosts are those missing on one side or with another count or hash, sorted', t => {
  const d = (host: string, count: number, hash: string): [string, HostDigest] => [host, { host, count, hash }]
  const mine = new Map([d('a', 1, '00'), d('b', 2, '11'), d('c', 3, '22')])
  const theirs = new Map([d('a', 1, '00'), d('b', 2, '12'), d('d', 4, '33')])
  t.deepEqual(differingHosts(mine, theirs), [{ host: 'b', mine: 2, theirs: 2 }, { host: 'c', mine: 3, theirs: 0 }, { host: 'd', mine: 0, theirs: 4 }])
  t.deepEqual(differingHosts(mine, mine), [])
})

test('digest: records to push are those the peer lacks or holds older, never those it holds newer or equal', t => {
  const [a, b, c, d] = recs(4)
  const theirs = new Map<string, bigint>([[a.ID, a.Updated.ns], [b.ID, b.Updated.ns - 1n], [c.ID, c.Updated.ns + 1n]])
  t.deepEqual(recordsToPush([a, b, c, d], theirs).map(s => s.ID), [b.ID, d.ID])
})
