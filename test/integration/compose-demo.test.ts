// The README's "Compose demo", run as a new operator runs it: docker/compose.yml itself (three
// sidecars from the image docker/Dockerfile builds, two labelled demo services, the
// 172.28.0.0/24 network, config/compose.toml) brought up with Compose against the test dockerd,
// then the README's steps one by one, each checked for what the README says it shows.
// Differences from a user's machine, all through the compose file's own variables: the image
// is the one test/helpers/image.ts builds (SIDECAR_IMAGE), the ports are published on
// 127.0.74.1 (SIDECAR_DEMO_BIND) and the Docker socket is the test dockerd's
// (SIDECAR_DEMO_DOCKER_SOCKET). There is no registry here, so `nginx:alpine` is the busybox
// httpd test image (serves / with "ok" on port 80) under that name in the test dockerd, made
// for the test (and removed after it) unless an image of that name is there already.
// Compose: the v2 plugin (`docker compose`, as the README writes) where it is installed, else
// Debian's docker-compose 1.29 (.ci/run installs it); without either the test is skipped.
// The project name is unique (and names this process, so a crashed run's leftovers are removed
// by the next); the ports and the subnet are fixed by the file, so one run at a time per dockerd.
import { spawnSync } from 'node:child_process'
import os from 'node:os'
import test from 'ava'
import type Docker from 'dockerode'
import { dockerTests, IMAGES, PID_LABEL, TEST_DOCKER_SOCKET, TEST_LABEL } from '../helpers/docker.ts'
import { buildImage, IMAGE_TAG, run } from '../helpers/image.ts'
import { waitFor } from '../helpers/wait.ts'

const BIND = '127.0.74.1'
const GATEWAY = '172.28.0.1' // the demo network's gateway (docker/compose.yml): sidecar-1's advertise IP
const BUILD_TIMEOUT_MS = 7 * 60_000 // as docker-image.test.ts; seconds when that test built the same checkout first (Docker's build cache)
const PROJECT_PREFIX = 'sctest-demo-'
const UI = { 'sidecar-1': 7777, 'sidecar-2': 7778, 'sidecar-3': 7779 } as const
const SIDECARS = Object.keys(UI) as Array<keyof typeof UI>

function composeCommand (): string[] | undefined {
  if (spawnSync('docker', ['compose', 'version'], { stdio: 'ignore' }).status === 0) return ['docker', 'compose']
  if (spawnSync('docker-compose', ['version'], { stdio: 'ignore' }).status === 0) return ['docker-compose']
  return undefined
}

const COMPOSE = composeCommand()
const { docker, dtest } = await dockerTests(test, 'Compose demo test')
if (docker.ok && COMPOSE === undefined) console.log('Compose demo test skipped: neither `docker compose` nor `docker-compose` is installed (Debian: apt-get install docker-compose; .ci/run does)')
const ctest = COMPOSE === undefined ? test.skip : dtest

interface Instance { ID: string, Name: string, Status: number, Hostname: string, Image: string, Ports: Array<{ Port: number, ServicePort: number, IP: string }> }
interface ServicesJson { Services: Record<string, Instance[]>, ClusterMembers?: Record<string, unknown> }

async function get (port: number, urlPath: string): Promise<{ status: number, type: string, body: string } | undefined> {
  try {
    const res = await fetch(`http://${BIND}:${port}${urlPath}`, { signal: AbortSignal.timeout(3000) })
    return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() }
  } catch { return undefined }
}

async function json<T> (port: number, urlPath: string): Promise<T | undefined> {
  const res = await get(port, urlPath)
  return res?.status === 200 ? JSON.parse(res.body) as T : undefined
}

function alive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM' }
}

/** Containers, networks and volumes of demo projects whose test process is gone (a crashed run): they hold the ports and the subnet. */
async function removeLeftoverProjects (d: Docker): Promise<void> {
  const project = (labels: Record<string, string> | undefined): string => labels?.['com.docker.compose.project'] ?? ''
  const dead = (name: string): boolean => name.startsWith(PROJECT_PREFIX) && !alive(Number(name.slice(PROJECT_PREFIX.length).split('-')[0]))
  for (const c of await d.listContainers({ all: true, filters: { label: ['com.docker.compose.project'] } })) {
    if (dead(project(c.Labels))) await d.getContainer(c.Id).remove({ force: true, v: true }).catch(() => {})
  }
  for (const n of await d.listNetworks({ filters: { label: ['com.docker.compose.project'] } })) {
    if (dead(project(n.Labels))) await d.getNetwork(n.Id).remove().catch(() => {})
  }
  for (const v of (await d.listVolumes({ filters: { label: ['com.docker.compose.project'] } })).Volumes ?? []) {
    if (dead(project(v.Labels ?? undefined))) await d.getVolume(v.Name).remove().catch(() => {})
  }
}

/** Runs cmd in the container as its user; resolves with its exit code. */
async function exec (c: Docker.Container, cmd: string[]): Promise<number | null> {
  const e = await c.exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true })
  const stream = await e.start({ Detach: false })
  await new Promise<void>((resolve) => { stream.on('end', resolve); stream.on('close', resolve); stream.resume() })
  return (await e.inspect()).ExitCode
}

ctest('compose demo: the README\'s steps give what the README says, with docker/compose.yml as shipped', async (t) => {
  if (!docker.ok || COMPOSE === undefined) return
  t.timeout(BUILD_TIMEOUT_MS + 6 * 60_000)
  const d = docker.docker
  const t0 = Date.now()
  const { base, build } = await buildImage(TEST_DOCKER_SOCKET, BUILD_TIMEOUT_MS)
  t.log(`base image ${(base.ms / 1000).toFixed(1)} s, image build ${(build.ms / 1000).toFixed(1)} s (load average ${os.loadavg()[0].toFixed(1)})`)
  const tDemo = Date.now()

  await removeLeftoverProjects(d)
  // nginx:alpine cannot be pulled here: the busybox httpd test image under that name, with a
  // shell as PID 1 that exits at SIGTERM as nginx does (httpd as PID 1 ignores it: every stop
  // would wait out Docker's 10 s)
  const nginxBefore = await d.getImage('nginx:alpine').inspect().then(i => i.Id, () => undefined)
  if (nginxBefore === undefined) {
    const stock = await d.createContainer({ Image: IMAGES.httpd, Labels: { [TEST_LABEL]: '1', [PID_LABEL]: String(process.pid) } })
    try {
      const r = await run('docker', ['commit', '--change', `CMD ["/bin/sh","-c","trap 'exit 0' TERM; /bin/busybox httpd -f -p 80 -h /www & wait"]`, stock.id, 'nginx:alpine'], { env: { DOCKER_HOST: `unix://${TEST_DOCKER_SOCKET}` }, timeoutMs: 60_000 })
      if (r.code !== 0) throw new Error(`docker commit: ${r.output}`)
    } finally { await stock.remove({ force: true }) }
  }
  t.teardown(async () => { if (nginxBefore === undefined) await d.getImage('nginx:alpine').remove().catch(() => {}) })

  const project = `${PROJECT_PREFIX}${process.pid}-${Math.random().toString(36).slice(2, 8)}`
  const env = { DOCKER_HOST: `unix://${TEST_DOCKER_SOCKET}`, SIDECAR_IMAGE: IMAGE_TAG, SIDECAR_DEMO_BIND: BIND, SIDECAR_DEMO_DOCKER_SOCKET: TEST_DOCKER_SOCKET }
  const compose = async (...args: string[]): Promise<string> => {
    const r = await run(COMPOSE[0], [...COMPOSE.slice(1), '-p', project, '-f', 'docker/compose.yml', ...args], { env, timeoutMs: 120_000 })
    if (r.code !== 0) throw new Error(`${COMPOSE.join(' ')} ${args.join(' ')}: exit ${r.code}\n${r.output}`)
    return r.output
  }
  const containers = async (): Promise<Docker.ContainerInfo[]> => await d.listContainers({ all: true, filters: { label: [`com.docker.compose.project=${project}`] } })
  const container = async (service: string): Promise<Docker.Container> => {
    const c = (await containers()).find(i => i.Labels['com.docker.compose.service'] === service)
    if (c === undefined) throw new Error(`no container of service ${service} in project ${project}`)
    return d.getContainer(c.Id)
  }
  t.teardown(async () => {
    await compose('down', '-v', '--remove-orphans', '-t', '1').catch((err: Error) => { t.log(`teardown: ${err.message}`) })
    for (const c of await containers()) await d.getContainer(c.Id).remove({ force: true, v: true }).catch(() => {})
    for (const n of await d.listNetworks({ filters: { label: [`com.docker.compose.project=${project}`] } })) await d.getNetwork(n.Id).remove().catch(() => {})
    for (const v of (await d.listVolumes({ filters: { label: [`com.docker.compose.project=${project}`] } })).Volumes ?? []) await d.getVolume(v.Name).remove().catch(() => {})
  })
  const why = async (): Promise<string> => await compose('logs', '--no-color', '--tail', '40').catch((err: Error) => err.message)
  const withLogs = async <T>(p: Promise<T>): Promise<T> => {
    try { return await p } catch (err) { throw new Error(`${(err as Error).message}\n${await why()}`, { cause: err }) }
  }

  // docker compose -f docker/compose.yml up -d
  await compose('up', '-d')
  const upMs = Date.now() - tDemo

  // Published where asked, nowhere else: the UIs and the proxy on 127.0.74.1, the demo services
  // only on the demo network's gateway (where sidecar-1 announces and checks them).
  const published = async (service: string): Promise<Record<string, string[]>> => {
    const ports = (await (await container(service)).inspect()).NetworkSettings.Ports as Record<string, Array<{ HostIp: string, HostPort: string }> | null>
    const out: Record<string, string[]> = {}
    for (const [p, b] of Object.entries(ports)) if (b !== null) out[p] = b.map(x => x.HostIp === GATEWAY ? `${x.HostIp}:*` : `${x.HostIp}:${x.HostPort}`)
    return out
  }
  t.deepEqual(await published('sidecar-1'), { '7777/tcp': [`${BIND}:7777`] })
  t.deepEqual(await published('sidecar-2'), { '7777/tcp': [`${BIND}:7778`], '8080/tcp': [`${BIND}:8080`] })
  t.deepEqual(await published('sidecar-3'), { '7777/tcp': [`${BIND}:7779`] })
  t.deepEqual(await published('hello'), { '80/tcp': [`${GATEWAY}:*`] })
  t.deepEqual(await published('whoami'), { '80/tcp': [`${GATEWAY}:*`] })

  // xdg-open http://localhost:7777/ (and :7778, :7779): each UI answers
  for (const who of SIDECARS) {
    const page = await withLogs(waitFor(async () => { const r = await get(UI[who], '/'); return r?.status === 200 && r }, { timeoutMs: 60_000, intervalMs: 500, message: `${who}'s UI at ${BIND}:${UI[who]}` }))
    t.true(page.type.startsWith('text/html') && page.body.includes('<title>Sidecar</title>'), `${who}'s UI page`)
  }

  // curl -s localhost:7778/services.json: hello and whoami ALIVE, announced by sidecar-1, on every member
  const allAlive = (s: ServicesJson | undefined, name: string): boolean => s?.Services[name]?.length === 1 && s.Services[name][0].Status === 0
  for (const who of SIDECARS) {
    const s = await withLogs(waitFor(async () => {
      const s = await json<ServicesJson>(UI[who], '/services.json')
      return allAlive(s, 'hello') && allAlive(s, 'whoami') && Object.keys(s?.ClusterMembers ?? {}).length === 3 && s
    }, { timeoutMs: 90_000, intervalMs: 500, message: `hello and whoami ALIVE and three members in ${who}'s /services.json` }))
    t.deepEqual(Object.keys(s.ClusterMembers ?? {}).sort(), [...SIDECARS], `${who} lists the three members`)
    for (const name of ['hello', 'whoami']) t.like(s.Services[name][0], { Hostname: 'sidecar-1', Image: 'nginx:alpine', Status: 0 }, `${who}: ${name}`)
  }
  const aliveMs = Date.now() - tDemo

  // curl -s localhost:8080/: sidecar-2's proxy reaches the hello container (a file only it has)
  const hello = await container('hello')
  const marker = `hello-${project}`
  t.is(await exec(hello, ['sh', '-c', `echo ${marker} > /www/marker.txt`]), 0)
  const viaProxy = await withLogs(waitFor(async () => { const r = await get(8080, '/marker.txt'); return r?.status === 200 && r }, { timeoutMs: 30_000, intervalMs: 500, message: `${BIND}:8080/marker.txt through sidecar-2's proxy` }))
  t.is(viaProxy.body.trim(), marker, 'sidecar-2\'s port 8080 leads to the hello container')
  t.like(await get(8080, '/'), { status: 200, body: 'ok\n' })

  // the image's HEALTHCHECK finds each sidecar healthy
  for (const who of SIDECARS) {
    const c = await container(who)
    let last = ''
    await withLogs(waitFor(async () => {
      const health = (await c.inspect()).State.Health
      last = JSON.stringify(health?.Log?.at(-1))
      return health?.Status === 'healthy'
    }, { timeoutMs: 90_000, intervalMs: 1000, message: () => `${who} healthy; last probe: ${last}` }))
  }

  // docker compose -f docker/compose.yml stop whoami
  // curl -s localhost:7779/services/whoami.json: "Status": 1 (tombstone) within a second or two;
  // the UI shows the tombstone on every member (the document it reads: every /services.json)
  const whoamiId = (await json<ServicesJson>(7779, '/services/whoami.json'))?.Services.whoami[0].ID
  await compose('stop', 'whoami')
  const stopped = Date.now()
  const one = await withLogs(waitFor(async () => {
    const s = await json<ServicesJson>(7779, '/services/whoami.json')
    return s?.Services.whoami?.length === 1 && s.Services.whoami[0].Status === 1 && s
  }, { timeoutMs: 15_000, intervalMs: 100, message: 'whoami a tombstone in sidecar-3\'s /services/whoami.json' }))
  const tombstoneMs = Date.now() - stopped
  t.is(one.Services.whoami[0].ID, whoamiId ?? '(none)', 'the instance that was ALIVE')
  for (const who of SIDECARS) {
    await waitFor(async () => {
      const s = await json<ServicesJson>(UI[who], '/services.json')
      return s?.Services.whoami?.[0]?.Status === 1 && allAlive(s, 'hello')
    }, { timeoutMs: 15_000, intervalMs: 200, message: `whoami a tombstone and hello ALIVE in ${who}'s /services.json` })
  }

  // docker compose -f docker/compose.yml start whoami: ALIVE again, on every member
  await compose('start', 'whoami')
  for (const who of SIDECARS) {
    await withLogs(waitFor(async () => allAlive(await json<ServicesJson>(UI[who], '/services.json'), 'whoami'), { timeoutMs: 30_000, intervalMs: 200, message: `whoami ALIVE again in ${who}'s /services.json` }))
  }

  // docker compose -f docker/compose.yml up -d --no-deps --force-recreate sidecar-3: a new
  // container with the same identity (its volume), which the others take back as sidecar-3
  const oldId = (await (await container('sidecar-3')).inspect()).Id
  await compose('up', '-d', '--no-deps', '--force-recreate', 'sidecar-3')
  t.not((await (await container('sidecar-3')).inspect()).Id, oldId, 'a new sidecar-3 container')
  for (const who of SIDECARS) {
    await withLogs(waitFor(async () => {
      const s = await json<ServicesJson>(UI[who], '/services.json')
      return allAlive(s, 'hello') && allAlive(s, 'whoami') && Object.keys(s?.ClusterMembers ?? {}).length === 3
    }, { timeoutMs: 60_000, intervalMs: 500, message: `the re-created sidecar-3 a member again: three members, hello and whoami ALIVE in ${who}'s /services.json` }))
  }
  const health = await withLogs(waitFor(async () => { const h = await json<Record<string, unknown>>(7779, '/health'); return h?.status === 'ok' && h }, { timeoutMs: 30_000, intervalMs: 500, message: 'the re-created sidecar-3\'s /health ok' }))
  t.is(health.refusedBy, undefined, 'no member refuses the re-created sidecar-3')

  // docker compose -f docker/compose.yml down -v: nothing of the demo is left
  await compose('down', '-v')
  t.deepEqual(await containers(), [], 'down removes every container of the demo')
  t.deepEqual((await d.listNetworks({ filters: { label: [`com.docker.compose.project=${project}`] } })).map(n => n.Name), [], 'and its network')
  t.deepEqual(((await d.listVolumes({ filters: { label: [`com.docker.compose.project=${project}`] } })).Volumes ?? []).map(v => v.Name), [], 'and, with -v, its volumes')
  t.is(await get(7777, '/'), undefined, 'the UI port is closed')
  t.log(`image ${((tDemo - t0) / 1000).toFixed(1)} s; up -d ${(upMs / 1000).toFixed(1)} s; all ALIVE everywhere ${(aliveMs / 1000).toFixed(1)} s after up; tombstone on sidecar-3 ${tombstoneMs} ms after stop returned; demo steps ${((Date.now() - tDemo) / 1000).toFixed(1)} s`)
})
