// The static file parser on a file at the cap (10,000 entries): every entry checked, the
// work spread over turns of the event loop, and a bad entry late in the file still named.
import test from 'ava'
import { ArrayScanner, parseStaticFile } from '../../../../src/discovery/static/parse.ts'
import { prng } from '../../../helpers/prng.ts'
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

/** What the sliced parse makes of a text: the elements, or undefined where it gives up (JSON.parse of the whole then has the say). */
function scan (text: string): unknown[] | undefined {
  const s = new ArrayScanner(text)
  const out: unknown[] = []
  for (let r = s.next(); r !== undefined; r = s.next()) {
    try { out.push(JSON.parse(text.slice(r[0], r[1]))) } catch { return undefined }
  }
  return s.valid ? out : undefined
}

function wholeParse (text: string): unknown[] | undefined {
  try {
    const v: unknown = JSON.parse(text)
    return Array.isArray(v) ? v : undefined
  } catch { return undefined }
}

/** Random JSON values with the characters the scanner follows inside strings: quotes, backslashes, brackets, commas. */
function randomValue (random: () => number, depth: number): unknown {
  const r = random()
  const str = (): string => Array.from({ length: Math.floor(random() * 8) }, () => ['"', '\\', '[', ']', '{', '}', ',', 'a', ' ', '\n', 'é', '\u2028', '\\"'][Math.floor(random() * 13)]).join('')
  if (depth > 3 || r < 0.3) return str()
  if (r < 0.4) return Math.floor(random() * 1e6) / 100
  if (r < 0.45) return [true, false, null][Math.floor(random() * 3)]
  if (r < 0.7) return Array.from({ length: Math.floor(random() * 4) }, () => randomValue(random, depth + 1))
  return Object.fromEntries(Array.from({ length: Math.floor(random() * 4) }, () => [str(), randomValue(random, depth + 1)]))
}

test('static parse: the array is cut into entries exactly where JSON.parse reads them, and a text that is not a JSON array is never taken', t => {
  const random = prng(2026)
  const spaces = (): string => [' ', '', '\n\t ', '\r\n'][Math.floor(random() * 4)]
  let valid = 0
  let invalid = 0
  for (let round = 0; round < 3000; round++) {
    const doc = Array.from({ length: Math.floor(random() * 6) }, () => randomValue(random, 0))
    let text = spaces() + '[' + spaces() + doc.map(v => JSON.stringify(v, null, random() < 0.3 ? 1 : undefined)).join(spaces() + ',' + spaces()) + spaces() + ']' + spaces()
    if (round % 2 === 1) { // one random edit, with the characters the scanner looks at
      const at = Math.floor(random() * (text.length + 1))
      const c = ['"', '\\', '[', ']', '{', '}', ',', ' ', 'x', ''][Math.floor(random() * 10)]
      text = text.slice(0, at) + c + text.slice(at + (random() < 0.5 ? 1 : 0))
    }
    const expected = wholeParse(text)
    if (expected === undefined) invalid++
    else valid++
    const got = scan(text)
    if (JSON.stringify(got) !== JSON.stringify(expected)) { t.fail(`round ${round}: ${JSON.stringify(text)} scanned as ${JSON.stringify(got)}, JSON.parse says ${JSON.stringify(expected)}`); return }
  }
  t.true(valid > 1000 && invalid > 300, `${valid} valid and ${invalid} invalid texts`)
  for (const text of ['', ' ', '{}', '"[1]"', '[', '[1,]', '[,1]', '[1 2]', '[1]x', '[{]}]', '["a]', '["a\\"]', '[1,,2]', '[[1},2]', '\uFEFF[1]', '[1] ]', '[1]]']) {
    t.is(scan(text), undefined, JSON.stringify(text))
  }
  t.deepEqual(scan(' [ ] '), [])
  t.deepEqual(scan('["a\\\\", "]", {"[": ","}]'), ['a\\', ']', { '[': ',' }])
})

test('static parse: a file that is not valid JSON gets JSON.parse\'s own error, with nothing checked before', async t => {
  const entries = Array.from({ length: 3000 }, (_, i) => entry(i))
  entries[5] = { Service: { Name: 'x', Ports: [{ Port: 0 }] } } // a bad entry before the syntax error: the syntax error is what is reported
  const text = JSON.stringify(entries).replace(/\]$/, ',]')
  let expected = ''
  try { JSON.parse(text) } catch (err) { expected = (err as Error).message }
  await t.throwsAsync(parseStaticFile(text, 'static.json', ctx), { instanceOf: StaticFileError, message: `static.json: not valid JSON: ${expected}` })
  await t.throwsAsync(parseStaticFile('{"Service": {}}', 'static.json', ctx), { message: /expected a JSON array of entries/ })
  const many = JSON.stringify(Array.from({ length: 10_001 }, (_, i) => entry(i)))
  await t.throwsAsync(parseStaticFile(many, 'static.json', ctx), { message: /10001 entries, at most 10000 allowed/ })
})
