// The discoverer's lifecycle without a Docker to talk to: start() never waits for Docker,
// the failure shows in lastError(), and stop() ends the retries.
import test from 'ava'
import { mkdtemp, rm } from 'node:fs/promises'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { DockerDiscoverer, EVENT_INSPECT_CONCURRENCY } from '../../../../src/discovery/docker/docker-discoverer.ts'
import { silentLogger } from '../../../../src/lib/logger.ts'
import { waitFor } from '../../../helpers/wait.ts'
import { CTX } from './helpers.ts'

test('discoverer: with no Docker, start() returns at once, lastError() says why, and stop() ends the retries', async t => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-nodocker-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const socket = path.join(dir, 'absent.sock')
  const d = new DockerDiscoverer({ logger: silentLogger() }, { ...CTX, dockerUrl: `unix://${socket}`, reconcileIntervalMs: 100 })
  const t0 = Date.now()
  await d.start()
  t.true(Date.now() - t0 < 500, 'start() did not wait for Docker')
  const error = await waitFor(() => d.lastError(), { timeoutMs: 5000, message: 'lastError() reports the missing socket' })
  t.regex(error, new RegExp(`cannot reach Docker at unix://${socket}: .*ENOENT.*retrying with backoff`))
  t.true(error.includes(' (no socket there: start Docker, point [docker_discovery] docker_url at it, or leave docker out of [sidecar] discovery, e.g. --discover static); retrying'), error)
  t.deepEqual(d.services(), [])
  t.false(d.listed(), 'an empty set that is not a listing: the announcer keeps an earlier run\'s records')
  t.false(d.connected)
  const s0 = Date.now()
  await d.stop()
  t.true(Date.now() - s0 < 1000, 'stop() did not wait for a retry')
  await d.stop() // idempotent
})

/**
 * A Docker API on a unix socket: an event stream the test writes to, no running containers in
 * the list, and inspects that take 200 ms and count how many are in flight at once.
 */
async function fakeDocker (dir: string): Promise<{ socket: string, emit: (id: string, action: string) => void, inspects: () => number, peak: () => number, close: () => Promise<void> }> {
  const socket = path.join(dir, 'docker.sock')
  const streams = new Set<http.ServerResponse>()
  let inflight = 0; let peak = 0; let inspects = 0
  const server = http.createServer((req, res) => {
    const url = req.url ?? ''
    if (url.startsWith('/events')) { res.writeHead(200, { 'content-type': 'application/json' }); res.flushHeaders(); streams.add(res); return }
    if (url.startsWith('/containers/json')) { res.end('[]'); return }
    const m = /^\/containers\/([0-9a-f]+)\/json/.exec(url)
    if (m === null) { res.writeHead(404).end('{"message":"no"}'); return }
    inspects++; inflight++; peak = Math.max(peak, inflight)
    setTimeout(() => { inflight--; res.writeHead(404).end(`{"message":"No such container: ${m[1]}"}`) }, 200)
  })
  await new Promise<void>(resolve => server.listen(socket, resolve))
  return {
    socket,
    emit: (id, action) => { for (const s of streams) s.write(JSON.stringify({ Type: 'container', Action: action, Actor: { ID: id } }) + '\n') },
    inspects: () => inspects,
    peak: () => peak,
    close: async () => { for (const s of streams) s.destroy(); server.closeAllConnections(); await new Promise(resolve => server.close(resolve)) },
  }
}

test('discoverer: a burst of events inspects each container once at a time, and at most EVENT_INSPECT_CONCURRENCY at once', async t => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-fakedocker-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const docker = await fakeDocker(dir)
  t.teardown(docker.close)
  const d = new DockerDiscoverer({ logger: silentLogger() }, { ...CTX, dockerUrl: `unix://${docker.socket}`, reconcileIntervalMs: 60_000 })
  t.teardown(async () => { await d.stop() })
  await d.start()
  await waitFor(() => d.connected, { timeoutMs: 5000, message: 'connected to the fake Docker' })
  const ids = Array.from({ length: 200 }, (_, i) => i.toString(16).padStart(4, '0').repeat(16))
  for (const id of ids) docker.emit(id, 'start') // a compose stack of 200 starting at once
  for (let i = 0; i < 50; i++) docker.emit(ids[0], 'rename') // one container renamed over and over
  await waitFor(() => docker.inspects() >= 201, { timeoutMs: 10_000, message: () => `every container inspected (${docker.inspects()} so far)` })
  await new Promise(resolve => setTimeout(resolve, 500))
  t.log(`${docker.inspects()} inspects, at most ${docker.peak()} at once`)
  t.true(docker.peak() <= EVENT_INSPECT_CONCURRENCY, `${docker.peak()} inspects in flight at once`)
  t.true(docker.inspects() <= 202, `${docker.inspects()} inspects for 200 containers: the renames of one container were answered by one or two`)
})

test('discoverer: the first complete listing makes listed() true and is a change, even on a Docker that runs nothing', async t => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-fakedocker-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const fake = await fakeDocker(dir)
  t.teardown(async () => { await fake.close() })
  const d = new DockerDiscoverer({ logger: silentLogger() }, { ...CTX, dockerUrl: `unix://${fake.socket}`, reconcileIntervalMs: 60_000 })
  let changes = 0
  d.on('change', () => { changes++ })
  await d.start()
  t.teardown(async () => { await d.stop() })
  t.false(d.listed(), 'not before Docker answered')
  await waitFor(() => d.listed(), { timeoutMs: 10_000, message: 'listed() after the first listing' })
  t.is(changes, 1)
  t.deepEqual(d.services(), [])
})
