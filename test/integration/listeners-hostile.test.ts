// Webhook listeners against what an operator's config or a receiver gets wrong, with real
// daemons on 127.0.42.x and real HTTP servers run by the test.
import { spawnSync } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import test, { type ExecutionContext } from 'ava'
import { BIN, startDaemon, type DaemonProcess } from '../helpers/daemon.ts'
import { startReceiver, type Receiver } from '../helpers/receiver.ts'
import { waitFor } from '../helpers/wait.ts'

interface ListenerJson { name: string, url: string, delivered: number, coalesced: number, queueDepth: number, lastError: { message: string } | null }

async function tmp (t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-listeners-hostile-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

async function receiver (t: ExecutionContext, host = '127.0.42.10'): Promise<Receiver> {
  const r = await startReceiver(host)
  t.teardown(async () => { await r.close() })
  return r
}

const entry = (name: string): unknown => ({ Service: { Name: name, Image: `${name}:1`, Ports: [] }, Check: { Type: 'AlwaysSuccessful' } })

/** A daemon with static discovery of entries and the given sidecar.toml. */
async function daemon (t: ExecutionContext, ip: string, dir: string, toml: string, entries: unknown[], env: Record<string, string> = {}): Promise<{ d: DaemonProcess, file: string }> {
  const file = path.join(dir, 'static.json')
  await writeFile(file, JSON.stringify(entries))
  await writeFile(path.join(dir, 'sidecar.toml'), toml)
  const d = await startDaemon({ ip, hostname: 'hostile', cwd: dir, args: ['-d', 'static', '-f', path.join(dir, 'sidecar.toml')], env: { STATIC_CONFIG_FILE: file, HEALTH_INTERVAL: '500ms', ...env } })
  t.teardown(() => { d.kill() })
  return { d, file }
}

const listeners = async (d: DaemonProcess): Promise<ListenerJson[]> => (await d.json<{ listeners: ListenerJson[] }>('/api/listeners.json')).listeners

test('a webhook password with a "%" that starts no escape: the daemon starts and sends it as it is written', async t => {
  const dir = await tmp(t)
  const r = await receiver(t)
  // "%25" is an escaped "%"; the last "%" escapes nothing (WHATWG URLs keep it as it is)
  const url = `http://hook:100%25sure%@127.0.42.10:${r.port}/hook`
  const { d } = await daemon(t, '127.0.42.2', dir, `[listeners]\nurls = ["${url}"]\n`, [entry('a')])
  await waitFor(() => r.requests.length >= 1, { timeoutMs: 30_000, message: () => `a POST to the receiver\n${d.output.slice(-3000)}` })
  t.is(r.requests[0].headers.authorization, `Basic ${Buffer.from('hook:100%sure%').toString('base64')}`)
  const [l] = await listeners(d)
  t.is(l.url, `http://hook:***@127.0.42.10:${r.port}/hook`)
  t.false(d.output.includes('100%'), 'the password is in no log line')
})

test('--check-config never prints a webhook password: a wrong scheme, a URL that does not parse, a URL listed twice', t => {
  const dir = os.tmpdir()
  const run = (env: Record<string, string>): string => {
    const r = spawnSync(process.execPath, [BIN, '--check-config'], { cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: dir, SIDECAR_FROM_SOURCE: '1', ...env }, timeout: 60_000 })
    t.is(r.status, 2, r.stderr)
    return r.stderr
  }
  const scheme = run({ LISTENERS_URLS: 'ftp://hook:Sch3meSecret@127.0.42.10/x' })
  t.true(scheme.includes('"ftp://hook:***@127.0.42.10/x" must be an http:// or https:// URL'), scheme)
  const unparsed = run({ LISTENERS_URLS: 'http://hook:Unpars3dSecret@127.0.42.10:99999/x' })
  t.true(unparsed.includes('"http://hook:***@127.0.42.10:99999/x" is not a URL'), unparsed)
  const twice = run({ LISTENERS_URLS: 'http://hook:Tw1ceSecret@127.0.42.10/x', LISTENERS_WEBHOOK: '[{"url": "http://hook:Tw1ceSecret@127.0.42.10/x"}]' })
  t.true(twice.includes('"http://hook:***@127.0.42.10/x" is listed twice'), twice)
  for (const out of [scheme, unparsed, twice]) t.false(/Sch3meSecret|Unpars3dSecret|Tw1ceSecret/.test(out), out)
})

/**
 * A daemon with `services` static services and `count` webhooks to a server that takes each
 * POST and never answers it, so every queue fills up (the services added, then ALIVE: two
 * events each). Once every queue has coalesced, the static file is emptied: returns how long
 * until /api/state.json shows every service tombstoned, and the longest event-loop delay meanwhile.
 */
async function removeBesideFullQueues (t: ExecutionContext, ip: string, deadIp: string, count: number, services: number, queueSize: number): Promise<{ d: DaemonProcess, ms: number, loopMaxMs: number }> {
  const dir = await tmp(t)
  const dead = net.createServer(s => { s.pause(); s.on('error', () => {}) })
  await new Promise<void>(resolve => dead.listen(0, deadIp, resolve))
  t.teardown(() => { dead.close() })
  const port = (dead.address() as net.AddressInfo).port
  const webhooks = Array.from({ length: count }, (_, i) => `[[listeners.webhook]]\nurl = "http://${deadIp}:${port}/dead${i}"\n`).join('')
  const { d, file } = await daemon(t, ip, dir, `[listeners]\nqueue_size = ${queueSize}\ntimeout = "60s"\n${webhooks}`, Array.from({ length: services }, (_, i) => entry(`s${i}`)), { SIDECAR_LOGGING_LEVEL: 'info' })
  const statuses = async (): Promise<number[]> => {
    const state = await d.json<{ Servers: Record<string, { Services: Record<string, { Status: number }> }> }>('/api/state.json')
    return Object.values(state.Servers.hostile?.Services ?? {}).map(s => s.Status)
  }
  await waitFor(async () => (await statuses()).filter(s => s === 0).length === services, { timeoutMs: 60_000, message: () => `all ALIVE\n${d.output.slice(-3000)}` })
  let coalesced: number[] = []
  await waitFor(async () => (coalesced = (await listeners(d)).map(l => l.coalesced)).every(c => c > 0), { timeoutMs: 60_000, message: () => `every queue full, coalesced: ${JSON.stringify(coalesced)}` })

  const loopMax = async (): Promise<number> => Number(/^sidecar_event_loop_delay_max_seconds (\S+)$/m.exec(await (await fetch(d.url('/metrics'))).text())?.[1]) * 1000
  await loopMax() // the delay since the previous scrape: this one starts the window
  const t0 = Date.now()
  await writeFile(file, '[]')
  await waitFor(async () => (await statuses()).every(s => s === 1), { timeoutMs: 120_000, message: 'every service tombstoned' })
  const ms = Date.now() - t0
  return { d, ms, loopMaxMs: await loopMax() }
}

test('receivers that never answer, with a large queue_size, do not slow the catalog: 1,500 services removed show at once', async t => {
  t.timeout(180_000)
  // 3,000 events for queues of 2,500
  const { d, ms, loopMaxMs } = await removeBesideFullQueues(t, '127.0.42.3', '127.0.42.11', 30, 1500, 2500)
  t.log(`1,500 services tombstoned ${ms} ms after the file was emptied, beside 30 full queues of 2,500; longest event-loop delay ${loopMaxMs.toFixed(0)} ms`)
  // before: each change rebuilt the list of keys of every full queue (0.3 ms each, 9 ms a change):
  // 11 s alone. Now 0.9 s alone; a loaded CI machine took 5.0 s once (e3e7fd7 there: 7.1 s)
  t.true(ms < 10_000, `tombstoned after ${ms} ms`)
  const views = await listeners(d)
  t.true(views.every(l => l.queueDepth === 2500), 'the queues stay at their size')
})

test('webhook credentials are never shown: a token as the user part, a token in the query, and two passwords for one URL are two listeners', async t => {
  const dir = await tmp(t)
  const r = await receiver(t)
  const base = `127.0.42.10:${r.port}`
  const urls = [
    `http://UserT0ken@${base}/user`,
    `http://${base}/query?token=QueryT0ken&x=1`,
    `http://hook:FirstPassw0rd@${base}/same`,
    `http://hook:SecondPassw0rd@${base}/same`,
    // refused: its failures are logged under its name
    `http://DeadT0ken@127.0.42.12:1/dead?api_key=DeadKey0`,
  ]
  const { d } = await daemon(t, '127.0.42.4', dir, `[listeners]\nurls = ${JSON.stringify(urls)}\nretries = 0\n`, [entry('a')])
  await waitFor(() => r.requests.filter(q => q.path === '/same').length >= 4, { timeoutMs: 30_000, message: () => `both /same listeners got both events\n${d.output.slice(-3000)}` })
  await waitFor(() => d.output.includes('DeadKey0') || d.output.includes('dropped event'), { timeoutMs: 30_000, message: () => `the refused listener's failure logged\n${d.output.slice(-3000)}` })

  const basic = (s: string): string => `Basic ${Buffer.from(s).toString('base64')}`
  t.deepEqual(new Set(r.requests.filter(q => q.path === '/same').map(q => q.headers.authorization)), new Set([basic('hook:FirstPassw0rd'), basic('hook:SecondPassw0rd')]))
  t.is(r.requests.find(q => q.path === '/user')?.headers.authorization, basic('UserT0ken:'))
  t.true(r.requests.some(q => q.path === '/query?token=QueryT0ken&x=1'), 'the query goes out as configured')

  const views = await listeners(d)
  t.deepEqual(views.map(v => v.name), [
    `UrlListener(http://***@${base}/user)`,
    `UrlListener(http://${base}/query?token=***&x=1)`,
    `UrlListener(http://hook:***@${base}/same)`,
    `UrlListener(http://hook:***@${base}/same) #2`,
    'UrlListener(http://***@127.0.42.12:1/dead?api_key=***)',
  ])
  const shown = [JSON.stringify(views), await (await fetch(d.url('/metrics'))).text(), d.output].join('\n')
  for (const secret of ['UserT0ken', 'QueryT0ken', 'FirstPassw0rd', 'SecondPassw0rd', 'DeadT0ken', 'DeadKey0']) t.false(shown.includes(secret), `${secret} is shown`)
})

test('300 listeners whose receivers never answer: 1,000 services removed show in the catalog at once, and /metrics counts the drops', async t => {
  t.timeout(180_000)
  // 2,000 events for queues of 100
  const { d, ms, loopMaxMs } = await removeBesideFullQueues(t, '127.0.42.5', '127.0.42.13', 300, 1000, 100)
  t.log(`1,000 services tombstoned ${ms} ms after the file was emptied, beside 300 full queues; longest event-loop delay ${loopMaxMs.toFixed(0)} ms`)
  // before: 12 µs per listener for each change while its queue was full (a scan of the queue and a labelled
  // counter's inc), and the removal showed after 5.6-6.8 s; now 1.2-2.3 s (0.6-1.1 s with one listener).
  // Too close a margin to assert on a shared machine: the figure is logged, the behaviour checked below.
  t.true(ms < 60_000, `tombstoned after ${ms} ms`)
  // the changes reach the listeners' queues after the catalog operations that made them, in
  // slices: /api/listeners.json says how many still wait (before, its queue depths alone could
  // look drained while changes waited), as the gauge does
  let backlog: unknown
  await waitFor(async () => (backlog = (await d.json<{ backlog?: number }>('/api/listeners.json')).backlog) === 0, { timeoutMs: 60_000, message: () => `every change handed to the listeners: backlog ${String(backlog)}` })
  const views = await listeners(d)
  const metrics = await (await fetch(d.url('/metrics'))).text()
  t.regex(metrics, /^sidecar_listener_backlog 0$/m)
  const drops = [...metrics.matchAll(/^sidecar_listener_drops_total\{listener="([^"]+)",reason="coalesced"\} (\d+)$/gm)]
  t.is(drops.length, 300)
  t.deepEqual(new Map(drops.map(m => [m[1], Number(m[2])])), new Map(views.map(v => [v.name, v.coalesced])), '/metrics and /api/listeners.json agree')
})
