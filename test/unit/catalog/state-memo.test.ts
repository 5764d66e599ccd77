// encodeHostsParts with a StateMemo: the same bytes as encodeState, with the blocks of records
// that did not change sent as the very Buffers of the last encoding.
import test from 'ava'
import { encodeHostsParts, encodeState, STATE_BLOCK_RECORDS, StateMemo } from '../../../src/catalog/index.ts'
import { ServiceStatus } from '../../../src/service/index.ts'
import { at, makeTestService } from '../../helpers/factories.ts'
import { prng } from '../../helpers/prng.ts'
import { randomStep, setup, SHORT_LIFESPANS } from './setup.ts'

const { UNHEALTHY } = ServiceStatus

/** A slicer that yields at every check, so encodings that share a memo interleave record by record. */
const yielding = { due: () => true, next: async () => { await new Promise(resolve => setImmediate(resolve)) } }

test('StateMemo: through 1,000 random changes, expiries and removals on 3 hosts, every state encoded with the memo is the very bytes of encodeState(snapshot())', async t => {
  const f = setup(SHORT_LIFESPANS)
  const { catalog } = f
  const memo = new StateMemo()
  const r = prng(0x3e30)
  let ms = 0
  for (let step = 0; step < 1000; step++) {
    // 400 IDs a host (4 blocks), names with characters Go escapes, IDs that sort differently in UTF-16
    ms = randomStep(f, r, ms, { hosts: 3, ids: 400, escapedNames: true })
    const lists = catalog.stateLists()
    const parts = await encodeHostsParts(lists.hosts, lists, undefined, memo)
    t.is(Buffer.concat(parts).toString(), encodeState(catalog.snapshot()), `step ${step}`)
  }
  t.true(memo.reused > memo.made, `blocks reused ${memo.reused}, made ${memo.made}`)
})

test('StateMemo: one changed record of 1,000 makes one block again and reuses the others as the same Buffers; a new record makes the blocks from its own on', async t => {
  const { catalog } = setup()
  const id = (i: number): string => `id${String(i).padStart(4, '0')}`
  for (let i = 0; i < 1000; i++) catalog.merge(makeTestService({ ID: id(i), Name: 'web', Updated: at(0) }))
  const memo = new StateMemo()
  const encode = async (): Promise<Buffer[]> => {
    const lists = catalog.stateLists()
    const parts = await encodeHostsParts(lists.hosts, lists, undefined, memo)
    t.is(Buffer.concat(parts).toString(), encodeState(catalog.snapshot()))
    return parts
  }
  const blocks = Math.ceil(1000 / STATE_BLOCK_RECORDS)
  const first = await encode()
  t.deepEqual([memo.made, memo.reused], [blocks, 0])
  const total = memo.madeBytes

  catalog.merge(makeTestService({ ID: id(500), Name: 'web', Status: UNHEALTHY, Updated: at(1) }))
  const second = await encode()
  t.deepEqual([memo.made, memo.reused], [blocks + 1, blocks - 1])
  t.is(second.filter(p => first.includes(p)).length, blocks - 1, 'the unchanged blocks are the same Buffer objects')
  t.true(memo.madeBytes - total < total / 5, `${memo.madeBytes - total} bytes made for the change, against ${total} for the whole state`)

  // sorts right after id0500: its block and every block after it shift
  catalog.merge(makeTestService({ ID: `${id(500)}a`, Name: 'web', Updated: at(2) }))
  await encode()
  const shifted = blocks - Math.floor(500 / STATE_BLOCK_RECORDS)
  t.deepEqual([memo.made, memo.reused], [blocks + 1 + shifted, 2 * blocks - 1 - shifted])
})

test('StateMemo: encodings of different states that share it and interleave are each right, and a host that left is forgotten', async t => {
  const { catalog } = setup()
  for (let i = 0; i < 600; i++) catalog.merge(makeTestService({ Hostname: `host${i % 2}`, ID: `id${i}`, Updated: at(0) }))
  const memo = new StateMemo()
  const a = catalog.stateLists()
  const aBytes = encodeState(catalog.snapshot())
  for (let i = 0; i < 600; i += 7) catalog.merge(makeTestService({ Hostname: `host${i % 2}`, ID: `id${i}`, Status: UNHEALTHY, Updated: at(1) }))
  const b = catalog.stateLists()
  const bBytes = encodeState(catalog.snapshot())
  for (let round = 0; round < 3; round++) {
    const [pa, pb] = await Promise.all([encodeHostsParts(a.hosts, a, yielding, memo), encodeHostsParts(b.hosts, b, yielding, memo)])
    t.is(Buffer.concat(pa).toString(), aBytes, `round ${round}: state a`)
    t.is(Buffer.concat(pb).toString(), bBytes, `round ${round}: state b`)
  }
  t.true(memo.reused > 0)
  const onlyHost1 = { ...b, hosts: b.hosts.filter(h => h.name === 'host1') }
  await encodeHostsParts(onlyHost1.hosts, onlyHost1, undefined, memo)
  t.deepEqual(memo.blocks('host0'), [])
  t.true(memo.blocks('host1').length > 0)
})
