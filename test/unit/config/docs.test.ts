// The shipped example config and the docs must keep up with the schema.
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import test from 'ava'
import { parse } from 'smol-toml'
import { formatConfig } from '../../../src/config/index.ts'
import { allKeys, envName, SECTIONS } from '../../../src/config/schema.ts'
import { load, tmpDir, writeFile } from './helpers.ts'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')
const EXAMPLE = path.join(ROOT, 'sidecar.example.toml')

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
  for (const [section, key] of allKeys()) t.true(Object.hasOwn(doc[section], key), `[${section}] ${key}`)
  t.is(Object.values(doc).reduce((n, s) => n + Object.keys(s).length, 0), allKeys().length)
})

test('sidecar.example.toml holds the defaults, except the static discovery it demonstrates', t => {
  const cwd = tmpDir(t)
  const example = load(t, { cwd: ROOT, configFile: 'sidecar.example.toml' }).config
  const defaults = load(t, { cwd }).config
  t.deepEqual({ ...example, static_discovery: defaults.static_discovery, sidecar: { ...example.sidecar, discovery: defaults.sidecar.discovery } }, defaults)
})

test('docs/configuration.md names every key and its environment variable', t => {
  const docs = fs.readFileSync(path.join(ROOT, 'docs', 'configuration.md'), 'utf8')
  for (const section of SECTIONS) t.true(docs.includes(`### [${section}]`), `section ${section}`)
  for (const [section, key] of allKeys()) {
    t.true(docs.includes(`| \`${key}\` | \`${envName(section, key)}\` |`), `[${section}] ${key}`)
  }
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
