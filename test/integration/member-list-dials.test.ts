// A hostile member's anti-entropy member lists: it names 1,000 made-up peer ids, each with 16
// addresses at ports of a victim host, in every exchange (those it starts, every 250 ms, and
// those the daemons start with it). Every node dialled the listed peers it was not connected
// to, again at each exchange, on every address: the cluster became a connection flood and port
// scanner aimed wherever the member chose (alpha and bravo opened 4,800-8,600 connections a
// minute each to the victim with push_pull_interval 2 s). Now a member whose listed peers do not
// connect gets a few dials (learned-dials.ts), on 4 addresses each, while a genuine member
// another lists is still dialled at once. Real daemons alpha and bravo on 127.0.65.21-22, the
// rogue member on .23, the genuine newcomer on .24, the victim's listeners on .29.
import test, { type ExecutionContext } from 'ava'
import net from 'node:net'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { makeCluster, startAll } from '../helpers/cluster.ts'
import { startRogue, untilMember } from '../helpers/rogue.ts'
import { waitFor } from '../helpers/wait.ts'

const NET = '127.0.65.2'
const VICTIM = `${NET}9`
const FAKES = 1000
const ADDRS = 16
const WINDOW_MS = 20_000

/** Listeners on 16 ports of the victim per daemon, each counting the connections it takes (closed at once, as a port that refuses the handshake). */
async function victim (t: ExecutionContext, base: number): Promise<{ ports: number[], counts: Map<number, number>, total: () => number }> {
  const counts = new Map<number, number>()
  const ports = Array.from({ length: ADDRS }, (_, j) => base + j)
  for (const port of ports) {
    const s = net.createServer(sock => {
      counts.set(port, (counts.get(port) ?? 0) + 1)
      sock.on('error', () => {})
      sock.destroy()
    })
    await new Promise<void>(resolve => s.listen(port, VICTIM, resolve))
    t.teardown(() => { s.close() })
  }
  return { ports, counts, total: () => [...counts.values()].reduce((a, b) => a + b, 0) }
}

test('a member listing 1,000 made-up peers at a victim\'s ports gets a few dials from each node, while a genuine member another lists is still dialled, and again after it was down', async t => {
  t.timeout(120_000)
  const cluster = 'dialamp'
  const env = { SIDECAR_PUSH_PULL_INTERVAL: '2s' }
  const [alpha, bravo] = await makeCluster(t, [
    { ip: `${NET}1`, hostname: 'alpha', args: ['-n', cluster, '-c', `${NET}2`], env },
    { ip: `${NET}2`, hostname: 'bravo', args: ['-n', cluster, '-c', `${NET}1`], env },
  ])
  await startAll([alpha, bravo])
  await untilMember(alpha.d, 'bravo', 30_000)
  const victims = [await victim(t, 42000), await victim(t, 42100)]
  const mallory = await startRogue(t, { ip: `${NET}3`, hostname: 'mallory', clusterName: cluster })
  const targets = [await mallory.join(alpha.spec.ip), await mallory.join(bravo.spec.ip)]
  await untilMember(alpha.d, 'mallory')
  await untilMember(bravo.d, 'mallory')
  const fakes = await Promise.all(Array.from({ length: FAKES }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()))
  const lists = victims.map(v => fakes.map(id => ({ id, addrs: v.ports.map(p => `/ip4/${VICTIM}/tcp/${p}`) })))
  mallory.listMembers(peer => lists[targets.findIndex(p => p.toString() === peer)] ?? [])
  const t0 = Date.now()
  while (Date.now() - t0 < WINDOW_MS) {
    await Promise.all(targets.map(async p => await mallory.exchange(p, [])))
    await new Promise(resolve => setTimeout(resolve, 250))
  }
  const seconds = (Date.now() - t0) / 1000
  const figures = ['alpha', 'bravo'].map((h, i) => `${h}: ${victims[i].total()} connections on ${victims[i].counts.size} ports`).join(', ')
  t.log(`in ${seconds.toFixed(1)} s: ${figures}`)
  for (const [i, d] of [alpha, bravo].entries()) {
    // its burst of 32 dials and one more every 10 s, on 4 addresses each; before, thousands on all 16
    t.true(victims[i].total() <= (32 + Math.ceil(seconds / 10)) * 4, `${d.hostname} dialled the victim at most 4 times per dial mallory's lists were given (${figures})`)
    t.true(victims[i].counts.size <= 4, `${d.hostname} dialled at most 4 of the victim's ports (${figures})`)
  }
  // alpha says which member lists peers it cannot reach
  await alpha.d.waitForOutput(/member mallory \(\S+\) lists peers that this node could not reach/)

  // a genuine member that joins through bravo alone is dialled by alpha from bravo's list at once
  const xray = await startRogue(t, { ip: `${NET}4`, hostname: 'xray', clusterName: cluster })
  await xray.join(bravo.spec.ip)
  await untilMember(bravo.d, 'xray')
  const since = Date.now()
  await untilMember(alpha.d, 'xray', 15_000)
  t.log(`alpha had xray as a member ${Date.now() - since} ms after bravo`)
  await waitFor(() => xray.node.getPeers().length === 2, { timeoutMs: 5000, message: 'xray is connected to alpha and bravo' })

  // xray goes down (every node departs it), and is back a few seconds later through bravo alone:
  // alpha dials it again from bravo's list, whatever dials of it failed meanwhile
  await xray.node.stop()
  const listed = async (d: typeof alpha.d): Promise<boolean> => (await d.json<{ ClusterMembers?: Record<string, unknown> }>('/services.json')).ClusterMembers?.xray !== undefined
  await waitFor(async () => !(await listed(alpha.d)) && !(await listed(bravo.d)), { timeoutMs: 15_000, message: 'xray departed on alpha and bravo' })
  await new Promise(resolve => setTimeout(resolve, 3000))
  const back = await startRogue(t, { ip: `${NET}4`, hostname: 'xray', clusterName: cluster, key: xray.key })
  await back.join(bravo.spec.ip)
  await untilMember(bravo.d, 'xray')
  const again = Date.now()
  await untilMember(alpha.d, 'xray', 15_000)
  t.log(`alpha had xray back ${Date.now() - again} ms after bravo`)
})
