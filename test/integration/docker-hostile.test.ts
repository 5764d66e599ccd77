// Containers whose labels are hostile (megabyte values, thousands of labels), against a real
// dockerd: anyone who can start a container chooses its labels. The daemon on 127.0.47.10
// skips such a container with one short warning, shows a short reason in /health, and
// discovers the containers beside it as usual.
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import test from 'ava'
import { count, startDockerDaemon, STATUS, waitForInstance } from '../helpers/docker-daemon.ts'
import { dockerTests, runContainer } from '../helpers/docker.ts'
import { sleep, waitFor } from '../helpers/wait.ts'

const IP = '127.0.47.10'
const { docker, dtest } = await dockerTests(test)

dtest('docker: a container with megabyte labels is skipped with one short warning and a short /health reason; its neighbour is ALIVE', async (t) => {
  if (!docker.ok) return
  const cwd = await mkdtemp(path.join(os.tmpdir(), 'sidecar-hostile-'))
  t.teardown(async () => { await rm(cwd, { recursive: true, force: true }) })
  const d = await startDockerDaemon({ ip: IP, hostname: 'docker-hostile', cwd, dockerUrl: docker.url, env: { DOCKER_RECONCILE_INTERVAL: '1s' } })
  t.teardown(() => { d.kill() })

  const big = 'x'.repeat(1 << 20) // dockerd refuses much more in all (431)
  const many: Record<string, string> = {}
  for (let i = 1; i <= 2000; i++) many[`ServicePort_${i}`] = `port${i}`
  const hostile = await runContainer(docker.docker, { name: 'sctest-hostile', hostIp: IP, labels: { ServiceName: 'hostile', ServicePort_80: big, ProxyMode: 'y'.repeat(100_000), ...many } })
  t.teardown(async () => { await hostile.remove() })
  const good = await runContainer(docker.docker, { name: 'sctest-neighbour', hostIp: IP, labels: { ServiceName: 'neighbour', HealthCheck: 'AlwaysSuccessful' } })
  t.teardown(async () => { await good.remove() })

  await waitForInstance(d, good.shortId, s => s.Status === STATUS.ALIVE, 'the neighbour ALIVE')
  const health = await waitFor(async () => {
    const res = await fetch(d.url('/health'))
    const text = await res.text()
    return text.includes(hostile.shortId) ? text : undefined
  }, { timeoutMs: 10_000, message: '/health names the hostile container' })
  t.true(health.length < 4000, `/health is ${health.length} bytes`)
  t.regex(health, /label ProxyMode=\\"y{64}\\"\.\.\. \(100000 characters\): use one of http, tcp, ws/)
  t.regex(health, /and \d+ more problems/)

  await d.waitForOutput(`skipping container /${hostile.name}`) // the warning, counted below
  await sleep(4000) // several reconciles (every second): still one warning
  const lines = d.output.split('\n').filter(l => l.includes(`skipping container /${hostile.name}`))
  t.is(lines.length, 1, `${count(d.output, 'skipping container')} skip warnings`)
  t.true(lines[0].length < 2000, `the warning is ${lines[0].length} characters long`)
  t.true(d.running)
})

interface Check { error: string | null, consecutiveFailures: number }
interface Explain { instances: Array<{ service: { ID: string }, check: Check | null }> }

dtest('docker: an External label whose command hangs leaves one command running in the container, not one more per interval', async (t) => {
  if (!docker.ok) return
  const cwd = await mkdtemp(path.join(os.tmpdir(), 'sidecar-hang-'))
  t.teardown(async () => { await rm(cwd, { recursive: true, force: true }) })
  const d = await startDockerDaemon({ ip: '127.0.47.11', hostname: 'docker-hang', cwd, dockerUrl: docker.url, env: { DOCKER_ALLOW_EXTERNAL_CHECKS: 'true', PROXY_ENABLED: 'false' } })
  t.teardown(() => { d.kill() })
  const name = `hang-${Math.random().toString(36).slice(2, 8)}`
  const c = await runContainer(docker.docker, { name: 'sctest-hang', hostIp: '127.0.47.11', labels: { ServiceName: name, HealthCheck: 'External', HealthCheckArgs: 'sleep 300' } })
  t.teardown(async () => { await c.remove() })

  await waitForInstance(d, c.shortId, s => s.Status === STATUS.UNHEALTHY, 'UNHEALTHY: timed out')
  let last: Check | null | undefined
  await waitFor(async () => {
    last = (await d.json<Explain>(`/api/services/${name}/explain.json`)).instances.find(i => i.service.ID === c.shortId)?.check
    return last !== undefined && last !== null && last.consecutiveFailures >= 5 ? last : undefined
  }, { timeoutMs: 20_000, message: () => `five failed checks (one a second); last: ${JSON.stringify(last)}` })
  t.regex(last?.error ?? '', /^timed out: the command of an earlier check still runs in the container \(Docker cannot stop it\); no new one is started until it ends$/)
  // Docker cannot kill an exec'd command: before, every interval (1 s) left one more sleep behind.
  const top = await docker.docker.getContainer(c.id).top() as { Processes: string[][] }
  const sleeps = top.Processes.filter(p => p.join(' ').includes('sleep 300'))
  t.true(sleeps.length >= 1 && sleeps.length <= 2, `${sleeps.length} processes of the command in the container: ${JSON.stringify(top.Processes)}`) // sh -c and its sleep, at most
})
