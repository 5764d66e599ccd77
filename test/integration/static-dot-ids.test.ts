// A static entry's explicit ID as the drain API sees it (127.0.91.4): "." and "..", which the
// API's path cleaning resolves away (as Go's ServeMux did) so that no drain URL can name them,
// are refused at load with the entry named; other IDs made of dots are drained as usual.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import test from 'ava'
import { DaemonProcess, startDaemon } from '../helpers/daemon.ts'
import { waitFor } from '../helpers/wait.ts'

const IP = '127.0.91.4'

async function staticDir (t: { teardown: (fn: () => Promise<void>) => void }, id: string): Promise<{ dir: string, file: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-dot-ids-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const file = path.join(dir, 'static.json')
  await writeFile(file, JSON.stringify([{ Service: { Name: 'dotted', ID: id, Ports: [{ Port: 9100, ServicePort: 0 }] }, Check: { Type: 'AlwaysSuccessful' } }]))
  return { dir, file }
}

test.serial('static dot IDs: an entry with the ID ".." stops the daemon at start, naming the entry and why', async t => {
  const { dir, file } = await staticDir(t, '..')
  const d = new DaemonProcess({ ip: IP, hostname: 'dot-ids', cwd: dir, args: ['-d', 'static'], env: { STATIC_CONFIG_FILE: file, PROXY_ENABLED: 'false' } })
  t.teardown(() => { d.kill() })
  await waitFor(() => !d.running, { timeoutMs: 60_000, message: () => `the daemon to exit at start; output:\n${d.output.slice(-2000)}` })
  const exit = await d.exited
  t.not(exit.code, 0)
  t.regex(d.output, /entry 0 \(dotted\): Service\.ID may not be "\.\.": \/api\/services\/<id>\/drain could not name it/)
})

test.serial('static dot IDs: an entry with the ID "..." is drained and undrained through the API', async t => {
  const { dir, file } = await staticDir(t, '...')
  const d = await startDaemon({ ip: IP, hostname: 'dot-ids', cwd: dir, args: ['-d', 'static'], env: { STATIC_CONFIG_FILE: file, PROXY_ENABLED: 'false' } })
  t.teardown(() => { d.kill() })
  const status = async (): Promise<number | undefined> => (await d.json<{ Services: Record<string, Array<{ ID: string, Status: number }>> }>('/services.json')).Services.dotted?.find(s => s.ID === '...')?.Status
  await waitFor(async () => await status() === 0, { timeoutMs: 30_000, message: '"..." ALIVE' })
  const drained = await fetch(d.url('/api/services/.../drain'), { method: 'POST', redirect: 'manual', signal: AbortSignal.timeout(15_000) })
  t.is(drained.status, 202, await drained.text())
  t.is(await status(), 4, 'DRAINING')
  const undrained = await fetch(d.url('/api/services/.../undrain'), { method: 'POST', redirect: 'manual', signal: AbortSignal.timeout(15_000) })
  t.is(undrained.status, 202)
  t.is(await status(), 0)
})
