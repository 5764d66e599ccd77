// A client that opens idle connections to the API or to proxy ports until the daemon's
// open-file limit is reached. Before the connection caps, every connect the daemon made then
// failed with EMFILE: its TCP health checks reported all of this host's services unhealthy
// (to the whole cluster) while the client held the connections. A real daemon started with
// an open-file limit of 1024 (127.0.12.60; proxy ports 19101 and 19102): the caps are then an
// eighth (API, 128) and a quarter (all proxy ports together, 256) of it.
import test from 'ava'
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { DaemonProcess } from '../helpers/daemon.ts'
import { startRogue } from '../helpers/rogue.ts'
import { makeService, ServiceStatus, Time, type Service } from '../../src/service/index.ts'
import { waitFor } from '../helpers/wait.ts'
import { raw, statuses } from './proxy/raw.ts'

const IP = '127.0.12.60'
const OPEN_FILES = 1024
const SERVICES = 20
const PROXY_PORTS = [19101, 19102]
/** Each flood is several times the limit. */
const FLOOD = 1100

interface Host {
  d: DaemonProcess
  close: () => Promise<void>
  /** Adds a service with this ServicePort to the static file (static discovery reads it again). */
  addService: (id: string, servicePort: number) => Promise<void>
}

async function startHost (opts: { ip?: string, args?: string[], env?: Record<string, string> } = {}): Promise<Host> {
  const ip = opts.ip ?? IP
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-caps-'))
  const backend = net.createServer(s => {
    s.on('error', () => {})
    s.on('data', () => { s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok') })
  })
  await new Promise<void>(resolve => backend.listen(0, ip, resolve))
  const port = (backend.address() as net.AddressInfo).port
  const entries = Array.from({ length: SERVICES }, (_, i) => ({
    Service: { ID: `c${i}`, Name: `caps${i}`, Image: 'img:1', ProxyMode: 'http', Ports: [{ Type: 'tcp', Port: port, ServicePort: PROXY_PORTS[i] ?? 0, IP: ip }] },
    Check: { Type: 'TcpConnect', Args: `${ip}:${port}` },
  }))
  const file = path.join(dir, 'static.json')
  await writeFile(file, JSON.stringify(entries))
  const addService = async (id: string, servicePort: number): Promise<void> => {
    entries.push({ Service: { ID: id, Name: id, Image: 'img:1', ProxyMode: 'http', Ports: [{ Type: 'tcp', Port: port, ServicePort: servicePort, IP: ip }] }, Check: { Type: 'TcpConnect', Args: `${ip}:${port}` } })
    await writeFile(`${file}.new`, JSON.stringify(entries))
    await rename(`${file}.new`, file)
  }
  const d = new DaemonProcess({
    ip,
    hostname: 'caps',
    cwd: dir,
    openFiles: OPEN_FILES,
    args: ['-d', 'static', ...(opts.args ?? [])],
    env: { STATIC_CONFIG_FILE: path.join(dir, 'static.json'), SIDECAR_LOGGING_LEVEL: 'info', HEALTH_INTERVAL: '1s', ...opts.env },
  })
  const close = async (): Promise<void> => {
    await d.stop('SIGTERM', 10_000)
    backend.close()
    await rm(dir, { recursive: true, force: true })
  }
  try {
    await d.ready()
    await waitFor(async () => await alive(d) === SERVICES, { timeoutMs: 30_000, message: () => `all ${SERVICES} services ALIVE; output:\n${d.output.slice(-3000)}` })
  } catch (err) {
    await close()
    throw err
  }
  return { d, close, addService }
}

async function alive (d: DaemonProcess): Promise<number> {
  const doc = await d.json<{ Services: Record<string, Array<{ Status: number }>> }>('/services.json')
  return Object.values(doc.Services).flat().filter(s => s.Status === 0).length
}

/** Opens n idle connections to port, in batches (the listen backlog is 511), and waits for them to connect or close. */
async function flood (port: number, n: number): Promise<net.Socket[]> {
  const sockets: net.Socket[] = []
  for (let i = 0; i < n; i++) {
    const s = net.connect(port, IP)
    s.on('error', () => {})
    sockets.push(s)
    if (i % 100 === 99) await new Promise(resolve => setTimeout(resolve, 20))
  }
  await waitFor(() => sockets.every(s => s.destroyed || !s.connecting), { timeoutMs: 20_000, message: 'every flood connection connected or closed' })
  return sockets
}

const held = (sockets: net.Socket[]): number => sockets.filter(s => !s.destroyed).length
const unhealthyLines = (output: string): string[] => output.split('\n').filter(l => l.includes('is now unhealthy'))

test.serial('connections to the API and to proxy ports cannot use up the descriptors: health checks go on, the extra connections are refused and counted', async (t) => {
  t.timeout(150_000)
  const host = await startHost()
  t.teardown(host.close)
  const { d } = host
  await d.waitForOutput(/the open-file limit is 1024: the API takes at most 128 client connections, all proxy ports together 256/)

  // the API: 1,100 idle connections, held for several check intervals
  const mark = d.mark()
  const api = await flood(d.apiPort, FLOOD)
  await waitFor(() => held(api) <= 128, { timeoutMs: 10_000, message: () => `at most [api] max_connections (128) held, got ${held(api)}` })
  t.log(`API flood: ${held(api)} of ${FLOOD} connections held`)
  t.true(held(api) >= 100, `the API took connections up to its cap, got ${held(api)}`)
  const health = `GET /health HTTP/1.1\r\nHost: ${IP}:${d.apiPort}\r\nConnection: close\r\n\r\n`
  t.deepEqual(statuses(await raw(IP, d.apiPort, health, { timeoutMs: 10_000 })), [], 'another remote client is refused')
  t.deepEqual(statuses(await raw(IP, d.apiPort, health, { timeoutMs: 10_000, localAddress: IP })), [200], 'a client on the daemon\'s own address (a HEALTHCHECK, an operator) still gets /health')
  await new Promise(resolve => setTimeout(resolve, 4000))
  t.deepEqual(unhealthyLines(d.outputSince(mark)), [], 'no service turned unhealthy while the API was flooded')
  for (const s of api) s.destroy()
  await waitFor(async () => await alive(d) === SERVICES, { timeoutMs: 10_000, message: 'the API answers again once the flood ends' })
  const apiRefused = Number(/sidecar_api_rejected_requests_total\{reason="connection_limit"\} (\d+)/.exec(await (await fetch(d.url('/metrics'))).text())?.[1] ?? 0)
  t.true(apiRefused >= FLOOD - 128, `the refused connections counted, got ${apiRefused}`)
  await d.waitForOutput(/api request refused \(connection_limit\): 127\.0\.0\.1: 128 client connections open \(\[api\] max_connections\)/)

  // the proxy: 1,100 connections to each of two service ports share one cap
  const mark2 = d.mark()
  const proxied = [...await flood(PROXY_PORTS[0], FLOOD), ...await flood(PROXY_PORTS[1], FLOOD)]
  await waitFor(() => held(proxied) <= 256, { timeoutMs: 10_000, message: () => `at most [proxy] max_total_connections (256) held on both ports together, got ${held(proxied)}` })
  t.log(`proxy flood: ${held(proxied)} of ${2 * FLOOD} connections held on ${PROXY_PORTS.length} ports`)
  t.true(held(proxied) >= 200, `the proxy took connections up to its cap, got ${held(proxied)}`)
  await new Promise(resolve => setTimeout(resolve, 4000))
  t.deepEqual(unhealthyLines(d.outputSince(mark2)), [], 'no service turned unhealthy while the proxy ports were flooded')
  t.is(await alive(d), SERVICES, 'all services ALIVE during the flood (the API has its own cap)')
  const during = await (await fetch(d.url('/metrics'))).text()
  t.regex(during, /^sidecar_proxy_client_connections_limit 256$/m)
  t.is(Number(/^sidecar_proxy_client_connections (\d+)$/m.exec(during)?.[1]), held(proxied), 'the gauge counts the connections held')
  for (const s of proxied) s.destroy()
  await waitFor(async () => {
    try { return (await fetch(`http://${IP}:${PROXY_PORTS[1]}/`, { signal: AbortSignal.timeout(2000) })).status === 200 } catch { return false }
  }, { timeoutMs: 10_000, message: 'the proxy serves again once the flood ends' })
  const metrics = await (await fetch(d.url('/metrics'))).text()
  const refused = [...metrics.matchAll(/sidecar_proxy_rejections_total\{service="caps[01]",port="\d+",reason="total connection cap"\} (\d+)/g)].reduce((a, m) => a + Number(m[1]), 0)
  t.true(refused >= 2 * FLOOD - 256, `the refused connections counted on both ports, got ${refused}`)
  await d.waitForOutput(/refused \d+ client request\(s\) or connection\(s\).*total connection cap: 127\.0\.0\.1: 256 client connections open on all proxy ports/)
})

test.serial('a member that claims thousands of service ports: a host opens at most [proxy] max_listeners, its own ports first, and its health checks go on', async (t) => {
  t.timeout(150_000)
  const ip = '127.0.12.61'
  const squatIp = '127.0.12.62'
  const host = await startHost({ ip, args: ['-n', 'squat', '-c', ip] })
  t.teardown(host.close)
  const { d } = host
  await d.waitForOutput(/the proxy opens at most 128 ports/)
  const rogue = await startRogue(t, { ip: squatIp, hostname: 'squatter', clusterName: 'squat' })
  await rogue.join(ip)
  const mark = d.mark()
  // 12 records of 256 ports: 3,072 service ports, each a listener on every host without a cap
  const created = Time.fromMillis(Date.now() - 60_000)
  const record = (r: number, status: ServiceStatus): Service => makeService({
    ID: `sq${r}`, Name: `squat${r}`, Hostname: 'squatter', Status: status, Created: created, Updated: Time.fromMillis(Date.now()),
    Ports: Array.from({ length: 256 }, (_, i) => ({ Type: 'tcp', Port: 30000 + i, ServicePort: 40000 + r * 256 + i, IP: squatIp })),
  })
  for (let r = 0; r < 12; r++) await rogue.publish([rogue.sign(record(r, ServiceStatus.ALIVE))])
  interface ProxyDoc { listeners: Array<{ port: number, service: string }>, waiting?: Array<{ port: number, service: string, hosts: string[] }> }
  const proxy = async (): Promise<ProxyDoc> => await d.json<ProxyDoc>('/api/proxy.json')
  let doc = await proxy()
  await waitFor(async () => (doc = await proxy()).waiting?.length === 3072 - 126, { timeoutMs: 30_000, message: () => `2,946 ports waiting; /api/proxy.json has ${doc.waiting?.length} waiting, ${doc.listeners.length} listeners` })
  t.is(doc.listeners.length, 128, 'as many listeners as [proxy] max_listeners (an eighth of 1024)')
  const ports = doc.listeners.map(l => l.port)
  t.true(ports.includes(19101) && ports.includes(19102), 'this host\'s own service ports kept theirs')
  t.deepEqual([...new Set(doc.waiting?.flatMap(w => w.hosts))], ['squatter'], 'the waiting ports are the squatter\'s')
  await new Promise(resolve => setTimeout(resolve, 3000)) // three check intervals
  t.deepEqual(unhealthyLines(d.outputSince(mark)), [], 'no service turned unhealthy')
  await d.waitForOutput(/WARN: \[proxy\] \d+ service ports get no listener: 128 are open, the most \[proxy\] max_listeners allows; waiting: 40126 \(squat0 on squatter\)/, { from: mark })
  t.regex(await (await fetch(d.url('/metrics'))).text(), /^sidecar_proxy_listeners_waiting 2946$/m)
  t.false(/EMFILE/.test(d.output), 'no EMFILE anywhere')
  const explain = await d.json<{ instances: Array<{ routable: boolean, reasons: string[] }> }>('/api/services/squat11/explain.json')
  t.false(explain.instances[0]?.routable)
  t.true(explain.instances[0]?.reasons.some(r => r.startsWith(`port ${40000 + 11 * 256} waits for a listener on this host: [proxy] max_listeners are open`)), `explain says why: ${JSON.stringify(explain.instances[0]?.reasons.slice(0, 2))}`)

  // a service of this host's own that comes later takes the place of one of the squatter's
  await host.addService('late', 19103)
  await waitFor(async () => {
    try { return (await fetch(`http://${ip}:19103/`, { signal: AbortSignal.timeout(2000) })).status === 200 } catch { return false }
  }, { timeoutMs: 20_000, message: 'the late local service proxied on 19103' })
  doc = await proxy()
  t.is(doc.listeners.length, 128)
  t.is(doc.waiting?.length, 3072 - 125)
  await d.waitForOutput(/closing the squat0 proxy on 127\.0\.12\.61:40125 for late on port 19103, which is needed more \(an instance on this host; \[proxy\] max_listeners 128 are open\)/)

  // the squatter's first record goes: its open ports close, and waiting ones take their places
  await rogue.publish([rogue.sign(record(0, ServiceStatus.TOMBSTONE))])
  await waitFor(async () => { doc = await proxy(); return doc.waiting?.length === 3072 - 256 - 125 && doc.listeners.length === 128 }, { timeoutMs: 30_000, message: () => `the places of squat0's ports taken; ${doc.waiting?.length} waiting, ${doc.listeners.length} listeners` })
  t.true(doc.listeners.every(l => l.service !== 'squat0'), 'none of squat0\'s ports is open')
  t.deepEqual(unhealthyLines(d.outputSince(mark)), [], 'no service turned unhealthy')
})

test.serial('with [proxy] service_ports set, a member\'s claims on other ports open nothing on the host, and explain says why', async (t) => {
  t.timeout(120_000)
  const ip = '127.0.12.66'
  const squatIp = '127.0.12.67'
  const host = await startHost({ ip, args: ['-n', 'ranges', '-c', ip], env: { PROXY_SERVICE_PORTS: '19101-19110' } })
  t.teardown(host.close)
  const { d } = host
  const rogue = await startRogue(t, { ip: squatIp, hostname: 'squatter', clusterName: 'ranges' })
  await rogue.join(ip)
  // a port a local program would want, and 255 more, on every host
  const ports = [5432, ...Array.from({ length: 255 }, (_, i) => 40000 + i)].map(sp => ({ Type: 'tcp', Port: 30000, ServicePort: sp, IP: squatIp }))
  await rogue.publish([rogue.sign(makeService({ ID: 'sq', Name: 'squat', Hostname: 'squatter', Status: ServiceStatus.ALIVE, Created: Time.fromMillis(Date.now() - 60_000), Updated: Time.fromMillis(Date.now()), Ports: ports }))])
  await waitFor(async () => /256 service port\(s\) outside \[proxy\] service_ports \(19101-19110\) are not proxied \(latest: 5432, 40000, .* of squat on squatter\)/.test(d.output), { timeoutMs: 30_000, message: () => `the warning; output:\n${d.output.slice(-2000)}` })
  const proxy = await d.json<{ listeners: Array<{ port: number }> }>('/api/proxy.json')
  t.deepEqual(proxy.listeners.map(l => l.port).sort((a, b) => a - b), [19101, 19102], 'only this host\'s own ports, which are in the list')
  const explain = await d.json<{ instances: Array<{ reasons: string[] }> }>('/api/services/squat/explain.json')
  t.true(explain.instances[0]?.reasons.includes('port 5432 is outside this host\'s [proxy] service_ports (19101-19110): not proxied here'))
  // the claimed ports are still free on the host's address for its own programs
  const probe = net.createServer()
  const bound = await new Promise<string>(resolve => { probe.once('error', (e: NodeJS.ErrnoException) => { resolve(e.code ?? 'error') }); probe.listen(40000, ip, () => { resolve('bound') }) })
  probe.close()
  t.is(bound, 'bound', 'port 40000 is free on the host\'s address')
})
