// /health says "degraded", naming the port and why, while the proxy cannot open a service port
// (another program holds it, or the daemon itself: its API port), and no longer names a port
// once it opened it; and while its identity cannot be kept (an unwritable data_dir). Real
// daemons on 127.0.36.3 and 127.0.36.4.
import test from 'ava'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { startDaemon } from '../helpers/daemon.ts'
import { waitFor } from '../helpers/wait.ts'

const IP = '127.0.36.3'
const SERVICE_PORT = 36080

test('/health is degraded with the port and the reason while a service port is held by another program or by the daemon\'s own API, and drops the port once the proxy has it', async t => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-health-port-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const squatter = net.createServer(s => { s.destroy() })
  await new Promise<void>(resolve => { squatter.listen(SERVICE_PORT, IP, resolve) })
  t.teardown(() => { squatter.close() })
  const file = path.join(dir, 'static.json')
  await writeFile(file, JSON.stringify([
    { Service: { Name: 'web', Ports: [{ Port: 36081, ServicePort: SERVICE_PORT }] }, Check: { Type: 'AlwaysSuccessful' } },
    { Service: { Name: 'clash', Ports: [{ Port: 36082, ServicePort: 7777 }] }, Check: { Type: 'AlwaysSuccessful' } },
  ]))
  const d = await startDaemon({ ip: IP, hostname: 'health-port', cwd: dir, args: ['-d', 'static'], env: { STATIC_CONFIG_FILE: file } })
  t.teardown(() => { d.kill() })
  t.is(d.apiPort, 7777)
  interface Health { status: string, proxyErrors?: Record<string, string> }
  const degraded = await waitFor(async () => { const h = await d.json<Health>('/health'); return Object.keys(h.proxyErrors ?? {}).length === 2 && h }, { timeoutMs: 20_000, message: () => `degraded\n${d.output.slice(-2000)}` })
  t.is(degraded.status, 'degraded')
  t.deepEqual(degraded.proxyErrors, {
    [String(SERVICE_PORT)]: `web: port ${SERVICE_PORT} is in use on ${IP} by another program`,
    7777: `clash: port 7777 is in use on ${IP} by this daemon itself: it is its API port ([api] port); choose another ServicePort or move that port`,
  })
  const res = await fetch(d.url('/health'))
  t.is(res.status, 200, 'degraded is still up: a HEALTHCHECK does not restart the daemon for it')

  await new Promise<void>(resolve => { squatter.close(() => { resolve() }) })
  const freed = await waitFor(async () => { const h = await d.json<Health>('/health'); return h.proxyErrors?.[String(SERVICE_PORT)] === undefined && h }, { timeoutMs: 30_000, message: () => `the freed port opened\n${d.output.slice(-2000)}` })
  t.deepEqual(Object.keys(freed.proxyErrors ?? {}), ['7777'], 'only the port the daemon holds itself is left')
})

test('/health is degraded, saying what a restart will cost, while the node key cannot be kept (data_dir not writable)', async t => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-health-key-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const blocker = path.join(dir, 'a-file')
  await writeFile(blocker, 'not a directory')
  const file = path.join(dir, 'static.json')
  await writeFile(file, '[]')
  const d = await startDaemon({ ip: '127.0.36.4', hostname: 'health-key', cwd: dir, args: ['-d', 'static'], env: { STATIC_CONFIG_FILE: file, SIDECAR_DATA_DIR: path.join(blocker, 'data') } })
  t.teardown(() => { d.kill() })
  const h = await waitFor(async () => { const h = await d.json<{ status: string, identityError?: string }>('/health'); return h.status !== 'starting' && h }, { timeoutMs: 20_000, message: () => `running\n${d.output.slice(-2000)}` })
  t.is(h.status, 'degraded')
  t.regex(h.identityError ?? '', /^cannot keep the node key in .*a-file\/data \(ENOTDIR\): this run's peer id is lost at exit, and after a restart every peer that knew health-key refuses the new one/)
  await d.waitForOutput(/WARN: .*cannot keep the node key in/)
})
