// A backend passed over as stalled ([proxy] stall_timeout) must say so where an operator looks:
// /api/proxy.json and explain.json of a real daemon, while it holds a request unanswered, and
// no longer once it answers. Before, it read `active` and explain called it routable, though it
// got no new requests.
import test, { type ExecutionContext } from 'ava'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { getJson, httpBackend } from '../helpers/backends.ts'
import { startDaemon } from '../helpers/daemon.ts'
import { waitFor } from '../helpers/wait.ts'
import { eachRequest } from './proxy/raw.ts'

const IP = '127.0.45.2'
const GOOD_IP = '127.0.45.3'
const HELD_IP = '127.0.45.4'
const SP = 18451

interface BackendJson { hostname: string, state: string, silentSince?: string, inFlight: number, requests: number }
interface ProxyJson { listeners: Array<{ port: number, backends: BackendJson[] }> }
interface ExplainJson { instances: Array<{ service: { Hostname: string }, routable: boolean, reasons: string[] }> }

/** A raw backend that holds every request unanswered until release(), then answers each (and every later one) with 200. */
async function holdingBackend (t: ExecutionContext): Promise<{ port: number, held: () => number, release: () => void }> {
  const waiting: net.Socket[] = []
  let released = false
  const answer = (s: net.Socket): void => {
    const body = JSON.stringify({ backend: 'held' })
    if (!s.destroyed) s.write(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`)
  }
  const sockets = new Set<net.Socket>()
  const server = net.createServer((s) => {
    sockets.add(s)
    s.on('error', () => {})
    s.on('close', () => sockets.delete(s))
    s.on('data', eachRequest(() => { if (released) answer(s); else waiting.push(s); return true }))
  })
  await new Promise<void>(resolve => server.listen(0, HELD_IP, resolve))
  t.teardown(() => { for (const s of sockets) s.destroy(); server.close() })
  return {
    port: (server.address() as net.AddressInfo).port,
    held: () => waiting.length,
    release: () => { released = true; for (const s of waiting.splice(0)) answer(s) },
  }
}

test('daemon: a backend that holds a request past stall_timeout reads `stalled` (with silentSince) in proxy.json and explain says why, and `active` again once it answers', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-stalled-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const good = await httpBackend('good', GOOD_IP)
  t.teardown(async () => { await good.close() })
  const held = await holdingBackend(t)
  // a TcpConnect check on the held backend: its kernel accepts, so the active check passes, as for a hung application
  const entries = [
    { Service: { Name: 'web', Hostname: 'host-good', Ports: [{ Type: 'tcp', Port: good.port, ServicePort: SP, IP: GOOD_IP }], ProxyMode: 'http' }, Check: { Type: 'TcpConnect', Args: `${GOOD_IP}:${good.port}` } },
    { Service: { Name: 'web', Hostname: 'host-held', Ports: [{ Type: 'tcp', Port: held.port, ServicePort: SP, IP: HELD_IP }], ProxyMode: 'http' }, Check: { Type: 'TcpConnect', Args: `${HELD_IP}:${held.port}` } },
  ]
  const file = path.join(dir, 'static.json')
  await writeFile(file, JSON.stringify(entries))
  const d = await startDaemon({ ip: IP, hostname: 'proxy-host', cwd: dir, args: ['-d', 'static'], env: { STATIC_CONFIG_FILE: file, HEALTH_INTERVAL: '1s', PROXY_STALL_TIMEOUT: '1s' } })
  t.teardown(() => { d.kill() })

  const heldBackend = async (): Promise<BackendJson | undefined> => (await d.json<ProxyJson>('/api/proxy.json')).listeners.find(l => l.port === SP)?.backends.find(b => b.hostname === 'host-held')
  const heldVerdict = async (): Promise<{ routable: boolean, reasons: string[] } | undefined> => (await d.json<ExplainJson>('/api/services/web/explain.json')).instances.find(i => i.service.Hostname === 'host-held')
  await waitFor(async () => (await d.json<ProxyJson>('/api/proxy.json')).listeners.find(l => l.port === SP)?.backends.filter(b => b.state === 'active').length === 2,
    { timeoutMs: 45_000, message: () => `both backends active\n${d.output.slice(-3000)}` })

  // two requests at once: round robin puts one of them on the held backend, which keeps it
  const sentAt = Date.now()
  const pending = [getJson(`http://${IP}:${SP}/`), getJson(`http://${IP}:${SP}/`)]
  for (const p of pending) p.catch(() => {}) // awaited below; a failure before that fails the test there
  await waitFor(() => held.held() === 1, { timeoutMs: 5000, message: 'a request held by the backend' })
  t.is((await heldBackend())?.state, 'active', 'within stall_timeout it is still active')

  const stalled = await waitFor(async () => { const b = await heldBackend(); return b?.state === 'stalled' && b }, { timeoutMs: 5000, message: 'the held backend reads stalled' })
  t.log(stalled)
  t.is(stalled.inFlight, 1)
  const since = Date.parse(stalled.silentSince ?? '')
  t.true(since >= sentAt - 1000 && since <= Date.now() - 1000, `silentSince ${stalled.silentSince}: when the held request began to wait`)
  // what the state means: new requests go to the other backend
  const requestsBefore = stalled.requests
  for (let i = 0; i < 6; i++) t.is((await getJson(`http://${IP}:${SP}/`)).body.backend, 'good')
  t.is((await heldBackend())?.requests, requestsBefore)
  const verdict = await heldVerdict()
  t.false(verdict?.routable)
  t.true(verdict?.reasons.some(r => r.startsWith(`stalled on port ${SP}: requests wait on it with no answer from it since ${stalled.silentSince ?? ''}`)), JSON.stringify(verdict?.reasons))

  // it answers: the held request completes, and the backend is active again, without the field
  held.release()
  const answers = await Promise.all(pending)
  t.deepEqual(answers.map(a => a.status), [200, 200])
  t.deepEqual(answers.map(a => a.body.backend).sort(), ['good', 'held'])
  const after = await waitFor(async () => { const b = await heldBackend(); return b?.state === 'active' && b }, { timeoutMs: 5000, message: 'active again' })
  t.is(after.silentSince, undefined)
  t.true((await heldVerdict())?.routable)
})
