// External checks against real processes: each ends when its shell ends or at its timeout,
// and leaves no process of its own behind, whatever the command does with its children.
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import test, { type ExecutionContext } from 'ava'
import { external, type CheckResult } from '../../../src/health/checks.ts'
import { waitFor } from '../../helpers/wait.ts'

const execFileAsync = promisify(execFile)

/** Running, not a zombie waiting for init to reap it. */
function alive (pid: number): boolean {
  try { return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8')) } catch { return false }
}

/** A file the command writes a pid to; the process is killed by that pid when the test ends (never by name). */
async function pidFile (t: ExecutionContext): Promise<{ file: string, pid: () => Promise<number> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-external-'))
  const file = path.join(dir, 'pid')
  const pid = async (): Promise<number> => Number((await readFile(file, 'utf8')).trim())
  t.teardown(async () => {
    const p = await pid().catch(() => 0)
    if (p > 0 && alive(p)) process.kill(p, 'SIGKILL')
    await rm(dir, { recursive: true, force: true })
  })
  return { file, pid }
}

test('external: a background child the command leaves running is ended with the check', async t => {
  const { file, pid } = await pidFile(t)
  const r = await external(`sleep 30 >/dev/null 2>&1 & echo $! > ${file}; exit 0`, AbortSignal.timeout(5000))
  t.deepEqual(r, { ok: true })
  const child = await pid()
  await waitFor(() => !alive(child), { timeoutMs: 2000, message: `the background sleep (pid ${child}) still runs after the check ended` })
  t.pass()
})

test('external: a descendant that leaves the process group and keeps the output open does not hold the check past its shell', async t => {
  const { file } = await pidFile(t)
  const t0 = Date.now()
  const r = await external(`setsid sleep 30 & echo $! > ${file}; exit 0`, AbortSignal.timeout(5000))
  t.deepEqual(r, { ok: true })
  t.true(Date.now() - t0 < 2000, `the check took ${Date.now() - t0} ms: it waited for the pipe the setsid'd sleep holds`)
})

test('external: a command that never ends, with such a descendant, ends at the timeout with a clear error', async t => {
  const { file } = await pidFile(t)
  const t0 = Date.now()
  const r = await Promise.race([
    external(`setsid sleep 30 & echo $! > ${file}; sleep 30`, AbortSignal.timeout(300)),
    new Promise<'hung'>(resolve => setTimeout(() => { resolve('hung') }, 5000).unref()),
  ])
  t.deepEqual(r, { ok: false, error: 'timed out: the command did not end within the check timeout' })
  t.true(Date.now() - t0 < 2000)
})

test('external: output is kept for the error message, and 100 MB of it costs no more', async t => {
  t.deepEqual(await external('echo not ready >&2; exit 3', AbortSignal.timeout(5000)), { ok: false, error: 'exit 3: not ready' })
  const r = await external('head -c 100000000 /dev/zero | tr "\\0" x; exit 1', AbortSignal.timeout(10_000))
  t.false(r.ok)
  t.true((r.error ?? '').length < 600)
})

const LIMIT_HELPER = fileURLToPath(new URL('../../helpers/spawn-limit-main.ts', import.meta.url))

const AS_NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']

/** Runs spawn-limit-main.ts (as nobody when root, whom the process limit does not bind) and returns its JSON line. */
async function limited (mode: 'emfile' | 'eagain'): Promise<{ result?: CheckResult, rejected?: string }> {
  const argv = [process.execPath, LIMIT_HELPER, mode]
  const [cmd, ...args] = mode === 'eagain' && process.getuid?.() === 0 ? [...AS_NOBODY, ...argv] : argv
  const { stdout } = await execFileAsync(cmd, args, { timeout: 30_000 })
  return JSON.parse(stdout) as { result?: CheckResult, rejected?: string }
}

/** Why the EAGAIN case cannot run here, if it cannot: as root it runs as nobody, who must reach node and the helper (a checkout in a private directory, such as mktemp -d's, is out of its reach). */
async function eagainUnreachable (): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return undefined
  try {
    await execFileAsync(AS_NOBODY[0], [...AS_NOBODY.slice(1), process.execPath, '-e', `require('fs').accessSync(${JSON.stringify(LIMIT_HELPER)}, require('fs').constants.R_OK)`], { timeout: 30_000 })
    return undefined
  } catch (err) {
    return `user nobody cannot run ${process.execPath} on ${LIMIT_HELPER}: ${String((err as { stderr?: string }).stderr ?? err).split('\n').find(l => /Error|denied/.test(l)) ?? 'no access'}`
  }
}

test('external: a command that cannot be started fails its check saying why, out of file descriptors or of processes', async t => {
  t.deepEqual(await limited('emfile'), { result: { ok: false, error: 'the command could not be started: spawn /bin/sh EMFILE (too many open files: the limit of open files (ulimit -n) is reached)' } })
  const unreachable = await eagainUnreachable()
  if (unreachable !== undefined) t.log(`the out-of-processes case is not run: ${unreachable}`)
  else t.deepEqual(await limited('eagain'), { result: { ok: false, error: 'the command could not be started: spawn /bin/sh EAGAIN (no more processes may be started: the process limit of this user (ulimit -u) or of its cgroup (pids.max) is reached)' } })
  // a missing program is the shell's to report
  const missing = await external('/nonexistent/check-program --now', AbortSignal.timeout(5000))
  t.false(missing.ok)
  t.regex(missing.error ?? '', /^exit 127: .*\/nonexistent\/check-program.*not found/)
})
