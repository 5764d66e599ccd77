// data_dir/drains.json as untrusted input: whatever is in it, the daemon starts, keeps the
// good entries, drops the bad ones with one warning, and never blocks on the file. Its writes
// are whole (temporary file renamed over it), and an unwritable data_dir is warned about once.
import test from 'ava'
import { execFileSync } from 'node:child_process'
import { mkdir, mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { Writable } from 'node:stream'
import { createLogger, type Logger } from '../../../src/lib/logger.ts'
import { DRAINS_FILE, DrainsFile, MAX_DRAINS, MAX_DRAINS_FILE_BYTES, parseDrains } from '../../../src/local/drains-file.ts'

function capture (): { logger: Logger, lines: Array<{ level: string, msg: string }> } {
  const lines: Array<{ level: string, msg: string }> = []
  const logger = createLogger({ level: 'info', format: 'json', destination: new Writable({ write (c: Buffer, _e, cb) { lines.push(...c.toString().split('\n').filter(l => l !== '').map(l => JSON.parse(l) as { level: string, msg: string })); cb() } }) })
  return { logger, lines }
}

async function dataDir (t: { teardown: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-drains-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

/** Loads the file holding text (undefined: no file) for host "me": the IDs and the log lines. */
async function loadText (t: { teardown: (fn: () => Promise<void>) => void }, text: string | undefined): Promise<{ ids: string[], lines: Array<{ level: string, msg: string }> }> {
  const dir = await dataDir(t)
  if (text !== undefined) await writeFile(path.join(dir, DRAINS_FILE), text)
  const { logger, lines } = capture()
  const ids = await new DrainsFile({ logger }, { dataDir: dir, hostname: 'me' }).load()
  await new Promise(resolve => setImmediate(resolve))
  return { ids, lines }
}

const warnings = (lines: Array<{ level: string, msg: string }>): string[] => lines.filter(l => l.level === 'warn').map(l => l.msg)

test('drains file: a good file gives its IDs in order, each once', t => {
  t.deepEqual(parseDrains(JSON.stringify({ version: 1, drained: { me: ['a', 'b.c', 'x-1'] } }), 'me'), { ids: ['a', 'b.c', 'x-1'], problems: [], unusable: false })
  t.deepEqual(parseDrains(JSON.stringify({ version: 1, drained: {} }), 'me'), { ids: [], problems: [], unusable: false })
})

test('drains file: malformed JSON and wrong shapes are unusable, with the reason, and never throw', t => {
  const cases: Array<[string, RegExp]> = [
    ['{"version": 1, "drained": {"me": ["a"', /not JSON/],
    ['', /not JSON/],
    ['null', /not a JSON object/],
    ['[["a"]]', /not a JSON object/],
    ['"me"', /not a JSON object/],
    [JSON.stringify({ drained: { me: ['a'] } }), /version missing, not 1/],
    [JSON.stringify({ version: 2, drained: { me: ['a'] } }), /version 2, not 1/],
    [JSON.stringify({ version: '1', drained: { me: ['a'] } }), /version "1", not 1/],
    [JSON.stringify({ version: 1 }), /"drained" is not an object/],
    [JSON.stringify({ version: 1, drained: ['a'] }), /"drained" is not an object/],
    [JSON.stringify({ version: 1, drained: { me: 'a' } }), /drains of me are not a list/],
    [JSON.stringify({ version: 1, drained: { me: { 0: 'a' } } }), /drains of me are not a list/],
  ]
  for (const [text, why] of cases) {
    const r = parseDrains(text, 'me')
    t.deepEqual(r.ids, [], text)
    t.true(r.unusable, text)
    t.regex(r.problems.join('; '), why, text)
  }
})

test('drains file: bad entries, duplicates and other hosts\' drains are dropped and named; the good ones kept', t => {
  // written out: an object literal's "__proto__" would set its prototype, not a key
  const r = parseDrains(`{"version": 1, "drained": {"me": ["a", 7, null, "", "${'x'.repeat(257)}", {"id": "b"}, "a", "b"], "other-host": ["c"], "__proto__": ["d"]}}`, 'me')
  t.deepEqual(r.ids, ['a', 'b'])
  t.false(r.unusable)
  t.regex(r.problems.join('; '), /drains of 2 other hosts \("other-host", "__proto__"\), not this host me/)
  t.regex(r.problems.join('; '), /5 entries that are not an ID/)
  t.regex(r.problems.join('; '), /1 duplicate\b/)
  t.deepEqual(parseDrains('{"version": 1, "drained": {"__proto__": ["a"]}}', '__proto__').ids, ['a'], 'a hostname that is an Object property name is a hostname')
  t.deepEqual(parseDrains('{"version": 1, "drained": {"other": ["a"]}}', 'toString').ids, [], 'and no inherited property is taken for one')
})

test('drains file: thousands of entries are kept up to MAX_DRAINS, the rest dropped and counted', t => {
  const ids = Array.from({ length: MAX_DRAINS + 2500 }, (_, i) => `id${i}`)
  const r = parseDrains(JSON.stringify({ version: 1, drained: { me: ids } }), 'me')
  t.is(r.ids.length, MAX_DRAINS)
  t.deepEqual(r.ids.slice(0, 2), ['id0', 'id1'])
  t.regex(r.problems.join('; '), new RegExp(`2500 past the ${MAX_DRAINS} drains kept at most`))
})

test('drains file: load takes the good entries with one warning naming what was dropped', async t => {
  const { ids, lines } = await loadText(t, JSON.stringify({ version: 1, drained: { me: ['a', 42], elsewhere: ['b'] } }))
  t.deepEqual(ids, ['a'])
  const w = warnings(lines)
  t.is(w.length, 1)
  t.regex(w[0], /drains\.json: dropped drains of another host \("elsewhere"\), not this host me; 1 entry that is not an ID .*; kept 1 drain of this host/)
})

test('drains file: load of a missing file is no drain and no warning; of an unusable one, no drain and one warning', async t => {
  const missing = await loadText(t, undefined)
  t.deepEqual(missing.ids, [])
  t.deepEqual(warnings(missing.lines), [])
  const broken = await loadText(t, '{"version": 1, "drained": {"me": [')
  t.deepEqual(broken.ids, [])
  t.is(warnings(broken.lines).length, 1)
  t.regex(warnings(broken.lines)[0], /drains\.json is not a drains file \(not JSON .*\): drains of an earlier run not applied; it is replaced at the next drain or undrain/)
})

test('drains file: a huge file, a directory or a FIFO in its place is not read: no drain, one warning, no hang', async t => {
  const dir = await dataDir(t)
  const file = path.join(dir, DRAINS_FILE)
  const load = async (): Promise<{ ids: string[], w: string[] }> => {
    const { logger, lines } = capture()
    const ids = await new DrainsFile({ logger }, { dataDir: dir, hostname: 'me' }).load()
    await new Promise(resolve => setImmediate(resolve))
    return { ids, w: warnings(lines) }
  }
  await writeFile(file, '')
  await truncate(file, MAX_DRAINS_FILE_BYTES + 1) // sparse: no 8 MB written
  let r = await load()
  t.deepEqual(r.ids, [])
  t.is(r.w.length, 1)
  t.regex(r.w[0], new RegExp(`drains of an earlier run not applied: data_dir .*drains\\.json is ${MAX_DRAINS_FILE_BYTES + 1} bytes, more than the ${MAX_DRAINS_FILE_BYTES}`))
  await rm(file)
  await mkdir(file)
  r = await load()
  t.deepEqual(r.ids, [])
  t.regex(r.w.join('\n'), /drains\.json is a directory, not a regular file/)
  await rm(file, { recursive: true })
  execFileSync('mkfifo', [file])
  r = await load() // no writer ever opens it: a blocking read would wait for good
  t.deepEqual(r.ids, [])
  t.regex(r.w.join('\n'), /drains\.json is a FIFO \(named pipe\), not a regular file/)
})

test('drains file: save writes the file whole and leaves no temporary file; saves in a row are written in order, the last one winning', async t => {
  const dir = path.join(await dataDir(t), 'not-yet')
  const { logger, lines } = capture()
  const f = new DrainsFile({ logger }, { dataDir: dir, hostname: 'me' })
  f.save(['a'])
  f.save(['a', 'b'])
  f.save(['b'])
  await f.flush()
  t.deepEqual(JSON.parse(await readFile(path.join(dir, DRAINS_FILE), 'utf8')), { version: 1, drained: { me: ['b'] } })
  t.deepEqual(await readdir(dir), [DRAINS_FILE])
  t.deepEqual(await new DrainsFile({ logger }, { dataDir: dir, hostname: 'me' }).load(), ['b'])
  f.save([])
  await f.flush()
  t.deepEqual(await new DrainsFile({ logger }, { dataDir: dir, hostname: 'me' }).load(), [])
  t.deepEqual(warnings(lines), [])
})

test('drains file: an unwritable data_dir is warned about once, however many saves fail; a later success says so', async t => {
  const root = await dataDir(t)
  const blocker = path.join(root, 'file')
  await writeFile(blocker, 'not a directory')
  const { logger, lines } = capture()
  const f = new DrainsFile({ logger }, { dataDir: path.join(blocker, 'data'), hostname: 'me' })
  for (let i = 0; i < 5; i++) {
    f.save([`id${i}`])
    await f.flush()
  }
  await new Promise(resolve => setImmediate(resolve))
  const w = warnings(lines)
  t.is(w.length, 1)
  t.regex(w[0], /cannot keep drains in .*drains\.json \(ENOTDIR\): they hold in memory, but a restart of the daemon forgets them and announces the drained instances ALIVE again; make \[sidecar\] data_dir writable/)
  await rm(blocker)
  f.save(['id9'])
  await f.flush()
  await new Promise(resolve => setImmediate(resolve))
  t.true(lines.some(l => l.level === 'info' && /drains are kept in .*drains\.json again \(1\)/.test(l.msg)))
})

test('drains file: more than MAX_DRAINS drained keeps the first MAX_DRAINS in the file, with one warning', async t => {
  const dir = await dataDir(t)
  const { logger, lines } = capture()
  const f = new DrainsFile({ logger }, { dataDir: dir, hostname: 'me' })
  const ids = Array.from({ length: MAX_DRAINS + 3 }, (_, i) => `id${i}`)
  f.save(ids)
  f.save(ids)
  await f.flush()
  t.is((await new DrainsFile({ logger }, { dataDir: dir, hostname: 'me' }).load()).length, MAX_DRAINS)
  await new Promise(resolve => setImmediate(resolve))
  t.is(warnings(lines).length, 1)
  t.regex(warnings(lines)[0], new RegExp(`${MAX_DRAINS + 3} instances drained: the first ${MAX_DRAINS} are kept`))
})
