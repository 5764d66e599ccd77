// External checks whose command daemonizes (setsid), with real processes: what a run leaves
// outside its process group is killed after the run, the operator is told once per service,
// and a process that carries another daemon's marker is never touched.
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import test, { type ExecutionContext } from 'ava'
import { pino } from 'pino'
import { externalFor } from '../../../src/health/checks.ts'
import { CHECK_RUN_ENV, StrayReaper } from '../../../src/health/strays.ts'
import { waitFor } from '../../helpers/wait.ts'

/** Running, not a zombie waiting for init to reap it. */
function alive (pid: number): boolean {
  try { return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8')) } catch { return false }
}

function reaper (): { reaper: StrayReaper, said: Array<{ level: number, msg: string }> } {
  const said: Array<{ level: number, msg: string }> = []
  const logger = pino({ level: 'debug' }, { write: (line: string) => { said.push(JSON.parse(line) as { level: number, msg: string }) } })
  return { reaper: new StrayReaper({ logger }), said }
}

/** A shell command that starts sleep 30 in a new session, and waits until it is there (its pid in file). */
function daemonize (file: string): string {
  return `setsid sh -c 'echo $$ > ${file}; exec sleep 30' </dev/null >/dev/null 2>&1 & while [ ! -s ${file} ]; do sleep 0.01; done`
}

/** A directory for pid files; every pid written there is killed (by pid) when the test ends. */
async function pidDir (t: ExecutionContext): Promise<{ file: (name: string) => string, pid: (name: string) => Promise<number> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-strays-'))
  const written = new Set<string>()
  const file = (name: string): string => { written.add(name); return path.join(dir, name) }
  const pid = async (name: string): Promise<number> => Number((await readFile(path.join(dir, name), 'utf8')).trim())
  t.teardown(async () => {
    for (const name of written) {
      const p = await pid(name).catch(() => 0)
      if (p > 0 && alive(p)) process.kill(p, 'SIGKILL')
    }
    await rm(dir, { recursive: true, force: true })
  })
  return { file, pid }
}

test('strays: a process a check run leaves outside its group is killed after the run, and said once per service', async t => {
  const { file, pid } = await pidDir(t)
  const { reaper: r, said } = reaper()
  t.teardown(async () => { await r.stop() })
  const check = externalFor(r, 'web-1')
  for (const run of ['a', 'b']) {
    t.deepEqual(await check(`${daemonize(file(run))}; exit 0`, AbortSignal.timeout(5000)), { ok: true })
    const stray = await pid(run)
    // the next sweep comes 1 s after the last one at the soonest (more after a slow scan on a busy host)
    await waitFor(() => !alive(stray), { timeoutMs: 10_000, message: `the setsid'd sleep (pid ${stray}) of run ${run} still runs` })
  }
  // said after the grace between SIGTERM and SIGKILL
  await waitFor(() => said.length >= 2, { timeoutMs: 5000, message: () => `a line per sweep; said: ${JSON.stringify(said)}` })
  const warned = said.filter(l => l.level === 40)
  t.deepEqual(warned.map(l => l.msg.slice(0, l.msg.indexOf(':'))), ['killed 1 process left running by the health check of web-1'])
  t.regex(warned[0].msg, /leave its process group \(setsid, a daemon\)/)
  t.true(said.some(l => l.level === 20 && l.msg === 'killed 1 process left running by the health check of web-1'), 'the second run\'s is logged at debug')
})

test('strays: a run that times out loses its strays too, and a process with another daemon\'s marker is left alone', async t => {
  const { file, pid } = await pidDir(t)
  const { reaper: r, said } = reaper()
  // as if another sidecar on this host had started it for one of its checks
  const foreign = spawn('sleep', ['30'], { detached: true, stdio: 'ignore', env: { ...process.env, [CHECK_RUN_ENV]: `${process.pid}.0123456789abcdef.0` } })
  t.teardown(() => { if (foreign.pid !== undefined && alive(foreign.pid)) process.kill(foreign.pid, 'SIGKILL') })
  const r1 = await externalFor(r, 'slow')(`${daemonize(file('t'))}; sleep 30`, AbortSignal.timeout(300))
  t.deepEqual(r1, { ok: false, error: 'timed out: the command did not end within the check timeout' })
  const stray = await pid('t')
  await r.stop() // the final sweep
  t.false(alive(stray), 'the timed-out run\'s setsid\'d sleep still runs')
  t.true(foreign.pid !== undefined && alive(foreign.pid), 'a process with another daemon\'s marker was killed')
  t.regex(said.find(l => l.level === 40)?.msg ?? '', /^killed 1 process left running by the health check of slow: .*, and it timed out/)
})
