// A static service whose External check daemonizes (setsid, or setsid -f with a grandchild)
// leaves that process outside the check's process group, where the group kill cannot reach
// it. Run by a real daemon for a handful of short intervals: the strays must not pile up,
// one per run, and the operator must be told once per service.
import { readdirSync, readFileSync } from 'node:fs'
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import test from 'ava'
import { startDaemon } from '../helpers/daemon.ts'
import { waitFor } from '../helpers/wait.ts'

const IP = '127.0.44.10'
const INTERVAL_MS = 300
const TIMEOUT_MS = 200
/** Runs of each check to watch: a stray per run would leave this many. */
const RUNS = 8

/** Pids of running processes (zombies excluded) whose argv is exactly argv. */
function pidsWithArgv (argv: string[]): number[] {
  const want = argv.join('\u0000') + '\u0000'
  const out: number[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8') !== want) continue
      if (/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${name}/stat`, 'utf8'))) continue
      out.push(Number(name))
    } catch { /* gone */ }
  }
  return out
}

function killAll (pids: number[]): void {
  for (const pid of pids) try { process.kill(pid, 'SIGKILL') } catch { /* gone */ }
}

async function lines (file: string): Promise<number> {
  return (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(l => l !== '').length
}

test('health: a check command that daemonizes leaves no process behind, run after run, and the operator is told once', async t => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-strays-'))
  // sleep's argument tells this test's strays from any other process on the host
  const tag = `${100_000 + (process.pid % 100_000)}.${Date.now() % 1_000_000}`
  const sleeps = { ended: ['sleep', `${tag}1`], grandchild: ['sleep', `${tag}2`], timedOut: ['sleep', `${tag}3`] }
  const all = (): number[] => [...pidsWithArgv(sleeps.ended), ...pidsWithArgv(sleeps.grandchild), ...pidsWithArgv(sleeps.timedOut)]
  t.teardown(async () => {
    killAll(all())
    await rm(dir, { recursive: true, force: true })
  })
  const runs = { ended: path.join(dir, 'ended.runs'), timedOut: path.join(dir, 'timed-out.runs') }
  const quiet = '</dev/null >/dev/null 2>&1'
  const service = (name: string, port: number, command: string): unknown => ({
    Service: { ID: name, Name: name, Image: `${name}:1`, Ports: [{ Type: 'tcp', Port: port, ServicePort: 0, IP: '127.0.0.1' }] },
    Check: { Type: 'External', Args: command },
  })
  const file = path.join(dir, 'static.json')
  await writeFile(file, JSON.stringify([
    // ends at once, leaving a new session behind, and a grandchild of a setsid -f in another
    service('ends', 1, `echo run >> ${runs.ended}; setsid ${sleeps.ended.join(' ')} ${quiet} & setsid -f sh -c '${sleeps.grandchild.join(' ')} & wait' ${quiet}; exit 0`),
    // never ends: the timeout kills its group, but not the session it started
    service('hangs', 2, `echo run >> ${runs.timedOut}; setsid ${sleeps.timedOut.join(' ')} ${quiet} & sleep 30`),
  ]))
  await appendFile(runs.ended, '')
  const d = await startDaemon({
    ip: IP,
    hostname: 'strays-a',
    cwd: dir,
    args: ['-d', 'static'],
    env: { STATIC_CONFIG_FILE: file, HEALTH_INTERVAL: `${INTERVAL_MS}ms`, HEALTH_TIMEOUT: `${TIMEOUT_MS}ms` },
  })
  t.teardown(() => { d.kill() })

  await waitFor(async () => await lines(runs.ended) >= RUNS && await lines(runs.timedOut) >= RUNS, {
    timeoutMs: 20_000,
    message: () => `${RUNS} runs of each check\n${d.output.slice(-3000)}`,
  })
  // A run's strays are ended within a second or so of the run: at most those of the last runs remain.
  const settled = await waitFor(() => {
    const left = { ended: pidsWithArgv(sleeps.ended).length, grandchild: pidsWithArgv(sleeps.grandchild).length, timedOut: pidsWithArgv(sleeps.timedOut).length }
    return Math.max(left.ended, left.grandchild, left.timedOut) <= 2 && left
  }, { timeoutMs: 10_000, message: () => `strays of at most the last 2 runs left, after ${RUNS} runs; still running: ended ${pidsWithArgv(sleeps.ended).length}, grandchild ${pidsWithArgv(sleeps.grandchild).length}, timed out ${pidsWithArgv(sleeps.timedOut).length}` })
  t.log(`after ${RUNS}+ runs each, strays still running: ${JSON.stringify(settled)}`)

  // One warning per service, saying what happened and what to do. The warning comes through a
  // pipe, which can be read after the strays were seen gone: waited for, then counted.
  for (const id of ['ends', 'hangs']) await d.waitForOutput(new RegExp(`WARN.*killed \\d+ process(es)? left running by the health check of ${id}:`))
  for (const id of ['ends', 'hangs']) {
    const warned = d.output.split('\n').filter(l => l.includes('WARN') && new RegExp(`killed \\d+ process(es)? left running by the health check of ${id}:`).test(l))
    t.is(warned.length, 1, `one warning for ${id}; output:\n${d.output.slice(-4000)}`)
  }
  t.regex(d.output, /WARN: \[health\] killed \d+ process(es)? left running by the health check of hangs: its command starts processes that leave its process group \(setsid, a daemon\), and it timed out/)

  // And none is left once the daemon stopped.
  const stopped = await d.stop()
  t.is(stopped.code, 0)
  await waitFor(() => all().length === 0, { timeoutMs: 5000, message: () => `no stray left after the daemon stopped; still running: ${all().join(', ')}` })
})
