// A label check's reach follows the address family of the port's binding, against the real test
// dockerd. Docker's "::" binding takes IPv6 only (docker-proxy listens with IPV6_V6ONLY), so
// another process may hold the advertise IP (IPv4) at the same port: here a server on the host,
// as a node exporter on the host's address would be. Before, a port published only on "::"
// counted as bound to every address, and the check `{{ host }}:{{ tcp N }}` went to that server
// (it passed on the server's 200, and the server got the requests). Address: 127.0.96.2.
import { mkdtemp, rm } from 'node:fs/promises'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import test from 'ava'
import { startDockerDaemon, STATUS, waitForInstance } from '../helpers/docker-daemon.ts'
import { dockerTests, runContainer } from '../helpers/docker.ts'
import { sleep } from '../helpers/wait.ts'

const IP = '127.0.96.2'
const { docker, dtest } = await dockerTests(test)

interface Explain { instances: Array<{ service: { ID: string }, check: { error: string | null } | null }> }

dtest('check reach: a port published only on "::" is not checked at the IPv4 advertise IP, where another server may listen', async (t) => {
  if (!docker.ok) return
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-family-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const name = `family-${Math.random().toString(36).slice(2, 8)}`
  const c = await runContainer(docker.docker, {
    name: 'sctest-family',
    hostIp: '::',
    labels: { ServiceName: name, ServicePort_80: '8080', HealthCheck: 'HttpGet', HealthCheckArgs: 'http://{{ host }}:{{ tcp 8080 }}/' },
  })
  t.teardown(async () => { await c.remove() })
  const port = c.hostPort
  if (port === undefined) throw new Error('the container published no port')

  // The host's server at the advertise IP and the container's port: Docker left it free.
  let hits = 0
  const server = http.createServer((_req, res) => { hits++; res.end('host service') })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, IP, resolve)
  }).catch((err: unknown) => { throw new Error(`${IP}:${port} is taken: does Docker's "::" binding take IPv4 too here? (${String(err)})`) })
  t.teardown(async () => { server.closeAllConnections(); await new Promise(resolve => server.close(resolve)) })

  const d = await startDockerDaemon({ ip: IP, hostname: 'docker-family', cwd: dir, dockerUrl: docker.url, env: { PROXY_ENABLED: 'false' } })
  t.teardown(() => { d.kill() })
  await waitForInstance(d, c.shortId, s => s.Status === STATUS.UNHEALTHY, 'UNHEALTHY: its check is out of reach', 30_000)
  const doc = await d.json<Explain>(`/api/services/${name}/explain.json`)
  t.is(doc.instances.find(i => i.service.ID === c.shortId)?.check?.error,
    `${IP}:${port} is not checked: a check from a container's labels may reach only that container's published TCP ports: ::1:${port} ([docker_discovery] check_any_target = true lifts this)`)
  await sleep(2500) // more check intervals
  t.is(hits, 0, 'no check reached the host\'s server')
  // and the operator is told why peers reach nothing there
  await d.waitForOutput(new RegExp(`port ${port}/tcp published on :: \\(IPv6\\) only, which this host's advertised address ${IP.replaceAll('.', '\\.')} is not`), { timeoutMs: 10_000 })
})
