// Delivery to real HTTP receivers: order, retries with the same bytes, timeouts,
// isolation between listeners, stop.
import test from 'ava'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import https from 'node:https'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { encodeState } from '../../../src/catalog/index.ts'
import { listenerName, ServiceStatus } from '../../../src/service/index.ts'
import { makeTestService } from '../../helpers/factories.ts'
import { startReceiver } from '../../helpers/receiver.ts'
import { waitFor } from '../../helpers/wait.ts'
import { fixture, receiver } from './fixture.ts'

const { ALIVE, UNHEALTHY, TOMBSTONE } = ServiceStatus

test('delivery: one POST per change, in order, with the event id, hostname and JSON content type', async t => {
  const r = await receiver(t)
  const f = await fixture(t, { urls: [r.url('/update')] })
  const steps: Array<[string, ServiceStatus]> = [['web', ALIVE], ['db', ALIVE], ['web', UNHEALTHY], ['web', ALIVE], ['db', TOMBSTONE]]
  for (const [name, status] of steps) {
    f.change(name, status)
    await new Promise(resolve => setImmediate(resolve)) // separate catalog operations, as health results are
  }
  await waitFor(() => r.requests.length >= 5, { timeoutMs: 20_000, message: '5 POSTs' })
  t.is(r.requests.length, 5)
  const ids = r.requests.map(q => Number(q.headers['x-sidecar-event-id']))
  t.deepEqual(ids, [...ids].sort((a, b) => a - b))
  t.is(new Set(ids).size, 5)
  for (const q of r.requests) {
    t.is(q.method, 'POST')
    t.is(q.path, '/update')
    t.is(q.headers['content-type'], 'application/json')
    t.is(q.headers['x-sidecar-hostname'], 'host1')
    t.is(q.headers['x-sidecar-signature'], undefined)
    t.regex(String(q.headers.cookie), /^sidecar-session-host=host1-\d{4}-\d\d-\d\dT/)
    t.is(Number(q.headers['content-length']), q.raw.length)
  }
  t.deepEqual(r.bodies().map(b => [b.ChangeEvent.Service.Name, b.ChangeEvent.PreviousStatus, b.ChangeEvent.Service.Status]), [
    ['web', 3, ALIVE], ['db', 3, ALIVE], ['web', ALIVE, UNHEALTHY], ['web', UNHEALTHY, ALIVE], ['db', ALIVE, TOMBSTONE],
  ])
  // Each body carries the state right after the operation that made its change.
  t.deepEqual(r.bodies().map(b => [b.State.Servers.host1.Services.web.Status, b.State.Servers.host1.Services.db?.Status]), [
    [ALIVE, undefined], [ALIVE, ALIVE], [UNHEALTHY, ALIVE], [ALIVE, ALIVE], [ALIVE, TOMBSTONE],
  ])
  t.is(r.requests[4].raw.toString(), `{"State":${encodeState(f.catalog.snapshot())},"ChangeEvent":${r.requests[4].raw.toString().split(',"ChangeEvent":')[1]}`)
})

test('delivery: changes made by one catalog operation (a reload, a reaping pass) share the state after it', async t => {
  const r = await receiver(t)
  const f = await fixture(t, { urls: [r.url()] })
  for (let i = 0; i < 20; i++) f.change(`svc${i}`, ALIVE) // one synchronous run, like one announcer sync
  await waitFor(() => r.requests.length === 20, { timeoutMs: 20_000, message: '20 POSTs' })
  const states = new Set(r.bodies().map(b => JSON.stringify(b.State)))
  t.is(states.size, 1)
  t.is(Object.keys(r.bodies()[0].State.Servers.host1.Services).length, 20)
  t.deepEqual(r.bodies().map(b => b.ChangeEvent.Service.Name), Array.from({ length: 20 }, (_, i) => `svc${i}`))
})

test('delivery: a 500 then a dropped connection are retried with the same bytes, and the third attempt succeeds', async t => {
  const r = await receiver(t)
  r.respond = (q, _req, res) => {
    if (q.attempt === 1) { res.statusCode = 500; res.end('receiver busy'); return }
    if (q.attempt === 2) { res.socket?.destroy(); return }
    res.end()
  }
  const f = await fixture(t, { urls: [r.url()] })
  f.change('web', ALIVE)
  await waitFor(() => f.listeners.list()[0].delivered === 1, { timeoutMs: 20_000, message: 'delivered after retries' })
  t.deepEqual(r.requests.map(q => q.attempt), [1, 2, 3])
  t.is(new Set(r.requests.map(q => q.headers['x-sidecar-event-id'])).size, 1)
  t.true(r.requests[2].raw.length > 100)
  t.true(r.requests[1].raw.equals(r.requests[0].raw))
  t.true(r.requests[2].raw.equals(r.requests[0].raw))
  t.is(r.bodies()[2].ChangeEvent.Service.Name, 'web')
  const v = f.listeners.list()[0]
  t.is(v.failedAttempts, 2)
  t.is(v.consecutiveFailures, 0)
  t.is(v.gaveUp, 0)
  t.not(v.lastSuccess, null)
  t.regex(v.lastError?.message ?? '', /connection failed|socket|closed/i)
  const metrics = await f.metrics.text()
  t.regex(metrics, /sidecar_listener_deliveries_total\{listener="UrlListener\(http:\/\/127\.0\.0\.1:\d+\/hook\)"\} 1/)
  t.regex(metrics, /sidecar_listener_failures_total\{listener="[^"]+"\} 2/)
})

test('delivery: after every retry fails the event is dropped and counted, and the next event is sent', async t => {
  const r = await receiver(t)
  r.respond = (q, _req, res) => {
    const name = (JSON.parse(q.raw.toString()) as { ChangeEvent: { Service: { Name: string } } }).ChangeEvent.Service.Name
    res.statusCode = name === 'bad' ? 503 : 200
    res.end()
  }
  const f = await fixture(t, { urls: [r.url()], retries: 2 })
  f.change('bad', ALIVE)
  f.change('good', ALIVE)
  await waitFor(() => f.listeners.list()[0].delivered === 1, { timeoutMs: 20_000, message: 'the second event delivered' })
  t.is(r.requests.length, 4, '3 attempts for the first event, 1 for the second')
  const v = f.listeners.list()[0]
  t.is(v.gaveUp, 1)
  t.is(v.failedAttempts, 3)
  t.regex(v.lastError?.message ?? '', /^HTTP 503/)
  t.regex(await f.metrics.text(), /sidecar_listener_drops_total\{listener="[^"]+",reason="retries_exhausted"\} 1/)
})

test('delivery: a receiver that hangs times out after the timeout and does not delay another listener', async t => {
  const TIMEOUT = 1500
  const hang = await receiver(t)
  const closedAfter: number[] = []
  hang.respond = (q, req) => { req.socket.once('close', () => closedAfter.push(Date.now() - q.arrivedAt)) } // never answers
  const fast = await receiver(t)
  const f = await fixture(t, { urls: [hang.url(), fast.url()], timeoutMs: TIMEOUT, retries: 1 })
  for (let i = 0; i < 5; i++) f.change(`svc${i}`, ALIVE)
  await waitFor(() => fast.requests.length === 5, { timeoutMs: 20_000, message: 'the fast listener got all 5 events' })
  t.log(`fast listener: 5 events within ${fast.requests[4].completeAt - fast.requests[0].arrivedAt} ms`)
  t.is(new Set(hang.requests.map(q => q.headers['x-sidecar-event-id'])).size, 1, 'meanwhile the hanging listener is still on its first event')
  await waitFor(() => closedAfter.length >= 2, { timeoutMs: 20_000, message: 'the hanging requests were abandoned' })
  // The deadline starts before the request reaches the server, so the server sees a little less.
  for (const ms of closedAfter) t.true(ms >= TIMEOUT / 2 && ms < TIMEOUT + 3000, `closed after ${ms} ms`)
  const v = f.listeners.list()[0]
  t.regex(v.lastError?.message ?? '', /no response within 1500 ms/)
  t.true(v.queueDepth <= 4)
})

test('delivery: every response is read or closed, so no connection is left open', async t => {
  const r = await receiver(t)
  r.respond = (_q, _req, res) => { res.end('x'.repeat(300_000)) } // larger than what is read of a response
  const f = await fixture(t, { urls: [r.url()] })
  for (let i = 0; i < 6; i++) {
    f.change('web', i % 2 === 0 ? ALIVE : UNHEALTHY)
    await waitFor(() => f.listeners.list()[0].delivered === i + 1, { timeoutMs: 20_000, message: `POST ${i + 1} acknowledged` })
  }
  const open = async (): Promise<number> => await new Promise<number>((resolve, reject) => { r.server.getConnections((err, n) => { if (err !== null) reject(err); else resolve(n) }) })
  await waitFor(async () => await open() <= 1, { timeoutMs: 20_000, message: `at most one open connection (${await open()})` })
  t.pass()
})

test('delivery: a full queue coalesces intermediate events, counts them, and delivers the newest state', async t => {
  const r = await receiver(t)
  let release: () => void = () => {}
  const gate = new Promise<void>(resolve => { release = resolve })
  r.respond = async (_q, _req, res) => { await gate; res.end() }
  const f = await fixture(t, { urls: [r.url()], queueSize: 3 })
  f.change('web0', ALIVE)
  await waitFor(() => r.requests.length === 1, { timeoutMs: 20_000, message: 'first POST in flight' })
  for (let i = 1; i <= 50; i++) f.change(`web${i % 5}`, i % 2 === 0 ? ALIVE : UNHEALTHY)
  // handed to the listener after the catalog operations, in slices
  await waitFor(() => f.listeners.list()[0].coalesced === 47, { timeoutMs: 20_000, message: () => `47 coalesced (${f.listeners.list()[0].coalesced})` })
  t.is(f.listeners.list()[0].queueDepth, 3)
  release()
  await waitFor(() => f.listeners.list()[0].delivered === 4, { timeoutMs: 20_000, message: 'the in-flight event and 3 queued ones' })
  const last = r.requests.at(-1)?.raw.toString() ?? ''
  t.true(last.startsWith(`{"State":${encodeState(f.catalog.snapshot())},`), 'the last POST holds the final state')
  t.regex(await f.metrics.text(), /sidecar_listener_drops_total\{listener="[^"]+",reason="coalesced"\} 47/)
})

test('delivery: min_interval spaces the POSTs once the burst is spent, and each event is sent while the queue has room', async t => {
  const r = await receiver(t)
  const f = await fixture(t, { urls: [r.url()], minIntervalMs: 150, postBurst: 1 })
  const steps: Array<[string, ServiceStatus]> = [['web', ALIVE], ['web', UNHEALTHY], ['db', ALIVE], ['web', ALIVE]]
  for (const [name, status] of steps) f.change(name, status)
  await waitFor(() => f.listeners.list()[0].delivered === 4, { timeoutMs: 20_000, message: () => `4 POSTs (${f.listeners.list()[0].delivered})` })
  t.deepEqual(r.bodies().map(b => [b.ChangeEvent.Service.Name, b.ChangeEvent.PreviousStatus, b.ChangeEvent.Service.Status]), [['web', 3, ALIVE], ['web', ALIVE, UNHEALTHY], ['db', 3, ALIVE], ['web', UNHEALTHY, ALIVE]])
  const gaps = r.requests.slice(1).map((q, i) => q.arrivedAt - r.requests[i].arrivedAt)
  // paced start to start; arrival times carry the machine's jitter (tens of ms on a loaded 2-core host)
  t.true(gaps.every(g => g >= 100), `POSTs ${gaps.join(', ')} ms apart`)
  t.like(f.listeners.list()[0], { coalesced: 0 })
})

test('delivery: a burst of changes goes out back to back up to postBurst, then one POST per min_interval', async t => {
  const r = await receiver(t)
  const f = await fixture(t, { urls: [r.url()], minIntervalMs: 400, postBurst: 3 })
  // six services start at once (a host restarting its containers)
  for (let i = 0; i < 6; i++) f.change(`web${i}`, ALIVE)
  await waitFor(() => f.listeners.list()[0].delivered === 6, { timeoutMs: 20_000, message: () => `6 POSTs (${f.listeners.list()[0].delivered})` })
  t.deepEqual(r.bodies().map(b => b.ChangeEvent.Service.Name), ['web0', 'web1', 'web2', 'web3', 'web4', 'web5'])
  const gaps = r.requests.slice(1).map((q, i) => q.arrivedAt - r.requests[i].arrivedAt)
  t.true(gaps.slice(0, 2).every(g => g < 250), `the burst's POSTs ${gaps.slice(0, 2).join(', ')} ms apart`)
  // paced start to start; arrival times carry the machine's jitter (tens of ms on a loaded 2-core host)
  t.true(gaps.slice(2).every(g => g >= 300), `then ${gaps.slice(2).join(', ')} ms apart`)
  t.like(f.listeners.list()[0], { coalesced: 0 })
})

test('delivery: once its queue overflowed, a paced listener sends only the newest waiting event of each record', async t => {
  const r = await receiver(t)
  const f = await fixture(t, { urls: [r.url()], minIntervalMs: 300, queueSize: 5, postBurst: 1 })
  f.change('web', ALIVE)
  await waitFor(() => r.requests.length === 1, { timeoutMs: 20_000, message: 'the first change POSTed at once' })
  // a record flapping 40 times and another changing once, all within the interval
  for (let i = 1; i <= 40; i++) f.change('web', i % 2 === 0 ? ALIVE : UNHEALTHY)
  f.change('db', ALIVE)
  await waitFor(() => f.listeners.list()[0].delivered === 3, { timeoutMs: 20_000, message: () => `3 POSTs (${f.listeners.list()[0].delivered})` })
  await new Promise(resolve => setTimeout(resolve, 400))
  t.is(r.requests.length, 3)
  t.deepEqual(r.bodies().map(b => [b.ChangeEvent.Service.Name, b.ChangeEvent.Service.Status]), [['web', ALIVE], ['web', ALIVE], ['db', ALIVE]])
  const gaps = r.requests.slice(1).map((q, i) => q.arrivedAt - r.requests[i].arrivedAt)
  t.true(gaps.every(g => g >= 250), `POSTs ${gaps.join(', ')} ms apart`)
  t.like(f.listeners.list()[0], { delivered: 3, coalesced: 39, queueDepth: 0, sending: null })
  t.true(r.requests.at(-1)?.raw.toString().startsWith(`{"State":${encodeState(f.catalog.snapshot())},`), 'the last POST holds the final state')
})

test('delivery: [[listeners.webhook]] filters by service name and by status change', async t => {
  const all = await receiver(t)
  const webOnly = await receiver(t)
  const changesOnly = await receiver(t)
  const f = await fixture(t, {
    urls: [all.url()],
    webhooks: [{ url: webOnly.url(), services: ['web'], statusChangesOnly: false }, { url: changesOnly.url(), services: [], statusChangesOnly: true }],
  })
  f.change('web', ServiceStatus.UNKNOWN) // new, UNKNOWN -> UNKNOWN: not a status change
  f.change('db', ALIVE)
  f.change('web', ALIVE)
  await waitFor(() => all.requests.length === 3 && webOnly.requests.length === 2 && changesOnly.requests.length === 2, { timeoutMs: 20_000, message: 'filtered deliveries' })
  const names = (b: typeof all): string[] => b.bodies().map(x => `${x.ChangeEvent.Service.Name}:${x.ChangeEvent.Service.Status}`)
  t.deepEqual(names(all), ['web:3', 'db:0', 'web:0'])
  t.deepEqual(names(webOnly), ['web:3', 'web:0'])
  t.deepEqual(names(changesOnly), ['db:0', 'web:0'])
  t.deepEqual(f.listeners.list()[1].filter, { services: ['web'], statusChangesOnly: false })
  t.is(f.listeners.list()[0].filter, undefined)
})

test('discovered listeners come with their service and go with it, taking their metrics along', async t => {
  const r = await receiver(t)
  const f = await fixture(t, {})
  const svc = f.change('web', ALIVE)
  f.setTargets([{ name: listenerName(svc), url: r.url('/sidecar/update') }])
  await waitFor(() => f.listeners.list().length === 1, { timeoutMs: 20_000, message: 'discovered listener added' })
  const v = f.listeners.list()[0]
  t.is(v.name, 'Service(web-web)')
  t.is(v.source, 'discovered')
  f.change('web', UNHEALTHY)
  await waitFor(() => r.requests.length === 1, { timeoutMs: 20_000, message: 'a POST to the discovered listener' })
  t.is(r.requests[0].path, '/sidecar/update')
  t.regex(await f.metrics.text(), /listener="Service\(web-web\)"/)
  f.setTargets([])
  await waitFor(() => f.listeners.list().length === 0, { timeoutMs: 20_000, message: 'discovered listener removed' })
  f.change('web', ALIVE)
  await new Promise(resolve => setTimeout(resolve, 200))
  t.is(r.requests.length, 1, 'no POST after the service went away')
  t.notRegex(await f.metrics.text(), /listener="Service\(web-web\)"/)
})

test('delivery: credentials in the URL are sent as Basic auth and never shown', async t => {
  const r = await receiver(t)
  const url = r.url('/hook').replace('http://', 'http://hook-user:s%40cret@')
  const f = await fixture(t, { urls: [url] })
  f.change('web', ALIVE)
  await waitFor(() => r.requests.length === 1, { timeoutMs: 20_000, message: 'one POST' })
  t.is(r.requests[0].headers.authorization, `Basic ${Buffer.from('hook-user:s@cret').toString('base64')}`)
  t.is(r.requests[0].path, '/hook')
  const v = f.listeners.list()[0]
  t.is(v.url, r.url('/hook').replace('http://', 'http://hook-user:***@'))
  t.false(v.name.includes('cret'))
  t.false((await f.metrics.text()).includes('cret'))
})

test('stop: aborts the POST in flight at once and closes its connection', async t => {
  const r = await receiver(t)
  let closed = false
  r.respond = (_q, req) => { req.socket.once('close', () => { closed = true }) }
  const f = await fixture(t, { urls: [r.url()], timeoutMs: 30_000 })
  f.change('web', ALIVE)
  await waitFor(() => r.requests.length === 1, { timeoutMs: 20_000, message: 'POST in flight' })
  const t0 = Date.now()
  await f.listeners.stop()
  t.true(Date.now() - t0 < 5000, `stopped in ${Date.now() - t0} ms (the POST's own timeout is 30 s)`)
  await waitFor(() => closed, { timeoutMs: 10_000, message: 'connection closed' })
  f.change('web', UNHEALTHY)
  t.is(r.requests.length, 1, 'a stopped component posts nothing')
})

test('delivery: the bytes encoded for bodies count as load for the heap mode: a state once, each event\'s own part, a retry adding nothing', async t => {
  const flaky = await receiver(t)
  flaky.respond = (q, _req, res) => { res.statusCode = q.attempt === 1 ? 500 : 200; res.end() }
  const f = await fixture(t, { urls: [flaky.url()] })
  t.is(f.listeners.bodyBytes, 0)
  // 40 changes in one operation: every body holds the state of 40 records of about 4 KB
  const image = 'x'.repeat(4000)
  for (let i = 0; i < 40; i++) f.catalog.merge(makeTestService({ ID: `svc${i}`, Name: `svc${i}`, Image: image, Updated: f.clock.now() }))
  await waitFor(() => flaky.requests.length === 80, { timeoutMs: 30_000, message: () => `80 attempts, two per event (${flaky.requests.length})` })
  const bodies = flaky.requests.filter(q => q.attempt === 1).map(q => q.raw)
  t.is(bodies.length, 40)
  // {"State":<the state after the operation, the same in all 40>,"ChangeEvent":<this event's>}
  const cut = (raw: Buffer): number => raw.lastIndexOf(',"ChangeEvent":')
  const state = bodies[0].subarray('{"State":'.length, cut(bodies[0]))
  t.true(state.length > 160_000, `${state.length} bytes of state`)
  for (const raw of bodies) t.true(raw.subarray('{"State":'.length, cut(raw)).equals(state))
  const own = bodies.reduce((n, raw) => n + raw.length - cut(raw), 0)
  t.is(f.listeners.bodyBytes, state.length + own, `${bodies.reduce((n, raw) => n + raw.length, 0)} bytes sent in 40 bodies`)
})

test('delivery: POSTs share one kept-alive connection, which stop() closes', async t => {
  const r = await receiver(t)
  const sockets = new Set<unknown>()
  r.server.on('connection', s => sockets.add(s))
  const f = await fixture(t, { urls: [r.url()] })
  for (let i = 0; i < 5; i++) {
    f.change('web', i % 2 === 0 ? ALIVE : UNHEALTHY)
    await waitFor(() => f.listeners.list()[0].delivered === i + 1, { timeoutMs: 20_000, message: `POST ${i + 1} acknowledged` })
  }
  t.is(sockets.size, 1, 'five POSTs over one connection')
  const open = async (): Promise<number> => await new Promise<number>((resolve, reject) => { r.server.getConnections((err, n) => { if (err !== null) reject(err); else resolve(n) }) })
  t.is(await open(), 1)
  await f.listeners.stop()
  // At once, not when a keep-alive timeout runs out (the receiver's is 5 s, undici's 4 s).
  await waitFor(async () => await open() === 0, { timeoutMs: 2000, message: 'the idle connection closed by stop()' })
  t.pass()
})

test('delivery: a redirect is not followed but reported, and a receiver that answers garbage gets a clear error', async t => {
  const moved = await receiver(t)
  const elsewhere = await receiver(t)
  const target = elsewhere.url().replace('http://', 'http://user:secret@')
  moved.respond = (_q, _req, res) => { res.writeHead(307, { location: target }); res.end() }
  const garbage = net.createServer(s => { s.on('data', () => { s.end('not http at all\r\n\r\n') }) })
  await new Promise<void>(resolve => garbage.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { garbage.close() })
  const f = await fixture(t, { urls: [moved.url(), `http://127.0.0.1:${(garbage.address() as net.AddressInfo).port}/hook`], retries: 1 })
  f.change('web', ALIVE)
  await waitFor(() => f.listeners.list().every(v => v.gaveUp === 1), { timeoutMs: 20_000, message: 'both gave up the event' })
  const [redirected, parseFailed] = f.listeners.list()
  t.is(moved.requests.length, 2)
  t.is(elsewhere.requests.length, 0, 'the Location was not followed')
  t.is(redirected.lastError?.message, `HTTP 307 Temporary Redirect to ${elsewhere.url().replace('http://', 'http://user:***@')} (redirects are not followed: configure that URL)`)
  t.regex(parseFailed.lastError?.message ?? '', /^connection failed: .*(parse|protocol)/i)
})

test('delivery: an https URL speaks TLS (to a plain-HTTP port it fails with the TLS error, sending nothing)', async t => {
  const r = await receiver(t)
  const f = await fixture(t, { urls: [r.url().replace('http://', 'https://')], retries: 0 })
  f.change('web', ALIVE)
  await waitFor(() => f.listeners.list()[0].gaveUp === 1, { timeoutMs: 20_000, message: 'the event given up' })
  t.is(r.requests.length, 0, 'no POST reached the plain server')
  t.regex(f.listeners.list()[0].lastError?.message ?? '', /^connection failed: TLS handshake failed: wrong version number$/)
})

test('delivery: a reason phrase of 15,000 characters is clipped in the error like the answer\'s start', async t => {
  // a receiver chooses its reason phrase: up to Node's 16 KiB head, one line long
  const reason = `Busy ${'\u001b[31m'.repeat(3000)}`
  const long = net.createServer(s => { s.on('error', () => {}); s.on('data', () => { s.end(`HTTP/1.1 503 ${reason}\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbusy`) }) })
  await new Promise<void>(resolve => long.listen(0, '127.0.72.30', resolve))
  t.teardown(() => { long.close() })
  const f = await fixture(t, { urls: [`http://127.0.72.30:${(long.address() as net.AddressInfo).port}/hook`], retries: 0 })
  f.change('web', ALIVE)
  await waitFor(() => f.listeners.list()[0].gaveUp === 1, { timeoutMs: 20_000, message: 'the event given up' })
  const message = f.listeners.list()[0].lastError?.message ?? ''
  t.true(message.length < 300, `the error is ${message.length} characters long`)
  t.true(message.startsWith('HTTP 503 Busy \u001b[31m'), message.slice(0, 40))
  t.true(message.endsWith('…: busy'), message.slice(-40))
})

const HAVE_OPENSSL = spawnSync('openssl', ['version']).status === 0

test('delivery: a receiver whose certificate does not verify (self-signed) fails with the TLS error and gets no POST', async t => {
  if (!HAVE_OPENSSL) { t.pass('openssl is missing: no certificate to test with'); return }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sidecar-listener-tls-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'), '-days', '2', '-subj', '/CN=receiver.example', '-addext', 'subjectAltName=DNS:receiver.example'], { encoding: 'utf8' })
  t.is(made.status, 0, made.stderr)
  let posts = 0
  const server = https.createServer({ key: readFileSync(path.join(dir, 'key.pem')), cert: readFileSync(path.join(dir, 'cert.pem')) }, (_req, res) => { posts++; res.end() })
  await new Promise<void>(resolve => server.listen(0, '127.0.72.31', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  const f = await fixture(t, { urls: [`https://127.0.72.31:${(server.address() as net.AddressInfo).port}/hook`], retries: 0 })
  f.change('web', ALIVE)
  await waitFor(() => f.listeners.list()[0].gaveUp === 1, { timeoutMs: 20_000, message: 'the event given up' })
  t.is(posts, 0, 'no POST reached the receiver')
  t.is(f.listeners.list()[0].lastError?.message, 'connection failed: TLS handshake failed: self-signed certificate (DEPTH_ZERO_SELF_SIGNED_CERT)')
})

test('delivery: a receiver that echoes the request in its error answer does not show the listener\'s credentials in lastError', async t => {
  const echo = await startReceiver('127.0.72.32')
  t.teardown(async () => { await echo.close() })
  // as an echo endpoint or a verbose 401 page does: the headers and the URL it was asked for
  echo.respond = (r, req, res) => { res.writeHead(401, 'Unauthorized, got Basic ' + (r.headers.authorization ?? '').slice(6)); res.end(JSON.stringify({ url: `http://hook:s3cret@${req.headers.host ?? ''}${r.path}`, authorization: r.headers.authorization })) }
  const f = await fixture(t, { urls: [echo.url('/hook?token=t0ken-9f').replace('http://', 'http://hook:s3cret@')], retries: 0 })
  f.change('web', ALIVE)
  await waitFor(() => f.listeners.list()[0].gaveUp === 1, { timeoutMs: 20_000, message: 'the event given up' })
  t.is(echo.requests[0].headers.authorization, `Basic ${Buffer.from('hook:s3cret').toString('base64')}`, 'the credentials were sent')
  const message = f.listeners.list()[0].lastError?.message ?? ''
  t.is(message, 'HTTP 401 Unauthorized, got Basic ***: {"url":"http://hook:***@127.0.72.32:' + String(echo.port) + '/hook?token=*** ***"}')
  for (const secret of [Buffer.from('hook:s3cret').toString('base64'), 's3cret', 't0ken-9f']) t.false(message.includes(secret), `${secret} in ${message}`)
})
