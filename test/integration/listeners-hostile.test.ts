// Webhook listeners against what an operator's config or a receiver gets wrong, with real
// daemons on 127.0.42.x and real HTTP servers run by the test.
import { spawnSync } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import test, { type ExecutionContext } from 'ava'
import { BIN, startDaemon, type DaemonProcess } from '../helpers/daemon.ts'
import { startReceiver, type Receiver } from '../helpers/receiver.ts'
import { waitFor } from '../helpers/wait.ts'

interface ListenerJson { name: string, url: string, delivered: number, lastError: { message: string } | null }

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
