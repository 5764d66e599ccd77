// Issue #11, attack 1, against real daemons on 127.0.11.1-9: a rogue cluster member built
// from the project's own modules (test/helpers/rogue.ts) tries every forgery by gossip and by
// anti-entropy, and each is refused for the reason the admission gate names; legitimate
// restarts and departures still work, and hostname pins survive restarts.
import test from 'ava'
import { peerIdFromString } from '@libp2p/peer-id'
import { makeService, ServiceStatus, Time, type Service } from '../../src/service/index.ts'
import { ALIVE, makeCluster, startAll, statusIn, TOMBSTONE, waitOnAll, type ClusterNode, type StateJson } from '../helpers/cluster.ts'
import { metric, startRogue, untilMember } from '../helpers/rogue.ts'
import { sleep, waitFor } from '../helpers/wait.ts'

const CLUSTER = 'trust'

function holds (nodes: readonly ClusterNode[], status = ALIVE) {
  return (s: StateJson): boolean => nodes.every(n => n.services.every(name => statusIn(s, n.hostname, name) === status))
}

async function refused (n: ClusterNode, reason: string): Promise<number> {
  return metric(await (await fetch(n.d.url('/metrics'))).text(), 'sidecar_gossip_records_refused_total', `reason="${reason}"`)
}

/** The stored record of host/name, if any. */
function recordOf (s: StateJson, host: string, name: string): { Status: number, Updated: string } | undefined {
  return Object.values(s.Servers[host]?.Services ?? {}).find(r => r.Name === name)
}

test('a rogue member cannot forge, hijack or invent records, by gossip or by anti-entropy', async t => {
  t.timeout(240_000)
  const nodes = await makeCluster(t, [
    { ip: '127.0.11.1', hostname: 'alpha', args: ['-n', CLUSTER, '-c', '127.0.11.1'] },
    { ip: '127.0.11.2', hostname: 'bravo', args: ['-n', CLUSTER, '-c', '127.0.11.1'] },
  ])
  const [alpha, bravo] = nodes
  await startAll(nodes)
  await waitOnAll(nodes, 'converged', holds(nodes), 30_000)
  await alpha.d.waitForOutput(/no cluster_key: anyone who can reach 127\.0\.11\.1:7946 can join this cluster.*openssl rand -hex 32/)

  const rogue = await startRogue(t, { ip: '127.0.11.9', hostname: 'rogue', clusterName: CLUSTER })
  const alphaPeer = await rogue.join('127.0.11.1')
  const bravoPeer = await rogue.join('127.0.11.2')
  await untilMember(alpha.d, 'rogue')

  const webOfBravo = (await bravo.state()).Servers.bravo.Services
  const real = Object.values(webOfBravo)[0]
  const now = Time.fromMillis(Date.now())
  const svc = (f: Partial<Service> & Pick<Service, 'ID' | 'Hostname'>): Service => makeService({
    Name: 'evil', Image: 'evil:1', Created: now, Updated: Time.fromMillis(Date.now()), Status: ServiceStatus.ALIVE, ProxyMode: 'tcp',
    Ports: [{ Type: 'tcp', Port: 18998, ServicePort: 18998, IP: '127.0.11.9' }], ...f,
  })
  // made afresh for each route, so the stamps relative to now (and the other hosts' versions) still hold
  const makeAttacks = (): Array<[string, string, ReturnType<typeof rogue.sign> | { svc: Service }]> => {
    const fourMinutesAhead = Time.fromMillis(Date.now() + 4 * 60_000)
    return [
      // the forged tombstone of bravo's service, stamped 4 minutes ahead: as bravo's origin, and as an observer
      ['pin', 'tombstone for bravo signed by the rogue as origin', rogue.sign(makeService({ ID: real.ID, Name: real.Name, Hostname: 'bravo', Status: ServiceStatus.TOMBSTONE, Updated: fourMinutesAhead, Created: now }))],
      ['not-departed', 'observer tombstone for live bravo', rogue.sign(makeService({ ID: real.ID, Name: real.Name, Hostname: 'bravo', Status: ServiceStatus.TOMBSTONE, Updated: Time.fromMillis(Date.now() + 1000), Created: now }), true)],
      ['future', 'the rogue\'s own record stamped 4 minutes ahead', rogue.sign(svc({ ID: 'ahead', Hostname: 'rogue', Updated: fourMinutesAhead }))],
      // the foreign-host ALIVE record: an open relay on 18998 to 127.0.8.250
      ['pin', 'ALIVE record claiming bravo', rogue.sign(svc({ ID: 'relay', Hostname: 'bravo', Ports: [{ Type: 'tcp', Port: 18998, ServicePort: 18998, IP: '127.0.8.250' }] }))],
      ['backend-ip', 'the rogue\'s own record pointing at 127.0.8.250', rogue.sign(svc({ ID: 'relay2', Hostname: 'rogue', Ports: [{ Type: 'tcp', Port: 18998, ServicePort: 18998, IP: '127.0.8.250' }] }))],
      // the port hijack: Created 0001-01-01 on ServicePort 18080
      ['created', 'Created 0001-01-01 on ServicePort 18080', rogue.sign(svc({ ID: 'hijack', Hostname: 'rogue', Created: Time.parse('0001-01-01T00:00:00Z'), Ports: [{ Type: 'tcp', Port: 18080, ServicePort: 18080, IP: '127.0.11.9' }] }))],
      // records for a host that does not exist
      ['unknown-host', 'a record for host ghost', rogue.sign(svc({ ID: 'ghost1', Hostname: 'ghost' }))],
      // no proof, a proof that does not match the record
      ['unsigned', 'an unsigned record (wire version 1 style)', { svc: svc({ ID: 'nosig', Hostname: 'rogue' }) }],
      ['signature', 'a signed record altered afterwards', { ...rogue.sign(svc({ ID: 'altered', Hostname: 'rogue' })), svc: svc({ ID: 'altered', Hostname: 'rogue', Ports: [{ Type: 'tcp', Port: 22, ServicePort: 2222, IP: '127.0.11.9' }] }) }],
    ]
  }
  const attacks = makeAttacks()
  const counts = async (): Promise<number[][]> => await Promise.all(nodes.map(async n => await Promise.all(attacks.map(async ([reason]) => await refused(n, reason)))))
  const before = await counts()
  // by gossip: every forgery refused for its reason
  for (const [, , r] of attacks) await rogue.publish([r])
  await waitFor(async () => (await counts()).every((c, i) => c.every((v, j) => v > before[i][j])), { timeoutMs: 15_000, message: 'every gossiped forgery refused by both daemons' })
  await sleep(500) // (a second copy relayed by the other daemon is refused too: let it land before the next snapshot)
  const afterGossip = await counts()
  // by anti-entropy: the same forgeries (fresh stamps) pushed in records pages of a real exchange with each daemon
  for (const target of [alphaPeer, bravoPeer]) {
    const pushed = makeAttacks()
    const r = await rogue.exchange(target, pushed.map(([, , rec]) => rec))
    t.is(r.error, undefined, `the exchange with ${target.toString()} completed`)
    t.is(r.result?.sent, pushed.length, 'every forgery went out in a records page')
  }
  // the control: the rogue's own honest record is accepted, so the refusals above are the gate's doing
  await rogue.publish([rogue.sign(svc({ ID: 'honest', Name: 'rogue-web', Hostname: 'rogue' }))])
  await waitOnAll(nodes, 'the rogue\'s honest record is accepted', s => statusIn(s, 'rogue', 'rogue-web') === ALIVE, 15_000)

  for (const [i, n] of nodes.entries()) {
    const s = await n.state()
    t.deepEqual(Object.keys(s.Servers).sort(), ['alpha', 'bravo', 'rogue'], `${n.hostname}: no ghost host`)
    t.deepEqual(Object.values(s.Servers.rogue.Services).map(r => r.ID), ['honest'], `${n.hostname}: only the rogue's honest record`)
    t.is(statusIn(s, 'bravo', real.Name), ALIVE, `${n.hostname}: bravo's service is not tombstoned`)
    t.deepEqual(Object.keys(s.Servers.bravo.Services), Object.keys(webOfBravo), `${n.hostname}: no record added for bravo`)
    for (const [j, [reason, what]] of attacks.entries()) {
      t.true(afterGossip[i][j] > before[i][j], `${n.hostname} refused the gossiped "${what}" for ${reason}`)
      t.true(await refused(n, reason) > afterGossip[i][j], `${n.hostname} refused "${what}" by anti-entropy for ${reason}`)
    }
  }
  t.false((await fetch('http://127.0.11.1:18998/').catch(() => undefined))?.ok ?? false, 'no relay listener on 18998')
  await alpha.d.waitForOutput(/refused evil \(relay\) of bravo from \S+ \(gossip, origin proof by \S+\): signed by a peer other than the one its hostname is pinned to/)
  t.true(alpha.d.running && bravo.d.running)
})

test('hostname pins survive restarts; restarts with the same data_dir and departures still work', async t => {
  t.timeout(240_000)
  const nodes = await makeCluster(t, [
    { ip: '127.0.11.21', hostname: 'charlie', args: ['-n', CLUSTER, '-c', '127.0.11.21'] },
    { ip: '127.0.11.22', hostname: 'delta', args: ['-n', CLUSTER, '-c', '127.0.11.21'] },
    { ip: '127.0.11.23', hostname: 'echo', args: ['-n', CLUSTER, '-c', '127.0.11.21'] },
  ])
  const [charlie, delta, echo] = nodes
  await startAll(nodes)
  await waitOnAll(nodes, 'converged', holds(nodes), 30_000)
  const [, deltaPeer] = await charlie.d.waitForOutput(/member delta joined \((\S+) at/)

  // delta restarts with the same data_dir: same peer id, accepted again
  await delta.d.stop()
  await waitOnAll([charlie, echo], 'delta\'s graceful leave spreads its tombstones', holds([delta], TOMBSTONE), 20_000)
  delta.spawn()
  await delta.d.ready()
  await waitOnAll(nodes, 'delta is back with the same data_dir', holds(nodes), 30_000)

  // echo dies without a word (SIGKILL): both survivors tombstone it
  echo.d.kill()
  await echo.d.exited
  await waitOnAll([charlie, delta], 'echo\'s departure tombstones spread', holds([echo], TOMBSTONE), 30_000)

  // delta comes back with a new data_dir (a new key) under the same hostname: refused, loudly, even after charlie restarts
  await delta.d.stop()
  await waitOnAll([charlie], 'delta left', holds([delta], TOMBSTONE), 20_000)
  delta.spec.env = { SIDECAR_DATA_DIR: `${delta.dir}/other-data` }
  await charlie.d.stop()
  charlie.spawn()
  await charlie.d.ready()
  delta.spawn()
  await delta.d.ready()
  const m = await waitFor(() => /peer (\S+) claims hostname delta, which is pinned to peer (\S+): refused/.exec(charlie.d.output) ?? undefined, { timeoutMs: 30_000, message: () => `charlie refuses the new delta; charlie's log:\n${charlie.d.output.split('\n').filter(l => !l.includes('DEBUG')).slice(-20).join('\n')}` })
  t.is(m?.[2], deltaPeer, 'the pin is delta\'s first peer id, kept across charlie\'s restart')
  t.not(m?.[1], deltaPeer)
  t.true(peerIdFromString(m?.[1] ?? '').toString().length > 0)
  t.true(metric(await (await fetch(charlie.d.url('/metrics'))).text(), 'sidecar_gossip_pin_conflicts_total') >= 1)
  // the impostor itself runs and announces (its start may wait out the clock settling, up to 3 s, on a loaded machine)
  await waitFor(async () => recordOf(await delta.state(), 'delta', delta.services[0]) !== undefined, { timeoutMs: 30_000, message: 'the impostor holds its own record' })
  await sleep(3000) // the impostor's records had time to reach charlie (they would within milliseconds)
  t.not(statusIn(await charlie.state(), 'delta', delta.services[0]), ALIVE, 'the impostor\'s records are not accepted')
  // refused, the impostor retries with backoff, not in a loop (it reconnected ten times a second)
  const reconnects = delta.d.output.split('\n').filter(l => /member charlie \(\S+\) is back within the grace period/.test(l)).length
  t.true(reconnects <= 3, `the impostor reconnected to charlie ${reconnects} times in about 6 s:\n${delta.d.output.split('\n').filter(l => !l.includes('DEBUG')).slice(-15).join('\n')}`)
  await delta.d.waitForOutput(/ERROR: \[gossip\] charlie \(\S+\) refuses this host: there, hostname delta is pinned to peer /) // the impostor is told why
})
