// HealthCheck=External from Docker labels, against the real test dockerd. Daemon "off" on
// 127.0.12.20 runs with the default (allow_external_checks = false); daemon "on" on
// 127.0.12.21 allows them. A label asks for a command that, run on the host, would create a
// file in a directory this test made on the host: on main (2147a8d) the daemon ran it there,
// as its own user. Now it never runs on the host: off, the check fails with the reason;
// on, it runs inside the container (the file appears there, the output is the container's
// hostname). And HttpGet or TcpConnect labels that name an address on the host which the
// container does not publish are not run at all ([docker_discovery] check_any_target).
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import anyTest, { type TestFn } from 'ava'
import type { DaemonProcess } from '../helpers/daemon.ts'
import { count, startDockerDaemon, STATUS, waitForInstance } from '../helpers/docker-daemon.ts'
import { dockerTests, runContainer, type TestContainer } from '../helpers/docker.ts'
import { sleep, waitFor } from '../helpers/wait.ts'

const test = anyTest as TestFn<{ off: DaemonProcess, on: DaemonProcess, cwd: string }>
const { docker, dtest } = await dockerTests(test)

interface Explain { instances: Array<{ service: { ID: string }, check: { type: string, args: string, error: string | null } | null, reasons: string[] }> }

test.before(async (t) => {
  if (!docker.ok) return
  t.context.cwd = await mkdtemp(path.join(os.tmpdir(), 'sidecar-apisec-docker-'))
  const [off, on] = await Promise.all([
    startDockerDaemon({ ip: '127.0.12.20', hostname: 'exec-off', cwd: t.context.cwd, dockerUrl: docker.url, env: { DOCKER_RECONCILE_INTERVAL: '1s', PROXY_ENABLED: 'false', SIDECAR_LOGGING_LEVEL: 'info' } }),
    startDockerDaemon({ ip: '127.0.12.21', hostname: 'exec-on', cwd: t.context.cwd, dockerUrl: docker.url, env: { DOCKER_RECONCILE_INTERVAL: '1s', PROXY_ENABLED: 'false', SIDECAR_LOGGING_LEVEL: 'info', DOCKER_ALLOW_EXTERNAL_CHECKS: 'true' } }),
  ])
  t.context.off = off
  t.context.on = on
})

test.after.always(async (t) => {
  t.context.off?.kill()
  t.context.on?.kill()
  if (t.context.cwd !== undefined) await rm(t.context.cwd, { recursive: true, force: true })
})

async function start (t: { teardown: (fn: () => Promise<void>) => void }, labels: Record<string, string>): Promise<TestContainer> {
  if (!docker.ok) throw new Error('no docker')
  const c = await runContainer(docker.docker, { name: 'sctest-exec', labels, network: 'none' })
  t.teardown(async () => { await c.remove() })
  return c
}

/** Runs a command in the container; its exit code. */
async function execCode (c: TestContainer, cmd: string[]): Promise<number | null> {
  const exec = await c.docker.getContainer(c.id).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true })
  const stream = await exec.start({ Detach: false })
  await new Promise<void>((resolve) => { stream.on('end', resolve); stream.on('close', resolve); stream.resume() })
  for (let i = 0; i < 40; i++) {
    const info = await exec.inspect()
    if (!info.Running) return info.ExitCode
    await sleep(25)
  }
  return null
}

async function explain (d: DaemonProcess, name: string, id: string): Promise<Explain['instances'][number] | undefined> {
  const doc = await d.json<Explain>(`/api/services/${name}/explain.json`)
  return doc.instances.find(i => i.service.ID === id)
}

function hostPath (cwd: string): string {
  return path.join(cwd, `pwned-${Math.random().toString(36).slice(2, 8)}`)
}

dtest('External label, default config: the command never runs, the check fails saying why, one warning per container', async (t) => {
  const { off, cwd } = t.context
  const target = hostPath(cwd)
  const name = `exec-off-${Math.random().toString(36).slice(2, 8)}`
  const c = await start(t, { ServiceName: name, HealthCheck: 'External', HealthCheckArgs: `touch ${target}` })
  await waitForInstance(off, c.shortId, s => s.Status === STATUS.UNHEALTHY, 'UNHEALTHY: its External label is refused')
  await off.waitForOutput(`container ${c.shortId} asks for HealthCheck=External; not run`) // the first warning, counted below
  await sleep(3000) // three more check intervals
  t.false(existsSync(target), 'the label\'s command ran on the host')
  const e = await explain(off, name, c.shortId)
  t.is(e?.check?.type, 'DockerExec')
  t.regex(e?.check?.error ?? '', /allow_external_checks is off/)
  t.true(e?.reasons.some(r => /last check: HealthCheck=External from a container label is not run/.test(r)))
  t.is(count(off.output, `container ${c.shortId} asks for HealthCheck=External; not run`), 1)
})

dtest('External label, allow_external_checks on: the command runs inside the container, never on the host', async (t) => {
  const { on, cwd } = t.context
  const target = hostPath(cwd)
  const name = `exec-on-${Math.random().toString(36).slice(2, 8)}`
  const c = await start(t, { ServiceName: name, HealthCheck: 'External', HealthCheckArgs: `mkdir -p ${cwd} && touch ${target}` })
  await waitForInstance(on, c.shortId, s => s.Status === STATUS.ALIVE, 'ALIVE: its command ran in the container')
  t.false(existsSync(target), 'the command ran on the host')
  t.is(await execCode(c, ['/bin/test', '-f', target]), 0, 'the file is in the container')

  // A failing command: its output (the container's hostname, its short id) in explain.
  const name2 = `exec-fail-${Math.random().toString(36).slice(2, 8)}`
  const f = await start(t, { ServiceName: name2, HealthCheck: 'External', HealthCheckArgs: 'cat /etc/hostname; exit 3' })
  await waitForInstance(on, f.shortId, s => s.Status === STATUS.UNHEALTHY, 'UNHEALTHY: exit 3')
  // On a loaded machine (CI) one docker exec can outlast the check timeout ("timed out: ..."): the next run's verdict is read then
  let last: string | null | undefined
  const e = await waitFor(async () => {
    const x = await explain(on, name2, f.shortId)
    last = x?.check?.error
    return last === `exit 3 (in the container): ${f.shortId}` ? x : undefined
  }, { timeoutMs: 30_000, message: () => `explain shows the command's exit and output; last error: ${String(last)}` })
  t.is(e.check?.error, `exit 3 (in the container): ${f.shortId}`)
  t.is(e.check?.args, `${f.shortId} cat *** (arguments hidden, 25 characters)`)
})

dtest('External label, allow_external_checks on: a command past the check timeout fails as timed out', async (t) => {
  const { on } = t.context
  const name = `exec-slow-${Math.random().toString(36).slice(2, 8)}`
  const c = await start(t, { ServiceName: name, HealthCheck: 'External', HealthCheckArgs: 'sleep 30' })
  await waitForInstance(on, c.shortId, s => s.Status === STATUS.UNHEALTHY, 'UNHEALTHY: timed out')
  const e = await explain(on, name, c.shortId)
  t.regex(e?.check?.error ?? '', /timed out/)
})

dtest('HttpGet and TcpConnect labels that name another address of the host are not run: the server there gets nothing, explain says why', async (t) => {
  const { off, on } = t.context
  // A server on the host, as a metadata endpoint or a loopback admin port would be: it counts what reaches it.
  let hits = 0
  const server = http.createServer((_req, res) => { hits++; res.end('secret') })
  await new Promise<void>(resolve => server.listen(0, '127.0.12.20', resolve))
  t.teardown(async () => { server.closeAllConnections(); await new Promise(resolve => server.close(resolve)) })
  const { port } = server.address() as AddressInfo
  const name = `reach-${Math.random().toString(36).slice(2, 8)}`
  const viaHttp = await start(t, { ServiceName: `${name}-http`, HealthCheck: 'HttpGet', HealthCheckArgs: `http://127.0.12.20:${port}/admin?op=delete` })
  const viaTcp = await start(t, { ServiceName: `${name}-tcp`, HealthCheck: 'TcpConnect', HealthCheckArgs: `127.0.12.20:${port}` })
  for (const d of [off, on]) {
    for (const [c, service] of [[viaHttp, `${name}-http`], [viaTcp, `${name}-tcp`]] as const) {
      await waitForInstance(d, c.shortId, s => s.Status === STATUS.UNHEALTHY, `${service} UNHEALTHY on ${d.hostname}`)
      const e = await explain(d, service, c.shortId)
      t.is(e?.check?.error, `127.0.12.20:${port} is not checked: a check from a container's labels may reach only that container's published TCP ports, and it publishes none ([docker_discovery] check_any_target = true lifts this)`)
    }
  }
  await sleep(2500) // more check intervals
  t.is(hits, 0, 'no check reached the host\'s server')
})
