// The proxy across a real cluster: three daemons gossiping on 127.0.3.10-12, each announcing
// its own instance; a request to 127.0.3.10:<ServicePort> reaches the instances of the other
// hosts. Needs the gossip component: skipped (saying so) in a build without it.
import test from 'ava'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { getJson, httpBackend, type HttpBackend } from '../helpers/backends.ts'
import { startDaemon, type DaemonProcess } from '../helpers/daemon.ts'
import { waitFor } from '../helpers/wait.ts'

const HOSTS = ['127.0.3.10', '127.0.3.11', '127.0.3.12']
const SP = 18501
test('cluster: a request to one host\'s proxy reaches the instances on the other hosts, round robin within 10 %', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-proxy-cluster-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const backends: HttpBackend[] = await Promise.all(HOSTS.map(async (ip, i) => await httpBackend(`b${i}`, ip)))
  t.teardown(async () => { await Promise.all(backends.map(async b => { await b.close() })) })
  const daemons: DaemonProcess[] = []
  t.teardown(() => { for (const d of daemons) d.kill() })
  for (const [i, ip] of HOSTS.entries()) {
    const file = path.join(dir, `static-${i}.json`)
    const b = backends[i]
    await writeFile(file, JSON.stringify([{ Service: { Name: 'spread', Ports: [{ Type: 'tcp', Port: b.port, ServicePort: SP, IP: ip }] }, Check: { Type: 'HttpGet', Args: `http://${ip}:${b.port}/` } }]))
    const seeds = i === 0 ? [] : ['-c', HOSTS[0]]
    daemons.push(await startDaemon({ ip, hostname: `cluster-${i}`, cwd: dir, args: ['-d', 'static', ...seeds], env: { STATIC_CONFIG_FILE: file, HEALTH_INTERVAL: '1s', HEALTH_TIMEOUT: '500ms', HOME: path.join(dir, `home-${i}`) } }))
  }
  const first = daemons[0]
  await waitFor(async () => {
    const p = await first.json<{ listeners: Array<{ port: number, backends: Array<{ state: string }> }> }>('/api/proxy.json')
    return p.listeners.find(l => l.port === SP)?.backends.filter(b => b.state === 'active').length === 3
  }, { timeoutMs: 30_000, message: () => `127.0.3.10's proxy sees three active instances\n${first.output.slice(-3000)}` })
  const seen: Record<string, number> = {}
  for (let i = 0; i < 300; i++) {
    const r = await getJson(`http://${HOSTS[0]}:${SP}/`)
    t.is(r.status, 200)
    seen[r.body.backend as string] = (seen[r.body.backend as string] ?? 0) + 1
  }
  for (const b of backends) t.true(seen[b.name] >= 90 && seen[b.name] <= 110, `${b.name}: ${seen[b.name]} of 300`)
})
