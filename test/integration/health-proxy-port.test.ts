// /health says "degraded", naming the port and why, while the proxy cannot open a service port
// (another program holds it), and "ok" again once it opened it. A real daemon on 127.0.36.3.
import test from 'ava'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { startDaemon } from '../helpers/daemon.ts'
import { waitFor } from '../helpers/wait.ts'

const IP = '127.0.36.3'
const SERVICE_PORT = 36080

test('/health is degraded with the port and the reason while a service port is held by another program, ok once the proxy has it', async t => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-health-port-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const squatter = net.createServer(s => { s.destroy() })
  await new Promise<void>(resolve => { squatter.listen(SERVICE_PORT, IP, resolve) })
  t.teardown(() => { squatter.close() })
  const file = path.join(dir, 'static.json')
  await writeFile(file, JSON.stringify([{ Service: { Name: 'web', Ports: [{ Port: 36081, ServicePort: SERVICE_PORT }] }, Check: { Type: 'AlwaysSuccessful' } }]))
  const d = await startDaemon({ ip: IP, hostname: 'health-port', cwd: dir, args: ['-d', 'static'], env: { STATIC_CONFIG_FILE: file } })
  t.teardown(() => { d.kill() })
  interface Health { status: string, proxyErrors?: Record<string, string> }
  const degraded = await waitFor(async () => { const h = await d.json<Health>('/health'); return h.proxyErrors !== undefined && h }, { timeoutMs: 20_000, message: () => `degraded\n${d.output.slice(-2000)}` })
  t.is(degraded.status, 'degraded')
  t.deepEqual(degraded.proxyErrors, { [String(SERVICE_PORT)]: `web: port ${SERVICE_PORT} is in use on ${IP} by another program` })
  const res = await fetch(d.url('/health'))
  t.is(res.status, 200, 'degraded is still up: a HEALTHCHECK does not restart the daemon for it')

  await new Promise<void>(resolve => { squatter.close(() => { resolve() }) })
  const ok = await waitFor(async () => { const h = await d.json<Health>('/health'); return h.status === 'ok' && h }, { timeoutMs: 30_000, message: () => `ok once the port is free\n${d.output.slice(-2000)}` })
  t.is(ok.proxyErrors, undefined)
})
