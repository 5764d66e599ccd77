// Docker's own HEALTHCHECK states as the daemon on 127.0.47.12 shows them: a container whose
// check is still "starting" (a long start period) is UNKNOWN, and explain says why.
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import test from 'ava'
import { startDockerDaemon, STATUS, waitForInstance } from '../helpers/docker-daemon.ts'
import { dockerTests, IMAGES, PID_LABEL, TEST_LABEL } from '../helpers/docker.ts'
import { waitFor } from '../helpers/wait.ts'

const { docker, dtest } = await dockerTests(test)

interface Explain { instances: Array<{ service: { ID: string }, reasons: string[], check: { type: string, waiting: string | null } | null }> }

dtest('docker: a HEALTHCHECK still starting leaves the service UNKNOWN, and explain says Docker reports it starting', async (t) => {
  if (!docker.ok) return
  const cwd = await mkdtemp(path.join(os.tmpdir(), 'sidecar-hcstates-'))
  t.teardown(async () => { await rm(cwd, { recursive: true, force: true }) })
  const d = await startDockerDaemon({ ip: '127.0.47.12', hostname: 'docker-hc', cwd, dockerUrl: docker.url, env: { PROXY_ENABLED: 'false' } })
  t.teardown(() => { d.kill() })
  const name = `starting-${Math.random().toString(36).slice(2, 8)}`
  // A probe that fails inside a 10-minute start period: Docker says "starting" all along.
  const c = await docker.docker.createContainer({
    name,
    Image: IMAGES.httpd,
    Labels: { ServiceName: name, [TEST_LABEL]: '1', [PID_LABEL]: String(process.pid) },
    Healthcheck: { Test: ['CMD', '/bin/busybox', 'false'], Interval: 1e9, Timeout: 1e9, Retries: 1, StartPeriod: 600e9 },
    HostConfig: { NetworkMode: 'none' },
  })
  t.teardown(async () => { await c.remove({ force: true }).catch(() => {}) })
  await c.start()
  const id = c.id.slice(0, 12)
  await waitForInstance(d, id, s => s.Status === STATUS.UNKNOWN, 'discovered, UNKNOWN')
  const doc = await waitFor(async () => {
    const x = (await d.json<Explain>(`/api/services/${name}/explain.json`)).instances.find(i => i.service.ID === id)
    return x?.check?.waiting !== null && x?.check?.waiting !== undefined ? x : undefined
  }, { timeoutMs: 10_000, message: 'explain says why the check has no verdict' })
  t.is(doc.check?.type, 'Docker')
  t.regex(doc.check?.waiting ?? '', /^Docker reports the container's HEALTHCHECK as starting/)
  t.true(doc.reasons.some(r => r.startsWith('waiting: Docker reports the container\'s HEALTHCHECK as starting')), JSON.stringify(doc.reasons))
  t.is(((await c.inspect()) as { State: { Health?: { Status: string } } }).State.Health?.Status, 'starting')
})
