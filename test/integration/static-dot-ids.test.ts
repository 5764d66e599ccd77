// A static entry's explicit ID as the drain API sees it (127.0.91.4): "." and "..", which the
// API's path cleaning resolves away (as Go's ServeMux did) so that no drain URL can name them,
// are refused at load with the entry named; other IDs made of dots are drained as usual. Service
// names of dots are allowed, and explained through the query form of explain.
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

test.serial('static dot names: services named ".." and "." are explained through /api/explain.json?name=, which a path could not carry', async t => {
  const { dir, file } = await staticDir(t, 'unused')
  const entry = (Name: string, ID: string, Port: number): unknown => ({ Service: { Name, ID, Ports: [{ Port, ServicePort: 0 }] }, Check: { Type: 'AlwaysSuccessful' } })
  await writeFile(file, JSON.stringify([entry('..', 'up', 9101), entry('.', 'here', 9102), entry('web', 'web1', 9103)]))
  const d = await startDaemon({ ip: IP, hostname: 'dot-names', cwd: dir, args: ['-d', 'static'], env: { STATIC_CONFIG_FILE: file, PROXY_ENABLED: 'false' } })
  t.teardown(() => { d.kill() })
  await waitFor(async () => Object.keys((await d.json<{ Services: Record<string, unknown> }>('/services.json')).Services).length === 3, { timeoutMs: 30_000, message: 'three services announced' })
  for (const [name, id] of [['..', 'up'], ['.', 'here'], ['web', 'web1']]) {
    const res = await fetch(d.url(`/api/explain.json?name=${encodeURIComponent(name)}`), { signal: AbortSignal.timeout(15_000) })
    t.is(res.status, 200, `${name}: ${res.status}`)
    const doc = await res.json() as { name: string, instances: Array<{ service: { ID: string } }> }
    t.is(doc.name, name)
    t.deepEqual(doc.instances.map(i => i.service.ID), [id])
  }
  // the path form of ".." is resolved away by the client (WHATWG URLs read %2E%2E as ..): it
  // lands on /api/explain.json, whose answer says how to give the name
  const pathForm = await fetch(d.url('/api/services/%2E%2E/explain.json'), { redirect: 'manual', signal: AbortSignal.timeout(15_000) })
  t.is(pathForm.status, 400)
  t.regex((await pathForm.json() as { message: string }).message, /\?name=<name>/)
  // the path form and the query form of a plain name give the same document
  const brief = (doc: { name: string, instances: Array<{ service: { ID: string }, routable: boolean }> }): unknown => [doc.name, doc.instances.map(i => [i.service.ID, i.routable])]
  t.deepEqual(brief(await d.json('/api/explain.json?name=web')), brief(await d.json('/api/services/web/explain.json')))
  for (const q of ['', '?name=web&name=web', '?name=nope']) {
    const res = await fetch(d.url(`/api/explain.json${q}`), { signal: AbortSignal.timeout(15_000) })
    t.is(res.status, q === '?name=nope' ? 404 : 400, q)
    t.is((await res.json() as { status: string }).status, 'error')
  }
})
