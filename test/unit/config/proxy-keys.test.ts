// The [proxy] keys: values from env, the "0 = off" request timeout, and the cross-key rules.
import test from 'ava'
import { hasProblem, load, problems, tmpDir, writeFile } from './helpers.ts'

test('proxy: env sets balance, sites, timeouts and the access log', t => {
  const { config } = load(t, {
    env: {
      PROXY_BALANCE: 'least', PROXY_SITE_FAILOVER: 'true', PROXY_SITE_ORDER: 'eu-1b, us-1a', PROXY_REQUEST_TIMEOUT: '30s',
      PROXY_ACCESS_LOG: 'json', PROXY_RETRIES: '0', PROXY_ENABLED: 'no', SIDECAR_SITE: 'eu-1a',
    },
  })
  t.is(config.proxy.balance, 'least')
  t.true(config.proxy.site_failover)
  t.deepEqual(config.proxy.site_order, ['eu-1b', 'us-1a'])
  t.is(config.proxy.request_timeout, 30_000)
  t.is(config.proxy.access_log, 'json')
  t.is(config.proxy.retries, 0)
  t.false(config.proxy.enabled)
})

test('proxy: request_timeout accepts "0" (no limit); other durations do not', t => {
  t.is(load(t, { env: { PROXY_REQUEST_TIMEOUT: '0' } }).config.proxy.request_timeout, 0)
  t.is(load(t, { env: { PROXY_REQUEST_TIMEOUT: '0s' } }).config.proxy.request_timeout, 0)
  t.true(hasProblem(problems(t, { env: { PROXY_CONNECT_TIMEOUT: '0' } }), 'PROXY_CONNECT_TIMEOUT', 'must be greater than zero'))
  t.true(hasProblem(problems(t, { env: { PROXY_REQUEST_TIMEOUT: '-1s' } }), 'PROXY_REQUEST_TIMEOUT'))
})

test('proxy: retry_budget is a share 0..1 (a TOML float or integer, a decimal in env); retry_budget_min a whole number >= 0', t => {
  const cwd = tmpDir(t)
  writeFile(cwd, 'sidecar.toml', '[proxy]\nretry_budget = 0.05\nretry_budget_min = 0\n')
  t.is(load(t, { cwd }).config.proxy.retry_budget, 0.05)
  t.is(load(t, { cwd }).config.proxy.retry_budget_min, 0)
  t.is(load(t, { env: { PROXY_RETRY_BUDGET: '.5' } }).config.proxy.retry_budget, 0.5)
  t.is(load(t, { env: { PROXY_RETRY_BUDGET: '1' } }).config.proxy.retry_budget, 1)
  t.is(load(t, { env: { PROXY_RETRY_BUDGET: '0' } }).config.proxy.retry_budget, 0)

  t.true(hasProblem(problems(t, { env: { PROXY_RETRY_BUDGET: '-0.1' } }), 'PROXY_RETRY_BUDGET', '-0.1 is out of range 0..1'))
  t.true(hasProblem(problems(t, { env: { PROXY_RETRY_BUDGET: '1.5' } }), 'PROXY_RETRY_BUDGET', '1.5 is out of range 0..1'))
  t.true(hasProblem(problems(t, { env: { PROXY_RETRY_BUDGET: '20%' } }), 'PROXY_RETRY_BUDGET', '"20%" is not a number (expected 0..1)'))
  t.true(hasProblem(problems(t, { env: { PROXY_RETRY_BUDGET_MIN: '-1' } }), 'PROXY_RETRY_BUDGET_MIN', '-1 is out of range 0..100000'))
  t.true(hasProblem(problems(t, { env: { PROXY_RETRY_BUDGET_MIN: '2.5' } }), 'PROXY_RETRY_BUDGET_MIN', 'not an integer'))
  const bad = tmpDir(t)
  writeFile(bad, 'sidecar.toml', '[proxy]\nretry_budget = "0.2"\n')
  t.true(hasProblem(problems(t, { cwd: bad }), '[proxy] retry_budget', 'expected a number 0..1, got string "0.2"'))
  const nan = tmpDir(t)
  writeFile(nan, 'sidecar.toml', '[proxy]\nretry_budget = nan\n')
  t.true(hasProblem(problems(t, { cwd: nan }), '[proxy] retry_budget', 'expected a number 0..1, got NaN'))
})

test('proxy: an unknown balance names the valid ones', t => {
  t.true(hasProblem(problems(t, { env: { PROXY_BALANCE: 'leastconn' } }), 'PROXY_BALANCE', 'roundrobin, least, random'))
})

test('proxy: ejection_base may not exceed ejection_max', t => {
  const list = problems(t, { env: { PROXY_EJECTION_BASE: '10m', PROXY_EJECTION_MAX: '5m' } })
  t.deepEqual(list, ['[proxy] ejection_base 10m is longer than [proxy] ejection_max 5m'])
})

test('proxy: site_failover without a site of its own warns', t => {
  const { warnings } = load(t, { env: { PROXY_SITE_FAILOVER: 'true' } })
  t.true(warnings.some(w => w.includes('[proxy] site_failover is on but [sidecar] site is empty')))
  t.deepEqual(load(t, { env: { PROXY_SITE_FAILOVER: 'true', SIDECAR_SITE: 'eu-1a' } }).warnings, [])
})

test('connection caps: "0" takes a share of the open-file limit (an eighth for the API, a quarter for all proxy ports)', t => {
  const { config, warnings } = load(t, { openFiles: 65_536 })
  t.is(config.api.max_connections, 4096, 'at most 4096')
  t.is(config.proxy.max_total_connections, 16_384)
  t.is(load(t, { openFiles: 1_048_576 }).config.proxy.max_total_connections, 65_536, 'at most 65536')
  t.is(load(t, { openFiles: 20_000 }).config.api.max_connections, 2500)
  t.is(config.proxy.max_listeners, 4096, 'at most 4096')
  t.is(load(t, { openFiles: 20_000 }).config.proxy.max_listeners, 2500)
  t.deepEqual(warnings, [])
  const unknown = load(t, { openFiles: null }).config
  t.is(unknown.proxy.max_total_connections, 16_384, 'an unreadable limit is taken as 65,536')
  t.is(load(t, { openFiles: 64 }).config.api.max_connections, 16, 'never below 16')
})

test('connection caps: a low open-file limit warns with the caps it gives and how to raise it', t => {
  const { config, warnings } = load(t, { openFiles: 1024 })
  t.is(config.api.max_connections, 128)
  t.is(config.proxy.max_total_connections, 256)
  t.is(config.proxy.max_listeners, 128)
  t.deepEqual(warnings, ['the open-file limit is 1024: the API takes at most 128 client connections, all proxy ports together 256, and the proxy opens at most 128 ports; raise it (ulimit -n, systemd LimitNOFILE=, docker run --ulimit nofile=) on a busy host'])
})

test('connection caps: with the proxy off, the low-limit warning names the API\'s cap only', t => {
  const { warnings } = load(t, { openFiles: 1024, env: { PROXY_ENABLED: 'false' } })
  t.deepEqual(warnings, ['the open-file limit is 1024: the API takes at most 128 client connections; raise it (ulimit -n, systemd LimitNOFILE=, docker run --ulimit nofile=) on a busy host'])
})

test('connection caps: a value set above its share is kept, with a warning; one within it is kept silently', t => {
  const over = load(t, { openFiles: 20_000, env: { API_MAX_CONNECTIONS: '5000', PROXY_MAX_TOTAL_CONNECTIONS: '10000', PROXY_MAX_LISTENERS: '3000' } })
  t.is(over.config.proxy.max_listeners, 3000)
  t.is(over.config.api.max_connections, 5000)
  t.is(over.config.proxy.max_total_connections, 10_000)
  t.deepEqual(over.warnings, [
    '[api] max_connections 5000 is more than an eighth of the open-file limit (20000): clients that open that many connections could leave too few descriptors for health checks and gossip',
    '[proxy] max_total_connections 10000 is more than a quarter of the open-file limit (20000): clients that open that many connections (each may hold a backend connection too) could leave too few descriptors for health checks and gossip',
    '[proxy] max_listeners 3000 is more than an eighth of the open-file limit (20000): a member that claims that many service ports could leave too few descriptors for health checks and gossip',
  ])
  const within = load(t, { openFiles: 20_000, env: { API_MAX_CONNECTIONS: '100', PROXY_MAX_TOTAL_CONNECTIONS: '1000' } })
  t.is(within.config.api.max_connections, 100)
  t.is(within.config.proxy.max_total_connections, 1000)
  t.deepEqual(within.warnings, [])
  t.true(hasProblem(problems(t, { env: { API_MAX_CONNECTIONS: '-1' } }), 'API_MAX_CONNECTIONS'))
})

test('proxy: service_ports takes ports and ranges, and names a bad item', t => {
  t.deepEqual(load(t, { env: { PROXY_SERVICE_PORTS: '10000-19999, 8080' } }).config.proxy.service_ports, ['10000-19999', '8080'])
  t.deepEqual(load(t).config.proxy.service_ports, [], 'every port by default')
  t.true(hasProblem(problems(t, { env: { PROXY_SERVICE_PORTS: '10000-19999, 9000-8000' } }), 'PROXY_SERVICE_PORTS', '"9000-8000" is not a port or a range of ports'))
})
