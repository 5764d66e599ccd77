// The container image end to end, with the real test dockerd and no registry: a base image
// made here (docker/make-base-image.sh), docker/Dockerfile built on it, then two sidecars run
// from it on the host network (127.0.20.1 discovers Docker through the mounted socket, as
// the unprivileged user with the socket's group; 127.0.20.2 is configured only by a mounted
// sidecar.toml and seeded from the first) and a labelled demo container: the demo service
// must be ALIVE in both APIs, the sidecars must not discover each other (SidecarDiscover=false),
// and Docker's HEALTHCHECK must find them healthy.
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { statSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import test from 'ava'
import type Docker from 'dockerode'
import { dockerTests, IMAGES, PID_LABEL, runContainer, TEST_LABEL, TEST_DOCKER_SOCKET } from '../helpers/docker.ts'
import { buildImage, IMAGE_TAG } from '../helpers/image.ts'
import { waitFor } from '../helpers/wait.ts'

const A = '127.0.20.1'
const B = '127.0.20.2'
const BUILD_TIMEOUT_MS = 7 * 60_000 // measured 1.5 min on 2 busy cores (load 18), most of it npm ci and the vfs copies
const { docker, dtest } = await dockerTests(test, 'Docker image test')

interface Instance { ID: string, Name: string, Status: number, Hostname: string, Image: string }
interface ServicesJson { Services: Record<string, Instance[]>, ClusterMembers?: Record<string, unknown> }

async function services (ip: string): Promise<ServicesJson | undefined> {
  try {
    const res = await fetch(`http://${ip}:7777/services.json`, { signal: AbortSignal.timeout(3000) })
    return res.ok ? await res.json() as ServicesJson : undefined
  } catch { return undefined }
}

async function logs (c: Docker.Container): Promise<string> {
  const buf = await c.logs({ stdout: true, stderr: true, tail: 60 }).catch((err: Error) => Buffer.from(err.message))
  // Docker's multiplexed stream: strip the 8-byte frame headers for a readable log.
  return buf.toString('latin1').replace(/[\x00-\x08][\x00]{3}[\s\S]{4}/g, '') // eslint-disable-line no-control-regex
}

dtest('image: two sidecars from the built image on the host network see a labelled demo container ALIVE in both APIs', async (t) => {
  if (!docker.ok) return
  t.timeout(BUILD_TIMEOUT_MS + 3 * 60_000)
  const { base, build } = await buildImage(TEST_DOCKER_SOCKET, BUILD_TIMEOUT_MS)
  t.log(`base image ${(base.ms / 1000).toFixed(1)} s, image build ${(build.ms / 1000).toFixed(1)} s (load average ${os.loadavg()[0].toFixed(1)})`)
  const d = docker.docker

  const info = await d.getImage(IMAGE_TAG).inspect()
  t.like(info.Config, { User: 'node', Labels: { SidecarDiscover: 'false' } })
  t.deepEqual(Object.keys(info.Config.ExposedPorts ?? {}).sort(), ['7777/tcp', '7946/tcp', '7946/udp'])
  t.deepEqual(info.Config.Healthcheck?.Test, ['CMD', 'node', '/app/docker/healthcheck.js'])

  const suffix = Math.random().toString(36).slice(2, 8)
  const started: Docker.Container[] = []
  t.teardown(async () => { for (const c of started) await c.remove({ force: true }).catch(() => {}) })
  const sidecar = async (name: string, opts: { env?: string[], binds: string[], groupAdd?: string[] }): Promise<Docker.Container> => {
    const c = await d.createContainer({
      name: `sctest-${name}-${suffix}`,
      Image: IMAGE_TAG,
      Env: opts.env ?? [],
      Labels: { [TEST_LABEL]: '1', [PID_LABEL]: String(process.pid) },
      HostConfig: { NetworkMode: 'host', Binds: opts.binds, ...(opts.groupAdd !== undefined ? { GroupAdd: opts.groupAdd } : {}) },
    })
    started.push(c)
    await c.start()
    return c
  }

  // A: environment only; Docker discovery through the socket, readable by its group; its node
  // identity on a new named volume (as an operator keeps it across re-creation)
  const idVolume = `sctest-image-id-${suffix}`
  // teardowns run last-registered first: the container using the volume goes before it (else the volume stays, in use)
  t.teardown(async () => {
    for (const c of started) await c.remove({ force: true }).catch(() => {})
    await d.getVolume(idVolume).remove().catch(() => {})
  })
  const a = await sidecar('image-a', {
    env: [`SIDECAR_HOSTNAME=image-a-${suffix}`, `SIDECAR_BIND_IP=${A}`, `SIDECAR_ADVERTISE_IP=${A}`, 'SIDECAR_CLUSTER_NAME=image-test',
      'SIDECAR_DISCOVERY=docker', 'HEALTH_INTERVAL=1s', 'SIDECAR_QUIC=false'],
    binds: [`${TEST_DOCKER_SOCKET}:/var/run/docker.sock`, `${idVolume}:/home/node/.sidecar`],
    groupAdd: [String(statSync(TEST_DOCKER_SOCKET).gid)],
  })
  // B: a mounted sidecar.toml only (the image's working directory), static discovery, seeded from A.
  const conf = await mkdtemp(path.join(os.tmpdir(), 'sidecar-image-'))
  t.teardown(async () => { await rm(conf, { recursive: true, force: true }) })
  await writeFile(path.join(conf, 'sidecar.toml'), [
    '[sidecar]', `hostname = "image-b-${suffix}"`, 'cluster_name = "image-test"', `bind_ip = "${B}"`, `advertise_ip = "${B}"`,
    `seeds = ["${A}"]`, 'discovery = ["static"]', 'quic = false', '[static_discovery]', 'config_file = "static.json"', '',
  ].join('\n'))
  await writeFile(path.join(conf, 'static.json'), '[]\n')
  await chmod(conf, 0o755) // readable by the image's user (uid 1000)
  const b = await sidecar('image-b', { binds: [`${conf}:/etc/sidecar:ro`] })

  const demoName = `demo-${suffix}`
  const demo = await runContainer(d, {
    name: 'sctest-image-demo',
    hostIp: A, // published on A's address, which {{ host }} is
    labels: { ServiceName: demoName, ServicePort_80: '8080', HealthCheck: 'HttpGet', HealthCheckArgs: 'http://{{ host }}:{{ tcp 8080 }}/' },
  })
  t.teardown(async () => { await demo.remove() })

  const why = async (): Promise<string> => `A:\n${await logs(a)}\nB:\n${await logs(b)}`
  const withLogs = async <T>(p: Promise<T>): Promise<T> => {
    try { return await p } catch (err) { throw new Error(`${(err as Error).message}\n${await why()}`, { cause: err }) }
  }
  for (const [ip, who] of [[A, 'A'], [B, 'B']] as const) {
    const doc = await withLogs(waitFor(async () => {
      const s = await services(ip)
      return s?.Services[demoName]?.some(i => i.ID === demo.shortId && i.Status === 0) === true && Object.keys(s.ClusterMembers ?? {}).length === 2 && s
    }, { timeoutMs: 60_000, intervalMs: 250, message: `${demoName} ALIVE in ${who}'s API (${ip}:7777), with both members listed` }))
    const inst = doc.Services[demoName].find(i => i.ID === demo.shortId)
    t.like(inst, { Hostname: `image-a-${suffix}`, Image: IMAGES.httpd, Status: 0 }, `${who} sees the demo ALIVE, announced by A`)
    t.false(Object.values(doc.Services).flat().some(i => i.Image === IMAGE_TAG), `${who}: no sidecar container was discovered`)
  }

  // Docker's own HEALTHCHECK (node /app/docker/healthcheck.js) finds the API at 127.0.20.x:7777.
  for (const [c, who] of [[a, 'A'], [b, 'B']] as const) {
    let last = ''
    await withLogs(waitFor(async () => {
      const health = (await c.inspect()).State.Health
      last = JSON.stringify(health?.Log?.at(-1))
      return health?.Status === 'healthy'
    }, { timeoutMs: 60_000, intervalMs: 1000, message: () => `${who} healthy; last probe: ${last}` }))
  }
  // the named volume took the image directory's owner (the user node), so the key was kept there
  const health = await (await fetch(`http://${A}:7777/health`, { signal: AbortSignal.timeout(5000) })).json() as { identityError?: string }
  t.is(health.identityError, undefined, `A keeps its node key on the named volume: ${health.identityError}`)

  // docker stop: SIGTERM reaches the daemon (PID 1), which exits cleanly.
  await b.stop({ t: 15 })
  t.is((await b.inspect()).State.ExitCode, 0, await why())
})
