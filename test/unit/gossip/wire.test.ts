import test from 'ava'
import { decodeHello, decodeRecordsPage, encodeHello, openStateFrame, Pager, STATE_KIND, STATE_LIMITS } from '../../../src/gossip/state-wire.ts'
import { Slicer } from '../../../src/lib/slicer.ts'
import { decodeMessage, decodeRecordList, encodeRecords, KIND, WIRE_LIMITS, WIRE_VERSION, WireError, type RejectReason } from '../../../src/gossip/wire.ts'
import { encodeService, ServiceStatus } from '../../../src/service/index.ts'
import { BASE_TIME, makeTestService } from '../../helpers/factories.ts'

const now = BASE_TIME

function env (kind: number, body: string, version = WIRE_VERSION): Uint8Array {
  return new Uint8Array([version, kind, ...Buffer.from(body)])
}

function reasonOf (fn: () => unknown): RejectReason | undefined {
  try {
    fn()
  } catch (err) {
    if (err instanceof WireError) return err.reason
    throw err
  }
  return undefined
}

test('wire: records round-trip through one message, field for field', t => {
  const a = makeTestService()
  const b = makeTestService({ ID: 'other', Status: ServiceStatus.TOMBSTONE, Updated: BASE_TIME.plusNanos(7n) })
  const msgs = encodeRecords([a, b])
  t.is(msgs.length, 1)
  t.is(msgs[0][0], WIRE_VERSION)
  t.is(msgs[0][1], KIND.records)
  const back = decodeMessage(msgs[0], now)
  t.deepEqual(back.map(encodeService), [a, b].map(encodeService))
})

test('wire: records are split into messages under the size cap, order kept', t => {
  const records = Array.from({ length: 200 }, (_, i) => makeTestService({ ID: `id${i}`, Image: 'x'.repeat(900) }))
  const msgs = encodeRecords(records)
  t.true(msgs.length > 1)
  for (const m of msgs) t.true(m.byteLength <= WIRE_LIMITS.maxMessageBytes)
  t.deepEqual(msgs.flatMap(m => decodeMessage(m, now)).map(s => s.ID), records.map(s => s.ID))
})

test('wire: a record limit splits by count too', t => {
  const records = Array.from({ length: 10 }, (_, i) => makeTestService({ ID: `id${i}` }))
  t.is(encodeRecords(records, KIND.records, WIRE_LIMITS.maxMessageBytes, 3).length, 4)
})

test('wire: every kind of bad message is rejected with its reason', t => {
  const ok = JSON.stringify([makeTestService()])
  t.is(reasonOf(() => decodeMessage(new Uint8Array(WIRE_LIMITS.maxMessageBytes + 1), now)), 'size')
  t.is(reasonOf(() => decodeMessage(new Uint8Array([1]), now)), 'size')
  t.is(reasonOf(() => decodeMessage(env(KIND.records, ok, 1), now)), 'version')
  t.is(reasonOf(() => decodeMessage(env(77, ok), now)), 'kind')
  t.is(reasonOf(() => decodeMessage(env(STATE_KIND.records, `{"Items":${ok},"More":false}`), now)), 'kind', 'an anti-entropy frame is not a gossip message')
  t.is(reasonOf(() => decodeMessage(env(KIND.records, '[{"ID":'), now)), 'json')
  t.is(reasonOf(() => decodeMessage(new Uint8Array([WIRE_VERSION, KIND.records, 0xff, 0xfe, 0x5b]), now)), 'json', 'not UTF-8')
  t.is(reasonOf(() => decodeMessage(env(KIND.records, '{"a":1}'), now)), 'shape')
  t.is(reasonOf(() => decodeMessage(env(KIND.records, '[{"ID":"x","Name":"n","Hostname":"h","Status":7,"Updated":"2024-05-01T10:00:00Z"}]'), now)), 'record')
  t.is(reasonOf(() => decodeMessage(env(KIND.records, '[{"ID":"","Name":"n","Hostname":"h","Status":0,"Updated":"2024-05-01T10:00:00Z"}]'), now)), 'record')
  t.is(reasonOf(() => decodeMessage(env(KIND.records, ok), now)), undefined)
})

test('wire: a record stamped more than five minutes ahead is rejected, a little ahead is fine', t => {
  const ahead = (ms: number): Uint8Array => encodeRecords([makeTestService({ Updated: now.plusMillis(ms) })])[0]
  t.is(reasonOf(() => decodeMessage(ahead(WIRE_LIMITS.maxFutureMs - 1000), now)), undefined)
  t.is(reasonOf(() => decodeMessage(ahead(WIRE_LIMITS.maxFutureMs + 1000), now)), 'future')
})

test('wire: one bad record rejects the whole message', t => {
  const body = `[${encodeService(makeTestService())},{"ID":"x"}]`
  t.is(reasonOf(() => decodeMessage(env(KIND.records, body), now)), 'record')
})

test('wire: a record list longer than allowed is rejected before decoding', t => {
  t.is(reasonOf(() => decodeRecordList(new Array(11).fill({}), now, 10)), 'size')
})

test('state-wire: a records page is decoded in time slices, to the same records, and a bad or future record still rejects it', async t => {
  const items = Array.from({ length: 1000 }, (_, i) => JSON.parse(encodeService(makeTestService({ ID: `r${i}`, Updated: now.plusMillis(i) }))) as unknown)
  let turns = 0
  const ticker = setInterval(() => { turns++ }, 0)
  const page = await decodeRecordsPage({ Items: items, More: true }, now, new Slicer(0.2)) // a 0.2 ms budget: several slices
  clearInterval(ticker)
  t.true(turns >= 2, `the event loop ran timers ${turns} times during the decode`)
  t.true(page.more)
  t.deepEqual(page.items.map(r => r.svc), decodeRecordList(items, now, 1000))
  const bad = async (body: unknown): Promise<RejectReason | undefined> => await decodeRecordsPage(body, now).then(() => undefined, (err: unknown) => { if (err instanceof WireError) return err.reason; throw err })
  t.is(await bad({ Items: [...items.slice(0, 500), { ID: 'x' }], More: false }), 'record')
  t.is(await bad({ Items: [...items.slice(0, 500), JSON.parse(encodeService(makeTestService({ Updated: now.plusMillis(WIRE_LIMITS.maxFutureMs + 1000) })))], More: false }), 'future')
  t.is(await bad({ Items: new Array(STATE_LIMITS.recordsPerPage + 1).fill({}), More: false }), 'size')
  t.is(await bad({ Items: {}, More: false }), 'shape')
})

test('state-wire: hellos round-trip and bad ones are rejected', t => {
  const h = { hostname: 'host1', clusterName: 'default', members: [{ id: '12D3KooWabc', addrs: ['/ip4/10.0.0.1/tcp/7946'] }], records: 3 }
  const { kind, body } = openStateFrame(encodeHello(h))
  t.is(kind, STATE_KIND.hello)
  t.deepEqual(decodeHello(body), h)
  t.is(reasonOf(() => decodeHello([])), 'shape')
  t.is(reasonOf(() => decodeHello({ Hostname: 'h', ClusterName: 'c', Members: [], Records: -1 })), 'shape')
  t.is(reasonOf(() => decodeHello({ Hostname: 'h', ClusterName: 'c', Members: [{ ID: 'p', Addrs: [1] }], Records: 0 })), 'shape')
  t.is(reasonOf(() => decodeHello({ Hostname: 'h', ClusterName: 'c', Members: new Array(WIRE_LIMITS.maxMembers + 1).fill({ ID: 'p', Addrs: [] }), Records: 0 })), 'shape')
  t.is(reasonOf(() => decodeHello({ Hostname: 'x'.repeat(300), ClusterName: 'c', Members: [], Records: 0 })), 'shape')
})

test('state-wire: a hello may scope the exchange to a few hosts, and a bad scope is rejected', t => {
  const h = { hostname: 'host1', clusterName: 'default', members: [], records: 3, hosts: ['host1', 'host2'] }
  t.deepEqual(decodeHello(openStateFrame(encodeHello(h)).body), h)
  const hello = (hosts: unknown): unknown => ({ Hostname: 'h', ClusterName: 'c', Members: [], Records: 0, Hosts: hosts })
  t.is(reasonOf(() => decodeHello(hello([]))), 'shape')
  t.is(reasonOf(() => decodeHello(hello('host1'))), 'shape')
  t.is(reasonOf(() => decodeHello(hello(['']))), 'shape')
  t.is(reasonOf(() => decodeHello(hello(new Array(STATE_LIMITS.maxScopeHosts + 1).fill('h')))), 'shape')
})

test('state-wire: a pager encodes each item once, also the one that did not fit a page, and nextAsync prepares each item once, before it is encoded', async t => {
  // items of 100 KB: five fit a 512 KiB page, the sixth is encoded, left for the next page, and not encoded again
  const items = Array.from({ length: 23 }, (_, i) => i)
  const big = (i: number): string => JSON.stringify({ i, pad: 'x'.repeat(100_000) })
  for (const mode of ['sync', 'async'] as const) {
    const encoded: number[] = []
    const prepared: number[] = []
    const pager = new Pager(STATE_KIND.records, items, i => {
      t.true(mode === 'sync' || prepared.includes(i), `item ${i} was prepared before it was encoded`)
      encoded.push(i)
      return big(i)
    })
    const got: number[] = []
    const pages: number[] = []
    while (!pager.done) {
      const frame = mode === 'sync' ? pager.next() : await pager.nextAsync(async batch => { await new Promise(resolve => setImmediate(resolve)); prepared.push(...batch) }, 4)
      const { Items } = openStateFrame(frame).body as { Items: Array<{ i: number }> }
      pages.push(Items.length)
      got.push(...Items.map(x => x.i))
    }
    t.deepEqual(got, items, `${mode}: every item once, in order`)
    t.true(pages.every(n => n >= 1 && n * 100_000 < STATE_LIMITS.pageBytes), `${mode}: pages within the byte limit (${pages.join(', ')})`)
    t.deepEqual(encoded, items, `${mode}: each item encoded exactly once`)
    if (mode === 'async') t.deepEqual(prepared, items, 'each item prepared exactly once, in batches that may span pages')
  }
})
