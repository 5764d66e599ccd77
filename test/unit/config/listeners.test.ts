// [listeners]: webhook tables with filters, secrets, retry settings.
import path from 'node:path'
import test from 'ava'
import { formatConfig } from '../../../src/config/index.ts'
import { hasProblem, load, problems, tmpDir, writeFile } from './helpers.ts'

test('listeners: [[listeners.webhook]] tables give filtered webhooks, left-out keys take their defaults', t => {
  const cwd = tmpDir(t)
  writeFile(cwd, 'sidecar.toml', `
[listeners]
urls = ["http://127.0.0.1:7778/api/update"]
secret = "s3cret"
timeout = "1s"
retries = 2
retry_delay = "50ms"
queue_size = 10
min_interval = "0"

[[listeners.webhook]]
url = "http://127.0.0.1:7779/sidecar/update"
services = ["web", "api"]
status_changes_only = true

[[listeners.webhook]]
url = "https://hooks.example/x"
`)
  const { listeners } = load(t, { cwd }).config
  t.deepEqual(listeners, {
    urls: ['http://127.0.0.1:7778/api/update'],
    webhook: [
      { url: 'http://127.0.0.1:7779/sidecar/update', services: ['web', 'api'], status_changes_only: true },
      { url: 'https://hooks.example/x', services: [], status_changes_only: false },
    ],
    secret: 's3cret',
    timeout: 1000,
    retries: 2,
    retry_delay: 50,
    queue_size: 10,
    min_interval: 0,
  })
})

test('listeners: LISTENERS_WEBHOOK takes a JSON array; empty means none', t => {
  const { config } = load(t, { env: { LISTENERS_WEBHOOK: '[{"url": "http://a/", "services": ["web"]}]', LISTENERS_RETRIES: '0' } })
  t.deepEqual(config.listeners.webhook, [{ url: 'http://a/', services: ['web'], status_changes_only: false }])
  t.is(config.listeners.retries, 0)
  t.deepEqual(load(t, { env: { LISTENERS_WEBHOOK: '' } }).config.listeners.webhook, [])
})

test('listeners: bad webhook tables name the entry, the key and what was expected', t => {
  const cwd = tmpDir(t)
  writeFile(cwd, 'sidecar.toml', `
[[listeners.webhook]]
url = "ftp://x/"
servics = ["web"]

[[listeners.webhook]]
status_changes_only = "yes"
`)
  const list = problems(t, { cwd })
  // each named with its line: the key's, or the entry's [[listeners.webhook]] header for a missing key
  t.true(hasProblem(list, 'sidecar.toml:3: [listeners] webhook: entry 0: url: "ftp://x/" must be an http:// or https:// URL'), list.join('\n'))
  t.true(hasProblem(list, 'sidecar.toml:4: [listeners] webhook: entry 0: unknown key servics, did you mean services?'), list.join('\n'))
  t.true(hasProblem(list, 'sidecar.toml:6: [listeners] webhook: entry 1: missing url'), list.join('\n'))
  t.true(hasProblem(list, 'sidecar.toml:7: [listeners] webhook: entry 1: status_changes_only: expected true or false, got string "yes"'), list.join('\n'))
  t.is(list.length, 4, list.join('\n'))
})

test('listeners: a webhook that is not a table, bad JSON in env and out-of-range numbers are reported', t => {
  const cwd = tmpDir(t)
  writeFile(cwd, 'sidecar.toml', '[listeners]\nwebhook = "http://x/"\nqueue_size = 0\nretries = 21\ntimeout = "0s"\n')
  const list = problems(t, { cwd })
  t.true(hasProblem(list, '[listeners] webhook', 'expected an array of tables', 'got string "http://x/"'), list.join('\n'))
  t.true(hasProblem(list, '[listeners] queue_size', '0 is out of range 1..100000'))
  t.true(hasProblem(list, '[listeners] retries', '21 is out of range 0..20'))
  t.true(hasProblem(list, '[listeners] timeout', 'greater than zero'))
  const env = problems(t, { env: { LISTENERS_WEBHOOK: '{"url": ' } })
  t.true(hasProblem(env, 'env LISTENERS_WEBHOOK', 'expected a JSON array of objects', 'invalid JSON'), env.join('\n'))
  const notArray = problems(t, { env: { LISTENERS_WEBHOOK: '{"url": "http://x/"}' } })
  t.true(hasProblem(notArray, 'env LISTENERS_WEBHOOK', 'got a table'), notArray.join('\n'))
})

test('listeners: one URL in both urls and webhook is an error (it would get every event twice)', t => {
  const list = problems(t, { env: { LISTENERS_URLS: 'http://a/ http://b/', LISTENERS_WEBHOOK: '[{"url": "http://b/"}]' } })
  t.true(hasProblem(list, '"http://b/" is listed twice'), list.join('\n'))
  t.is(list.length, 1)
})

test('listeners: a webhook URL longer than 8,192 characters is an error that quotes only its start', t => {
  const long = `http://hook.example/${'a'.repeat(1024 * 1024)}`
  const list = problems(t, { env: { LISTENERS_URLS: `http://hook.example/ok ${long}`, LISTENERS_WEBHOOK: JSON.stringify([{ url: `http://hook.example/${'b'.repeat(8172)}` }]) } })
  t.true(hasProblem(list, `is ${long.length} characters long: a URL may be at most 8192`), list.join('\n'))
  t.is(list.length, 1, 'a URL of 8,192 characters is taken')
  t.true(list[0].length < 400, `the error quotes the start of the URL only (${list[0].length} characters)`)
})

test('listeners: one URL written two ways (scheme and host case, the default port) is an error too', t => {
  const list = problems(t, { env: { LISTENERS_URLS: 'http://hook.example/x HTTP://Hook.Example:80/x https://hook.example/x' } })
  t.true(hasProblem(list, '"HTTP://Hook.Example:80/x" and "http://hook.example/x" are the same URL, listed twice'), list.join('\n'))
  t.is(list.length, 1, 'https on 443 is another receiver')
})

test('listeners: --check-config redacts a token in a webhook URL\'s user part or query, and keeps the rest', t => {
  const { config } = load(t, { env: { LISTENERS_URLS: 'http://TOKEN1@a/x https://b/y?api_key=TOKEN2&team=ops&token=TOKEN3' } })
  const text = formatConfig(config)
  for (const token of ['TOKEN1', 'TOKEN2', 'TOKEN3']) t.false(text.includes(token), `${token} hidden:\n${text}`)
  t.true(text.includes('http://%3Credacted%3E@a/x'), text)
  t.true(text.includes('https://b/y?api_key=%3Credacted%3E&team=ops&token=%3Credacted%3E'), text)
})

test('listeners: --check-config redacts the secret and URL passwords, and its unredacted output loads back', t => {
  const cwd = tmpDir(t)
  const env = { LISTENERS_SECRET: 'hush', LISTENERS_URLS: 'http://u:pw@b/', LISTENERS_WEBHOOK: '[{"url": "http://a/", "services": ["x"], "status_changes_only": true}]', LISTENERS_TIMEOUT: '1500ms' }
  const { config } = load(t, { cwd, env })
  const text = formatConfig(config)
  t.false(text.includes('hush'))
  t.false(text.includes('pw@'))
  t.true(text.includes('http://u:%3Credacted%3E@b/'))
  t.true(text.includes('secret = "<redacted>"'))
  t.true(text.includes('[[listeners.webhook]]'))
  const file = writeFile(cwd, 'effective.toml', formatConfig(config, { redact: false }))
  t.deepEqual(load(t, { cwd: tmpDir(t), configFile: path.resolve(file) }).config, config)
})
