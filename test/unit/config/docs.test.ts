// The shipped example config and the docs must keep up with the schema.
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import test from 'ava'
import { parse } from 'smol-toml'
import { DEFAULTS, formatConfig } from '../../../src/config/index.ts'
import { allKeys, envName, SECTIONS } from '../../../src/config/schema.ts'
import { BEGIN, configReference, END } from '../../../scripts/config-reference.ts'
import { LABEL } from '../../../src/discovery/docker/labels.ts'
import { load, tmpDir, writeFile } from './helpers.ts'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')
const EXAMPLE = path.join(ROOT, 'sidecar.example.toml')
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8')
const CONFIG_DOC = fs.readFileSync(path.join(ROOT, 'docs', 'configuration.md'), 'utf8')

/** "[section] key" of every table row `| \`key\` | \`ENV\` |` under a heading `#... [section]` of markdown. */
function documentedKeys (markdown: string): Map<string, string> {
  const out = new Map<string, string>() // "[section] key" -> its env var as documented
  let section: string | undefined
  for (const line of markdown.split('\n')) {
    const h = /^#{2,4} \[([a-z_]+)\]\s*$/.exec(line)
    if (h !== null) { section = h[1]; continue }
    if (/^#{1,4} /.test(line)) { section = undefined; continue }
    const row = /^\| `([a-z_0-9]+)` \| `([A-Z_0-9]+)` \|/.exec(line)
    if (row !== null && section !== undefined) out.set(`[${section}] ${row[1]}`, row[2])
  }
  return out
}

const SCHEMA_KEYS = new Map(allKeys().map(([s, k]) => [`[${s}] ${k}`, envName(s, k)]))

/** Every schema key missing from (or documented with another env var in) a document, and every documented key the schema lacks. */
function compare (doc: Map<string, string>): { missing: string[], unknown: string[], wrongEnv: string[] } {
  return {
    missing: [...SCHEMA_KEYS.keys()].filter(k => !doc.has(k)),
    unknown: [...doc.keys()].filter(k => !SCHEMA_KEYS.has(k)),
    wrongEnv: [...doc].filter(([k, env]) => SCHEMA_KEYS.has(k) && SCHEMA_KEYS.get(k) !== env).map(([k, env]) => `${k}: documented ${env}, is ${SCHEMA_KEYS.get(k)}`),
  }
}

function readmeBlock (): string {
  const a = README.indexOf(BEGIN)
  const b = README.indexOf(END)
  return a >= 0 && b > a ? README.slice(a + BEGIN.length, b).trim() : ''
}

test('sidecar.example.toml loads with no problems as a one-node static config', t => {
  const { config, file, warnings } = load(t, { cwd: ROOT, configFile: 'sidecar.example.toml' })
  t.is(file, EXAMPLE)
  t.deepEqual(warnings, [])
  t.deepEqual(config.sidecar.discovery, ['static'])
  t.deepEqual(config.sidecar.seeds, [])
  t.is(config.static_discovery.config_file, path.join(ROOT, 'static.example.json'))
})

test('sidecar.example.toml sets every schema key, and nothing else', t => {
  const doc = parse(fs.readFileSync(EXAMPLE, 'utf8')) as Record<string, Record<string, unknown>>
  t.deepEqual(Object.keys(doc), SECTIONS)
  const set = new Set(Object.entries(doc).flatMap(([s, keys]) => Object.keys(keys).map(k => `[${s}] ${k}`)))
  t.deepEqual([...SCHEMA_KEYS.keys()].filter(k => !set.has(k)), [], 'keys of the schema missing from sidecar.example.toml')
  t.deepEqual([...set].filter(k => !SCHEMA_KEYS.has(k)), [], 'keys in sidecar.example.toml that the schema does not have')
})

test('README.md: the configuration reference documents every schema key, with its env var, and no unknown key', t => {
  const block = readmeBlock()
  t.not(block, '', `README.md lacks the configuration reference markers (${BEGIN} ... ${END})`)
  const { missing, unknown, wrongEnv } = compare(documentedKeys(block))
  t.deepEqual(missing, [], 'keys of the schema missing from README.md\'s configuration reference (run `npm run docs:config`)')
  t.deepEqual(unknown, [], 'keys in README.md\'s configuration reference that the schema does not have (run `npm run docs:config`)')
  t.deepEqual(wrongEnv, [], 'env vars in README.md\'s configuration reference that differ from the schema\'s')
})

test('README.md: the configuration reference is what the schema generates (defaults, flags and meanings too)', t => {
  const want = configReference().split('\n')
  const have = readmeBlock().split('\n')
  const differ = want.filter(l => !have.includes(l)).map(l => `README.md lacks or differs: ${l}`)
  t.deepEqual(differ, [], 'run `npm run docs:config` to regenerate README.md\'s configuration reference')
  t.is(have.length, want.length, 'run `npm run docs:config`: the README block has lines the schema does not generate')
})

test('docs/configuration.md: its key tables document every schema key, with its env var, and no unknown key', t => {
  const { missing, unknown, wrongEnv } = compare(documentedKeys(CONFIG_DOC))
  t.deepEqual(missing, [], 'keys of the schema missing from docs/configuration.md\'s "### [section]" tables')
  t.deepEqual(unknown, [], 'keys in docs/configuration.md\'s tables that the schema does not have')
  t.deepEqual(wrongEnv, [], 'env vars in docs/configuration.md that differ from the schema\'s')
})

test('docs check: a key missing from a document, or unknown to the schema, is named (the check can fail)', t => {
  const full = configReference()
  const dropped = full.split('\n').filter(l => !l.startsWith('| `timeout` | `HEALTH_TIMEOUT`')).join('\n') + '\n#### [health]\n| `jitter` | `HEALTH_JITTER` | | | |\n'
  const r = compare(documentedKeys(dropped))
  t.deepEqual(r.missing, ['[health] timeout'])
  t.deepEqual(r.unknown, ['[health] jitter'])
})

test('sidecar.example.toml holds the defaults, except the static discovery it demonstrates', t => {
  const cwd = tmpDir(t)
  const example = load(t, { cwd: ROOT, configFile: 'sidecar.example.toml' }).config
  const defaults = load(t, { cwd }).config
  t.deepEqual({ ...example, static_discovery: defaults.static_discovery, sidecar: { ...example.sidecar, discovery: defaults.sidecar.discovery } }, defaults)
})

test('docs/configuration.md has a table for every section', t => {
  t.deepEqual(SECTIONS.filter(s => !CONFIG_DOC.includes(`### [${s}]`)), [], 'sections missing from docs/configuration.md')
})

test('formatConfig: writes every section and key, durations as strings', t => {
  const text = formatConfig(load(t).config)
  const doc = parse(text) as Record<string, Record<string, unknown>>
  t.deepEqual(Object.keys(doc), SECTIONS)
  for (const [section, key] of allKeys()) t.true(Object.hasOwn(doc[section], key), `[${section}] ${key}`)
  t.is(doc.sidecar.push_pull_interval, '20s')
  t.is(doc.sidecar.alive_lifespan, '1m20s')
  t.is(doc.health.timeout, '2s')
})

test('formatConfig: the output loads back to the same configuration', t => {
  const cwd = tmpDir(t)
  const first = load(t, { cwd, env: { HEALTH_INTERVAL: '1m30s', SIDECAR_SEEDS: 'a,b:1', SIDECAR_SITE: 'dc1', LISTENERS_URLS: 'http://x/' } }).config
  writeFile(cwd, 'effective.toml', formatConfig(first))
  t.deepEqual(load(t, { cwd: tmpDir(t), configFile: path.join(cwd, 'effective.toml') }).config, first)
})

test('formatConfig: the API token is redacted unless asked not to', t => {
  const { config } = load(t, { env: { API_TOKEN: 'tok-s3cret' } })
  t.false(formatConfig(config).includes('tok-s3cret'))
  t.true(formatConfig(config).includes('token = "<redacted>"'))
  t.true(formatConfig(config, { redact: false }).includes('token = "tok-s3cret"'))
})

test('formatConfig: a cluster key is redacted unless asked not to', t => {
  const { config } = load(t, { env: { SIDECAR_CLUSTER_KEY: 's3cret' } })
  t.false(formatConfig(config).includes('s3cret'))
  t.true(formatConfig(config).includes('cluster_key = "<redacted>"'))
  t.true(formatConfig(config, { redact: false }).includes('cluster_key = "s3cret"'))
})

test('README.md: the label reference has a row for every container label discovery reads', t => {
  const names = [DEFAULTS.services.name_label, ...Object.values(LABEL).map(l => l.endsWith('_') ? `${l}<containerPort>` : l)]
  t.deepEqual(names.filter(n => !README.includes(`| \`${n}=`)), [], 'labels missing from README.md\'s label reference')
})
