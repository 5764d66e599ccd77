// The regex namer against a real dockerd: the service name is taken from the container name.
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import test from 'ava'
import { startDockerDaemon, STATUS, waitForInstance } from '../helpers/docker-daemon.ts'
import { dockerTests, IMAGES, runContainer } from '../helpers/docker.ts'
import { waitFor } from '../helpers/wait.ts'

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

// Whoever starts a container chooses its name. JavaScript's RegExp took 26 s to try this
// plain-looking pattern on a 32-character name, and twice as long with each character more: the
// daemon stopped answering for good once the container below ran. A name longer than 1024
// characters (Docker takes up to about a megabyte) is not tried at all.
dtest('docker namer: a container name crafted against name_match does not stall the daemon', async (t) => {
  if (!docker.ok) return
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-namer-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const d = await startDockerDaemon({
    ip: '127.0.96.1',
    hostname: 'docker-namer-hostile',
    cwd: dir,
    dockerUrl: docker.url,
    env: { SERVICES_NAMER: 'regex', SERVICES_NAME_MATCH: '^/([a-z0-9]+(?:-?[a-z0-9]+)*)-\\d+$' },
  })
  t.teardown(() => { d.kill() })
  const tag = Math.random().toString(36).replace(/[^a-z]/g, '').slice(0, 6).padEnd(6, 'q')
  const crafted = await runContainer(docker.docker, { name: `${'a'.repeat(60)}${tag}_`, exactName: true, hostIp: '127.0.96.1', labels: { HealthCheck: 'AlwaysSuccessful' } })
  t.teardown(async () => { await crafted.remove() })
  const long = await runContainer(docker.docker, { name: `ngl${tag}-${'b'.repeat(5000)}-1`, exactName: true, hostIp: '127.0.96.1', labels: { HealthCheck: 'AlwaysSuccessful' } })
  t.teardown(async () => { await long.remove() })
  const named = await runContainer(docker.docker, { name: `billing-${tag}-3`, exactName: true, hostIp: '127.0.96.1', labels: { HealthCheck: 'AlwaysSuccessful' } })
  t.teardown(async () => { await named.remove() })

  const { svc } = await waitForInstance(d, named.shortId, s => s.Status === STATUS.ALIVE, 'ALIVE', 60_000)
  t.is(svc.Name, `billing-${tag}`)
  t.is((await waitForInstance(d, crafted.shortId, s => s.Status === STATUS.ALIVE, 'ALIVE', 60_000)).svc.Name, IMAGES.httpd, 'no match: the image')
  t.is((await waitForInstance(d, long.shortId, s => s.Status === STATUS.ALIVE, 'ALIVE', 60_000)).svc.Name, IMAGES.httpd, 'too long to try: the image')
  await waitFor(() => d.output.includes('container name is 5013 characters long') ? true : undefined, { timeoutMs: 10_000, message: () => `no warning about the long name\n${d.output.slice(-2000)}` })
  t.false(d.output.includes('b'.repeat(200)), 'the log carries the long name clipped')
})
