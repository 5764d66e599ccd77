// The embedded proxy in a real daemon process. Until gossip lands, one daemon holds the
// instances of three "hosts" through static entries with their own Hostname and IP
// (third-party announcements); the backends are real servers run by this test.
import test from 'ava'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { getJson, httpBackend, tcpRoundTrip, tcpShoutBackend, wsEchoBackend, wsRoundTrip, type HttpBackend } from '../helpers/backends.ts'
import { REPO, startDaemon } from '../helpers/daemon.ts'
import { waitFor } from '../helpers/wait.ts'

const IP = '127.0.3.2'
const WEB = 18401
const SHOUT = 18402
const CHAT = 18403

interface ProxyJson { listeners: Array<{ service: string, port: number, mode: string, state: string, totals: { requests: number, retries: number, ejections: number }, backends: Array<{ hostname: string, state: string, status: string, ejections: number }> }> }

test('daemon: every service port is proxied over the instances of all hosts; a backend process killed mid-load loses no request and is ejected by passive health', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-proxy-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  // b is a process of its own, so that it can be killed (SIGKILL) mid-load
  const proc = spawn(process.execPath, [path.join(REPO, 'bench/proxy/backend.ts'), '127.0.3.6', '0', 'b'], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { proc.kill('SIGKILL') })
  const [firstOut] = await once(proc.stdout, 'data') as [Buffer]
  const procBackend = { name: 'b', ip: '127.0.3.6', port: Number(firstOut.toString().trim()) }
  const [a, c]: HttpBackend[] = await Promise.all([httpBackend('a', '127.0.3.5'), httpBackend('c', '127.0.3.7')])
  const web = [a, procBackend, c]
  const shout = await tcpShoutBackend('127.0.3.5')
  const chat = await wsEchoBackend('127.0.3.6')
  t.teardown(async () => { await Promise.all([a.close(), c.close(), shout.close(), chat.close()]) })

  const entries = [
    ...web.map(b => ({
      Service: { Name: 'web', Hostname: `host-${b.name}`, Ports: [{ Type: 'tcp', Port: b.port, ServicePort: WEB, IP: b.ip }], ProxyMode: 'http' },
      Check: { Type: 'HttpGet', Args: `http://${b.ip}:${b.port}/` },
    })),
    { Service: { Name: 'shout', Hostname: 'host-a', Ports: [{ Type: 'tcp', Port: shout.port, ServicePort: SHOUT, IP: '127.0.3.5' }], ProxyMode: 'tcp' }, Check: { Type: 'TcpConnect', Args: `127.0.3.5:${shout.port}` } },
    { Service: { Name: 'chat', Hostname: 'host-b', Ports: [{ Type: 'tcp', Port: chat.port, ServicePort: CHAT, IP: '127.0.3.6' }], ProxyMode: 'ws' }, Check: { Type: 'TcpConnect', Args: `127.0.3.6:${chat.port}` } },
  ]
  const file = path.join(dir, 'static.json')
  await writeFile(file, JSON.stringify(entries))
  // a long check interval: passive health must act well before the active check; a long
  // ejection, so that a slow run does not see b come back and fail a second time
  const d = await startDaemon({ ip: IP, hostname: 'proxy-host', cwd: dir, args: ['-d', 'static'], env: { STATIC_CONFIG_FILE: file, HEALTH_INTERVAL: '12s', HEALTH_TIMEOUT: '2s', PROXY_EJECTION_BASE: '2m' } })
  t.teardown(() => { d.kill() })

  const proxy = async (): Promise<ProxyJson> => await d.json<ProxyJson>('/api/proxy.json')
  await waitFor(async () => {
    const p = await proxy()
    return p.listeners.length === 3 && p.listeners.every(l => l.state === 'listening' && l.backends.every(b => b.state === 'active')) && p
  }, { timeoutMs: 45_000, message: () => `three listeners with every backend active\n${d.output.slice(-3000)}` })

  // V8's growing percent is left to V8 until the proxy serves (the daemon runs under bin/sidecar.js's --optimize-for-size)
  const growingPercent = async (): Promise<string | undefined> => (await (await fetch(d.url('/metrics'), { signal: AbortSignal.timeout(5000) })).text()).match(/^sidecar_heap_growing_percent (\d+)$/m)?.[1]
  t.is(await growingPercent(), '0')

  // round robin over the three hosts' instances
  const seen: Record<string, number> = {}
  for (let i = 0; i < 300; i++) {
    const r = await getJson(`http://${IP}:${WEB}/`)
    t.is(r.status, 200)
    seen[r.body.backend as string] = (seen[r.body.backend as string] ?? 0) + 1
  }
  for (const n of ['a', 'b', 'c']) t.true(seen[n] >= 90 && seen[n] <= 110, `backend ${n}: ${seen[n]} of 300`)
  // ... and 30 % once it does: 100 requests a second or 8 at once, which the heap mode reads
  // every 2 s. One client in a row can fall under that rate on a loaded machine, so each look
  // follows 240 more requests, 16 at a time.
  await waitFor(async () => {
    await Promise.all(Array.from({ length: 16 }, async () => { for (let i = 0; i < 15; i++) await getJson(`http://${IP}:${WEB}/`) }))
    return await growingPercent() === '30'
  }, { timeoutMs: 30_000, message: () => `sidecar_heap_growing_percent 30 while the proxy serves\n${d.output.slice(-2000)}` })

  // tcp and ws modes
  t.is(await tcpRoundTrip(IP, SHOUT, 'half-closed hello'), 'HALF-CLOSED HELLO')
  t.is(await wsRoundTrip(`ws://${IP}:${CHAT}/`, 'ping'), 'echo: ping')

  // kill b's process mid-load: no GET is lost
  let sent = 0
  const statuses: number[] = []
  const worker = async (): Promise<void> => {
    while (sent < 300) {
      sent++
      if (sent === 60) proc.kill('SIGKILL')
      statuses.push((await getJson(`http://${IP}:${WEB}/`)).status)
    }
  }
  await Promise.all([worker(), worker(), worker(), worker()])
  t.deepEqual(statuses.filter(s => s !== 200), [])
  const after = (await proxy()).listeners.find(l => l.port === WEB)
  const b = after?.backends.find(x => x.hostname === 'host-b')
  // ejected by passive health at the first failure; the active check (every 12 s) may have
  // marked it UNHEALTHY since, which the report then shows instead
  t.true(b?.state === 'ejected' || b?.state === 'unhealthy', `host-b state ${b?.state}`)
  const services = await d.json<{ Services: Record<string, Array<{ Hostname: string, Status: number }>> }>('/api/services.json')
  const record = services.Services.web.find(s => s.Hostname === 'host-b')
  t.log(`host-b record status when ejected: ${record?.Status} (0 = ALIVE: the active check has not noticed yet)`)
  t.is(after?.totals.ejections, 1)
  t.is(after?.backends.find(x => x.hostname === 'host-b')?.ejections, 1)
  // explain tells the operator why: ejected by passive health (or, once the check noticed, unhealthy)
  const explain = await d.json<{ instances: Array<{ service: { Hostname: string }, routable: boolean, reasons: string[] }> }>('/api/services/web/explain.json')
  const why = explain.instances.find(i => i.service.Hostname === 'host-b')
  t.false(why?.routable, 'explain says host-b is not routed to')
  t.regex((why?.reasons ?? []).join('; '), /ejected from port \d+ by passive health|status Unhealthy/)
  t.true(explain.instances.filter(i => i.service.Hostname !== 'host-b').every(i => i.routable), 'the other instances are routed to')

  // the active check then marks it UNHEALTHY, and the report says so
  await waitFor(async () => (await proxy()).listeners.find(l => l.port === WEB)?.backends.find(x => x.hostname === 'host-b')?.state === 'unhealthy',
    { timeoutMs: 30_000, message: 'host-b unhealthy after its check' })
  const exit = await d.stop('SIGTERM')
  t.is(exit.code, 0)
})
