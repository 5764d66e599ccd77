// The API of a daemon with 10,000 instances of one service (127.0.12.45, proxy on), each
// costly route read by eight clients in a loop while /health is probed. Before: explain read
// the proxy's whole report once per instance (100 million backend entries for one document):
// the first answer took minutes, and the daemon answered nothing meanwhile, not even SIGTERM.
// /servers, /services/<name>.json and /api/proxy.json were built for each reader in the turn
// its request arrived, so eight readers held /health for seconds (/servers: 6 answers in 5 s,
// up to 1.3 s each). Now each is built in time slices, one build at a time, and shared by the
// readers who arrive during it (SharedBuild); /servers and the catalog documents are kept for
// their catalog version (and second). /health is probed from a worker thread, so the
// readers' parsing in this process is not counted against the daemon.
// Each phase lasts 5 s of the daemon's own time: while its main thread waits for a core that
// other tests' processes hold, the phase goes on (up to 20 s), and the count of /health answers
// is judged over that. It also tells how long the daemon waited (beside 12 busy loops: 92 % of
// the explain phase; in a CI-like run beside other load, 3.9 s of 5 s gave 4 answers).
import test from 'ava'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { startDaemon } from '../helpers/daemon.ts'
import { startHealthProber } from '../helpers/health-prober.ts'
import { waitFor } from '../helpers/wait.ts'

const N = 10_000
const READERS = 8
const READ_MS = 5000
/** The longest a phase lasts, however long the daemon waits for a core meanwhile. */
const MAX_READ_MS = 4 * READ_MS

/** ms the main thread of process pid has spent runnable but waiting for a core (0 where /proc has no schedstat). */
function waitedMs (pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'latin1').split(' ')[1]) / 1e6
  } catch {
    return 0
  }
}

test('costly routes with 10,000 instances of a service: complete answers for concurrent readers, and /health answers meanwhile', async t => {
  t.timeout(210_000)
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-explain-scale-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const file = path.join(dir, 'static.json')
  await writeFile(file, JSON.stringify(Array.from({ length: N }, (_, i) => ({ Service: { ID: `i${i}`, Name: 'big', Image: 'img:1', Ports: [{ Type: 'tcp', Port: 20000 + i, ServicePort: 18080 }] }, Check: { Type: 'AlwaysSuccessful' } }))))
  const d = await startDaemon({ ip: '127.0.12.45', hostname: 'api-scale', cwd: dir, args: ['-d', 'static'], env: { STATIC_CONFIG_FILE: file, HEALTH_INTERVAL: '3s', SIDECAR_LOGGING_LEVEL: 'warn' } })
  t.teardown(() => { d.kill() })
  await waitFor(async () => /^sidecar_local_services\{status="alive"\} (\d+)$/m.exec(await (await fetch(d.url('/metrics'))).text())?.[1] === String(N) || undefined, { timeoutMs: 60_000, message: `${N} services ALIVE` })

  const routes: Array<[string, (body: string) => boolean]> = [
    ['/api/services/big/explain.json', b => (JSON.parse(b) as { instances: unknown[] }).instances.length === N],
    ['/servers', b => b.split('\n').filter(l => l.includes(' big ')).length === N],
    ['/api/services/big.json', b => (JSON.parse(b) as { Services: { big: unknown[] } }).Services.big.length === N],
    ['/services.json', b => (JSON.parse(b) as { Services: { big: unknown[] } }).Services.big.length === N],
    ['/api/proxy.json', b => (JSON.parse(b) as { listeners: Array<{ backends: unknown[] }> }).listeners[0]?.backends.length === N],
  ]
  for (const [route, complete] of routes) {
    let stop = false
    const answers: boolean[] = []
    const failures: string[] = []
    // An answer equal to one parsed and found complete is complete too: parsing every answer
    // (megabytes each, hundreds of them) kept a core of this process busy, which slowed the
    // tests that CI runs beside this one.
    let verified: string | undefined
    const check = (body: string): boolean => {
      if (body === verified) return true
      const ok = complete(body)
      if (ok) verified = body
      return ok
    }
    const readers = Array.from({ length: READERS }, async () => {
      while (!stop) {
        try {
          answers.push(check(await (await fetch(d.url(route), { signal: AbortSignal.timeout(30_000) })).text()))
        } catch (err) {
          const cause = (err as { cause?: { code?: string, message?: string } }).cause
          failures.push(`${String(err)}${cause !== undefined ? ` (${cause.code ?? ''} ${cause.message ?? ''})` : ''}`)
        }
      }
    })
    // In a worker thread: parsing the readers' answers holds this process's event loop for
    // up to a second on a busy machine, which a prober here would count against the daemon.
    const prober = startHealthProber(d.url('/health'), { intervalMs: 100, timeoutMs: 5000 })
    // READ_MS of the daemon's own time: the phase goes on while its main thread waits for a
    // core that other processes hold (up to MAX_READ_MS), so a loaded machine lengthens the
    // phase instead of starving the count (in one run beside other load it waited 3.9 of 5 s).
    const waited0 = waitedMs(d.child.pid as number)
    const started = performance.now()
    let waited: number
    let elapsed: number
    do {
      await new Promise(resolve => setTimeout(resolve, 250))
      waited = waitedMs(d.child.pid as number) - waited0
      elapsed = performance.now() - started
    } while (elapsed - waited < READ_MS && elapsed < MAX_READ_MS)
    stop = true
    const { times: health, failures: healthFailures } = await prober.stop()
    await Promise.all(readers)
    // The daemon closes a keep-alive connection idle for 5 s (server.ts); a phase's readers can
    // idle that long while a slow answer finishes. Waiting that out means the next phase never
    // reuses a socket at the instant the daemon closes it ("fetch failed" on a loaded machine).
    await new Promise(resolve => setTimeout(resolve, 6000))
    health.sort((a, b) => a - b)
    const during = `${elapsed.toFixed(0)} ms (${waited.toFixed(0)} of them the daemon waited for a core)`
    t.log(`${route}: ${answers.length} answers in ${during} by ${READERS} readers; /health ${health.length} answers, median ${health[Math.floor(health.length / 2)]?.toFixed(0)} ms, max ${health.at(-1)?.toFixed(0)} ms, ${healthFailures.length} failed`)
    t.deepEqual(failures, [], `${route}: no request failed; daemon ${d.child.exitCode === null ? 'running' : `exited ${d.child.exitCode}`}, its output:\n${d.output.slice(-2000)}`)
    t.true(answers.length >= READERS, `${route}: every reader got an answer`)
    t.true(answers.every(ok => ok), `${route}: each answer lists all ${N} instances`)
    t.deepEqual(healthFailures, [], `${route}: no /health request failed or took over 5 s`)
    t.true(health.length >= 10, `${route}: /health answered ${health.length} times in ${during} (every 100 ms when it answers at once)`)
  }
  // The readers are load, as proxy requests are (api/activity.ts): the heap mode has V8's
  // optimize-for-size off while they read (memory-reducing full collections every few answers otherwise).
  // (During a heap burst the percent is V8's own, 0, until the burst ends at a full collection
  // that finds the heap no longer growing; the serving period lasts 2 minutes after the load.)
  let metrics = ''
  const serving = await waitFor(async () => {
    metrics = await (await fetch(d.url('/metrics'), { signal: AbortSignal.timeout(10_000) })).text()
    return /^sidecar_heap_optimize_for_size 0$/m.test(metrics) && /^sidecar_heap_growing_percent 30$/m.test(metrics)
  }, { timeoutMs: 30_000, intervalMs: 500, message: 'serving' }).catch(() => false)
  t.true(serving, `optimize-for-size off while the API serves, and the old generation's growth bounded to 30 %:\n${metrics.split('\n').filter(l => l.startsWith('sidecar_heap_')).join('\n')}`)
  // What this guards is that SIGTERM is heard (the frozen daemon never heard it): the daemon
  // ends by itself, before the SIGKILL 20 s later. Whether the leave of 10,000
  // records also fits the CLI's 5 s stop limit depends on the machine's load (1-3 s here; once
  // more than 5 s in CI beside other tests), so past it the one accepted end is that limit's.
  const exit = await d.stop('SIGTERM', 20_000)
  const tail = d.output.slice(-3000)
  t.log(`SIGTERM: exit ${exit.code ?? exit.signal} after ${exit.ms} ms${exit.code === 0 ? '' : ` (the stop limit: ${/shutdown took longer than \d+ ms/.exec(tail)?.[0] ?? 'not in the log'})`}`)
  t.is(exit.signal, null, `the daemon ended by itself, not by the SIGKILL 20 s later\n${tail}`)
  t.true(exit.code === 0 || (exit.code === 1 && /shutdown took longer than \d+ ms, exiting anyway/.test(tail)), `a graceful stop, or the stop limit's exit; got ${exit.code}\n${tail}`)
})
