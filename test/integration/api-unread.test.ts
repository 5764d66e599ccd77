// A client of the API that pipelines reads of a large document, reads none of the answers and
// goes away: the daemon drops those answers quietly (a debug line each at most) and goes on.
// Koa's own error handler printed a stack trace for each answer cut short.
import test from 'ava'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { startDaemon } from '../helpers/daemon.ts'
import { sleep, waitFor } from '../helpers/wait.ts'

const IP = '127.0.12.50'
const SERVICES = 500
const REQUESTS = 2000

test('a client that pipelines 2,000 reads of /api/state.json and leaves without reading: no stack trace in the log, the API goes on', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-api-unread-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const file = path.join(dir, 'static.json')
  await writeFile(file, JSON.stringify(Array.from({ length: SERVICES }, (_, i) => ({
    Service: { Name: `svc${i % 20}`, ID: `unread${i}`, Ports: [{ Type: 'tcp', Port: 20000 + i, ServicePort: 0, IP }] },
    Check: { Type: 'AlwaysSuccessful' },
  }))))
  const d = await startDaemon({ ip: IP, hostname: 'unread', cwd: dir, args: ['-d', 'static'], env: { STATIC_CONFIG_FILE: file, SIDECAR_LOGGING_LEVEL: 'info', PROXY_ENABLED: 'false' } })
  t.teardown(async () => { await d.stop() })
  const size = await waitFor(async () => {
    const doc = await (await fetch(d.url('/api/state.json'))).text()
    return (doc.match(/"ID":"unread/g) ?? []).length === SERVICES ? doc.length : undefined
  }, { timeoutMs: 30_000, message: `all ${SERVICES} services in /api/state.json` })
  t.log(`/api/state.json: ${size} bytes`)

  const before = d.output.length
  const s = net.connect({ host: IP, port: 7777 })
  s.on('error', () => {})
  s.pause() // reads nothing
  await new Promise<void>((resolve, reject) => { s.once('connect', resolve); s.once('error', reject) })
  s.write('GET /api/state.json HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(REQUESTS))
  // the daemon has taken the requests and is sending answers nobody reads
  await sleep(2000)
  s.destroy()
  await sleep(1500)
  const health = await fetch(d.url('/health'), { signal: AbortSignal.timeout(5000) })
  t.is(health.status, 200)
  const after = d.output.slice(before)
  t.notRegex(after, /^\s+at /m, 'no stack trace in the output')
  t.notRegex(after, /ERR_STREAM_PREMATURE_CLOSE|Premature close/)
  t.true(d.running)
})
