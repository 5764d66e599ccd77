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
  await t.throwsAsync(parseStaticFile(JSON.stringify(entries), 'static.json', ctx), { message: /entry 2345 \(svc7\) has the ID "s7" of entry 7: IDs must differ/ })
  const same = { Service: { Name: 'twin', Ports: [{ Port: 80 }] } }
  await t.throwsAsync(parseStaticFile(JSON.stringify([same, same]), 'static.json', ctx), { message: /entry 1 \(twin\) duplicates entry 0: same name, host and ports \(give one an "ID"\)/ })
})

const parseOne = async (e: unknown, warn?: (m: string) => void): Promise<Awaited<ReturnType<typeof parseStaticFile>>> => await parseStaticFile(JSON.stringify([e]), 'static.json', { ...ctx, ...(warn !== undefined ? { warn } : {}) })

test('static parse: a key that is not known is refused with the nearest known one; keys match whatever their case, as in the original; a byte order mark is skipped', async t => {
  // a typo would otherwise leave the service with no check, reported ALIVE
  await t.throwsAsync(parseOne({ Service: { Name: 'web', Ports: [{ Port: 80 }] }, Chek: { Type: 'External', Args: 'false' } }), { message: /entry 0: unknown key "Chek" in the entry, did you mean "Check"\? \(known: Service, Check, ListenPort\)/ })
  await t.throwsAsync(parseOne({ Service: { Name: 'web', Prots: [{ Port: 80 }] } }), { message: /entry 0: unknown key "Prots" in Service, did you mean "Ports"\?/ })
  await t.throwsAsync(parseOne({ Service: { Name: 'web' }, Check: { Type: 'External', Arg: 'true' } }), { message: /entry 0 \(web\): unknown key "Arg" in Check, did you mean "Args"\?/ })
  await t.throwsAsync(parseOne({ Service: { Name: 'web', name: 'other' } }), { message: /Service has "Name" twice/ })
  const [d] = await parseOne({ service: { name: 'web', ports: [{ type: 'tcp', port: 80, serviceport: 8080 }], proxymode: 'tcp' }, check: { type: 'External', args: 'true' }, listenport: 9000 })
  t.like(d.service, { Name: 'web', ProxyMode: 'tcp', Ports: [{ Type: 'tcp', Port: 80, ServicePort: 8080, IP: '10.0.0.5' }] })
  t.deepEqual(d.check, { type: 'External', args: 'true' })
  t.is(d.listenerUrl, 'http://10.0.0.5:9000/sidecar/update')
  // the fields of a record copied from /services.json are taken and ignored
  const [copied] = await parseOne({ Service: { ID: 'c1', Name: 'web', Created: '2020-01-01T00:00:00Z', Updated: '2020-01-01T00:00:00Z', Status: 4, Site: 'x' } })
  t.like(copied.service, { ID: 'c1', Status: 3 })
  const bom = await parseStaticFile('\ufeff' + JSON.stringify([{ Service: { Name: 'web' } }]), 'static.json', ctx)
  t.is(bom[0].service.Name, 'web')
})

test('static parse: what peers would refuse is refused here, with the entry named (a long name, too many ports, an IP that is not one)', async t => {
  await t.throwsAsync(parseOne({ Service: { Name: 'n'.repeat(254) } }), { message: /entry 0: Service.Name is 254 characters long, at most 253 allowed/ })
  t.is((await parseOne({ Service: { Name: 'n'.repeat(253) } }))[0].service.Name.length, 253)
  const ports = (n: number): unknown[] => Array.from({ length: n }, (_, i) => ({ Port: 1000 + i }))
  await t.throwsAsync(parseOne({ Service: { Name: 'many', Ports: ports(257) } }), { message: /entry 0 \(many\): 257 ports, at most 256 allowed/ })
  t.is((await parseOne({ Service: { Name: 'many', Ports: ports(256) } }))[0].service.Ports?.length, 256)
  await t.throwsAsync(parseOne({ Service: { Name: 'web', Ports: [{ Port: 80, IP: 'nope' }] } }), { message: /entry 0 \(web\): Service.Ports\[0\].IP must be an IPv4 or IPv6 address, got "nope"/ })
  t.is((await parseOne({ Service: { Name: 'web', Ports: [{ Port: 80, IP: 'fd00::5' }] } }))[0].service.Ports?.[0].IP, 'fd00::5')
  await t.throwsAsync(parseOne({ Service: { Name: 'web', Ports: [{ Port: 70000 }] } }), { message: /Service.Ports\[0\].Port must be from 1 to 65535, got 70000/ })
})

test('static parse: an ID of "." or ".." is refused with the entry named, since no drain URL can name it; other IDs of dots and letters are taken', async t => {
  for (const id of ['.', '..']) {
    const err = await t.throwsAsync(parseOne({ Service: { Name: 'web', ID: id } }), { instanceOf: StaticFileError })
    t.true(err?.message.includes(`entry 0 (web): Service.ID may not be ${JSON.stringify(id)}: /api/services/<id>/drain could not name it`), err?.message)
  }
  for (const id of ['...', '.web', 'web.', 'a..b', '-']) t.is((await parseOne({ Service: { Name: 'web', ID: id } }))[0].service.ID, id)
})

test('static parse: an entry for another host is taken (this host\'s proxy uses it) with one warning per load that says peers will not see it', async t => {
  const warned: string[] = []
  const entries = Array.from({ length: 5 }, (_, i) => ({ Service: { Name: `ext${i}`, Hostname: 'chaucer', Ports: [{ Port: 5432, IP: '10.1.2.3' }] } }))
  const parsed = await parseStaticFile(JSON.stringify([{ Service: { Name: 'own', Hostname: 'me' } }, ...entries]), 'static.json', { ...ctx, warn: (m) => warned.push(m) })
  t.deepEqual(parsed.map(d => d.service.Hostname), ['me', 'chaucer', 'chaucer', 'chaucer', 'chaucer', 'chaucer'])
  t.is(warned.length, 1)
  t.regex(warned[0], /^static.json: 5 entries name another host than this one \("me"\) in Service.Hostname: entry 1 \(ext0\) "chaucer", entry 2 \(ext1\) "chaucer", entry 3 \(ext2\) "chaucer" and 2 more\. /)
  t.regex(warned[0], /no other host will see them/)
  const one: string[] = []
  await parseOne(entries[0], (m) => one.push(m))
  t.deepEqual(one, ['static.json: an entry names another host than this one ("me") in Service.Hostname: entry 0 (ext0) "chaucer". This host\'s proxy and API use it, but peers take a host\'s records from that host only, so no other host will see it (remove Hostname to announce an entry as this host\'s)'])
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

test('static parse: a port IP peers refuse (not the advertised address, not in backend_cidrs) is taken with one warning per load naming the entry, the IP and the fix', async t => {
  const warned: string[] = []
  const file = [
    { Service: { Name: 'plain', Ports: [{ Port: 80 }] } }, // the advertised address
    { Service: { Name: 'same', Ports: [{ Port: 81, IP: '10.0.0.5' }] } },
    { Service: { Name: 'bridge', Ports: [{ Port: 82, IP: '172.17.0.3' }] } }, // inside backend_cidrs
    { Service: { Name: 'lan', Ports: [{ Port: 83, IP: '10.9.0.4' }, { Port: 84, IP: '10.9.0.4' }] } },
    { Service: { Name: 'lo', Ports: [{ Port: 85, IP: '127.0.0.1' }] } },
    { Service: { Name: 'away', Hostname: 'chaucer', Ports: [{ Port: 86, IP: '10.9.0.9' }] } }, // never leaves this host: the foreign warning only
  ]
  const parsed = await parseStaticFile(JSON.stringify(file), 'static.json', { ...ctx, backendCidrs: ['172.17.0.0/16', '127.0.0.0/8'], warn: (m) => warned.push(m) })
  t.is(parsed.length, 6, 'every entry is still taken: this host uses them')
  t.is(warned.length, 2, warned.join('\n'))
  t.regex(warned[0], /another host than this one/)
  t.is(warned[1], 'static.json: 2 port IPs are neither this host\'s advertised address (10.0.0.5) nor inside [sidecar] backend_cidrs: every peer refuses those records (admission reason backend-ip): this host lists them, no other host does. To announce them: add the network of entry 3 (lan) 10.9.0.4 to [sidecar] backend_cidrs (e.g. "10.1.0.0/16"); entry 4 (lo) 127.0.0.1 is a loopback, link-local or unspecified address, which backend_cidrs never admits: give an address peers can reach, or leave IP out to use 10.0.0.5')

  const none: string[] = []
  await parseStaticFile(JSON.stringify(file.slice(0, 3)), 'static.json', { ...ctx, backendCidrs: ['172.17.0.0/16'], warn: (m) => none.push(m) })
  t.deepEqual(none, [], 'the advertised address and an address inside backend_cidrs are admitted by peers')
  const many: string[] = []
  await parseStaticFile(JSON.stringify(Array.from({ length: 5 }, (_, i) => ({ Service: { Name: `n${i}`, Ports: [{ Port: 80, IP: `192.168.1.${i}` }] } }))), 'static.json', { ...ctx, warn: (m) => many.push(m) })
  t.is(many.length, 1)
  t.regex(many[0], /^static.json: 5 port IPs .*: add the network of entry 0 \(n0\) 192.168.1.0, entry 1 \(n1\) 192.168.1.1, entry 2 \(n2\) 192.168.1.2 and 2 more to \[sidecar\] backend_cidrs/)
})
