// The container image for the tests: a local base image (docker/make-base-image.sh: this
// machine's Node, no registry) and docker/Dockerfile built on it by the test dockerd, with
// the docker CLI (the legacy builder: the test dockerd has no BuildKit client here).
import { spawn } from 'node:child_process'
import os from 'node:os'
import path from 'node:path'
import { REPO } from './daemon.ts'

export const BASE_TAG = 'sidecar-test/node-base:24'
export const IMAGE_TAG = 'sidecar-test/sidecar:ci'

export interface Run { code: number | null, output: string, ms: number }

/** Runs a command to its end (killed after timeoutMs); output is stdout and stderr, the last 200,000 characters. cleanEnv: opts.env only. */
export async function run (cmd: string, args: string[], opts: { env?: Record<string, string>, timeoutMs: number, cwd?: string, cleanEnv?: boolean }): Promise<Run> {
  const t0 = Date.now()
  return await new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd ?? REPO, env: opts.cleanEnv === true ? opts.env : { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    const keep = (c: Buffer): void => { output = (output + c.toString()).slice(-200_000) }
    child.stdout.on('data', keep)
    child.stderr.on('data', keep)
    const timer = setTimeout(() => { output += `\n(killed after ${opts.timeoutMs} ms)`; child.kill('SIGKILL') }, opts.timeoutMs)
    child.on('error', (err) => { clearTimeout(timer); reject(err) })
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, output, ms: Date.now() - t0 }) })
  })
}

/**
 * Holds an exclusive lock on file (flock(1), released when the holder process dies too) until
 * the returned function is called; waits up to timeoutMs for another holder. Without flock(1):
 * no lock.
 */
async function lock (file: string, timeoutMs: number): Promise<() => void> {
  return await new Promise((resolve, reject) => {
    const child = spawn('flock', ['-w', String(Math.ceil(timeoutMs / 1000)), file, 'sh', '-c', 'echo locked; exec cat'], { stdio: ['pipe', 'pipe', 'ignore'] })
    const release = (): void => { child.stdin.end() }
    child.stdout.once('data', () => { resolve(release) })
    child.on('error', (err: NodeJS.ErrnoException) => { if (err.code === 'ENOENT') resolve(() => {}); else reject(err) })
    child.on('close', (code) => { reject(new Error(`no lock on ${file} within ${timeoutMs} ms (flock exit ${code})`)) })
  })
}

/**
 * Makes the base image (kept when it exists) and builds the sidecar image on it; throws with the
 * build output on failure. Test files that build it at once (ava runs files in parallel) take
 * turns: the second build of the same checkout finds every layer in Docker's build cache and
 * takes seconds instead of a second full npm ci on the shared cores.
 */
export async function buildImage (socket: string, timeoutMs: number): Promise<{ base: Run, build: Run }> {
  const t0 = Date.now()
  const release = await lock(path.join(os.tmpdir(), 'sidecar-test-image-build.lock'), timeoutMs)
  try {
    return await buildImageNow(socket, timeoutMs - (Date.now() - t0))
  } finally {
    release()
  }
}

async function buildImageNow (socket: string, timeoutMs: number): Promise<{ base: Run, build: Run }> {
  const env = { DOCKER_HOST: `unix://${socket}`, DOCKER_BUILDKIT: '0' }
  const base = await run('bash', ['docker/make-base-image.sh', BASE_TAG], { env, timeoutMs })
  if (base.code !== 0) throw new Error(`docker/make-base-image.sh failed (exit ${base.code}):\n${base.output}`)
  // --network host: npm ci in the build stage reaches the npm registry as this machine does
  // (the test dockerd's bridge has no route out).
  const build = await run('docker', ['build', '--network', 'host', '-f', 'docker/Dockerfile', '--build-arg', `BASE_IMAGE=${BASE_TAG}`, '-t', IMAGE_TAG, '.'], { env, timeoutMs: timeoutMs - base.ms })
  if (build.code !== 0) throw new Error(`docker build failed (exit ${build.code}):\n${build.output}`)
  // The image this tag named before (an older checkout's) is dangling now: remove it (vfs keeps full copies).
  await run('docker', ['image', 'prune', '-f', '--filter', 'label=org.opencontainers.image.title=sidecar'], { env, timeoutMs: 60_000 })
  return { base, build }
}
