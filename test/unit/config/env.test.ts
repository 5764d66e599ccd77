import test from 'ava'
import { parseBool, splitList } from '../../../src/config/coerce.ts'
import { knownEnvNames, unknownEnvWarnings } from '../../../src/config/env.ts'
import { allKeys, envName } from '../../../src/config/schema.ts'
import { hasProblem, load, problems, tmpDir } from './helpers.ts'

test('env: every key has one <PREFIX>_<KEY> variable, DOCKER_URL for docker_url', t => {
  t.is(envName('sidecar', 'cluster_name'), 'SIDECAR_CLUSTER_NAME')
  t.is(envName('static_discovery', 'config_file'), 'STATIC_CONFIG_FILE')
  t.is(envName('docker_discovery', 'docker_url'), 'DOCKER_URL')
  t.is(envName('listeners', 'urls'), 'LISTENERS_URLS')
  t.is(envName('health', 'interval'), 'HEALTH_INTERVAL')
  t.is(envName('api', 'port'), 'API_PORT')
  const names = allKeys().map(([s, k]) => envName(s, k))
  t.is(new Set(names).size, names.length)
})

test('env: lists split on commas or whitespace, trimmed, empty items dropped', t => {
  t.deepEqual(splitList('docker, static'), ['docker', 'static'])
  t.deepEqual(splitList('docker static'), ['docker', 'static'])
  t.deepEqual(splitList(' a ,, b\tc\n'), ['a', 'b', 'c'])
  t.deepEqual(splitList(''), [])
  t.deepEqual(splitList(' , '), [])
  const { config } = load(t, { env: { SIDECAR_DISCOVERY: 'docker, static', SIDECAR_SEEDS: '10.0.0.1:7946,  host-b ,', LISTENERS_URLS: 'http://a/x https://b/y' } })
  t.deepEqual(config.sidecar.discovery, ['docker', 'static'])
  t.deepEqual(config.sidecar.seeds, ['10.0.0.1:7946', 'host-b'])
  t.deepEqual(config.listeners.urls, ['http://a/x', 'https://b/y'])
})

test('env: no fallback to bare names (USER, BIND_IP, CONFIG_FILE, URL... change nothing)', t => {
  const cwd = tmpDir(t)
  const bare = {
    USER: 'root', GROUP: 'wheel', BIND_IP: '10.9.9.9', CONFIG_FILE: '/etc/other.json', URL: 'tcp://evil:2375',
    DEBUG: 'true', CLUSTER_NAME: 'bare', SEEDS: '10.0.0.1', DISCOVERY: 'docker', PORT: '1234', HOSTNAME: 'bare-host',
    ADVERTISE_IP: '10.8.8.8', LOGGING_LEVEL: 'debug', INTERVAL: '9s', NAMER: 'regex', URLS: 'http://x/',
  }
  t.deepEqual(load(t, { cwd, env: bare }), load(t, { cwd }))
})

test('env: an empty variable means empty for strings and lists', t => {
  const { config } = load(t, { env: { SIDECAR_EXCLUDE_IPS: '', SIDECAR_DISCOVERY: '', SIDECAR_SITE: '', SIDECAR_ADVERTISE_IP: '', SIDECAR_HOSTNAME: '' } })
  t.deepEqual(config.sidecar.exclude_ips, [])
  t.deepEqual(config.sidecar.discovery, [])
  t.is(config.sidecar.site, '')
  t.is(config.sidecar.advertise_ip, '192.168.168.168') // "" asks for the automatic address; nothing is excluded now
  t.is(config.sidecar.hostname, 'testhost') // "" asks for the OS hostname
})

test('env: an empty variable is an error for keys with no empty value', t => {
  const list = problems(t, { env: { API_PORT: '', HEALTH_INTERVAL: '', SIDECAR_LOGGING_LEVEL: '', SIDECAR_CLUSTER_NAME: '', SIDECAR_BIND_IP: '' } })
  t.true(hasProblem(list, 'env API_PORT', 'is not an integer'))
  t.true(hasProblem(list, 'env HEALTH_INTERVAL', 'invalid duration ""'))
  t.true(hasProblem(list, 'env SIDECAR_LOGGING_LEVEL', 'invalid value ""'))
  t.true(hasProblem(list, 'env SIDECAR_CLUSTER_NAME', 'must not be empty'))
  t.true(hasProblem(list, 'env SIDECAR_BIND_IP', 'must not be empty'))
  t.is(list.length, 5)
})

test('env: values are trimmed and enums are case-insensitive', t => {
  const { config } = load(t, { env: { API_PORT: ' 8080 ', SIDECAR_LOGGING_LEVEL: 'DEBUG', HEALTH_TIMEOUT: ' 1s' } })
  t.is(config.api.port, 8080)
  t.is(config.sidecar.logging_level, 'debug')
  t.is(config.health.timeout, 1000)
})

test('env: booleans accept true/false, 1/0, yes/no in any case, and nothing else', t => {
  for (const v of ['true', 'TRUE', '1', 'yes', 'Yes', ' true ']) t.true(parseBool(v), v)
  for (const v of ['false', 'False', '0', 'no', 'NO']) t.false(parseBool(v), v)
  for (const v of ['', 't', 'on', 'off', '2', 'y']) t.is(parseBool(v), undefined, v)
})

test('env: problems name the variable and the key', t => {
  const list = problems(t, { env: { SIDECAR_BIND_PORT: '70000' } })
  t.deepEqual(list, ['env SIDECAR_BIND_PORT ([sidecar] bind_port): 70000 is out of range 1..65535'])
})

test('env: unknown SIDECAR_* variables are ignored with a warning that suggests the right name', t => {
  const { config, warnings } = load(t, { env: { SIDECAR_CLUSTR_NAME: 'x', SIDECAR_STATS_ADDR: 'localhost:8125', API_KEY: 'not ours', DOCKER_HOST: 'tcp://x:2375' } })
  t.is(config.sidecar.cluster_name, 'default')
  t.deepEqual(warnings, [
    'environment variable SIDECAR_CLUSTR_NAME is not a sidecar setting and is ignored, did you mean SIDECAR_CLUSTER_NAME?',
    'environment variable SIDECAR_STATS_ADDR is not a sidecar setting and is ignored',
  ])
})

test('env: SIDECAR_CONFIG_FILE is a known variable, not a key', t => {
  t.true(knownEnvNames().includes('SIDECAR_CONFIG_FILE'))
})

test('env: SIDECAR_FROM_SOURCE, read by the bin script, draws no "not a sidecar setting" warning', t => {
  t.deepEqual(unknownEnvWarnings({ SIDECAR_FROM_SOURCE: '1' }), [])
})

test('env: seeds, IPs and URLs are checked item by item', t => {
  const list = problems(t, { env: { SIDECAR_SEEDS: 'good-host,bad host:99999,[::1]:7946', SIDECAR_EXCLUDE_IPS: '10.0.0.1 10.0.0', LISTENERS_URLS: 'ftp://x/ http://ok/' } })
  t.true(hasProblem(list, 'SIDECAR_SEEDS', 'seed "host:99999" has port "99999"'))
  t.true(hasProblem(list, 'SIDECAR_EXCLUDE_IPS', '"10.0.0" is not an IP address'))
  t.true(hasProblem(list, 'LISTENERS_URLS', '"ftp://x/" must be an http:// or https:// URL'))
  t.is(list.length, 3)
})

test('env: a seed given as a URL is refused as a URL, naming the host:port to give instead', t => {
  const list = problems(t, { env: { SIDECAR_SEEDS: 'http://127.0.34.5:42000' } })
  t.true(hasProblem(list, 'SIDECAR_SEEDS', 'seed "http://127.0.34.5:42000" is a URL: a seed is host or host:port (here "127.0.34.5:42000")'), list.join('\n'))
  t.false(hasProblem(list, 'has port'))
})

test('env: a seed that looks like an IPv4 address but is not one is refused, not looked up in DNS for as long as the daemon runs', t => {
  const list = problems(t, { env: { SIDECAR_SEEDS: '300.1.2.3,10.0.0:7946,10.0.0.1,node-1.example:7946' } })
  t.true(hasProblem(list, 'SIDECAR_SEEDS', 'seed "300.1.2.3" is not an IPv4 address: four numbers 0..255, e.g. 10.0.0.1'), list.join('\n'))
  t.true(hasProblem(list, 'SIDECAR_SEEDS', 'seed "10.0.0:7946" is not an IPv4 address'), list.join('\n'))
  t.is(list.length, 2, list.join('\n'))
})

test('env: a hostname or cluster name with a non-ASCII character, a space or a control character names that character', t => {
  const list = problems(t, { env: { SIDECAR_HOSTNAME: 'ünïcode', SIDECAR_CLUSTER_NAME: 'my cluster' } })
  t.true(hasProblem(list, 'SIDECAR_HOSTNAME', 'hostname "ünïcode" contains the non-ASCII character "ü" (U+00FC): only visible ASCII characters are allowed'), list.join('\n'))
  t.true(hasProblem(list, 'SIDECAR_CLUSTER_NAME', 'cluster name "my cluster" contains a space'), list.join('\n'))
  t.true(hasProblem(problems(t, { env: { SIDECAR_HOSTNAME: 'a\tb' } }), 'SIDECAR_HOSTNAME', 'contains a control character (U+0009)'))
})
