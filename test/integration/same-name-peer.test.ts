// A peer that calls itself by the daemon's own hostname is hung up on, with a WARN that says
// so. The peer decides how often it dials (and the daemon redials it every 30 s): before, every
// connection logged the WARN again, so one such peer could write a WARN line per dial for as
// long as it liked, and one more per new peer id. Now: one WARN, the repeats at debug, a
// reminder every 10 minutes at most.
// A real daemon on 127.0.70.11; the peer is a libp2p node built from the project's modules
// (test/helpers/rogue.ts) on 127.0.70.12, and five more with keys of their own on .13-.17.
import test from 'ava'
import { multiaddr } from '@multiformats/multiaddr'
import { tcpAddr } from '../../src/gossip/node.ts'
import { makeCluster, startAll } from '../helpers/cluster.ts'
import { startRogue } from '../helpers/rogue.ts'
import { waitFor } from '../helpers/wait.ts'

const DIALS = 12

test('a peer using the daemon\'s own hostname and dialling again and again gets one WARN, not one per connection', async t => {
  t.timeout(120_000)
  const cluster = 'same-name'
  const [alpha] = await makeCluster(t, [{ ip: '127.0.70.11', hostname: 'alpha', args: ['-n', cluster, '-l', 'debug'] }])
  await startAll([alpha])
  const rogue = await startRogue(t, { ip: '127.0.70.12', hostname: 'alpha', clusterName: cluster })
  const line = /also calls itself alpha: every host needs its own hostname; hanging up/
  const lines = (level: string): number => alpha.d.output.split('\n').filter(l => line.test(l) && l.includes(level)).length
  for (let i = 0; i < DIALS; i++) {
    const before = lines('DEBUG') + lines('WARN')
    await waitFor(async () => await rogue.node.dial(multiaddr(tcpAddr(alpha.spec.ip, 7946))).then(() => true, () => false), { timeoutMs: 15_000, message: 'alpha takes the dial' })
    await waitFor(() => lines('DEBUG') + lines('WARN') > before && rogue.node.getConnections().length === 0, { timeoutMs: 15_000, message: () => `alpha hung up (dial ${i + 1}); log:\n${alpha.d.output.slice(-2000)}` })
  }
  t.is(lines('WARN'), 1, `one WARN for ${DIALS} connections`)
  t.is(lines('DEBUG'), DIALS - 1, 'the others at debug')

  // new keys cost the peer nothing: five more peer ids under the same name, one dial each
  for (let i = 0; i < 5; i++) {
    const other = await startRogue(t, { ip: `127.0.70.${13 + i}`, hostname: 'alpha', clusterName: cluster })
    const before = lines('DEBUG') + lines('WARN')
    await waitFor(async () => await other.node.dial(multiaddr(tcpAddr(alpha.spec.ip, 7946))).then(() => true, () => false), { timeoutMs: 15_000, message: 'alpha takes the dial' })
    await waitFor(() => lines('DEBUG') + lines('WARN') > before && other.node.getConnections().length === 0, { timeoutMs: 15_000, message: () => `alpha hung up (peer id ${i + 2}); log:\n${alpha.d.output.slice(-2000)}` })
    await other.node.stop()
  }
  t.is(lines('WARN'), 1, 'still one WARN: its reminder comes 10 minutes after it, counting them all')
})
