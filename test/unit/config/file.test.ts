import path from 'node:path'
import test from 'ava'
import { hasProblem, load, problems, tmpDir, writeFile } from './helpers.ts'
import { syntaxHint } from '../../../src/config/file.ts'
import { prng } from '../../helpers/prng.ts'

test('file: ./sidecar.toml is read when it exists and no file is named', t => {
  const cwd = tmpDir(t)
  writeFile(cwd, 'sidecar.toml', '[sidecar]\ncluster_name = "found"\n')
  const { config, file } = load(t, { cwd })
  t.is(file, path.join(cwd, 'sidecar.toml'))
  t.is(config.sidecar.cluster_name, 'found')
})

test('file: -f names the file, which must exist', t => {
  const cwd = tmpDir(t)
  writeFile(cwd, 'sidecar.toml', '[sidecar]\ncluster_name = "default-file"\n')
  writeFile(cwd, 'other.toml', '[sidecar]\ncluster_name = "named"\n')
  t.is(load(t, { cwd, configFile: 'other.toml' }).config.sidecar.cluster_name, 'named')
  const list = problems(t, { cwd, configFile: 'missing.toml' })
  t.deepEqual(list, ['config file missing.toml (from --config-file): file not found'])
})

test('file: SIDECAR_CONFIG_FILE names the file when -f does not; -f wins', t => {
  const cwd = tmpDir(t)
  writeFile(cwd, 'a.toml', '[sidecar]\ncluster_name = "a"\n')
  writeFile(cwd, 'b.toml', '[sidecar]\ncluster_name = "b"\n')
  t.is(load(t, { cwd, env: { SIDECAR_CONFIG_FILE: 'a.toml' } }).config.sidecar.cluster_name, 'a')
  t.is(load(t, { cwd, configFile: 'b.toml', env: { SIDECAR_CONFIG_FILE: 'a.toml' } }).config.sidecar.cluster_name, 'b')
  t.true(hasProblem(problems(t, { cwd, env: { SIDECAR_CONFIG_FILE: 'nope.toml' } }), 'nope.toml (from SIDECAR_CONFIG_FILE): file not found'))
})

test('file: an empty -f or SIDECAR_CONFIG_FILE means no file, not even ./sidecar.toml', t => {
  const cwd = tmpDir(t)
  writeFile(cwd, 'sidecar.toml', '[sidecar]\ncluster_name = "found"\n')
  t.is(load(t, { cwd, configFile: '' }).file, undefined)
  t.is(load(t, { cwd, env: { SIDECAR_CONFIG_FILE: '' } }).config.sidecar.cluster_name, 'default')
})

test('file: a TOML syntax error names the line and column', t => {
  const cwd = tmpDir(t)
  writeFile(cwd, 'sidecar.toml', '[sidecar]\ncluster_name = \n')
  const list = problems(t, { cwd })
  t.is(list.length, 1)
  t.regex(list[0], /^sidecar\.toml:2:\d+: TOML syntax error: /)
})

test('file: a TOML syntax error from a usual slip says how to write it', t => {
  const cwd = tmpDir(t)
  const says = (toml: string): string => {
    writeFile(cwd, 'sidecar.toml', toml)
    const list = problems(t, { cwd })
    t.is(list.length, 1, list.join('\n'))
    return list[0]
  }
  t.regex(says('[sidecar]\ncluster_name = prod\n'), /^sidecar\.toml:2:\d+: TOML syntax error: .*; a string needs quotes: cluster_name = "prod"$/)
  t.regex(says('[sidecar]\nseeds = [10.0.0.1, 10.0.0.2:7946]\n'), /^sidecar\.toml:2:\d+: .*; strings in a list need quotes: seeds = \["10\.0\.0\.1", "10\.0\.0\.2:7946"\]$/)
  t.regex(says('[sidecar\nhostname = "a"\n'), /^sidecar\.toml:1:\d+: .*; a section header is closed with "\]": \[sidecar\]$/)
  t.regex(says('[sidecar]\nbind_ip: "127.0.0.1"\n'), /^sidecar\.toml:2:\d+: .*; a key is set with "=", not ":": bind_ip = "127\.0\.0\.1"$/)
  t.regex(says('[health]\ninterval = 3s\n'), /^sidecar\.toml:2:\d+: .*; a duration is a string: interval = "3s"$/)
})

test('file: problems in the file do not hide problems in env', t => {
  const cwd = tmpDir(t)
  writeFile(cwd, 'sidecar.toml', '[sidecar\n')
  const list = problems(t, { cwd, env: { API_PORT: 'x' } })
  t.true(hasProblem(list, 'TOML syntax error'))
  t.true(hasProblem(list, 'env API_PORT'))
})

test('file: unknown sections and keys are named with the nearest valid name', t => {
  const cwd = tmpDir(t)
  writeFile(cwd, 'sidecar.toml', `
cluster_name = "top"
something = 1
[sidecarr]
x = 1
[haproxy]
bind_ip = "1.2.3.4"
[sidecar]
port = 7777
wibble = true
[health]
intervall = "3s"
`)
  const list = problems(t, { cwd })
  t.true(hasProblem(list, 'key cluster_name is outside any section, did you mean [sidecar] cluster_name?'))
  t.true(hasProblem(list, 'unknown top-level key something'))
  t.true(hasProblem(list, 'unknown section [sidecarr], did you mean [sidecar]?'))
  t.true(hasProblem(list, 'unknown section [haproxy]', 'sections: [sidecar], [api]'))
  t.true(hasProblem(list, 'unknown key [sidecar] port, did you mean [api] port?'))
  t.true(hasProblem(list, 'unknown key [sidecar] wibble (keys of [sidecar]: hostname, cluster_name'))
  t.true(hasProblem(list, 'unknown key [health] intervall, did you mean interval?'))
  t.is(list.length, 7)
  t.true(list.every((p) => /^sidecar\.toml:\d+: /.test(p)), list.join('\n'))
})

test('file: a section that is not a table is a problem', t => {
  const cwd = tmpDir(t)
  writeFile(cwd, 'sidecar.toml', 'api = 5\n[[health]]\ninterval = "3s"\n')
  const list = problems(t, { cwd })
  t.true(hasProblem(list, '[api] must be a table'))
  t.true(hasProblem(list, '[health] must be a table'))
})

test('file: a file outside the working directory is named by its absolute path', t => {
  const dir = tmpDir(t)
  const file = writeFile(dir, 'x.toml', '[api]\nport = 0\n')
  const list = problems(t, { cwd: tmpDir(t), configFile: file })
  t.deepEqual(list, [`${file}:2: [api] port: 0 is out of range 1..65535`])
})

// The hint's rules before they were scans: the reference for what a line is told, not for time.
function oldSyntaxHint (line: string): string {
  const text = line.replace(/\s+#.*$/, '').trim()
  if (/^\[[^\]]*$/.test(text)) return `; a section header is closed with "]": [${text.slice(1).trim()}]`
  const colon = /^([A-Za-z0-9_-]+)\s*:\s*(.*)$/.exec(text)
  if (colon !== null) return `; a key is set with "=", not ":": ${colon[1]} = ${colon[2]}`
  const m = /^([A-Za-z0-9_-]+)\s*=\s*(.+)$/.exec(text)
  if (m === null) return ''
  const [, key, value] = m
  if (/^\[[^"'\]]*[^\s\d"',\][^"'\]]*\]$/.test(value)) {
    const items = value.slice(1, -1).split(',').map(v => v.trim()).filter(v => v !== '')
    return `; strings in a list need quotes: ${key} = [${items.map(v => JSON.stringify(v)).join(', ')}]`
  }
  if (/^\d+(ms|s|m|h)$/.test(value)) return `; a duration is a string: ${key} = "${value}"`
  if (/^[^"'[{\d+-]/.test(value) && !/^(true|false|inf|nan)$/.test(value)) return `; a string needs quotes: ${key} = ${JSON.stringify(value)}`
  return ''
}

test('file: a syntax error\'s hint reads a line as its regular expressions did, on 100,000 random lines', t => {
  const pieces = ['k', 'key_1', '-', '=', ':', ' ', '\t', '\r', '\u2028', '\u00a0', '#', ' #', '[', ']', ',', '"', "'", '1', '20s', 'x', 'true', '{', '+', '.']
  const random = prng(5)
  const differ: string[] = []
  for (let i = 0; i < 100_000; i++) {
    let line = ['', 'k = ', 'k = [', 'k: '][Math.floor(random() * 4)] // most start as a key would, to reach every hint
    for (let n = 1 + Math.floor(random() * 12); n > 0; n--) line += pieces[Math.floor(random() * pieces.length)]
    if (random() < 0.25) line += ']'
    if (syntaxHint(line) !== oldSyntaxHint(line)) differ.push(JSON.stringify(line))
  }
  t.deepEqual(differ.slice(0, 5), [], `${differ.length} lines read otherwise`)
  t.is(syntaxHint('seeds = [a, b] # the peers'), '; strings in a list need quotes: seeds = ["a", "b"]', 'and the hints themselves')
  t.is(syntaxHint('interval: 5s'), '; a key is set with "=", not ":": interval = 5s')
})

// Before, a 64 KiB line held startup 3-6 s in a rule that backtracked in quadratic time.
test('file: a syntax error\'s hint for a 64 KiB line built to make a backtracking matcher slow comes at once', t => {
  const n = 64 * 1024
  const hostile = {
    'spaces and no comment': `a${' '.repeat(n)}x`,
    'a colon and tabs': `-:${'\t'.repeat(n)}:\r`,
    'an equals sign and tabs': `-=${'\t'.repeat(n)}\r`,
    'an unclosed list': `k = [${'a'.repeat(n)}\t`,
    'comment marks and a line end': `${' #'.repeat(n / 2)}\r`,
  }
  for (const [what, line] of Object.entries(hostile)) {
    const started = performance.now()
    syntaxHint(line)
    const ms = performance.now() - started
    t.true(ms < 200, `${what}: ${ms.toFixed(0)} ms`) // generous for a loaded machine: the scans take about 1 ms
  }
})
