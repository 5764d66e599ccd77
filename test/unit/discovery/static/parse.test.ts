// The static file parser on a file at the cap (10,000 entries): every entry checked, the
// work spread over turns of the event loop, and a bad entry late in the file still named.
import test from 'ava'
import { parseStaticFile } from '../../../../src/discovery/static/parse.ts'
import { StaticFileError } from '../../../../src/lib/errors.ts'
import { Time } from '../../../../src/service/index.ts'

const ctx = { hostname: 'me', advertiseIp: '10.0.0.5', now: Time.parse('2026-01-01T00:00:00Z') }
const entry = (i: number): unknown => ({ Service: { Name: `svc${i % 100}`, Image: 'img:1', Ports: [{ Type: 'tcp', Port: 1000 + (i % 60000), ServicePort: 0 }], ID: `s${i}` }, Check: { Type: 'AlwaysSuccessful' } })

test('static parse: 10,000 entries are parsed in slices, other work running between them, in file order', async t => {
  const n = 10_000
  const text = JSON.stringify(Array.from({ length: n }, (_, i) => entry(i)))
  let turns = 0
  let parsing = true
  const tick = (): void => { if (parsing) { turns++; setImmediate(tick) } }
  setImmediate(tick)
  const parsed = await parseStaticFile(text, 'static.json', ctx)
  parsing = false
  t.is(parsed.length, n)
  t.deepEqual(parsed.slice(0, 3).map(d => [d.service.ID, d.service.Hostname, d.service.Ports?.[0].IP]), [['s0', 'me', '10.0.0.5'], ['s1', 'me', '10.0.0.5'], ['s2', 'me', '10.0.0.5']])
  t.is(parsed[n - 1].service.ID, `s${n - 1}`)
  // 10,000 entries take 30 ms or more to check (3 us an entry on a fast host), so 8 ms slices are at least three.
  t.true(turns >= 3, `other work ran between slices (${turns} turns)`)
})

test('static parse: a bad or duplicate entry after many good ones is named, and nothing is returned', async t => {
  const entries = Array.from({ length: 2500 }, (_, i) => entry(i))
  entries[2345] = { Service: { Name: 'x', Ports: [{ Port: 0 }] } }
  const err = await t.throwsAsync(parseStaticFile(JSON.stringify(entries), 'static.json', ctx), { instanceOf: StaticFileError })
  t.regex(err?.message ?? '', /entry 2345 \(x\): Service.Ports\[0\].Port must be from 1 to 65535/)
  entries[2345] = entry(7)
  await t.throwsAsync(parseStaticFile(JSON.stringify(entries), 'static.json', ctx), { message: /entry 2345 \(svc7\) duplicates entry 7/ })
})
