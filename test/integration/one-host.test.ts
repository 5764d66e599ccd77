// The one-host slice end to end: a real daemon process on 127.0.0.2 with a static file
// whose services point at HTTP and TCP servers run by this test.
import test from 'ava'
import http from 'node:http'
import net from 'node:net'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { startDaemon, type DaemonProcess } from '../helpers/daemon.ts'
import { waitFor } from '../helpers/wait.ts'

const IP = '127.0.0.2'
const CHECK_INTERVAL_MS = 1000

interface Instance { ID: string, Name: string, Status: number, Hostname: string, Ports: Array<{ Port: number, IP: string }> }
type ServicesJson = { Services: Record<string, Instance[]>, ClusterMembers?: Record<string, { Name: string, ServiceCount: number }>, ClusterName: string }

async function listen (server: http.Server | net.Server): Promise<number> {
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return (server.address() as net.AddressInfo).port
}

function entry (name: string, port: number, check: { Type: string, Args: string }): unknown {
  return { Service: { Name: name, Image: `${name}:1.0`, Ports: [{ Type: 'tcp', Port: port, ServicePort: 0, IP: '127.0.0.1' }] }, Check: check }
}

function statusOf (doc: ServicesJson, name: string): number | undefined {
  return doc.Services[name]?.[0]?.Status
}

test('one host: static services are health checked, reloaded, tombstoned, and SIGTERM exits 0', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-one-host-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const httpBackend = http.createServer((_req, res) => { res.end('ok') })
  const tcpBackend = net.createServer(socket => { socket.end() })
  const httpPort = await listen(httpBackend)
  const tcpPort = await listen(tcpBackend)
  t.teardown(() => { httpBackend.close(); httpBackend.closeAllConnections(); tcpBackend.close() })

  const file = path.join(dir, 'static.json')
  const web = entry('web', httpPort, { Type: 'HttpGet', Args: `http://127.0.0.1:${httpPort}/` })
  const db = entry('db', tcpPort, { Type: 'TcpConnect', Args: `127.0.0.1:${tcpPort}` })
  await writeFile(file, JSON.stringify([web, db]))

  const d: DaemonProcess = await startDaemon({
    ip: IP,
    hostname: 'one-host-a',
    cwd: dir,
    args: ['-d', 'static'],
    env: { STATIC_CONFIG_FILE: file, HEALTH_INTERVAL: `${CHECK_INTERVAL_MS}ms`, HEALTH_TIMEOUT: '500ms' },
  })
  t.teardown(() => { d.kill() })
  const services = async (): Promise<ServicesJson> => await d.json<ServicesJson>('/services.json')

  // Both services ALIVE, with this host's name and the ports from the file.
  const alive = await waitFor(async () => {
    const doc = await services()
    return statusOf(doc, 'web') === 0 && statusOf(doc, 'db') === 0 && doc
  }, { timeoutMs: 10_000, message: () => `web and db ALIVE\n${d.output.slice(-3000)}` })
  t.is(alive.Services.web[0].Hostname, 'one-host-a')
  t.is(alive.Services.web[0].Ports[0].Port, httpPort)
  t.is(alive.ClusterName, 'default')
  t.is(alive.ClusterMembers?.['one-host-a']?.ServiceCount, 2)
  const webId = alive.Services.web[0].ID
  t.regex(webId, /^[0-9a-f]{12}$/)

  // The same routes under /api/, the per-service route, and the state document.
  const api = await d.json<ServicesJson>('/api/services/web.json')
  t.deepEqual(api.Services.web.map(s => s.ID), [webId])
  const state = await d.json<{ Servers: Record<string, { Services: Record<string, Instance> }>, Hostname: string }>('/api/state.json')
  t.is(state.Hostname, 'one-host-a')
  t.truthy(state.Servers['one-host-a'].Services[webId])
  const missing = await fetch(d.url('/api/services/nope.json'))
  t.is(missing.status, 404)
  t.deepEqual(await missing.json(), { message: 'no instances of nope found', status: 'error' })

  // Stopping the HTTP backend makes web UNHEALTHY within two check intervals (plus slack for a loaded machine).
  httpBackend.close()
  httpBackend.closeAllConnections()
  const stoppedAt = Date.now()
  await waitFor(async () => statusOf(await services(), 'web') === 2, { timeoutMs: 2 * CHECK_INTERVAL_MS + 3000, message: 'web UNHEALTHY after its backend stopped' })
  t.log(`web UNHEALTHY ${Date.now() - stoppedAt} ms after its backend stopped (check interval ${CHECK_INTERVAL_MS} ms)`)
  t.is(statusOf(await services(), 'db'), 0)

  // A broken edit keeps the last good set and shows the error on /health.
  await writeFile(file, '[{"Service": {"Name": "web", "Ports": [{"Port": "not a number"}]}}]')
  await waitFor(async () => (await d.json<{ status: string }>('/health')).status === 'degraded', { timeoutMs: 5000, message: '/health reports the bad static file' })
  const afterBadEdit = await services()
  t.is(statusOf(afterBadEdit, 'db'), 0, 'db still ALIVE after a broken edit')
  t.not(statusOf(afterBadEdit, 'web'), 1, 'web not tombstoned by a broken edit')
  const health = await d.json<{ discoveryErrors: Record<string, string> }>('/health')
  t.regex(health.discoveryErrors.static, /entry 0 \(web\)/)

  // Deleting an entry from the file tombstones it (within 2 s of the edit; generous timeout).
  await writeFile(file, JSON.stringify([db]))
  await waitFor(async () => statusOf(await services(), 'web') === 1, { timeoutMs: 5000, message: 'web TOMBSTONE after its entry was deleted' })
  t.is(statusOf(await services(), 'db'), 0)
  t.is((await d.json<{ status: string }>('/health')).status, 'ok')

  // SIGTERM: a clean exit, within the daemon's own 5 s stop limit (it exits 1 when it hits it).
  const exit = await d.stop('SIGTERM')
  t.is(exit.code, 0)
  t.true(exit.ms < 5000, `exited in ${exit.ms} ms`)
})

test('one host: a bad static file at start refuses to start and names the entry', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-one-host-bad-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const file = path.join(dir, 'static.json')
  await writeFile(file, JSON.stringify([{ Service: { Name: 'ok', Ports: [] } }, { Service: { Name: 'broken', Ports: [{ Port: 70000 }] } }]))
  const { DaemonProcess } = await import('../helpers/daemon.ts')
  const d = new DaemonProcess({ ip: IP, hostname: 'one-host-bad', cwd: dir, apiPort: 7778, args: ['-d', 'static', '--bind-port', '7947'], env: { STATIC_CONFIG_FILE: file } })
  t.teardown(() => { d.kill() })
  const exit = await d.exited
  t.is(exit.code, 1)
  t.regex(d.output, /static\.json: entry 1 \(broken\)/)
})

test('one host: a gossip port in use stops the start with a message that names the port and the fix', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-one-host-port-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const squatter = net.createServer()
  await new Promise<void>(resolve => squatter.listen(7948, IP, resolve))
  t.teardown(() => { squatter.close() })
  const { DaemonProcess } = await import('../helpers/daemon.ts')
  const d = new DaemonProcess({ ip: IP, hostname: 'one-host-port', cwd: dir, apiPort: 7779, args: ['-d', 'static', '--bind-port', '7948'], env: { STATIC_CONFIG_FILE: path.join(dir, 'none.json') } })
  t.teardown(() => { d.kill() })
  const exit = await d.exited
  t.is(exit.code, 1)
  t.regex(d.output, /gossip: cannot listen on 127\.0\.0\.2:7948: address in use .*--bind-port/)
})
