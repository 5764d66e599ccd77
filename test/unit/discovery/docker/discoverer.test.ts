// The discoverer's lifecycle without a Docker to talk to: start() never waits for Docker,
// the failure shows in lastError(), and stop() ends the retries.
import test from 'ava'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { DockerDiscoverer } from '../../../../src/discovery/docker/docker-discoverer.ts'
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
  t.deepEqual(d.services(), [])
  t.false(d.connected)
  const s0 = Date.now()
  await d.stop()
  t.true(Date.now() - s0 < 1000, 'stop() did not wait for a retry')
  await d.stop() // idempotent
})
