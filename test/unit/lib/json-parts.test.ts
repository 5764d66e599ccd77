import test from 'ava'
import { jsonParts, PartWriter } from '../../../src/lib/json-parts.ts'
import { goEscape } from '../../../src/catalog/index.ts'
import { prng } from '../../helpers/prng.ts'

class Stamp {
  readonly ms: number
  constructor (ms: number) { this.ms = ms }
  toJSON (): string { return new Date(this.ms).toISOString() }
}

/** A random JSON-ish value: every kind JSON.stringify treats specially, nested up to `levels`. */
function randomValue (next: () => number, levels: number): unknown {
  const kinds = levels <= 0 ? 9 : 12
  switch (Math.floor(next() * kinds)) {
    case 0: return null
    case 1: return next() < 0.5
    case 2: return Math.round(next() * 1e6) / 100
    case 3: return `s\n"${Math.floor(next() * 100)}"<&\u2028`
    case 4: return undefined
    case 5: return () => 1
    case 6: return new Stamp(Math.floor(next() * 1e12))
    case 7: return Number.NaN
    case 8: return Symbol('x')
    case 9: return Array.from({ length: Math.floor(next() * 4) }, () => randomValue(next, levels - 1))
    case 10: return new Map([[1, 2]])
    default: return Object.fromEntries(Array.from({ length: Math.floor(next() * 4) }, (_, i) => [`k${i}\n`, randomValue(next, levels - 1)]))
  }
}

test('jsonParts: the bytes of JSON.stringify for every kind of value, indented and compact, at any depth', async t => {
  const next = prng(7)
  for (let i = 0; i < 500; i++) {
    const value = { root: randomValue(next, 5), list: [randomValue(next, 4), randomValue(next, 4)] }
    for (const indent of [0, 2, 4]) {
      for (const depth of [0, 1, 3, 10]) {
        const got = Buffer.concat(await jsonParts(value, { indent, depth })).toString()
        t.is(got, JSON.stringify(value, null, indent), `case ${i}, indent ${indent}, depth ${depth}`)
      }
    }
  }
  t.is(Buffer.concat(await jsonParts([])).toString(), '[]')
  t.is(Buffer.concat(await jsonParts({ a: {}, b: [], c: undefined })).toString(), JSON.stringify({ a: {}, b: [] }, null, 2))
  t.is(Buffer.concat(await jsonParts('x')).toString(), '"x"')
  await t.throwsAsync(jsonParts(undefined), { instanceOf: TypeError })
})

test('jsonParts: a large document comes in parts, built over several turns of the event loop, and others run between them', async t => {
  const doc = { listeners: [{ port: 1, backends: Array.from({ length: 20_000 }, (_, i) => ({ id: `b${i}`, address: `127.0.0.1:${i}`, active: i % 7, ejected: null, since: new Stamp(i) })) }] }
  let turns = 0
  const ticker = setInterval(() => { turns++ }, 0)
  const parts = await jsonParts(doc, { depth: 4 })
  clearInterval(ticker)
  t.true(parts.length > 10, `${parts.length} parts`)
  t.true(turns > 1, `timers ran ${turns} times during the build`)
  t.is(Buffer.concat(parts).toString(), JSON.stringify(doc, null, 2))
})

test('PartWriter: text comes back as parts of at least 64 Ki characters, the same bytes, each part whole characters', t => {
  const out = new PartWriter()
  const pieces = Array.from({ length: 5000 }, (_, i) => `piece ${i} \u00e9\u{1F600};`)
  for (const p of pieces) out.add(p)
  const parts = out.finish()
  t.true(parts.length > 1)
  t.true(parts.slice(0, -1).every(p => p.toString().length >= 64 * 1024), 'every part but the last holds at least 64 Ki characters')
  t.is(parts.map(p => p.toString()).join(''), pieces.join(''), 'each part decodes on its own: no character is split')
})

test('jsonParts with an escape: the escaped bytes of JSON.stringify, over many parts (Go\'s <, > and & escapes for /watch)', async t => {
  const doc = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`name<${i}>`, Array.from({ length: 20 }, (_, k) => ({ ID: `${i}&${k}`, Image: 'a<b>\u2028\u2029', Port: k }))]))
  const parts = await jsonParts(doc, { indent: 0, depth: 2, escape: goEscape })
  t.true(parts.length > 3, `several parts (${parts.length})`)
  t.is(Buffer.concat(parts).toString(), goEscape(JSON.stringify(doc)))
  t.false(parts.some(p => /[<>&\u2028\u2029]/.test(p.toString())), 'no part holds an unescaped character')
})
