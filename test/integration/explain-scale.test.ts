// explain.json of a service with 6,000 instances, read by six clients at once, on a real
// daemon (127.0.12.45) whose proxy carries that service. Before, explain read the proxy's
// whole report once per instance (36 million backend entries for this one document): the
// first answer took minutes, the daemon answered nothing meanwhile, not even SIGTERM, and at
// 9,000 instances a peer would have declared it dead. Now the report is read once per
// document and the document is built in time slices, so /health keeps answering.
import test from 'ava'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { startDaemon } from '../helpers/daemon.ts'
import { waitFor } from '../helpers/wait.ts'

const N = 6000
const READERS = 6
const READ_MS = 5000

test('explain of a 6,000-instance service: complete documents for concurrent readers, and /health answers meanwhile', async t => {
  t.timeout(150_000)
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-explain-scale-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const file = path.join(dir, 'static.json')
  await writeFile(file, JSON.stringify(Array.from({ length: N }, (_, i) => ({ Service: { ID: `i${i}`, Name: 'big', Image: 'img:1', Ports: [{ Type: 'tcp', Port: 20000 + i, ServicePort: 18080 }] }, Check: { Type: 'AlwaysSuccessful' } }))))
  const d = await startDaemon({ ip: '127.0.12.45', hostname: 'explain-big', cwd: dir, args: ['-d', 'static'], env: { STATIC_CONFIG_FILE: file, HEALTH_INTERVAL: '3s', SIDECAR_LOGGING_LEVEL: 'warn' } })
  t.teardown(() => { d.kill() })
  await waitFor(async () => /^sidecar_local_services\{status="alive"\} (\d+)$/m.exec(await (await fetch(d.url('/metrics'))).text())?.[1] === String(N) || undefined, { timeoutMs: 60_000, message: `${N} services ALIVE` })

  let stop = false
  const documents: number[] = []
  const readers = Array.from({ length: READERS }, async () => {
    while (!stop) {
      const doc = await (await fetch(d.url('/api/services/big/explain.json'), { signal: AbortSignal.timeout(30_000) })).json() as { instances: Array<{ routable: boolean }> }
      documents.push(doc.instances.length)
    }
  })
  const health: number[] = []
  let healthFailures = 0
  const prober = (async () => {
    while (!stop) {
      const t0 = performance.now()
      try {
        await (await fetch(d.url('/health'), { signal: AbortSignal.timeout(5000) })).arrayBuffer()
        health.push(performance.now() - t0)
      } catch { healthFailures++ }
      await new Promise(resolve => setTimeout(resolve, 100))
    }
  })()
  await new Promise(resolve => setTimeout(resolve, READ_MS))
  stop = true
  await Promise.all([...readers, prober])
  health.sort((a, b) => a - b)
  t.log(`${documents.length} documents in ${READ_MS} ms by ${READERS} readers; /health ${health.length} answers, median ${health[Math.floor(health.length / 2)]?.toFixed(0)} ms, max ${health.at(-1)?.toFixed(0)} ms, ${healthFailures} over 5 s`)
  t.true(documents.length >= READERS, 'every reader got at least one document')
  t.true(documents.every(n => n === N), `each document lists all ${N} instances`)
  t.is(healthFailures, 0, 'no /health request took over 5 s')
  t.true(health.length >= 10, `/health answered ${health.length} times in ${READ_MS} ms (every 100 ms when it answers at once)`)
  const exit = await d.stop('SIGTERM', 20_000)
  t.is(exit.code, 0, 'SIGTERM is still heard')
})
