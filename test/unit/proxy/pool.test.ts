import test from 'ava'
import { ServiceStatus } from '../../../src/service/index.ts'
import { Pool, specRecord, type Backend, type PoolChange, type PoolOptions } from '../../../src/proxy/pool.ts'
import type { BackendSpec } from '../../../src/proxy/plan.ts'
import { prng } from '../../helpers/prng.ts'

function spec (id: string, fields: Partial<BackendSpec> = {}): BackendSpec {
  const hostname = fields.hostname ?? `host-${id}`
  const ip = fields.ip ?? '10.0.0.1'
  const port = fields.port ?? 1000 + id.charCodeAt(0)
  return { key: `${hostname}\u0000${id}\u0000${ip}:${port}`, hostname, id, ip, port, site: '', status: ServiceStatus.ALIVE, ...fields }
}

function pool (opts: Partial<PoolOptions> = {}, random: () => number = Math.random): Pool {
  return new Pool({
    balance: 'roundrobin', hostname: 'me', preferLocal: false, siteFailover: false, site: '', siteOrder: [],
    outlier: { baseMs: 10_000, maxMs: 300_000, after5xx: 0 },
    ...opts,
  }, random)
}

/** Picks n times (each request finishing before the next) and counts picks per backend id. */
function spread (p: Pool, n: number, now = 0): Record<string, number> {
  const out: Record<string, number> = {}
  for (let i = 0; i < n; i++) {
    const b = p.pick(now)
    const id = b?.spec.id ?? 'none'
    out[id] = (out[id] ?? 0) + 1
  }
  return out
}

/** A deterministic random source cycling through values. */
function cycle (...values: number[]): () => number {
  let i = 0
  return () => values[i++ % values.length]
}

test('roundrobin: 300 picks over 3 backends are exactly 100 each', t => {
  const p = pool()
  p.update([spec('a'), spec('b'), spec('c')])
  t.deepEqual(spread(p, 300), { a: 100, b: 100, c: 100 })
})

test('roundrobin: an ejected backend is skipped and the others keep alternating', t => {
  const p = pool()
  p.update([spec('a'), spec('b'), spec('c')])
  const b = p.backends.find(x => x.spec.id === 'b') as Backend
  t.true(p.failure(b, 0))
  t.deepEqual([1, 2, 3, 4].map(() => p.pick(5000)?.spec.id), ['a', 'c', 'a', 'c'])
  t.deepEqual(spread(p, 30, 10_000), { a: 10, b: 10, c: 10 }, 'back in the pool when the ejection ends')
})

test('only ALIVE instances are picked: unhealthy, unknown, draining and tombstones are not', t => {
  const p = pool()
  p.update([spec('a'), spec('b', { status: ServiceStatus.UNHEALTHY }), spec('c', { status: ServiceStatus.UNKNOWN }), spec('d', { status: ServiceStatus.DRAINING }), spec('e', { status: ServiceStatus.TOMBSTONE })])
  t.deepEqual(spread(p, 10), { a: 10 })
  t.is(p.candidates, 1)
})

test('unavailable: no healthy instance, all ejected, or every one tried', t => {
  const p = pool()
  p.update([spec('a', { status: ServiceStatus.UNHEALTHY })])
  t.is(p.pick(0), undefined)
  t.is(p.unavailable(0), 'no healthy instance')
  p.update([])
  t.is(p.unavailable(0), 'no healthy instance')
  p.update([spec('a'), spec('b')])
  const [a, b] = p.backends
  p.failure(a, 0)
  t.is(p.pick(0, new Set([b])), undefined)
  t.is(p.unavailable(0, new Set([b])), 'all failed')
  // b goes unhealthy while a is ejected: the one candidate left is ejected
  p.update([a.spec, { ...b.spec, status: ServiceStatus.UNHEALTHY }])
  t.is(p.pick(0), undefined)
  t.is(p.unavailable(0), 'all ejected')
})

test('exclude: a retry never goes back to a backend already tried', t => {
  const p = pool({ balance: 'random' }, cycle(0))
  p.update([spec('a'), spec('b'), spec('c')])
  const [a, b] = p.backends
  t.is(p.pick(0, new Set([a]))?.spec.id, 'b')
  t.is(p.pick(0, new Set([a, b]))?.spec.id, 'c')
})

test('ejection: never more than half of the pool, counted over ALIVE instances', t => {
  const p = pool()
  p.update([spec('a'), spec('b'), spec('c'), spec('d', { status: ServiceStatus.UNHEALTHY })])
  const [a, b, c] = p.backends
  t.true(p.failure(a, 0))
  t.false(p.failure(b, 0), 'one of three ALIVE already out')
  t.false(p.failure(c, 0))
  t.is(p.ejectedCount(0), 1)
  t.is(b.failures, 1, 'failures are counted even when not ejected')
})

test('ejection: survives a catalog update, and ends when the active check brings the instance back', t => {
  const p = pool()
  p.update([spec('a'), spec('b')])
  const a = p.backends[0]
  p.failure(a, 0)
  p.update([spec('a'), spec('b')])
  t.is(p.backends[0], a, 'same object: counters kept')
  t.is(p.ejectedCount(0), 1)
  p.update([spec('a', { status: ServiceStatus.UNHEALTHY }), spec('b')])
  p.update([spec('a'), spec('b')])
  t.is(p.ejectedCount(0), 0, 'UNHEALTHY then ALIVE: checked healthy, back at once')
})

test('5xx streaks eject only when eject_after_5xx is set', t => {
  const p = pool({ outlier: { baseMs: 10_000, maxMs: 300_000, after5xx: 2 } })
  p.update([spec('a'), spec('b')])
  const a = p.backends[0]
  t.false(p.response(a, 500, 0))
  t.true(p.response(a, 503, 0))
  t.is(p.ejectedCount(0), 1)
})

test('least: the backend with fewest in-flight requests; ties broken at random', t => {
  const p = pool({ balance: 'least' }, cycle(0.9, 0.1))
  p.update([spec('a'), spec('b'), spec('c')])
  const [a, b, c] = p.backends
  a.inFlight = 3; b.inFlight = 1; c.inFlight = 2
  t.is(p.pick(0), b)
  b.inFlight = 2
  // ties b and c at 2: reservoir draws 0.9 (keep b, 0.9*2 >= 1) then 0.1 (take c)
  t.is(p.pick(0), b)
  t.is(p.pick(0), c)
})

test('least: over many picks, equal loads spread over every backend', t => {
  const p = pool({ balance: 'least' })
  p.update([spec('a'), spec('b'), spec('c')])
  const counts = spread(p, 3000)
  for (const id of ['a', 'b', 'c']) t.true(counts[id] > 800 && counts[id] < 1200, JSON.stringify(counts))
})

test('random: uniform over the available backends', t => {
  const p = pool({ balance: 'random' }, cycle(0, 0.34, 0.67, 0.99))
  p.update([spec('a'), spec('b'), spec('c')])
  t.deepEqual([1, 2, 3, 4].map(() => p.pick(0)?.spec.id), ['a', 'b', 'c', 'c'])
  p.failure(p.backends[0], 0)
  t.deepEqual([1, 2].map(() => p.pick(0)?.spec.id), ['b', 'b'], 'ejected a is not counted: 0 -> b, 0.34 -> b')
})

test('prefer_local: this host\'s instances while any is available, then the rest', t => {
  const p = pool({ preferLocal: true })
  p.update([spec('a', { hostname: 'me' }), spec('b', { hostname: 'me' }), spec('c'), spec('d')])
  t.deepEqual(spread(p, 10), { a: 5, b: 5 })
  const [a, b] = p.backends.filter(x => x.spec.hostname === 'me')
  p.failure(a, 0)
  t.deepEqual(spread(p, 10), { b: 10 })
  p.update(p.backends.map(x => x === b ? { ...x.spec, status: ServiceStatus.DRAINING } : x.spec))
  t.deepEqual(spread(p, 10), { c: 5, d: 5 }, 'local ones ejected or draining: the others')
})

test('site failover: own site only, then site_order in order, then unlisted sites', t => {
  const p = pool({ siteFailover: true, site: 'eu-1a', siteOrder: ['us-1a', 'eu-1b'] })
  const all = [spec('a', { site: 'eu-1a' }), spec('b', { site: 'eu-1b' }), spec('c', { site: 'us-1a' }), spec('d', { site: 'ap-1' }), spec('e', { site: '' })]
  p.update(all)
  t.deepEqual(spread(p, 4), { a: 4 })
  const down = (...ids: string[]): void => { p.update(all.map(s => ids.includes(s.id) ? { ...s, status: ServiceStatus.UNHEALTHY } : s)) }
  down('a')
  t.deepEqual(spread(p, 4), { c: 4 }, 'us-1a is first in site_order')
  down('a', 'c')
  t.deepEqual(spread(p, 4), { b: 4 })
  down('a', 'b', 'c')
  t.deepEqual(spread(p, 4), { e: 2, d: 2 }, 'unlisted sites together at the end ("" and ap-1)')
  down()
  t.deepEqual(spread(p, 4), { a: 4 }, 'back home when the own site recovers')
})

test('site failover off: every site is one tier', t => {
  const p = pool({ site: 'eu-1a' })
  p.update([spec('a', { site: 'eu-1a' }), spec('b', { site: 'us-1a' })])
  t.deepEqual(spread(p, 4), { a: 2, b: 2 })
})

test('patch: 2,000 backends changed record by record end as update() with the whole set, in every mode of preference', t => {
  const r = prng(0x5eed)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]
  const SITES = ['eu-1a', 'eu-1b', 'us-1a', 'ap-1', '']
  const STATUSES = [ServiceStatus.ALIVE, ServiceStatus.ALIVE, ServiceStatus.UNHEALTHY, ServiceStatus.DRAINING, ServiceStatus.UNKNOWN]
  const make = (i: number): BackendSpec => spec(`i${i}`, { hostname: ['me', 'h1', 'h2', 'h3'][i % 4], ip: `10.0.${i % 200}.${Math.floor(r() * 3)}`, port: 30_000 + i, site: pick(SITES), status: pick(STATUSES) })
  const view = (p: Pool): string[][] => p.tiers.map(tier => tier.map(b => b.key))
  const modes: Array<Partial<PoolOptions>> = [{}, { preferLocal: true }, { siteFailover: true, site: 'eu-1a', siteOrder: ['us-1a', 'eu-1a', 'us-1a'] }, { preferLocal: true, siteFailover: true, site: 'eu-1b', siteOrder: ['ap-1'] }]
  let changes = 0
  for (const opts of modes) {
    const current = new Map<number, BackendSpec>()
    for (let i = 0; i < 2000; i++) current.set(i, make(i))
    const patched = pool(opts)
    patched.update([...current.values()])
    for (let batch = 0; batch < 60; batch++) {
      const before = new Map(patched.backends.map(b => [b.key, b]))
      const batchChanges = new Map<string, PoolChange>() // a record's last change in the batch, as the proxy manager passes them
      const n = 1 + Math.floor(r() * 40)
      for (let k = 0; k < n; k++) {
        const i = Math.floor(r() * 2200) // some new records, some removals of absent ones
        const old = current.get(i)
        const roll = r()
        let next: BackendSpec | undefined
        if (roll < 0.15) next = undefined // left
        else if (roll < 0.3 || old === undefined) next = make(i) // a new address or site (or a new record); the host is part of the record
        else next = { ...old, status: pick(STATUSES), site: roll < 0.4 ? pick(SITES) : old.site } // same address
        if (next === undefined) current.delete(i)
        else current.set(i, next)
        const record = specRecord(next ?? old ?? make(i))
        batchChanges.set(record, { record, spec: next })
      }
      patched.patch(batchChanges.values())
      changes += batchChanges.size
      const fresh = pool(opts)
      fresh.update([...current.values()])
      t.deepEqual(patched.backends.map(b => `${b.key}=${b.spec.status}/${b.spec.site}`), fresh.backends.map(b => `${b.key}=${b.spec.status}/${b.spec.site}`))
      t.deepEqual(view(patched), view(fresh), `tiers after batch ${batch} of ${JSON.stringify(opts)}`)
      t.is(patched.candidates, fresh.candidates)
      // a backend whose address stayed is the same object (counters, ejection, connections kept)
      for (const b of patched.backends) {
        const was = before.get(b.key)
        if (was !== undefined) t.is(b, was)
      }
    }
  }
  t.true(changes > 4 * 60 * 15, `${changes} changes`)
})

test('patch: a record that left closes its backend\'s connections; one that moved gets a new backend with fresh counters', t => {
  const p = pool()
  const a = spec('a')
  p.update([a, spec('b')])
  const [ba] = p.backends
  ba.requests = 7
  let closed = 0
  ba.conns = { close: () => { closed++ } } as unknown as Backend['conns']
  p.patch([{ record: specRecord(a), spec: { ...a, ip: '10.0.0.9', key: `${a.hostname}\u0000a\u000010.0.0.9:${a.port}` } }])
  t.is(closed, 1, 'the old address\'s connections are closed')
  const moved = p.backends.find(b => b.spec.id === 'a') as Backend
  t.not(moved, ba)
  t.is(moved.requests, 0)
  t.is(moved.address, `10.0.0.9:${a.port}`)
  p.patch([{ record: specRecord(a), spec: undefined }, { record: 'nobody\u0000x', spec: undefined }])
  t.deepEqual(p.backends.map(b => b.spec.id), ['b'])
  t.is(p.candidates, 1)
  t.deepEqual(spread(p, 4), { b: 4 })
})

test('patch: an ejection survives a change that keeps the instance ALIVE, and is forgotten when it comes back to ALIVE', t => {
  const p = pool()
  const [a, b, c] = [spec('a'), spec('b'), spec('c')]
  p.update([a, b, c])
  const bb = p.backends[1]
  t.true(p.failure(bb, 0))
  p.patch([{ record: specRecord(b), spec: { ...b, site: 'eu-1a' } }])
  t.is(p.ejectedCount(0), 1, 'still ejected after a change of another field')
  t.deepEqual(spread(p, 4), { a: 2, c: 2 })
  p.patch([{ record: specRecord(b), spec: { ...b, status: ServiceStatus.UNHEALTHY } }])
  t.is(p.candidates, 2)
  p.patch([{ record: specRecord(b), spec: b }])
  t.is(p.backends[1], bb, 'the same backend')
  t.is(p.ejectedCount(0), 0, 'checked healthy again: the ejection is forgotten')
  t.deepEqual(spread(p, 6), { a: 2, b: 2, c: 2 })
})

test('a backend back from an ejection takes one request at a time until it answers; when it is all that is left it takes more', t => {
  const p = pool({ outlier: { baseMs: 1000, maxMs: 1000, after5xx: 0 } })
  p.update([spec('a'), spec('b')])
  const [a, b] = p.backends
  t.true(p.failure(a, 0))
  t.deepEqual(spread(p, 4, 500), { b: 4 }, 'ejected')
  // back after 1 s: one request in progress on it
  a.inFlight = 1
  t.deepEqual(spread(p, 4, 1500), { b: 4 }, 'on probation, busy: passed over')
  a.inFlight = 0
  t.deepEqual(spread(p, 4, 1500), { a: 2, b: 2 }, 'on probation, idle: takes its turn')
  a.inFlight = 1
  b.inFlight = 1
  t.true(p.failure(b, 1500), 'b ejected in turn')
  t.is(p.pick(1600), a, 'only a left, busy on probation: it takes the request anyway')
  p.response(a, 200, 1600)
  t.deepEqual(spread(p, 2, 1600), { a: 2 }, 'an answer ends the probation')
})

test('a backend with a request waiting past stallMs and no answer meanwhile is passed over while another can take it', t => {
  const p = pool({ outlier: { baseMs: 1000, maxMs: 1000, after5xx: 0, stallMs: 2000 } })
  p.update([spec('a'), spec('b')])
  const [a, b] = p.backends
  a.inFlight = 1
  p.waiting(a, 0)
  t.deepEqual(spread(p, 4, 2000), { a: 2, b: 2 }, 'not stalled at stallMs')
  t.deepEqual(spread(p, 4, 2001), { b: 4 }, 'stalled past it')
  // another request answered: not stalled, however long the first one waits
  a.inFlight = 2
  p.waiting(a, 2001)
  p.heard(a, 2500)
  t.deepEqual(spread(p, 4, 4000), { a: 2, b: 2 })
  t.deepEqual(spread(p, 4, 4501), { b: 4 })
  // every backend stalled: balanced as before
  b.inFlight = 1
  p.waiting(b, 0)
  t.deepEqual(spread(p, 4, 4501), { a: 2, b: 2 })
  // the waits end without an answer: nothing waits, not stalled
  p.heard(a, undefined)
  p.heard(b, undefined)
  t.deepEqual([a.awaiting, b.awaiting], [0, 0])
  p.update([spec('a'), spec('b')])
  t.deepEqual(spread(p, 4, 9000), { a: 2, b: 2 })
})
