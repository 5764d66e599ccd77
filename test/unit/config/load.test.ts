import path from 'node:path'
import test from 'ava'
import { ConfigError } from '../../../src/lib/errors.ts'
import { HOME, hasProblem, load, problems, tmpDir, writeFile } from './helpers.ts'

test('defaults: with no file, env or flags every key has its documented default', t => {
  const cwd = tmpDir(t)
  const { config, file, warnings } = load(t, { cwd })
  t.is(file, undefined)
  t.deepEqual(warnings, [])
  t.deepEqual(config, {
    sidecar: {
      hostname: 'testhost',
      cluster_name: 'default',
      seeds: [],
      advertise_ip: '10.1.2.3',
      exclude_ips: ['192.168.168.168'],
      bind_ip: '0.0.0.0',
      bind_port: 7946,
      discovery: ['docker'],
      logging_level: 'info',
      logging_format: 'text',
      default_check_endpoint: '/version',
      push_pull_interval: 20_000,
      alive_lifespan: 80_000,
      draining_lifespan: 600_000,
      tombstone_lifespan: 10_800_000,
      reap_interval: 2000,
      data_dir: path.join(HOME, '.sidecar', 'testhost'),
      cluster_key: '',
      site: '',
      departure_grace: 1000,
      quic: true,
      max_records_per_host: 20_000,
      max_records: 100_000,
      backend_cidrs: [],
    },
    api: { bind_ip: '0.0.0.0', port: 7777, event_buffer: 1000, stream_queue_bytes: 1_048_576, heartbeat_interval: 15_000, token: '', max_connections: 4096, max_stream_clients: 512, allowed_hosts: [], frame_ancestors: [], gc_metrics: false },
    static_discovery: { config_file: path.join(cwd, 'static.json') },
    docker_discovery: { docker_url: '', reconcile_interval: 3000, allow_external_checks: false, check_any_target: false },
    services: { namer: 'docker_label', name_label: 'ServiceName', name_match: '' },
    health: { interval: 3000, timeout: 2000, rise: 1, fall: 1 },
    proxy: {
      enabled: true,
      bind_ip: '0.0.0.0',
      balance: 'roundrobin',
      prefer_local: false,
      site_failover: false,
      site_order: [],
      connect_timeout: 1000,
      idle_timeout: 60_000,
      request_timeout: 0,
      stall_timeout: 2000,
      header_timeout: 10000,
      max_connections: 10000,
      max_total_connections: 65_536,
      service_ports: [],
      max_listeners: 4096,
      retries: 2,
      retry_budget: 0.2,
      retry_budget_min: 10,
      eject_after_5xx: 0,
      ejection_base: 10_000,
      ejection_max: 300_000,
      drain_grace: 10_000,
      access_log: 'off',
    },
    listeners: { urls: [], webhook: [], secret: '', timeout: 3000, retries: 5, retry_delay: 100, queue_size: 100, min_interval: 50 },
  })
})

test('precedence: a file beats defaults, env beats the file, flags beat env', t => {
  const cwd = tmpDir(t)
  writeFile(cwd, 'sidecar.toml', `
[sidecar]
cluster_name = "from-file"
logging_level = "warn"
bind_port = 8001
site = "file-site"
[api]
port = 8002
`)
  const env = { SIDECAR_LOGGING_LEVEL: 'error', SIDECAR_BIND_PORT: '9001', API_PORT: '9002' }
  const overrides = { api: { port: '10002' } }
  const { config, file } = load(t, { cwd, env, overrides })
  t.is(file, path.join(cwd, 'sidecar.toml'))
  t.is(config.sidecar.hostname, 'testhost') // default
  t.is(config.sidecar.cluster_name, 'from-file') // file over default
  t.is(config.sidecar.site, 'file-site')
  t.is(config.sidecar.logging_level, 'error') // env over file
  t.is(config.sidecar.bind_port, 9001)
  t.is(config.api.port, 10002) // flag over env
})

test('precedence: a list flag replaces the whole list from env and file', t => {
  const cwd = tmpDir(t)
  writeFile(cwd, 'sidecar.toml', '[sidecar]\nseeds = ["10.0.0.1", "10.0.0.2"]\n')
  const { config } = load(t, { cwd, env: { SIDECAR_SEEDS: '10.0.0.3' }, overrides: { sidecar: { seeds: ['10.0.0.9:7000'] } } })
  t.deepEqual(config.sidecar.seeds, ['10.0.0.9:7000'])
})

test('errors: a misspelled key, a bad duration and an out-of-range port give ONE ConfigError naming all three', t => {
  const cwd = tmpDir(t)
  writeFile(cwd, 'sidecar.toml', `
[sidecar]
clustr_name = "x"
[health]
interval = "3 seconds"
[api]
port = 99999
`)
  const err = t.throws(() => load(t, { cwd }), { instanceOf: ConfigError })
  const list = err?.problems ?? []
  t.is(list.length, 3, list.join('\n'))
  t.true(hasProblem(list, 'sidecar.toml', 'unknown key [sidecar] clustr_name, did you mean cluster_name?'))
  t.true(hasProblem(list, 'sidecar.toml', '[health] interval: invalid duration "3 seconds", expected e.g. "3s", "200ms", "1m"'))
  t.true(hasProblem(list, '[api] port', '99999', '1..65535'))
})

test('errors: problems from the file, env and flags are all reported together, each naming its source', t => {
  const cwd = tmpDir(t)
  writeFile(cwd, 'sidecar.toml', '[sidecar]\nbind_ip = "1.2.3"\n')
  const list = problems(t, { cwd, env: { HEALTH_RISE: '0' }, overrides: { api: { port: '99999' }, sidecar: { discovery: ['stattic'] } } })
  t.true(hasProblem(list, 'sidecar.toml:2: [sidecar] bind_ip', '"1.2.3" is not an IP address'))
  t.true(hasProblem(list, 'env HEALTH_RISE', '0 is out of range 1..100'))
  t.true(hasProblem(list, '--http-port', '99999 is out of range 1..65535'))
  t.true(hasProblem(list, '--discover', 'invalid value "stattic", expected one of static, docker, did you mean static?'))
  t.is(list.length, 4)
})

test('errors: values of the wrong TOML type are named with the type expected', t => {
  const cwd = tmpDir(t)
  writeFile(cwd, 'sidecar.toml', '[sidecar]\nbind_port = "7946"\nseeds = "a,b"\nalive_lifespan = 80\n[health]\nrise = 1.5\n')
  const list = problems(t, { cwd })
  t.true(hasProblem(list, '[sidecar] bind_port', 'expected an integer 1..65535, got string "7946"'))
  t.true(hasProblem(list, '[sidecar] seeds', 'expected an array of strings'))
  t.true(hasProblem(list, '[sidecar] alive_lifespan', 'expected a duration string such as "3s", got integer 80'))
  t.true(hasProblem(list, '[health] rise', 'got 1.5'))
})

test('errors: a value of the wrong type in the file is named with its file and line, in a table, as a dotted key or quoted; one from env or a flag names that', t => {
  const cwd = tmpDir(t)
  writeFile(cwd, 'sidecar.toml', '# settings\nsidecar.cluster_name = "c"\nsidecar.bind_port = "x"\n\n[listeners]\nretries = true\n\n[api]\n"port" = "7777"\n[health]\ninterval = 3\n')
  const list = problems(t, { cwd, env: { HEALTH_RISE: 'many' }, overrides: { sidecar: { bind_port: 'y' } } })
  t.true(hasProblem(list, 'sidecar.toml:3: [sidecar] bind_port: expected an integer 1..65535, got string "x"'), list.join('\n'))
  t.true(hasProblem(list, 'sidecar.toml:6: [listeners] retries: expected an integer 0..20, got boolean true'), list.join('\n'))
  t.true(hasProblem(list, 'sidecar.toml:9: [api] port: expected an integer 1..65535, got string "7777"'), list.join('\n'))
  t.true(hasProblem(list, 'sidecar.toml:11: [health] interval: expected a duration string such as "3s", got integer 3'), list.join('\n'))
  t.true(hasProblem(list, 'env HEALTH_RISE ([health] rise): "many" is not an integer'), list.join('\n'))
  t.true(hasProblem(list, '--bind-port ([sidecar] bind_port): "y" is not an integer'), list.join('\n'))
  t.is(list.length, 6, list.join('\n'))
})

test('errors: enum values list the valid ones', t => {
  const list = problems(t, { env: { SIDECAR_LOGGING_LEVEL: 'verbose', SIDECAR_LOGGING_FORMAT: 'xml', SERVICES_NAMER: 'label' } })
  t.true(hasProblem(list, 'SIDECAR_LOGGING_LEVEL', 'expected one of debug, info, warn, error'))
  t.true(hasProblem(list, 'SIDECAR_LOGGING_FORMAT', 'expected one of text, json'))
  t.true(hasProblem(list, 'SERVICES_NAMER', 'expected one of docker_label, regex'))
})

test('errors: durations must be greater than zero and fit a timer', t => {
  const list = problems(t, { env: { SIDECAR_REAP_INTERVAL: '0s', HEALTH_INTERVAL: '1000h' } })
  t.true(hasProblem(list, 'SIDECAR_REAP_INTERVAL', 'must be greater than zero'))
  t.true(hasProblem(list, 'HEALTH_INTERVAL', 'longer than the maximum'))
})

test('rules: health timeout may not exceed the interval', t => {
  const list = problems(t, { env: { HEALTH_INTERVAL: '1s', HEALTH_TIMEOUT: '1500ms' } })
  t.deepEqual(list, ['[health] timeout 1.5s is longer than [health] interval 1s; a check must end before the next one starts'])
  t.is(load(t, { env: { HEALTH_INTERVAL: '1s', HEALTH_TIMEOUT: '1s' } }).config.health.timeout, 1000)
})

test('rules: an unset health timeout follows a shorter interval (file, env or flag)', t => {
  const cwd = tmpDir(t)
  writeFile(cwd, 'sidecar.toml', '[health]\ninterval = "1s"\n')
  t.like(load(t, { cwd }).config.health, { interval: 1000, timeout: 1000 })
  t.like(load(t, { env: { HEALTH_INTERVAL: '500ms' } }).config.health, { interval: 500, timeout: 500 })
  t.like(load(t, { overrides: { health: { interval: '1500ms' } } }).config.health, { interval: 1500, timeout: 1500 })
  t.like(load(t, { env: { HEALTH_INTERVAL: '10s' } }).config.health, { interval: 10_000, timeout: 2000 }, 'a longer interval keeps the 2 s default')
})

test('rules: a health timeout that is set is kept, and still may not exceed the interval', t => {
  const cwd = tmpDir(t)
  writeFile(cwd, 'sidecar.toml', '[health]\ninterval = "1s"\ntimeout = "2s"\n')
  t.deepEqual(problems(t, { cwd }), ['[health] timeout 2s is longer than [health] interval 1s; a check must end before the next one starts'])
  t.like(load(t, { env: { HEALTH_INTERVAL: '1s', HEALTH_TIMEOUT: '300ms' } }).config.health, { timeout: 300 })
})

test('rules: a bad interval is reported once, without a follow-on timeout complaint', t => {
  const list = problems(t, { env: { HEALTH_INTERVAL: 'soon', HEALTH_TIMEOUT: '5s' } })
  t.is(list.length, 1)
})

test('rules: the regex namer requires a name_match that compiles', t => {
  t.true(hasProblem(problems(t, { env: { SERVICES_NAMER: 'regex' } }), '[services] name_match must be set'))
  t.true(hasProblem(problems(t, { env: { SERVICES_NAME_MATCH: '^/(.+' } }), 'SERVICES_NAME_MATCH', 'not a valid regular expression'))
  const ok = load(t, { env: { SERVICES_NAMER: 'REGEX', SERVICES_NAME_MATCH: '^/(.+)(-[0-9a-z]{7,14})$' } })
  t.is(ok.config.services.namer, 'regex')
})

test('rules: name_match is RE2 syntax, as the Go original\'s: lookarounds and backreferences are refused and say why', t => {
  for (const pattern of ['^/(.+)(?=-[0-9]+$)', '^/(.+)-\\1$']) {
    t.true(hasProblem(problems(t, { env: { SERVICES_NAMER: 'regex', SERVICES_NAME_MATCH: pattern } }), 'SERVICES_NAME_MATCH', 'RE2 syntax', 'linear time'), pattern)
  }
  t.true(hasProblem(problems(t, { env: { SERVICES_NAMER: 'regex', SERVICES_NAME_MATCH: '^/[a-z]+-[0-9]+$' } }), 'has no capture group: group 1 is the service name'))
  for (const pattern of ['(?i)^/(web)-', '^/(?P<svc>[a-z]+)-[0-9]+$', '^/([a-z0-9]+(?:-?[a-z0-9]+)*)-\\d+$']) {
    t.is(load(t, { env: { SERVICES_NAMER: 'regex', SERVICES_NAME_MATCH: pattern } }).config.services.name_match, pattern)
  }
})

test('rules: the API and gossip ports must differ on overlapping addresses', t => {
  t.true(hasProblem(problems(t, { env: { API_PORT: '7946' } }), '[api] port and [sidecar] bind_port are both 7946'))
  t.notThrows(() => load(t, { env: { API_PORT: '7946', API_BIND_IP: '127.0.0.2', SIDECAR_BIND_IP: '127.0.0.3' } }))
})

test('resolve: advertise_ip takes the first private IPv4 not excluded', t => {
  t.is(load(t).config.sidecar.advertise_ip, '10.1.2.3')
  t.is(load(t, { env: { SIDECAR_EXCLUDE_IPS: '' } }).config.sidecar.advertise_ip, '192.168.168.168')
  t.is(load(t, { overrides: { sidecar: { advertise_ip: '10.9.9.9' } } }).config.sidecar.advertise_ip, '10.9.9.9')
})

test('resolve: with no usable interface advertise_ip is 127.0.0.1 and a warning says so', t => {
  const { config, warnings } = load(t, { interfaces: {} })
  t.is(config.sidecar.advertise_ip, '127.0.0.1')
  t.is(warnings.length, 1)
  t.regex(warnings[0], /advertising 127\.0\.0\.1/)
})

test('resolve: the unspecified address cannot be advertised', t => {
  t.true(hasProblem(problems(t, { env: { SIDECAR_ADVERTISE_IP: '0.0.0.0' } }), 'advertise_ip', 'cannot be advertised'))
})

test('resolve: api and proxy bind_ip follow sidecar bind_ip unless set', t => {
  const a = load(t, { overrides: { sidecar: { bind_ip: '127.0.0.5' } } }).config
  t.is(a.api.bind_ip, '127.0.0.5')
  t.is(a.proxy.bind_ip, '127.0.0.5')
  const b = load(t, { env: { API_BIND_IP: '::1', PROXY_BIND_IP: '127.0.0.6' } }).config
  t.is(b.api.bind_ip, '::1')
  t.is(b.proxy.bind_ip, '127.0.0.6')
})

test('resolve: an empty default_check_endpoint means "/"', t => {
  t.is(load(t, { env: { SIDECAR_DEFAULT_CHECK_ENDPOINT: '' } }).config.sidecar.default_check_endpoint, '/')
  t.true(hasProblem(problems(t, { env: { SIDECAR_DEFAULT_CHECK_ENDPOINT: 'health' } }), 'must be a path starting with "/"'))
})

test('resolve: a data_dir under /proc or /sys is refused at once (the start hung there); a name that only begins alike is not', t => {
  for (const dir of ['/proc', '/proc/sidecar', '/sys/fs/x', '/proc/../proc/x']) {
    const list = problems(t, { env: { SIDECAR_DATA_DIR: dir } })
    t.true(hasProblem(list, '[sidecar] data_dir /', 'the kernel\'s pseudo-filesystem', 'give a directory on a real filesystem'), `${dir}: ${list.join('\n')}`)
  }
  t.is(load(t, { env: { SIDECAR_DATA_DIR: '/procedures/sidecar' } }).config.sidecar.data_dir, '/procedures/sidecar')
})

test('resolve: data_dir defaults to ~/.sidecar/<hostname>, following --hostname', t => {
  const { config } = load(t, { overrides: { sidecar: { hostname: 'node-7' } } })
  t.is(config.sidecar.data_dir, path.join(HOME, '.sidecar', 'node-7'))
  t.is(load(t, { env: { SIDECAR_DATA_DIR: '~/state' } }).config.sidecar.data_dir, path.join(HOME, 'state'))
})

test('paths: relative paths in a config file resolve against the file\'s directory', t => {
  const cwd = tmpDir(t)
  const confDir = path.join(cwd, 'etc', 'sidecar')
  const file = writeFile(confDir, 'main.toml', '[sidecar]\ndata_dir = "state"\n[static_discovery]\nconfig_file = "services/static.json"\n')
  const { config } = load(t, { cwd, configFile: path.relative(cwd, file) })
  t.is(config.sidecar.data_dir, path.join(confDir, 'state'))
  t.is(config.static_discovery.config_file, path.join(confDir, 'services', 'static.json'))
})

test('paths: relative paths from env and flags resolve against the working directory', t => {
  const cwd = tmpDir(t)
  writeFile(path.join(cwd, 'etc'), 'main.toml', '[static_discovery]\nconfig_file = "in-file.json"\n')
  const { config } = load(t, { cwd, configFile: 'etc/main.toml', env: { STATIC_CONFIG_FILE: 'env.json', SIDECAR_DATA_DIR: 'data' } })
  t.is(config.static_discovery.config_file, path.join(cwd, 'env.json'))
  t.is(config.sidecar.data_dir, path.join(cwd, 'data'))
})

test('paths: absolute paths are kept as given', t => {
  const { config } = load(t, { env: { STATIC_CONFIG_FILE: '/srv/static.json' } })
  t.is(config.static_discovery.config_file, '/srv/static.json')
})

test('overrides: values may be strings or of the effective type; unknown names are problems', t => {
  const { config } = load(t, { overrides: { api: { port: 8080 }, health: { interval: 5000, timeout: '1s' }, sidecar: { discovery: 'docker static', hostname: undefined } } })
  t.is(config.api.port, 8080)
  t.is(config.health.interval, 5000)
  t.is(config.health.timeout, 1000)
  t.deepEqual(config.sidecar.discovery, ['docker', 'static'])
  t.is(config.sidecar.hostname, 'testhost')
  const list = problems(t, { overrides: { api: { prot: 1 } } as never })
  t.true(hasProblem(list, 'unknown key [api] prot, did you mean port?'))
})

test('api allowed_hosts: names from env, ports and other junk refused with the reason', t => {
  const ok = load(t, { env: { API_ALLOWED_HOSTS: 'ops.example.com,sidecar-1' } })
  t.deepEqual(ok.config.api.allowed_hosts, ['ops.example.com', 'sidecar-1'])
  const list = problems(t, { env: { API_ALLOWED_HOSTS: 'ops.example.com:7777,http://x' } })
  t.true(hasProblem(list, 'API_ALLOWED_HOSTS', '"ops.example.com:7777" is not a host name (letters, digits, hyphens and dots, without a port)'), list.join('\n'))
  t.true(hasProblem(list, '"http://x" is not a host name'), list.join('\n'))
})

test('api allowed_hosts: a domain wildcard of two labels or more is taken; one that would let in a whole top-level domain is refused', t => {
  const ok = load(t, { env: { API_ALLOWED_HOSTS: '.ops.example.com,*.corp.example' } })
  t.deepEqual(ok.config.api.allowed_hosts, ['.ops.example.com', '*.corp.example'])
  for (const broad of ['.com', '*.lan', '*.internal.', '.']) {
    const list = problems(t, { overrides: { api: { allowed_hosts: [broad] } } as never })
    t.true(list.length > 0 && list.some(p => p.includes(JSON.stringify(broad))), `${broad}: ${list.join('\n')}`)
  }
  t.true(hasProblem(problems(t, { overrides: { api: { allowed_hosts: ['.com'] } } as never }), 'would allow every name under the top-level domain "com", which anyone may register names in'))
  for (const bad of ['*', '*.', 'ops.*.example.com', '*.*.example.com', 'ops*.example.com', '**.example.com', '.-bad.example']) {
    const list = problems(t, { overrides: { api: { allowed_hosts: [bad] } } as never })
    t.true(list.some(p => p.includes(JSON.stringify(bad))), `${bad}: ${list.join('\n')}`)
  }
  t.true(hasProblem(problems(t, { overrides: { api: { allowed_hosts: ['ops*.example.com'] } } as never }), 'a wildcard is written *.example.com (the names under example.com) or .example.com (example.com too)'))
})

test('api frame_ancestors: origins only, since each goes into a Content-Security-Policy header', t => {
  const ok = load(t, { env: { API_FRAME_ANCESTORS: 'https://dash.example.com, http://10.0.0.5:3000/ http://[::1]:8080' } })
  t.deepEqual(ok.config.api.frame_ancestors, ['https://dash.example.com', 'http://10.0.0.5:3000/', 'http://[::1]:8080'])
  for (const bad of ['*', 'https://*.example.com', 'dash.example.com', 'https://a.example; script-src *', "'self'", 'javascript:alert(1)', 'https://a.example/path', 'ftp://a.example', 'http://a.example:99999', 'http://a_b..example']) {
    const list = problems(t, { overrides: { api: { frame_ancestors: [bad] } } as never })
    t.true(hasProblem(list, 'frame origin', 'expected an origin such as https://dashboard.example.com'), `${bad}: ${list.join('\n')}`)
  }
})
