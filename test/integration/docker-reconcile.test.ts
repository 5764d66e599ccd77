// The periodic full list (the reconcile) against a real dockerd, through a tap that notes each
// request the daemon on 127.0.48.20 sends: with nothing changing, a reconcile is one list and
// no inspect, however many containers run. A container another one links to (legacy --link)
// is listed with "/linker/alias" before its own name when the linker's name sorts first; the
// reconcile took that for a rename and inspected the container again at every list.
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import test from 'ava'
import { startDockerDaemon, STATUS, waitForInstance } from '../helpers/docker-daemon.ts'
import { DockerTap } from '../helpers/docker-tap.ts'
import { dockerTests, runContainer, TEST_DOCKER_SOCKET } from '../helpers/docker.ts'
import { sleep, waitFor } from '../helpers/wait.ts'

const IP = '127.0.48.20'
const RECONCILE_MS = 300
const { docker, dtest } = await dockerTests(test)

dtest('docker reconcile: with nothing changing, no container is inspected again, a linked one included', async (t) => {
  if (!docker.ok) return
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-reconcile-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const tap = await DockerTap.start(TEST_DOCKER_SOCKET)
  t.teardown(async () => { await tap.close() })
  const labels = { ServiceName: 'linked', ServicePort_80: '8080', HealthCheck: 'TcpConnect', HealthCheckArgs: '{{ host }}:{{ tcp 8080 }}' }
  // "sctest-z..." is linked from "sctest-a...": Docker lists it as ["/sctest-a.../db", "/sctest-z..."]
  const linked = await runContainer(docker.docker, { name: 'sctest-zlinked', hostIp: IP, labels })
  t.teardown(async () => { await linked.remove() })
  const linker = await runContainer(docker.docker, { name: 'sctest-alinker', links: [`${linked.name}:db`] })
  t.teardown(async () => { await linker.remove() })
  const plain = await runContainer(docker.docker, { name: 'sctest-plain', hostIp: IP, labels: { ...labels, ServiceName: 'plain' } })
  t.teardown(async () => { await plain.remove() })
  const listed = (await docker.docker.listContainers({ filters: { id: [linked.id] } }))[0]?.Names
  t.true(listed?.[0] !== `/${linked.name}`, `the linked container's own name is not first in the list: ${JSON.stringify(listed)}`)

  const d = await startDockerDaemon({ ip: IP, hostname: 'docker-reconcile', cwd: dir, dockerUrl: tap.url, env: { DOCKER_RECONCILE_INTERVAL: `${RECONCILE_MS}ms`, PROXY_ENABLED: 'false' } })
  t.teardown(() => { d.kill() })
  for (const c of [linked, plain]) await waitForInstance(d, c.shortId, s => s.Status === STATUS.ALIVE, 'ALIVE')
  await sleep(2 * RECONCILE_MS) // the reconciles of the start are over

  const inspects = (id: string): number => tap.count(new RegExp(`/containers/${id}/json$`))
  const lists = (): number => tap.count(/\/containers\/json(\?|$)/)
  const before = { linked: inspects(linked.id), plain: inspects(plain.id), lists: lists() }
  // 8 reconciles, however long a loaded machine takes for them (a count over a fixed sleep was
  // at the machine's mercy)
  await waitFor(() => lists() - before.lists >= 8, { timeoutMs: 60_000, message: () => `8 reconciles (${lists() - before.lists} lists so far)` })
  const reconciles = lists() - before.lists
  t.is(inspects(plain.id) - before.plain, 0, 'a known container is not inspected again')
  t.is(inspects(linked.id) - before.linked, 0, `the linked container is not inspected again at each of ${reconciles} lists`)
  const { svc } = await waitForInstance(d, linked.shortId, s => s.Status === STATUS.ALIVE, 'still ALIVE')
  t.is(svc.Name, 'linked')
})
