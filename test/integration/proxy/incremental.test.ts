// The proxy manager plans only the ports a change touched (src/proxy/manager.ts). Whatever the
// sequence of changes, the listeners it keeps must be those a plan of the whole catalog asks
// for: same ports, names, modes, backends and ignored names. 2,000 random changes (fixed seed)
// over 80 records of 4 hosts on 12 ServicePorts, compared after every batch; real listeners on
// 127.0.24.1.
import test from 'ava'
import { planListeners } from '../../../src/proxy/plan.ts'
import { PortClaims } from '../../../src/proxy/claims.ts'
import { Pool } from '../../../src/proxy/pool.ts'
import { ServiceStatus, Time, type Port } from '../../../src/service/index.ts'
import { prng } from '../../helpers/prng.ts'
import { harness, proxyConfig } from './setup.ts'

const IP = '127.0.24.1'
const PORTS = Array.from({ length: 12 }, (_, i) => 41_000 + i)
const NAMES = ['web', 'api', 'db', 'cache']
const HOSTS = ['h1', 'h2', 'h3', 'h4']
const CREATED = ['2024-05-01T09:00:00Z', '2024-05-01T08:00:00Z', '2024-04-01T00:00:00Z'].map(s => Time.parse(s))
const STATUSES = [ServiceStatus.ALIVE, ServiceStatus.ALIVE, ServiceStatus.ALIVE, ServiceStatus.UNHEALTHY, ServiceStatus.DRAINING, ServiceStatus.TOMBSTONE]

test('2,000 random changes: the listeners kept match a plan of the whole catalog after every batch', async t => {
  const h = await harness(t, { proxy: proxyConfig(IP, { drain_grace: 0 }) })
  const r = prng(0x9a7e)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]
  const ports = (): Port[] => Array.from({ length: Math.floor(r() * 3) }, () => {
    const kind = r()
    // mostly proxied ports; some that never are: UDP, ServicePort 0, Port 0
    return { Type: kind < 0.1 ? 'udp' : 'tcp', Port: kind < 0.15 ? 0 : 30_000 + Math.floor(r() * 1000), ServicePort: kind < 0.25 ? 0 : pick(PORTS), IP: `127.0.24.${10 + Math.floor(r() * 4)}` } satisfies Port
  })
  const view = (listeners: ReadonlyArray<{ port: number, name: string, mode: string, backends: string[], ignored: readonly string[] }>): string[] =>
    listeners.map(l => `${l.port} ${l.name} ${l.mode} [${l.backends.join(' ')}] ignored [${l.ignored.join(' ')}]`)
  let compared = 0
  let listenersSeen = 0
  for (let batch = 0; batch < 200; batch++) {
    for (let i = 0; i < 10; i++) {
      const id = `r${Math.floor(r() * 80)}`
      h.put({ ID: id, Hostname: HOSTS[Number(id.slice(1)) % HOSTS.length], Name: pick(NAMES), Status: pick(STATUSES), ProxyMode: pick(['http', 'tcp', 'ws', '']), Created: pick(CREATED), Ports: ports() })
      // a refresh: only Updated moves, no change event; a tie of Created between two names is broken by it
      const again = h.catalog.get(HOSTS[i % HOSTS.length], `r${Math.floor(r() * 20) * 4 + (i % HOSTS.length)}`)
      if (again !== undefined) h.put({ ID: again.ID, Hostname: again.Hostname, Name: again.Name })
    }
    await h.settle()
    const plan = planListeners(h.catalog.services())
    const conflicts = new Map(plan.conflicts.map(c => [c.port, c.ignored]))
    const want = view(plan.listeners.map(l => ({ port: l.port, name: l.name, mode: l.mode, backends: l.backends.map(b => `${b.key}=${b.status}`), ignored: conflicts.get(l.port) ?? [] })))
    const have = view(h.proxy.listeners().map(l => ({ port: l.port, name: l.name, mode: l.mode, backends: l.pool.backends.map(b => `${b.spec.key}=${b.spec.status}`), ignored: l.ignored })))
    t.deepEqual(have, want, `after batch ${batch}`)
    t.deepEqual(h.proxy.report().conflicts.map(c => `${c.port} ${c.owner} ${c.ignored.join(',')}`), plan.conflicts.map(c => `${c.port} ${c.owner} ${c.ignored.join(',')}`), `conflicts after batch ${batch}`)
    compared++
    listenersSeen += want.length
  }
  t.is(compared, 200)
  // the sequence exercised the planner: listeners came and went on most ports
  t.true(listenersSeen > 200 * 4, `${listenersSeen} listeners compared`)
})

// serial: it counts the calls of every Pool in this process
test.serial('2,000 random changes to ports of one name and mode each (patched record by record) with intruders now and then, kept out or taking the port: the listeners match a plan of the whole catalog after every batch', async t => {
  const h = await harness(t, { proxy: proxyConfig(IP, { drain_grace: 0 }) })
  const r = prng(0x9a7f)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]
  const HOME = PORTS.slice(0, 6).map((port, i) => ({ port, name: NAMES[i % NAMES.length] + String(i), mode: (['http', 'tcp', 'ws'] as const)[i % 3] }))
  // counts the two ways a listener's pool follows a plan
  const proto = Pool.prototype
  const { patch, update } = proto
  let patches = 0
  let updates = 0
  proto.patch = function (changes) { patches++; patch.call(this, changes) }
  proto.update = function (specs) { updates++; update.call(this, specs) }
  const { ranking } = PortClaims.prototype
  let withConflict = 0 // rankings that kept a name out: patched while in conflict, unless the owner changed
  PortClaims.prototype.ranking = function () { const got = ranking.call(this); if ((got?.ignored.length ?? 0) > 0) withConflict++; return got }
  t.teardown(() => { proto.patch = patch; proto.update = update; PortClaims.prototype.ranking = ranking })
  const view = (listeners: ReadonlyArray<{ port: number, name: string, mode: string, backends: string[], ignored: readonly string[] }>): string[] =>
    listeners.map(l => `${l.port} ${l.name} ${l.mode} [${l.backends.join(' ')}] ignored [${l.ignored.join(' ')}]`)
  for (let batch = 0; batch < 200; batch++) {
    for (let i = 0; i < 10; i++) {
      const n = Math.floor(r() * 300)
      const home = pick(HOME)
      const intruder = r() < 0.02
      const roll = r()
      h.put({
        ID: `p${n}`,
        Hostname: HOSTS[n % HOSTS.length],
        // each record a Created of its own; an intruder's around them: mostly younger than the
        // home name's oldest (it keeps the port, the intruder is ignored), sometimes older
        Created: CREATED[2].plusMillis(intruder ? Math.floor(r() * 400) - 50 : n),
        Name: intruder ? `intruder${Math.floor(r() * 2)}` : home.name,
        ProxyMode: intruder || r() < 0.004 ? pick(['http', 'tcp', 'ws']) : home.mode,
        Status: roll < 0.1 ? ServiceStatus.TOMBSTONE : roll < 0.25 ? pick([ServiceStatus.UNHEALTHY, ServiceStatus.DRAINING]) : ServiceStatus.ALIVE,
        Site: pick(['', 'eu-1a', 'us-1a']),
        Ports: [{ Type: 'tcp', Port: 30_000 + Math.floor(r() * 50), ServicePort: home.port, IP: `127.0.24.${10 + Math.floor(r() * 4)}` }],
      })
    }
    await h.settle()
    const plan = planListeners(h.catalog.services())
    const conflicts = new Map(plan.conflicts.map(c => [c.port, c.ignored]))
    const want = view(plan.listeners.map(l => ({ port: l.port, name: l.name, mode: l.mode, backends: l.backends.map(b => `${b.key}=${b.status}/${b.site}`), ignored: conflicts.get(l.port) ?? [] })))
    const have = view(h.proxy.listeners().map(l => ({ port: l.port, name: l.name, mode: l.mode, backends: l.pool.backends.map(b => `${b.spec.key}=${b.spec.status}/${b.spec.site}`), ignored: l.ignored })))
    t.deepEqual(have, want, `after batch ${batch}`)
    t.deepEqual(h.proxy.report().conflicts.map(c => `${c.port} ${c.owner} ${c.ignored.join(',')}`), plan.conflicts.map(c => `${c.port} ${c.owner} ${c.ignored.join(',')}`), `conflicts after batch ${batch}`)
  }
  t.log(`pools patched ${patches} times, replaced ${updates} times; ${withConflict} rankings with ignored names`)
  t.true(patches > 500, 'most plans patched the changed records in')
  t.true(updates > 20, 'ports whose owner or mode changed, or with a second mode, were planned whole')
  t.true(withConflict > 50, 'ports with an intruder kept out were patched too')
})
