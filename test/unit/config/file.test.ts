import path from 'node:path'
import test from 'ava'
import { hasProblem, load, problems, tmpDir, writeFile } from './helpers.ts'

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
