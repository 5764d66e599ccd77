// The seed dialer's words when a seed cannot be reached: a name that does not resolve is said
// to not resolve (a typo, or DNS down), an address that does not answer to not answer. A real
// gossip node on 127.0.35.10; the resolver is given (a test may send no DNS query).
import test from 'ava'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { Writable } from 'node:stream'
import { createGossipNode } from '../../../src/gossip/node.ts'
import { SeedDialer } from '../../../src/gossip/seeds.ts'
import { createLogger } from '../../../src/lib/logger.ts'
import { waitFor } from '../../helpers/wait.ts'

test('seeds: a name that does not resolve is logged as not resolving; an address that does not answer, as not answering', async t => {
  const lines: string[] = []
  const logger = createLogger({ level: 'info', format: 'json', destination: new Writable({ write (c: Buffer, _e, cb) { lines.push(...c.toString().split('\n').filter(l => l !== '')); cb() } }) })
  const { node } = await createGossipNode({ hostname: 'seeds-a', clusterName: 'seeds', bindIp: '127.0.35.10', bindPort: 7946, advertiseIp: '127.0.35.10', clusterKey: '', quic: false, privateKey: await generateKeyPair('Ed25519'), version: '0.0.0' }, logger)
  await node.start()
  t.teardown(async () => { await node.stop() })
  const resolve = async (host: string): Promise<string[]> => {
    const err: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${host}`)
    err.code = 'ENOTFOUND'
    throw err
  }
  // 127.0.35.11: nothing listens there
  const seeds = new SeedDialer({ node, logger, isForeign: () => false, resolve }, { seeds: ['seed-typo.example:7946', '127.0.35.11:7946'], bindPort: 7946, self: new Set() })
  const ac = new AbortController()
  t.teardown(() => { ac.abort() })
  seeds.tick(ac.signal)
  const messages = (): string[] => lines.map(l => (JSON.parse(l) as { msg: string }).msg).filter(m => m.startsWith('seed '))
  await waitFor(() => messages().length === 2, { timeoutMs: 15_000, message: () => `both seeds reported: ${lines.join('\n')}` })
  const byName = messages().find(m => m.includes('seed-typo'))
  t.regex(byName ?? '', /^seed seed-typo\.example:7946 did not resolve \(getaddrinfo ENOTFOUND seed-typo\.example\); retrying in 1 s$/)
  t.regex(messages().find(m => m.includes('127.0.35.11')) ?? '', /^seed 127\.0\.35\.11:7946 did not answer \(/)
})
