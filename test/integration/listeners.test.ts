// Webhook listeners end to end: real daemon processes on 127.0.5.x posting to HTTP
// receivers run by the test (configured [listeners] urls, a static entry's ListenPort).
import { createHmac, timingSafeEqual } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import type net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import test, { type ExecutionContext } from 'ava'
import { startDaemon, type DaemonProcess } from '../helpers/daemon.ts'
import { startReceiver, type Receiver, type StateChangedEvent } from '../helpers/receiver.ts'
import { sleep, waitFor } from '../helpers/wait.ts'

interface ListenerJson { name: string, source: string, url: string, lastSuccess: string | null, lastError: { message: string } | null, consecutiveFailures: number, queueDepth: number, delivered: number, failedAttempts: number }
interface StateJson { Servers: Record<string, { Services: Record<string, { Name: string, Status: number }> }>, LastChanged: string }

async function tmp (t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-listeners-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

async function receiver (t: ExecutionContext, host?: string): Promise<Receiver> {
  const r = await startReceiver(host)
  t.teardown(async () => { await r.close() })
  return r
}

/** An HTTP server whose answer the test switches between 200 and 500: a health check target. */
async function toggleable (t: ExecutionContext): Promise<{ port: number, healthy: { value: boolean } }> {
  const healthy = { value: true }
  const server = http.createServer((_req, res) => { res.statusCode = healthy.value ? 200 : 500; res.end() })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.close(); server.closeAllConnections() })
  return { port: (server.address() as net.AddressInfo).port, healthy }
}

function entry (name: string, extra: Record<string, unknown> = {}): unknown {
  return { Service: { Name: name, Image: `${name}:1`, Ports: [] }, Check: { Type: 'AlwaysSuccessful' }, ...extra }
}

async function daemon (t: ExecutionContext, ip: string, hostname: string, dir: string, entries: unknown[], env: Record<string, string>, args: string[] = []): Promise<{ d: DaemonProcess, file: string }> {
  const file = path.join(dir, 'static.json')
  await writeFile(file, JSON.stringify(entries))
  const d = await startDaemon({ ip, hostname, cwd: dir, args: ['-d', 'static', ...args], env: { STATIC_CONFIG_FILE: file, HEALTH_INTERVAL: '500ms', HEALTH_TIMEOUT: '400ms', ...env } })
  t.teardown(() => { d.kill() })
  return { d, file }
}

const listeners = async (d: DaemonProcess): Promise<ListenerJson[]> => (await d.json<{ listeners: ListenerJson[] }>('/api/listeners.json')).listeners

test('listeners: a configured listener gets one POST per change, in order, with the reference body', async t => {
  const dir = await tmp(t)
  const r = await receiver(t)
  const backend = await toggleable(t)
  const web = entry('web', { Check: { Type: 'HttpGet', Args: `http://127.0.0.1:${backend.port}/` } })
  // checks of 1 s, not 500 ms: the sequence below starts with web ALIVE, and on a loaded machine (CI, 2 cores) the first
  // check of a daemon still starting up once took longer than 400 ms, and web began UNHEALTHY
  const { d, file } = await daemon(t, '127.0.5.2', 'listeners-a', dir, [web, entry('db')], { LISTENERS_URLS: r.url('/api/update'), HEALTH_INTERVAL: '1s', HEALTH_TIMEOUT: '1s' })
  const statuses = (name: string): number[] => r.bodies().filter(b => b.ChangeEvent.Service.Name === name).map(b => b.ChangeEvent.Service.Status)
  const message = (what: string) => () => `${what}; received ${JSON.stringify(r.bodies().map(b => [b.ChangeEvent.Service.Name, b.ChangeEvent.PreviousStatus, b.ChangeEvent.Service.Status]))}\n${d.output.slice(-3000)}`

  await waitFor(() => statuses('web').at(-1) === 0 && statuses('db').at(-1) === 0, { timeoutMs: 30_000, message: message('web and db ALIVE') })
  backend.healthy.value = false
  await waitFor(() => statuses('web').at(-1) === 2, { timeoutMs: 30_000, message: message('web UNHEALTHY') })
  backend.healthy.value = true
  await waitFor(() => statuses('web').at(-1) === 0, { timeoutMs: 30_000, message: message('web ALIVE again') })
  await writeFile(file, JSON.stringify([web]))
  await waitFor(() => statuses('db').at(-1) === 1, { timeoutMs: 30_000, message: message('db TOMBSTONE') })
  await sleep(300)

  const ids = r.requests.map(q => Number(q.headers['x-sidecar-event-id']))
  t.true(ids.every((id, i) => i === 0 || id > ids[i - 1]), `ids increase in arrival order: ${ids.join(',')}`)
  const last = new Map<string, number>()
  for (const [i, q] of r.requests.entries()) {
    t.is(q.method, 'POST')
    t.is(q.path, '/api/update')
    t.is(q.headers['content-type'], 'application/json')
    t.is(q.headers['x-sidecar-hostname'], 'listeners-a')
    t.is(Number(q.headers['content-length']), q.raw.length)
    const b = JSON.parse(q.raw.toString()) as StateChangedEvent
    t.deepEqual(Object.keys(b), ['State', 'ChangeEvent'])
    t.deepEqual(Object.keys(b.ChangeEvent), ['Service', 'PreviousStatus', 'Time'])
    t.deepEqual(Object.keys(b.State), ['Servers', 'LastChanged', 'ClusterName', 'Hostname'])
    t.deepEqual(Object.keys(b.ChangeEvent.Service), ['ID', 'Name', 'Image', 'Created', 'Hostname', 'Ports', 'Updated', 'ProxyMode', 'Status'])
    const svc = b.ChangeEvent.Service
    t.is(b.ChangeEvent.Time, svc.Updated)
    t.is(b.State.Hostname, 'listeners-a')
    t.is(b.State.ClusterName, 'default')
    t.deepEqual(b.State.Servers['listeners-a'].Services[svc.ID], svc, `event ${i}: the state is the one right after the change`)
    // One POST per change: each event starts from the status the previous one ended in.
    t.is(b.ChangeEvent.PreviousStatus, last.get(svc.ID) ?? 3, `event ${i} (${svc.Name}) continues the chain`)
    last.set(svc.ID, svc.Status)
  }
  t.deepEqual(statuses('web'), [3, 0, 2, 0])
  t.deepEqual(statuses('db'), [3, 0, 1])

  const state = await d.json<StateJson>('/api/state.json')
  t.is(r.bodies().at(-1)?.State.LastChanged, state.LastChanged, 'the last POST carries the current state')
  const [l] = await listeners(d)
  t.like(l, { name: `UrlListener(${r.url('/api/update')})`, source: 'config', url: r.url('/api/update'), consecutiveFailures: 0, queueDepth: 0, lastError: null, delivered: r.requests.length })
  t.not(l.lastSuccess, null)
})

test('listeners: retries resend the whole body (500, dropped connection, then 200); a hanging receiver delays no one', async t => {
  const dir = await tmp(t)
  const flaky = await receiver(t)
  flaky.respond = (q, _req, res) => {
    if (q.attempt === 1) { res.statusCode = 500; res.end('try again'); return }
    if (q.attempt === 2) { res.socket?.destroy(); return }
    res.end()
  }
  const hang = await receiver(t)
  const abandonedAfter: number[] = []
  hang.respond = (q, req) => { req.socket.once('close', () => abandonedAfter.push(Date.now() - q.arrivedAt)) }
  const fast = await receiver(t)
  const { d } = await daemon(t, '127.0.5.3', 'listeners-b', dir, [entry('one'), entry('two')], { LISTENERS_URLS: [flaky.url(), hang.url(), fast.url()].join(',') })

  // 4 events: two services added, then ALIVE. The fast listener has them all while the
  // hanging one is still on its first event (each attempt waits out the 3 s timeout).
  await waitFor(() => fast.requests.length === 4, { timeoutMs: 30_000, message: () => `fast listener got 4 events, got ${fast.requests.length}\n${d.output.slice(-3000)}` })
  t.is(new Set(hang.requests.map(q => q.headers['x-sidecar-event-id'])).size, 1, 'the hanging listener is still on its first event')
  t.log(`fast listener: 4 events within ${fast.requests[3].completeAt - fast.requests[0].arrivedAt} ms`)

  await waitFor(() => flaky.requests.filter(q => q.attempt === 3).length >= 1, { timeoutMs: 30_000, message: 'a third attempt at the flaky receiver' })
  const first = flaky.requests.filter(q => q.headers['x-sidecar-event-id'] === flaky.requests[0].headers['x-sidecar-event-id'])
  t.deepEqual(first.map(q => q.attempt), [1, 2, 3])
  t.true(first[0].raw.length > 200)
  t.true(first[1].raw.equals(first[0].raw) && first[2].raw.equals(first[0].raw), 'every attempt carries the same complete body')
  t.is((JSON.parse(first[2].raw.toString()) as StateChangedEvent).ChangeEvent.PreviousStatus, 3)

  await waitFor(() => abandonedAfter.length >= 1, { timeoutMs: 30_000, message: 'the hanging request was abandoned' })
  // The deadline starts before the request reaches the receiver, so it sees a little less than 3 s.
  t.true(abandonedAfter[0] >= 1500 && abandonedAfter[0] < 9000, `abandoned after ${abandonedAfter[0]} ms (timeout 3 s)`)
  const views = await listeners(d)
  t.regex(views[1].lastError?.message ?? '', /no response within 3000 ms/)
  t.true(views[1].consecutiveFailures >= 1)
  t.is(views[2].consecutiveFailures, 0)
})

test('listeners: a static entry\'s ListenPort gets /sidecar/update calls until the entry goes', async t => {
  const dir = await tmp(t)
  const ip = '127.0.5.4'
  const app = await receiver(t, ip) // the ListenPort URL uses the advertise IP
  const probe = await receiver(t)
  const backend = await toggleable(t)
  const other = entry('other', { Check: { Type: 'HttpGet', Args: `http://127.0.0.1:${backend.port}/` } })
  const { d, file } = await daemon(t, ip, 'listeners-c', dir, [entry('app', { ListenPort: app.port }), other], { LISTENERS_URLS: probe.url() })

  await waitFor(() => app.bodies().some(b => b.ChangeEvent.Service.Name === 'other' && b.ChangeEvent.Service.Status === 0), { timeoutMs: 30_000, message: () => `app listener told other is ALIVE\n${d.output.slice(-3000)}` })
  t.true(app.requests.every(q => q.path === '/sidecar/update' && q.method === 'POST'))
  const firstToApp = app.bodies()[0].ChangeEvent
  t.deepEqual([firstToApp.Service.Name, firstToApp.PreviousStatus], ['app', 3], 'the listener exists before its own service is first announced')
  const appId = app.bodies().find(b => b.ChangeEvent.Service.Name === 'app')?.ChangeEvent.Service.ID
  const views = await listeners(d)
  t.like(views.find(v => v.source === 'discovered'), { name: `Service(app-${appId})`, url: `http://${ip}:${app.port}/sidecar/update` })

  await writeFile(file, JSON.stringify([other]))
  await waitFor(async () => (await listeners(d)).every(v => v.source !== 'discovered'), { timeoutMs: 30_000, message: 'the app listener removed with its entry' })
  const seen = app.requests.length
  backend.healthy.value = false
  await waitFor(() => probe.bodies().some(b => b.ChangeEvent.Service.Name === 'other' && b.ChangeEvent.Service.Status === 2), { timeoutMs: 30_000, message: 'probe told other is UNHEALTHY' })
  await sleep(500)
  t.is(app.requests.length, seen, 'no calls after the service went away')
})

test('listeners: with a secret, X-Sidecar-Signature is the HMAC-SHA256 of the exact body; webhook filters apply', async t => {
  const dir = await tmp(t)
  const r = await receiver(t)
  const onlyB = await receiver(t)
  const secret = 'correct horse battery staple'
  await writeFile(path.join(dir, 'sidecar.toml'), `
[listeners]
urls = ["${r.url()}"]
secret = "${secret}"

[[listeners.webhook]]
url = "${onlyB.url()}"
services = ["b"]
status_changes_only = true
`)
  const { d } = await daemon(t, '127.0.5.5', 'listeners-d', dir, [entry('a'), entry('b')], {}, ['-f', path.join(dir, 'sidecar.toml')])
  await waitFor(() => r.requests.length >= 4 && onlyB.requests.length >= 1, { timeoutMs: 30_000, message: () => `4 signed events\n${d.output.slice(-3000)}` })
  for (const q of [...r.requests, ...onlyB.requests]) {
    const header = String(q.headers['x-sidecar-signature'])
    t.regex(header, /^sha256=[0-9a-f]{64}$/)
    const expected = createHmac('sha256', secret).update(q.raw).digest()
    t.true(timingSafeEqual(Buffer.from(header.slice('sha256='.length), 'hex'), expected), 'signature verifies over the received bytes')
    t.false(timingSafeEqual(Buffer.from(header.slice('sha256='.length), 'hex'), createHmac('sha256', 'wrong').update(q.raw).digest()))
  }
  await sleep(500)
  t.deepEqual(onlyB.bodies().map(b => [b.ChangeEvent.Service.Name, b.ChangeEvent.PreviousStatus, b.ChangeEvent.Service.Status]), [['b', 3, 0]])
})
