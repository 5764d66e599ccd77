import test from 'ava'
import { parseCliArgs, usage } from '../../../src/cli/args.ts'
import { FLAGS } from '../../../src/cli/usage.ts'
import { loadConfig } from '../../../src/config/index.ts'
import { allKeys, envName, specOf } from '../../../src/config/schema.ts'
import { ConfigError } from '../../../src/lib/errors.ts'

function cliProblems (argv: string[]): readonly string[] {
  try {
    parseCliArgs(argv)
  } catch (err) {
    if (err instanceof ConfigError) return err.problems
    throw err
  }
  return []
}

test('args: no arguments means run with no overrides', t => {
  t.deepEqual(parseCliArgs([]), { help: false, version: false, checkConfig: false, overrides: {}, typedFlags: {} })
})

test('args: each config flag sets its key, long or short, with a space or "="', t => {
  const r = parseCliArgs([
    '-n', 'prod', '-a', '10.0.0.5', '-l', 'debug', '--hostname', 'web-1', '--bind-ip=127.0.0.2',
    '--http-port', '8080', '--bind-port=8000', '-f', 'conf.toml',
  ])
  t.is(r.configFile, 'conf.toml')
  t.deepEqual(r.overrides, {
    sidecar: { cluster_name: 'prod', advertise_ip: '10.0.0.5', logging_level: 'debug', hostname: 'web-1', bind_ip: '127.0.0.2', bind_port: '8000' },
    api: { port: '8080' },
  })
})

test('args: --cluster-ip and --discover are repeatable and collect every value', t => {
  const r = parseCliArgs(['-c', '10.0.0.1', '--cluster-ip', '10.0.0.2:7946', '-c10.0.0.3', '-d', 'static', '--discover=docker'])
  t.deepEqual(r.overrides.sidecar, { seeds: ['10.0.0.1', '10.0.0.2:7946', '10.0.0.3'], discovery: ['static', 'docker'] })
})

test('args: a repeated single-value flag keeps the last value', t => {
  t.deepEqual(parseCliArgs(['-n', 'a', '-n', 'b']).overrides, { sidecar: { cluster_name: 'b' } })
})

test('args: --help, --version and --check-config are switches', t => {
  t.true(parseCliArgs(['-h']).help)
  t.true(parseCliArgs(['--help']).help)
  t.true(parseCliArgs(['--version']).version)
  t.true(parseCliArgs(['--check-config']).checkConfig)
})

test('args: an unknown flag is named with the nearest known flag', t => {
  t.deepEqual(cliProblems(['--clustr-ip', '10.0.0.1']), ['unknown flag --clustr-ip, did you mean --cluster-ip?'])
  t.deepEqual(cliProblems(['--http_port=1']), ['unknown flag --http_port, did you mean --http-port?'])
  t.true(cliProblems(['--frobnicate'])[0].startsWith('unknown flag --frobnicate (see --help)'))
  t.true(cliProblems(['-x'])[0].startsWith('unknown flag -x (short flags: -f -n -c -a -d -l -h'))
})

test('args: a flag without its value is named', t => {
  t.deepEqual(cliProblems(['--http-port']), ['flag --http-port needs a value: --http-port PORT'])
  // named as typed: the user wrote -c, not --cluster-ip
  t.deepEqual(cliProblems(['-c']), ['flag -c (--cluster-ip) needs a value: -c HOST[:PORT]'])
  t.true(cliProblems(['-f', '-d', 'static'])[0].startsWith('flag -f (--config-file) needs a value, got the flag -d (write --config-file=VALUE'), cliProblems(['-f', '-d', 'static'])[0])
  t.true(cliProblems(['--http-port', '--check-config'])[0].startsWith('flag --http-port needs a value, got the flag --check-config'))
})

test('args: a switch given a value and a stray argument are problems', t => {
  t.deepEqual(cliProblems(['--help=yes']), ['flag --help takes no value, got "yes"'])
  t.deepEqual(cliProblems(['run']), ['unexpected argument "run" (flags take the form --name VALUE)'])
})

test('args: every bad argument is reported in one ConfigError', t => {
  const err = t.throws(() => parseCliArgs(['--clustr-ip', 'x', '-q', 'stray', '--version=1', '--http-port']), { instanceOf: ConfigError })
  t.is(err?.problems.length, 4)
})

test('args: flag values are checked by loadConfig, together with other sources', t => {
  const { overrides, typedFlags } = parseCliArgs(['--http-port', '99999', '-d', 'dokcer', '-c', 'a:b'])
  const err = t.throws(() => loadConfig({ env: { HEALTH_FALL: '0' }, overrides, typedFlags, cwd: '/nonexistent-dir-for-test', interfaces: {}, osHostname: 'h', homedir: '/h' }), { instanceOf: ConfigError })
  const list = err?.problems ?? []
  t.true(list.some((p) => p.startsWith('--http-port ([api] port): 99999 is out of range 1..65535')))
  // a short flag is named as typed, its long name beside it
  t.true(list.some((p) => p.startsWith('-d (--discover, [sidecar] discovery): invalid value "dokcer"') && p.includes('did you mean docker?')), list.join('\n'))
  t.true(list.some((p) => p.startsWith('-c (--cluster-ip, [sidecar] seeds): seed "a:b"')), list.join('\n'))
  t.true(list.some((p) => p.startsWith('env HEALTH_FALL')))
  t.is(list.length, 4)
})

test('args: flags override env and replace whole lists', t => {
  const { overrides } = parseCliArgs(['-c', '10.0.0.7', '-d', 'docker', '-n', 'flagged'])
  const env = { SIDECAR_SEEDS: '10.0.0.1,10.0.0.2', SIDECAR_DISCOVERY: 'static', SIDECAR_CLUSTER_NAME: 'env' }
  const { config } = loadConfig({ env, overrides, cwd: '/nonexistent-dir-for-test', interfaces: {}, osHostname: 'h', homedir: '/h' })
  t.deepEqual(config.sidecar.seeds, ['10.0.0.7'])
  t.deepEqual(config.sidecar.discovery, ['docker'])
  t.is(config.sidecar.cluster_name, 'flagged')
})

test('usage: mentions every flag, with its env var and default', t => {
  const text = usage().replace(/\s+/g, ' ') // wrapped lines read as one
  const required = ['-c, --cluster-ip', '-f, --config-file', '-n, --cluster-name', '-a, --advertise-ip', '-d, --discover',
    '-l, --logging-level', '--hostname', '--bind-ip', '--http-port', '--bind-port', '--check-config', '--version', '-h, --help']
  for (const flag of required) t.true(text.includes(flag), flag)
  for (const f of FLAGS) {
    t.true(text.includes(`--${f.long}`), f.long)
    if (f.env !== undefined) t.true(text.includes(`env ${f.env}`), `${f.long} env`)
    if (f.target !== undefined) t.true(text.includes(`default: ${f.defaultText ?? ''}`), `${f.long} default`)
  }
  t.true(text.includes('env SIDECAR_CONFIG_FILE'))
  // keys without a flag: the two an operator reaches for first, and where the rest are
  t.true(text.includes('STATIC_CONFIG_FILE (the static discovery file, default static.json)'), text)
  t.true(text.includes('SIDECAR_LOGGING_FORMAT (text or json)'))
  t.true(text.includes('docs/configuration.md'))
  // what a newcomer asks first: where the UI is, how to join, where the logs and the state are
  t.true(text.includes('web UI and JSON API are at http://localhost:7777/ (/health, /services.json), or at the bind IP when that is one address; the gossip port is 7946'), text)
  t.true(text.includes('To join a cluster, give every node the same seeds: -c <a member\'s IP>[:PORT]'), text)
  t.true(text.includes('Logs go to stderr'), text)
  t.true(text.includes('[sidecar] data_dir (SIDECAR_DATA_DIR), by default ~/.sidecar/<hostname>'), text)
  for (const line of usage().split('\n')) t.true(line.length <= 80, `at most 80 columns: ${line}`)
})

test('usage: every schema key with a flag appears in the flag table', t => {
  for (const [section, key] of allKeys()) {
    const flag = specOf(section, key).flag
    if (flag === undefined) continue
    const def = FLAGS.find((f) => f.long === flag.long)
    t.deepEqual(def?.target, { section, key })
    t.is(def?.env, envName(section, key))
  }
})
