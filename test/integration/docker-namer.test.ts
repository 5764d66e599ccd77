// The regex namer against a real dockerd: the service name is taken from the container name.
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import test from 'ava'
import { startDockerDaemon, STATUS, waitForInstance } from '../helpers/docker-daemon.ts'
import { dockerTests, IMAGES, runContainer } from '../helpers/docker.ts'

const IP = '127.0.2.11'
const { docker, dtest } = await dockerTests(test)

dtest('docker namer: with [services] namer = "regex", group 1 of name_match over the container name is the service name', async (t) => {
  if (!docker.ok) return
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-namer-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const d = await startDockerDaemon({
    ip: IP,
    hostname: 'docker-namer',
    cwd: dir,
    dockerUrl: docker.url,
    env: { SERVICES_NAMER: 'regex', SERVICES_NAME_MATCH: '^/sctest-(.+)-[0-9a-f]{7}$' },
  })
  t.teardown(() => { d.kill() })
  const suffix = Math.floor(Math.random() * 0xfffffff).toString(16).padStart(7, '0')
  const named = await runContainer(docker.docker, { name: `sctest-regexsvc-${suffix}`, exactName: true, hostIp: IP, labels: { ServiceName: 'ignored-by-regex', HealthCheck: 'AlwaysSuccessful' } })
  t.teardown(async () => { await named.remove() })
  const unmatched = await runContainer(docker.docker, { name: 'sctest_nomatch', hostIp: IP, labels: { HealthCheck: 'AlwaysSuccessful' } })
  t.teardown(async () => { await unmatched.remove() })

  const { svc } = await waitForInstance(d, named.shortId, s => s.Status === STATUS.ALIVE, 'ALIVE')
  t.is(svc.Name, 'regexsvc')
  const other = await waitForInstance(d, unmatched.shortId, s => s.Status === STATUS.ALIVE, 'ALIVE')
  t.is(other.svc.Name, IMAGES.httpd, 'a name the expression does not match falls back to the image')
})
