// What a daemon loads into memory depends on what it is configured to do: dockerode (with
// @grpc/grpc-js, protobufjs and ssh2, whose poly1305 reserves a 16 MiB buffer) is loaded only
// when Docker discovery runs, and Node's bundled HTTP client (undici) never, as the daemon does
// not use it (an ES module import of node:http would load it: src/lib/node-http.ts); Node's TLS
// stack (node:https) and readline only once an https: URL or Docker's event stream needs them. Real daemons on 127.0.27.2-5 and 127.0.59.2 with a preload that logs every module loaded
// (test/helpers/module-log-preload.ts).
import test from 'ava'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { httpBackend } from '../helpers/backends.ts'
import { startDaemon } from '../helpers/daemon.ts'
import { startReceiver } from '../helpers/receiver.ts'
import { waitFor } from '../helpers/wait.ts'

const PRELOAD = fileURLToPath(new URL('../helpers/module-log-preload.ts', import.meta.url))

/** check: the service's check (AlwaysSuccessful); stopped: stop the daemon first, so that the list ends with Node's own modules. */
async function modulesOf (t: { teardown: (fn: () => Promise<void>) => void }, ip: string, args: string[], env: Record<string, string>, until: (output: string) => boolean, opts: { check?: { Type: string, Args: string }, stopped?: boolean } = {}): Promise<string[]> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-modules-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const log = path.join(dir, 'modules.txt')
  const file = path.join(dir, 'static.json')
  await writeFile(file, JSON.stringify([{ Service: { Name: 'web', Image: 'web:1', Ports: [{ Type: 'tcp', Port: 20000, ServicePort: 0, IP: ip }] }, Check: opts.check ?? { Type: 'AlwaysSuccessful', Args: '' } }]))
  const d = await startDaemon({ ip, hostname: `modules-${ip}`, cwd: dir, args, env: { NODE_OPTIONS: `--import ${PRELOAD}`, SIDECAR_MODULE_LOG: log, STATIC_CONFIG_FILE: file, ...env } })
  t.teardown(async () => { await d.stop() })
  await waitFor(() => until(d.output) || undefined, { timeoutMs: 30_000, message: `the daemon on ${ip} got to the point under test` })
  if (opts.stopped === true && (await d.stop()).code !== 0) throw new Error(`the daemon on ${ip} did not stop cleanly`)
  return (await readFile(log, 'utf8')).split('\n').filter(l => l !== '')
}

const fromPackage = (urls: string[], pkg: string): string[] => urls.filter(u => u.includes(`/node_modules/${pkg}/`))

test('modules: a daemon with static discovery only never loads dockerode or its gRPC and SSH stacks', async t => {
  const urls = await modulesOf(t, '127.0.27.2', ['-d', 'static'], {}, out => out.includes('loaded 1 service '))
  t.true(urls.some(u => u.endsWith('/static-discoverer.ts')), 'the log holds the daemon\'s own modules')
  for (const pkg of ['dockerode', 'docker-modem', '@grpc/grpc-js', 'ssh2']) t.deepEqual(fromPackage(urls, pkg), [], `${pkg} was loaded`)
})

test('modules: with Docker discovery, dockerode is loaded when the daemon first reaches for Docker', async t => {
  const socket = path.join(os.tmpdir(), `sidecar-no-docker-${process.pid}.sock`)
  const urls = await modulesOf(t, '127.0.27.3', ['-d', 'static', '-d', 'docker'], { DOCKER_URL: `unix://${socket}` }, out => out.includes('cannot reach Docker'))
  t.true(fromPackage(urls, 'dockerode').length > 0, 'dockerode was not loaded')
})

const UNDICI = 'node:internal/deps/undici/undici'

test('modules: a daemon that checks over HTTP, gossips and syncs with a peer, proxies HTTP, serves its API and streams, and posts to a listener never loads Node\'s bundled undici', async t => {
  const ip = '127.0.27.4'
  const backend = await httpBackend('checked', ip)
  t.teardown(backend.close)
  const receiver = await startReceiver(ip)
  t.teardown(async () => { await receiver.close() })
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-modules-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const log = path.join(dir, 'modules.txt')
  const file = path.join(dir, 'static.json')
  const servicePort = 27904
  await writeFile(file, JSON.stringify([{ Service: { ID: 'checked-1', Name: 'checked', Image: 'checked:1', Ports: [{ Type: 'tcp', Port: backend.port, ServicePort: servicePort, IP: ip }] }, Check: { Type: 'HttpGet', Args: `http://${ip}:${backend.port}/health` } }]))
  const peerFile = path.join(dir, 'peer.json')
  await writeFile(peerFile, JSON.stringify([{ Service: { ID: 'peer-1', Name: 'peer', Image: 'peer:1', Ports: [{ Type: 'tcp', Port: 20000, ServicePort: 0, IP: '127.0.27.5' }] }, Check: { Type: 'AlwaysSuccessful', Args: '' } }]))
  const d = await startDaemon({ ip, hostname: 'modules-undici', cwd: dir, args: ['-d', 'static'], env: { NODE_OPTIONS: `--import ${PRELOAD}`, SIDECAR_MODULE_LOG: log, STATIC_CONFIG_FILE: file, HEALTH_INTERVAL: '200ms', LISTENERS_URLS: receiver.url(), SIDECAR_PUSH_PULL_INTERVAL: '1s' } })
  let stopped = false
  t.teardown(async () => { if (!stopped) await d.stop() })
  const peer = await startDaemon({ ip: '127.0.27.5', hostname: 'modules-peer', cwd: dir, args: ['-d', 'static', '--cluster-ip', ip], env: { STATIC_CONFIG_FILE: peerFile, SIDECAR_PUSH_PULL_INTERVAL: '1s' } })
  t.teardown(async () => { await peer.stop() })
  await waitFor(() => receiver.bodies().some(b => b.State.Servers['modules-undici']?.Services['checked-1']?.Status === 0 && b.State.Servers['modules-peer']?.Services['peer-1']?.Status === 0) || undefined, { timeoutMs: 30_000, message: 'the listener got the checked service and the peer\'s ALIVE' })
  t.true(backend.hits > 0, 'the HTTP check reached the backend')
  await waitFor(async () => /sidecar_anti_entropy_exchanges_total\{[^}]*result="ok"[^}]*\} [1-9]/.test(await (await fetch(d.url('/metrics'))).text()) || undefined, { timeoutMs: 30_000, message: 'an anti-entropy exchange with the peer completed' })
  const hits = backend.hits
  const proxied = await waitFor(async () => { try { const r = await fetch(`http://${ip}:${servicePort}/through-the-proxy`); return r.status === 200 ? await r.json() as { backend: string } : undefined } catch { return undefined } }, { timeoutMs: 30_000, message: 'a request through the proxy' })
  t.is(proxied.backend, 'checked')
  t.true(backend.hits > hits)
  for (const p of ['/services.json', '/state.json', '/api/services.json', '/health', '/metrics', '/servers', '/ui/']) t.is((await fetch(d.url(p))).status, 200, p)
  const watch = await fetch(d.url('/watch'))
  t.is(watch.status, 200)
  await watch.body?.cancel()
  const { code } = await d.stop()
  stopped = true
  t.is(code, 0)
  const loaded = (await readFile(log, 'utf8')).split('\n')
  t.true(loaded.includes('node:http'), 'the exit hook listed Node\'s own modules')
  t.false(loaded.includes(UNDICI), `${UNDICI} was loaded`)
})

test('modules: a daemon whose check and listener use http: URLs loads neither Node\'s TLS stack nor readline', async t => {
  const ip = '127.0.59.2'
  const backend = await httpBackend('checked', ip)
  t.teardown(backend.close)
  const receiver = await startReceiver(ip)
  t.teardown(async () => { await receiver.close() })
  const delivered = (): boolean => receiver.bodies().some(b => Object.values(b.State.Servers).some(s => s?.Services !== undefined && Object.values(s.Services).some(i => i?.Status === 0)))
  const loaded = await modulesOf(t, ip, ['-d', 'static'], { HEALTH_INTERVAL: '200ms', LISTENERS_URLS: receiver.url() }, () => backend.hits > 0 && delivered(), { check: { Type: 'HttpGet', Args: `http://${ip}:${backend.port}/health` }, stopped: true })
  t.true(loaded.includes('node:http'), 'the exit hook listed Node\'s own modules')
  t.deepEqual(['node:https', 'node:tls', 'node:_tls_common', 'node:_tls_wrap', 'node:readline'].filter(m => loaded.includes(m)), [])
})
