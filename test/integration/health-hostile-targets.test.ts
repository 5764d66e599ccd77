// HttpGet checks against servers that answer what no well-behaved server does (daemons on
// 127.0.93.10 and .12, servers on .11; one at a time):
// the checked server is the container's own (any container with a published TCP port gets a
// default HttpGet check), so what it answers is chosen by whoever starts containers. Each such
// answer fails the check with a clear reason, and the daemon keeps running.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import test from 'ava'
import { startDaemon } from '../helpers/daemon.ts'
import { waitFor } from '../helpers/wait.ts'

const IP = '127.0.93.10'
const IP_101 = '127.0.93.12'
const SERVER_IP = '127.0.93.11'

interface RawServer { port: number, hits: () => number, close: () => Promise<void> }

/** A server that writes `answer` (or what it gives for the request's first bytes) to every request it gets, as raw bytes. */
async function rawServer (answer: string | ((request: string) => string)): Promise<RawServer> {
  let hits = 0
  const sockets = new Set<net.Socket>()
  const server = net.createServer(s => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
    s.on('error', () => {})
    s.once('data', (b) => { hits++; s.end(typeof answer === 'string' ? answer : answer(b.toString('latin1'))) })
  })
  await new Promise<void>(resolve => server.listen(0, SERVER_IP, resolve))
  return {
    port: (server.address() as net.AddressInfo).port,
    hits: () => hits,
    close: async () => { for (const s of sockets) s.destroy(); await new Promise(resolve => server.close(resolve)) },
  }
}

interface Explain { instances: Array<{ check: { ok: boolean | null, error: string | null } | null }> }

test.serial('hostile check targets: a redirect to a URL the parser refuses fails the check, and the daemon keeps running', async t => {
  const bad = await rawServer('HTTP/1.1 302 Found\r\nLocation: http://[::1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')
  const relative = await rawServer('HTTP/1.1 301 Moved Permanently\r\nLocation: //a b/\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')
  t.teardown(async () => { await bad.close(); await relative.close() })
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-hostile-targets-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const file = path.join(dir, 'static.json')
  const entry = (name: string, port: number): unknown => ({
    Service: { Name: name, Ports: [{ Type: 'tcp', Port: port, ServicePort: 0, IP: SERVER_IP }] },
    Check: { Type: 'HttpGet', Args: `http://${SERVER_IP}:${port}/version` },
  })
  await writeFile(file, JSON.stringify([entry('bad-location', bad.port), entry('bad-relative', relative.port)]))
  const d = await startDaemon({ ip: IP, hostname: 'hostile-targets', cwd: dir, args: ['-d', 'static'], env: { STATIC_CONFIG_FILE: file, PROXY_ENABLED: 'false', HEALTH_INTERVAL: '500ms' } })
  t.teardown(() => { d.kill() })

  // several rounds of each check: before, the first answer ended the daemon with "TypeError: Invalid URL"
  await waitFor(() => !d.running || (bad.hits() >= 3 && relative.hits() >= 3), { timeoutMs: 60_000, message: () => `three checks of each server (${bad.hits()}, ${relative.hits()}); output:\n${d.output.slice(-3000)}` })
  t.true(d.running, `the daemon exited; output:\n${d.output.slice(-3000)}`)
  t.notRegex(d.output, /TypeError|ERR_INVALID_URL/)

  const check = async (name: string): Promise<{ ok: boolean | null, error: string | null } | null | undefined> => (await d.json<Explain>(`/api/services/${name}/explain.json`)).instances[0]?.check
  t.is((await check('bad-location'))?.ok, false)
  t.is((await check('bad-location'))?.error, `HTTP 302 from http://${SERVER_IP}:${bad.port}/version: redirect to an invalid URL "http://[::1"`)
  t.is((await check('bad-relative'))?.error, `HTTP 301 from http://${SERVER_IP}:${relative.port}/version: redirect to an invalid URL "//a b/"`)
  const health = await d.json<{ status: string }>('/health')
  t.is(health.status, 'ok')
})

test.serial('hostile check targets: a 101 Switching Protocols to a check fails it at once, naming the answer', async t => {
  const switching = await rawServer('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n')
  t.teardown(async () => { await switching.close() })
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-hostile-targets-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const file = path.join(dir, 'static.json')
  await writeFile(file, JSON.stringify([{
    Service: { Name: 'switching', Ports: [{ Type: 'tcp', Port: switching.port, ServicePort: 0, IP: SERVER_IP }] },
    Check: { Type: 'HttpGet', Args: `http://${SERVER_IP}:${switching.port}/version` },
  }]))
  const d = await startDaemon({ ip: IP_101, hostname: 'hostile-targets', cwd: dir, args: ['-d', 'static'], env: { STATIC_CONFIG_FILE: file, PROXY_ENABLED: 'false', HEALTH_INTERVAL: '1s' } })
  t.teardown(() => { d.kill() })
  const check = async (): Promise<{ ok: boolean | null, error: string | null } | null | undefined> => (await d.json<Explain>('/api/services/switching/explain.json')).instances[0]?.check
  await waitFor(async () => (await check())?.error != null, { timeoutMs: 60_000, message: () => `a verdict; output:\n${d.output.slice(-3000)}` })
  // before: the check never ended, and the monitor gave up on it a second after its timeout
  // ("timed out: the check did not end within its timeout, nor when it was aborted")
  t.is((await check())?.error, `HTTP 101 from http://${SERVER_IP}:${switching.port}/version: switching protocols, though the check asked for no upgrade`)
})

test.serial('hostile check targets: an error quoting a 15,000-character redirect URL is kept and shown clipped to about 1 KB', async t => {
  const long = `/${'a'.repeat(15_000)}`
  const server = await rawServer(request => request.startsWith('GET /version ')
    ? `HTTP/1.1 302 Found\r\nLocation: ${long}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`
    : 'HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')
  t.teardown(async () => { await server.close() })
  const { port } = server
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-hostile-targets-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const file = path.join(dir, 'static.json')
  await writeFile(file, JSON.stringify([{
    Service: { Name: 'long-location', Ports: [{ Type: 'tcp', Port: port, ServicePort: 0, IP: SERVER_IP }] },
    Check: { Type: 'HttpGet', Args: `http://${SERVER_IP}:${port}/version` },
  }]))
  const d = await startDaemon({ ip: IP, hostname: 'hostile-targets', cwd: dir, args: ['-d', 'static'], env: { STATIC_CONFIG_FILE: file, PROXY_ENABLED: 'false', HEALTH_INTERVAL: '1s' } })
  t.teardown(() => { d.kill() })
  const check = async (): Promise<{ ok: boolean | null, error: string | null } | null | undefined> => (await d.json<Explain>('/api/services/long-location/explain.json')).instances[0]?.check
  await waitFor(async () => (await check())?.error != null, { timeoutMs: 60_000, message: () => `a verdict (${server.hits()} requests); output:\n${d.output.slice(-3000)}` })
  const error = (await check())?.error ?? ''
  t.true(error.startsWith(`HTTP 500 from http://${SERVER_IP}:${port}/aaaa`), error.slice(0, 200))
  t.true(error.length <= 1100, `${error.length} characters`)
  t.regex(error, /\.\.\. \(15\d\d\d characters\)$/)
  t.false(d.output.includes('a'.repeat(2000)), 'nor is the whole URL logged')
})
