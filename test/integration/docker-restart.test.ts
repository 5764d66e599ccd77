// A sidecar killed (kill -9) and restarted on a Docker host whose containers keep running:
// its peer must see no tombstone for them. The restarted daemon's join pull hands it its previous
// run's records (ALIVE), and its Docker discovery lists the containers only after start():
// before, it tombstoned every one of them in between, and announced them again a moment later.
// Nor an UNKNOWN step: a rediscovered container keeps its earlier record's status until its new
// check's first verdict. And a restart where Docker no longer answers: the records are kept 30 s, then tombstoned.
// A dockerd of the test's own (the private one of test/helpers/dockerd.ts), daemons on 127.0.91.x.
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import test, { type ExecutionContext } from 'ava'
import { startDaemon } from '../helpers/daemon.ts'
import { startDockerDaemon, STATUS, waitForInstance } from '../helpers/docker-daemon.ts'
import { ensureImages, runContainer } from '../helpers/docker.ts'
import { PrivateDockerd, privateDockerdMissing } from '../helpers/dockerd.ts'
import { SseReader } from '../helpers/streams.ts'
import { sleep, waitFor } from '../helpers/wait.ts'

const HOST_IP = '127.0.91.2'
const PEER_IP = '127.0.91.3'
const missing = privateDockerdMissing()
if (missing !== undefined) console.log(`the Docker restart tests are skipped: ${missing}`)

interface ChangeJson { Service: { ID: string, Hostname: string, Status: number }, PreviousStatus: number }

const dtest = missing === undefined ? test.serial : test.skip

/** A scratch directory with the host's and the peer's working directories, and a private dockerd with the test images; both removed after the test. */
async function setUp (t: ExecutionContext, prefix: string): Promise<{ dir: string, dockerd: PrivateDockerd }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  await mkdir(path.join(dir, 'host'))
  await mkdir(path.join(dir, 'peer'))
  const dockerd = await PrivateDockerd.create()
  t.teardown(async () => { await dockerd.destroy() })
  await ensureImages(dockerd.docker)
  return { dir, dockerd }
}

dtest('docker restart: a sidecar killed and restarted while its containers run sends its peer no change for them: no tombstone, no UNKNOWN step', async (t) => {
  t.timeout(240_000)
  const { dir, dockerd } = await setUp(t, 'sidecar-restart-flap-')
  // A check that takes time (a command run in the container, about 1 s): the new run's first
  // verdict comes well after the container is rediscovered, so an UNKNOWN step would show.
  const containers = await Promise.all([1, 2, 3].map(async i => await runContainer(dockerd.docker, { name: `sctest-flap-${i}`, network: 'none', labels: { ServiceName: 'flapless', HealthCheck: 'External', HealthCheckArgs: 'sleep 1' } })))
  const ids = new Set(containers.map(c => c.shortId))

  const hostOpts = { ip: HOST_IP, hostname: 'flap-host', cwd: path.join(dir, 'host'), dockerUrl: `unix://${dockerd.socket}`, args: ['-c', PEER_IP], env: { DOCKER_ALLOW_EXTERNAL_CHECKS: 'true', HEALTH_INTERVAL: '3s', HEALTH_TIMEOUT: '2s' } }
  let host = await startDockerDaemon(hostOpts)
  t.teardown(() => { host.kill() })
  // Passive, and slow to declare the host departed: the restart falls within its departure grace,
  // so the records it holds stay ALIVE and the restarted host's join pull gets them back.
  const peer = await startDaemon({ ip: PEER_IP, hostname: 'flap-peer', cwd: path.join(dir, 'peer'), args: ['-c', HOST_IP], env: { SIDECAR_DISCOVERY: '', SIDECAR_DEPARTURE_GRACE: '120s' } })
  t.teardown(() => { peer.kill() })
  for (const c of containers) await waitForInstance(peer, c.shortId, s => s.Status === STATUS.ALIVE, 'ALIVE on the peer before the restart', 60_000)

  const reader = new SseReader(peer.url('/api/events'))
  t.teardown(() => { reader.close() })
  await reader.waitFor(r => r.events[0]?.event === 'snapshot', 'the peer\'s event stream snapshot')

  host.kill()
  await host.exited
  host = await startDockerDaemon(hostOpts)
  await host.waitForOutput(/connected to Docker at /, { timeoutMs: 30_000 })
  for (const c of containers) await waitForInstance(host, c.shortId, s => s.Status === STATUS.ALIVE, 'ALIVE on the restarted host', 30_000)
  await sleep(5000) // gossip rounds and an anti-entropy exchange or two reach the peer meanwhile

  const changes = reader.of('service-changed').map(e => e.json as ChangeJson).filter(c => ids.has(c.Service.ID))
  t.log(`the peer's change events for the 3 containers across the restart: ${changes.map(c => `${c.Service.ID.slice(0, 6)} ${c.PreviousStatus}->${c.Service.Status}`).join(', ') || 'none'}`)
  t.deepEqual(changes.filter(c => c.Service.Status === STATUS.TOMBSTONE).map(c => c.Service.ID), [], 'no tombstone reached the peer')
  t.deepEqual(changes.map(c => `${c.Service.ID} ${c.PreviousStatus}->${c.Service.Status}`), [], 'no change at all: no UNKNOWN step while the new checks run')
  for (const c of containers) t.is((await waitForInstance(peer, c.shortId, () => true, 'on the peer')).svc.Status, STATUS.ALIVE)
  t.regex(host.output, /keeping 3 records of this host from an earlier run until docker discovery has listed its services/)
  t.notRegex(host.output, /tombstoning flapless/)
})

dtest('docker restart: a sidecar restarted where Docker no longer answers keeps its earlier records 30 s, then tombstones them with a warning', async (t) => {
  t.timeout(240_000)
  const { dir, dockerd } = await setUp(t, 'sidecar-restart-nodocker-')
  const c = await runContainer(dockerd.docker, { name: 'sctest-gone', network: 'none', labels: { ServiceName: 'orphan', HealthCheck: 'AlwaysSuccessful' } })

  const hostOpts = { ip: HOST_IP, hostname: 'flap-host2', cwd: path.join(dir, 'host'), dockerUrl: `unix://${dockerd.socket}`, args: ['-c', PEER_IP] }
  let host = await startDockerDaemon(hostOpts)
  t.teardown(() => { host.kill() })
  const peer = await startDaemon({ ip: PEER_IP, hostname: 'flap-peer2', cwd: path.join(dir, 'peer'), args: ['-c', HOST_IP], env: { SIDECAR_DISCOVERY: '', SIDECAR_DEPARTURE_GRACE: '120s' } })
  t.teardown(() => { peer.kill() })
  await waitForInstance(peer, c.shortId, s => s.Status === STATUS.ALIVE, 'ALIVE on the peer before the restart', 60_000)
  const reader = new SseReader(peer.url('/api/events'))
  t.teardown(() => { reader.close() })
  await reader.waitFor(r => r.events[0]?.event === 'snapshot', 'the peer\'s event stream snapshot')

  host.kill()
  await host.exited
  // restarted pointing at a socket where no Docker answers: Docker gone for good
  host = await startDockerDaemon({ ...hostOpts, dockerUrl: `unix://${path.join(dir, 'no-docker.sock')}` })
  const started = Date.now()
  const tombstoned = (): boolean => reader.of('service-changed').some(e => (e.json as ChangeJson).Service.ID === c.shortId && (e.json as ChangeJson).Service.Status === STATUS.TOMBSTONE)
  await sleep(15_000)
  t.false(tombstoned(), 'kept while the wait lasts')
  t.regex(host.output, /keeping 1 record of this host from an earlier run until docker discovery has listed its services \(at most 30 s\)/)
  await waitFor(tombstoned, { timeoutMs: 60_000, message: () => `a tombstone for ${c.shortId} on the peer; host output:\n${host.output.slice(-3000)}` })
  const after = Date.now() - started
  t.log(`tombstoned on the peer ${after} ms after the restarted host answered (bound: 30 s from its start; the record's own alive lifespan is 80 s)`)
  t.true(after < 70_000, 'by the bound, not by the 80 s expiry')
  await host.waitForOutput(/WARN: .*docker discovery has not listed its services 30 s after the start: tombstoning the 1 record of this host from an earlier run that no discoverer reports/)
})
