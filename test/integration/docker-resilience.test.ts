// Docker discovery when Docker is not there yet, or goes away and comes back: the daemon
// keeps running, says so once, and recovers by itself without tombstoning containers that
// kept running.
import { mkdtemp, rm } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import test from 'ava'
import { count, instance, startDockerDaemon, STATUS, waitForInstance } from '../helpers/docker-daemon.ts'
import { dockerTests, ensureImages, runContainer, TEST_DOCKER_SOCKET } from '../helpers/docker.ts'
import { PrivateDockerd, privateDockerdMissing } from '../helpers/dockerd.ts'
import { sleep, waitFor } from '../helpers/wait.ts'

const { docker, dtest } = await dockerTests(test)
const noPrivate = docker.ok ? privateDockerdMissing() : docker.reason
if (docker.ok && noPrivate !== undefined) console.log(`the Docker restart test is skipped: ${noPrivate}`)

async function tmp (t: { teardown: (fn: () => Promise<void>) => void }, prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

/** A unix socket that forwards every connection to the real Docker socket: "Docker appears". */
async function forwardSocket (from: string, to: string): Promise<net.Server> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((client) => {
    const upstream = net.connect(to)
    sockets.add(client); sockets.add(upstream)
    client.pipe(upstream).pipe(client)
    const close = (): void => { client.destroy(); upstream.destroy(); sockets.delete(client); sockets.delete(upstream) }
    client.on('error', close); upstream.on('error', close); client.on('close', close); upstream.on('close', close)
  })
  server.on('close', () => { for (const s of sockets) s.destroy() })
  await new Promise<void>(resolve => server.listen(from, resolve))
  return server
}

dtest('docker resilience: with no Docker socket the daemon starts, logs once, and picks Docker up when the socket appears', async (t) => {
  if (!docker.ok) return
  const dir = await tmp(t, 'sidecar-late-')
  const late = path.join(dir, 'docker.sock')
  const d = await startDockerDaemon({ ip: '127.0.2.12', hostname: 'docker-late', cwd: dir, dockerUrl: `unix://${late}` })
  t.teardown(() => { d.kill() })
  const c = await runContainer(docker.docker, { name: 'sctest-late', hostIp: '127.0.2.12', labels: { ServiceName: 'late', HealthCheck: 'AlwaysSuccessful' } })
  t.teardown(async () => { await c.remove() })

  const h = await waitFor(async () => {
    const doc = await d.json<{ status: string, discoveryErrors?: Record<string, string> }>('/health')
    return doc.discoveryErrors?.docker?.includes('cannot reach Docker') === true ? doc : undefined
  }, { timeoutMs: 10_000, message: '/health reports Docker unreachable' })
  t.is(h.status, 'degraded')
  await d.waitForOutput('WARN: [docker] cannot reach Docker') // the warning, counted below
  await sleep(6000) // more than the longest backoff: several retries
  t.is(await instance(d, c.shortId), undefined)
  t.is(count(d.output, 'WARN: [docker] cannot reach Docker'), 1, 'warned once, not once per retry (retries are logged at debug level)')

  const server = await forwardSocket(late, TEST_DOCKER_SOCKET)
  t.teardown(() => { server.close() })
  const appeared = Date.now()
  const alive = await waitForInstance(d, c.shortId, s => s.Status === STATUS.ALIVE, 'ALIVE once the socket appeared', 20_000)
  t.log(`discovered and ALIVE ${alive.ms} ms after the socket appeared (retries back off to at most 5 s)`)
  t.true(Date.now() - appeared < 10_000)
  const after = await d.json<{ discoveryErrors?: Record<string, string> }>('/health')
  t.false(after.discoveryErrors?.docker?.includes('cannot reach Docker') ?? false)
  t.true(d.running)
})

;(noPrivate === undefined ? test : test.skip)('docker resilience: a dockerd restart re-establishes the event stream and tombstones only what stopped meanwhile', async (t) => {
  const dir = await tmp(t, 'sidecar-restart-')
  const dockerd = await PrivateDockerd.create()
  t.teardown(async () => { await dockerd.destroy() })
  await ensureImages(dockerd.docker)
  // A one-minute reconcile: a container found within seconds after the restart was found by an event.
  const d = await startDockerDaemon({ ip: '127.0.2.13', hostname: 'docker-restart', cwd: dir, dockerUrl: `unix://${dockerd.socket}`, env: { DOCKER_RECONCILE_INTERVAL: '60s' } })
  t.teardown(() => { d.kill() })
  const run = async (name: string): Promise<Awaited<ReturnType<typeof runContainer>>> => await runContainer(dockerd.docker, { name, network: 'none', labels: { ServiceName: name } })
  const keeps = await run('sctest-keeps')
  const dies = await run('sctest-dies')
  await waitForInstance(d, keeps.shortId, s => s.Status === STATUS.ALIVE, 'ALIVE before the restart')
  await waitForInstance(d, dies.shortId, s => s.Status === STATUS.ALIVE, 'ALIVE before the restart')
  const diesPid = (await dockerd.docker.getContainer(dies.id).inspect()).State.Pid

  // Watch "keeps" through the whole restart: it must never be tombstoned.
  let watching = true
  const seen = new Set<number>()
  const watcher = (async () => { while (watching) { const s = await instance(d, keeps.shortId).catch(() => undefined); if (s !== undefined) seen.add(s.Status); await sleep(100) } })()

  const t0 = Date.now()
  await dockerd.stop()
  process.kill(diesPid, 'SIGKILL') // this one stops while Docker is down: no event will ever tell
  await sleep(2000)
  await dockerd.start()
  t.log(`dockerd was down for ${Date.now() - t0} ms`)

  const gone = await waitForInstance(d, dies.shortId, s => s.Status === STATUS.TOMBSTONE, 'TOMBSTONE after the reconnect (it stopped while Docker was down)', 20_000)
  t.log(`the container that died meanwhile was TOMBSTONE ${gone.ms} ms after dockerd answered again`)
  const fresh = await run('sctest-fresh')
  // reconcile runs every 60 s: ALIVE within 20 s (generous under load) means the restored event stream found it
  const found = await waitForInstance(d, fresh.shortId, s => s.Status === STATUS.ALIVE, 'a container started after the restart ALIVE (by an event, not the 60 s reconcile)', 20_000)
  t.log(`a container started after the restart was ALIVE ${found.ms} ms after it started (reconcile every 60 s: found by an event)`)
  watching = false
  await watcher
  t.deepEqual([...seen], [STATUS.ALIVE], 'the container that kept running stayed ALIVE throughout')
  await d.waitForOutput('WARN: [docker] lost the Docker event stream')
  await d.waitForOutput(/reconnected to Docker/)
  t.is(count(d.output, 'WARN: [docker] lost the Docker event stream'), 1)
})
