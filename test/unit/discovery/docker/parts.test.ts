// The small pieces of Docker discovery: events, namers, endpoint, backoff, health verdicts.
import test from 'ava'
import { PassThrough } from 'node:stream'
import { backoffDelay } from '../../../../src/discovery/docker/docker-discoverer.ts'
import { resolveEndpoint } from '../../../../src/discovery/docker/endpoint.ts'
import { followEvents, parseEventLine, type ContainerEvent } from '../../../../src/discovery/docker/events.ts'
import { verdictOf } from '../../../../src/discovery/docker/health-source.ts'
import { labelNamer, makeNamer, MAX_MATCHED_NAME_LENGTH, regexNamer } from '../../../../src/discovery/docker/namer.ts'
import { eventsFixture } from './helpers.ts'

test('events: every line of a recorded stream parses to its action and full container id', t => {
  const events = eventsFixture().split('\n').filter(l => l !== '').map(parseEventLine)
  t.true(events.every(e => e !== undefined && /^[0-9a-f]{64}$/.test(e.id)))
  const actions = events.map(e => e?.action)
  t.true(actions.includes('health_status: healthy'))
  t.true(actions.includes('die'))
})

test('events: lines that are not container events are ignored', t => {
  t.is(parseEventLine(''), undefined)
  t.is(parseEventLine('{not json'), undefined)
  t.is(parseEventLine('{"Type":"network","Action":"connect","Actor":{"ID":"abcdefabcdef"}}'), undefined)
  t.is(parseEventLine('{"Type":"container","Action":"start","Actor":{"ID":"../../etc"}}'), undefined)
  t.deepEqual(parseEventLine('{"status":"die","id":"abcdefabcdef"}'), { action: 'die', id: 'abcdefabcdef' })
})

test('events: chunks holding several lines or part of one are split into whole events, and the end is reported once', async t => {
  const stream = new PassThrough()
  const seen: ContainerEvent[] = []
  let ends = 0
  const ended = new Promise<void>((resolve) => { followEvents(stream, (e) => seen.push(e), () => { ends++; resolve() }) })
  const text = eventsFixture()
  for (let i = 0; i < text.length; i += 97) stream.write(text.slice(i, i + 97)) // cuts lines anywhere
  stream.end()
  await ended
  t.is(seen.length, text.split('\n').filter(l => l !== '').length)
  t.is(ends, 1)
})

test('events: a stream error ends the follower with that error', async t => {
  const stream = new PassThrough()
  const err = await new Promise<Error | undefined>((resolve) => { followEvents(stream, () => {}, resolve); stream.destroy(new Error('socket hang up')) })
  t.is(err?.message, 'socket hang up')
})

test('namer: the label, else the image; an empty label counts as missing', t => {
  const n = labelNamer('ServiceName')
  t.is(n({ name: '/x', image: 'img:1', labels: { ServiceName: 'web' } }).name, 'web')
  t.is(n({ name: '/x', image: 'img:1', labels: {} }).name, 'img:1')
  t.is(n({ name: '/x', image: 'img:1', labels: { ServiceName: '' } }).name, 'img:1')
})

test('namer: regex group 1 over the name with its leading slash, else the image', t => {
  const n = makeNamer({ namer: 'regex', name_label: 'ServiceName', name_match: '^/(.+)(-[0-9a-z]{7,14})$' })
  t.deepEqual(n({ name: '/awesome-svc-1231b1b12323', image: 'img', labels: { ServiceName: 'ignored' } }), { name: 'awesome-svc' })
  t.deepEqual(n({ name: '/nomatch', image: 'img', labels: {} }), { name: 'img' })
  t.is(regexNamer('^/(x?)y$')({ name: '/y', image: 'img', labels: {} }).name, 'img', 'an empty group is no name')
  t.is(regexNamer('^/(x)?y$')({ name: '/y', image: 'img', labels: {} }).name, 'img', 'a group that took no part is no name')
  t.is(regexNamer('-(web)-')({ name: '/a-web-1', image: 'img', labels: {} }).name, 'web', 'searched anywhere in the name, as the original did')
})

test('namer: the pattern is RE2 syntax, as the Go original\'s: (?i) and (?P<name>) work', t => {
  t.is(regexNamer('(?i)^/(WEB)-')({ name: '/web-1', image: 'img', labels: {} }).name, 'web')
  t.is(regexNamer('^/(?P<svc>[a-z]+)-[0-9]+$')({ name: '/api-12', image: 'img', labels: {} }).name, 'api')
})

// Container names are chosen by whoever starts a container. Before, JavaScript's RegExp ran the
// pattern: this one took 26 s on a 32-character name and doubled with each more (years on 50).
test('namer: a pattern that backtracks exponentially in JavaScript names a crafted name at once', t => {
  const n = regexNamer('^/([a-z0-9]+(?:-?[a-z0-9]+)*)-\\d+$')
  const started = performance.now()
  t.is(n({ name: `/${'a'.repeat(48)}_`, image: 'img', labels: {} }).name, 'img')
  t.is(n({ name: '/billing-api-3', image: 'img', labels: {} }).name, 'billing-api')
  t.true(performance.now() - started < 10_000, 'named within 10 s (JavaScript\'s RegExp: days)')
})

test('namer: a name longer than MAX_MATCHED_NAME_LENGTH is named after its image, with a warning', t => {
  const n = regexNamer('^/(.+)-[0-9]+$')
  const long = `/${'a'.repeat(MAX_MATCHED_NAME_LENGTH)}-1`
  const named = n({ name: long, image: 'img', labels: {} })
  t.is(named.name, 'img')
  t.regex(named.warning ?? '', /container name is 1027 characters long: \[services\] name_match is tried on names of at most 1024/)
  t.deepEqual(n({ name: long.slice(0, MAX_MATCHED_NAME_LENGTH - 2) + '-1', image: 'img', labels: {} }), { name: 'a'.repeat(MAX_MATCHED_NAME_LENGTH - 3) }, 'a name of exactly the limit is matched')
  t.deepEqual(labelNamer('ServiceName')({ name: long, image: 'img', labels: { ServiceName: 'web' } }), { name: 'web' }, 'the label namer reads no name')
})

test('endpoint: an explicit docker_url wins over DOCKER_HOST', t => {
  const env = { DOCKER_HOST: 'tcp://10.9.9.9:2375', DOCKER_TLS_VERIFY: '1' }
  t.like(resolveEndpoint('unix:///run/other.sock', env).options, { socketPath: '/run/other.sock', host: undefined, protocol: 'http' })
  t.like(resolveEndpoint('tcp://127.0.0.1:2375', env).options, { host: '127.0.0.1', port: 2375, protocol: 'http', socketPath: undefined })
  t.like(resolveEndpoint('https://docker.local', {}).options, { host: 'docker.local', port: 2376, protocol: 'https' })
})

test('endpoint: unset docker_url means DOCKER_HOST (left to docker-modem) or the standard socket', t => {
  t.deepEqual(resolveEndpoint('', { DOCKER_HOST: 'tcp://10.9.9.9:2376' }), { options: {}, describe: 'tcp://10.9.9.9:2376 (DOCKER_HOST)' })
  const local = resolveEndpoint('', {})
  t.is(local.options.socketPath, '/var/run/docker.sock')
  t.is(local.describe, 'unix:///var/run/docker.sock')
})

test('backoff: doubles from 250 ms to at most 5 s, with jitter in the upper half', t => {
  t.is(backoffDelay(0, 250, 5000, () => 1), 250)
  t.is(backoffDelay(0, 250, 5000, () => 0), 125)
  t.is(backoffDelay(3, 250, 5000, () => 1), 2000)
  t.is(backoffDelay(10, 250, 5000, () => 1), 5000)
  t.is(backoffDelay(1000, 250, 5000, () => 0.5), 3750)
})

test('docker health verdict: healthy passes, unhealthy fails with the probe output, starting has none', t => {
  t.deepEqual(verdictOf({ hasHealthcheck: true, health: 'healthy' }), { ok: true })
  t.deepEqual(verdictOf({ hasHealthcheck: true, health: 'unhealthy', output: 'connection refused' }), { ok: false, error: 'Docker reports the container unhealthy: connection refused' })
  t.is(verdictOf({ hasHealthcheck: true, health: 'starting' }), undefined)
  t.regex(verdictOf({ hasHealthcheck: false })?.error ?? '', /define no HEALTHCHECK/)
})
