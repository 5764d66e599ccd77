// The [proxy] keys: values from env, the "0 = off" request timeout, and the cross-key rules.
import test from 'ava'
import { hasProblem, load, problems } from './helpers.ts'

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
