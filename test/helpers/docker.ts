// Docker for the integration tests: the private dockerd that test/helpers/docker-setup.sh
// starts, test images made without a registry (a static busybox rootfs, `docker import`ed),
// and containers that only the test that made them talks to. Every container carries the
// label sidecar-test and its test process's pid, so a crashed run's leftovers are removed
// by the next run.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import type { TestFn } from 'ava'
import Docker from 'dockerode'

export const TEST_DOCKER_SOCKET = process.env.SIDECAR_TEST_DOCKER_SOCKET ?? '/run/sidecar-test-docker/docker.sock'
export const TEST_LABEL = 'sidecar-test'
export const PID_LABEL = 'sidecar-test.pid'
const BUSYBOX = '/bin/busybox'
const APPLETS = ['sh', 'httpd', 'wget', 'sleep', 'cat', 'echo', 'ls', 'rm', 'touch', 'test', 'true', 'false', 'mkdir']

export const IMAGES = {
  /** Serves /www on port 80 with busybox httpd; / answers "ok". */
  httpd: 'sidecar-test/httpd:1',
  /** The same, with a HEALTHCHECK (every 1 s) that passes once /tmp/ready exists. */
  httpdHealthcheck: 'sidecar-test/httpd-hc:1',
} as const

const HTTPD_CMD = 'CMD ["/bin/busybox","httpd","-f","-p","80","-h","/www"]'
const IMAGE_CHANGES: Record<string, string[]> = {
  [IMAGES.httpd]: [HTTPD_CMD, 'EXPOSE 80'],
  [IMAGES.httpdHealthcheck]: [HTTPD_CMD, 'EXPOSE 80', 'HEALTHCHECK --interval=1s --timeout=1s --retries=1 CMD ["/bin/busybox","test","-f","/tmp/ready"]'],
}

export type DockerCheck = { ok: true, docker: Docker, url: string } | { ok: false, reason: string }

/** The test Docker, its images made; or why Docker tests cannot run here. */
export async function testDocker (socket = TEST_DOCKER_SOCKET): Promise<DockerCheck> {
  const setup = 'run `sudo bash test/helpers/docker-setup.sh start` (CI does)'
  if (!existsSync(socket)) return { ok: false, reason: `no Docker daemon socket at ${socket}: ${setup}` }
  const docker = new Docker({ socketPath: socket })
  try {
    await Promise.race([docker.ping(), new Promise((_resolve, reject) => setTimeout(() => { reject(new Error('no answer within 5 s')) }, 5000).unref())])
  } catch (err) {
    return { ok: false, reason: `the Docker daemon at ${socket} does not answer (${(err as Error).message}): ${setup}` }
  }
  if (!existsSync(BUSYBOX)) return { ok: false, reason: `${BUSYBOX} is missing (Debian package busybox-static), needed for the test image` }
  await removeLeftovers(docker)
  await ensureImages(docker)
  return { ok: true, docker, url: `unix://${socket}` }
}

/**
 * The test Docker, and what a test file declares its Docker tests with (dtest): ava's test where
 * the test Docker answers; else test.skip, after one line saying why and how to start it
 * ("Docker integration tests skipped: no Docker daemon socket at ..."; what names the tests).
 */
export async function dockerTests<C> (test: TestFn<C>, what = 'Docker integration tests'): Promise<{ docker: DockerCheck, dtest: TestFn<C> | TestFn<C>['skip'] }> {
  const docker = await testDocker()
  if (!docker.ok) console.log(`${what} skipped: ${docker.reason}`)
  return { docker, dtest: docker.ok ? test : test.skip }
}

async function run (cmd: string, args: string[]): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] })
    let err = ''
    child.stderr.on('data', (c: Buffer) => { err += c.toString() })
    child.on('error', reject)
    child.on('close', (code) => {
      if (code === 0) resolve()
      else reject(new Error(`${cmd} ${args.join(' ')}: exit ${code}: ${err}`))
    })
  })
}

/** Imports the test images that are missing (idempotent). */
export async function ensureImages (docker: Docker): Promise<void> {
  const missing: string[] = []
  for (const image of Object.values(IMAGES)) {
    try { await docker.getImage(image).inspect() } catch { missing.push(image) }
  }
  if (missing.length === 0) return
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-rootfs-'))
  try {
    const root = path.join(dir, 'root')
    await mkdir(path.join(root, 'bin'), { recursive: true })
    await mkdir(path.join(root, 'www'))
    await mkdir(path.join(root, 'tmp'))
    await copyFile(BUSYBOX, path.join(root, 'bin/busybox'))
    for (const a of APPLETS) await symlink('busybox', path.join(root, 'bin', a))
    await writeFile(path.join(root, 'www/index.html'), 'ok\n')
    const tar = path.join(dir, 'rootfs.tar')
    await run('tar', ['-C', root, '-cf', tar, '.'])
    for (const image of missing) {
      const [repo, tag] = image.split(':')
      const stream = await docker.importImage(tar, { repo, tag, changes: IMAGE_CHANGES[image] })
      await new Promise<void>((resolve, reject) => {
        docker.modem.followProgress(stream, (err: Error | null) => {
          if (err === null) resolve()
          else reject(err)
        })
      })
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

function alive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM' }
}

/** Removes test containers whose test process is gone (a crashed or killed run). */
export async function removeLeftovers (docker: Docker): Promise<void> {
  const all = await docker.listContainers({ all: true, filters: { label: [TEST_LABEL] } })
  for (const c of all) {
    const pid = Number(c.Labels[PID_LABEL])
    if (Number.isInteger(pid) && pid > 0 && alive(pid)) continue
    await docker.getContainer(c.Id).remove({ force: true }).catch(() => {})
  }
}

export interface ContainerOptions {
  /** Made unique by a random suffix unless exactName. */
  name: string
  exactName?: boolean
  image?: string
  labels?: Record<string, string>
  /** Publishes container port 80 on hostIp (a random host port); none: no network at all. */
  hostIp?: string
  network?: 'none'
  /** Replaces the image's command. */
  cmd?: string[]
  /** Legacy links ("name:alias"): the linked container is listed under "/<this name>/<alias>" too. */
  links?: string[]
}

export class TestContainer {
  readonly docker: Docker
  readonly id: string
  readonly name: string
  readonly hostPort: number | undefined

  constructor (docker: Docker, id: string, name: string, hostPort: number | undefined) {
    this.docker = docker; this.id = id; this.name = name; this.hostPort = hostPort
  }

  get shortId (): string { return this.id.slice(0, 12) }

  /** docker stop with a grace time of t seconds (busybox httpd as PID 1 ignores SIGTERM). */
  async stop (t = 1): Promise<void> { await this.docker.getContainer(this.id).stop({ t }) }

  async remove (): Promise<void> { await this.docker.getContainer(this.id).remove({ force: true }).catch(() => {}) }

  /** Runs a command in the container and waits for it to end. */
  async exec (cmd: string[]): Promise<void> {
    const exec = await this.docker.getContainer(this.id).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true })
    const stream = await exec.start({ Detach: false })
    await new Promise<void>((resolve) => { stream.on('end', resolve); stream.on('close', resolve); stream.resume() })
  }
}

/** Creates and starts a labelled container; the caller registers remove() as a teardown. */
export async function runContainer (docker: Docker, opts: ContainerOptions): Promise<TestContainer> {
  const name = opts.exactName === true ? opts.name : `${opts.name}-${Math.random().toString(36).slice(2, 9)}`
  const publish = opts.hostIp !== undefined
  const c = await docker.createContainer({
    name,
    Image: opts.image ?? IMAGES.httpd,
    ...(opts.cmd !== undefined ? { Cmd: opts.cmd } : {}),
    Labels: { ...opts.labels, [TEST_LABEL]: '1', [PID_LABEL]: String(process.pid) },
    ...(publish ? { ExposedPorts: { '80/tcp': {} } } : {}),
    HostConfig: {
      ...(publish ? { PortBindings: { '80/tcp': [{ HostIp: opts.hostIp, HostPort: '' }] } } : {}),
      ...(opts.network === 'none' ? { NetworkMode: 'none' } : {}),
      ...(opts.links !== undefined ? { Links: opts.links } : {}),
    },
  })
  try {
    await c.start()
    const info = await c.inspect()
    const binding = (info.NetworkSettings.Ports?.['80/tcp'] as Array<{ HostPort: string }> | null | undefined)?.[0]
    return new TestContainer(docker, c.id, name, binding === undefined ? undefined : Number(binding.HostPort))
  } catch (err) {
    await c.remove({ force: true }).catch(() => {})
    throw err
  }
}
