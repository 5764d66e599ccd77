// The admission gate's test fixture: real keys, a real catalog on a fake clock and real pins in
// a temp dir; host1 and host2 are pinned members, this node is 'me'.
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { Admission, type AdmitResult } from '../../../src/gossip/admission.ts'
import type { MergeResult } from '../../../src/catalog/index.ts'
import { gossipMetrics } from '../../../src/gossip/metrics.ts'
import { HostPins } from '../../../src/gossip/pins.ts'
import { ProofVerifier, RecordSigner } from '../../../src/gossip/proof.ts'
import { silentLogger } from '../../../src/lib/logger.ts'
import { Metrics } from '../../../src/lib/metrics.ts'
import type { Time } from '../../../src/service/index.ts'
import { makeTestService } from '../../helpers/factories.ts'
import { setup } from '../catalog/setup.ts'

export async function signer (cluster = 'c'): Promise<RecordSigner> {
  const key = await generateKeyPair('Ed25519')
  return new RecordSigner(key, peerIdFromPrivateKey(key).toString(), cluster)
}

export async function fixture (t: import('ava').ExecutionContext, opts: { maxRecordsPerHost?: number, maxRecords?: number, backendCidrs?: string[] } = {}) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-admission-'))
  const self = await signer()
  const host1 = await signer()
  const host2 = await signer()
  const { catalog, clock } = setup({ hostname: 'me' })
  const pins = new HostPins({ logger: silentLogger() }, { dataDir: dir, hostname: 'me', peerId: self.peer })
  await pins.load()
  t.teardown(async () => { await pins.flush(); await rm(dir, { recursive: true, force: true }) })
  t.is(pins.claim('host1', host1.peer), 'new')
  t.is(pins.claim('host2', host2.peer), 'new')
  const members = new Map([['host1', { peerId: host1.peer, ips: new Set(['10.0.0.5']) }], ['host2', { peerId: host2.peer, ips: new Set(['10.0.0.6']) }]])
  const metrics = gossipMetrics(new Metrics({ defaultMetrics: false }))
  const verifier = new ProofVerifier('c')
  const gate = new Admission({ catalog, clock, logger: silentLogger(), metrics, pins, verifier, signer: self, member: h => members.get(h) },
    { hostname: 'me', maxRecordsPerHost: opts.maxRecordsPerHost ?? 100, maxRecords: opts.maxRecords ?? 1000, backendCidrs: opts.backendCidrs ?? [] })
  const now = (): Time => clock.now()
  const rec = (o: Parameters<typeof makeTestService>[0] = {}) => makeTestService({ Created: now().plusMillis(-60_000), Updated: now(), ...o })
  const reasons = async (): Promise<Record<string, number>> => Object.fromEntries((await metrics.refused.get()).values.map(v => [v.labels.reason as string, v.value]))
  /** What gossip.ts and session.ts do with what the gate admitted: merged (displacing as told), then settled. */
  const merge = (r: AdmitResult, from: string): MergeResult[] => {
    try {
      return r.admitted.map(s => catalog.merge(s, from, true, r.room(s)))
    } finally {
      r.settle()
    }
  }
  return { dir, catalog, clock, pins, members, gate, verifier, self, host1, host2, now, rec, reasons, merge }
}
