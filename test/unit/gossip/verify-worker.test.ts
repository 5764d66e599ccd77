// The verifying worker (libsodium through sodium-native) and ProofVerifier on it, with real
// keys: its verdicts, and those of a lone record checked in this thread with libsodium, equal
// node:crypto's for valid proofs and for every kind of forgery a peer can send; the worker
// ends when idle; a worker that cannot load libsodium fails its batch and ProofVerifier falls
// back to the thread pool with the same verdicts.
import { generateKeyPairSync, sign } from 'node:crypto'
import test from 'ava'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { ProofVerifier, RecordSigner, type Proof } from '../../../src/gossip/proof.ts'
import { VerifyWorker } from '../../../src/gossip/verify-worker.ts'
import { encodeService } from '../../../src/service/index.ts'
import { makeTestService } from '../../helpers/factories.ts'
import { waitFor } from '../../helpers/wait.ts'

const rawPublic = (k: ReturnType<typeof generateKeyPairSync>['publicKey']): Uint8Array => k.export({ format: 'der', type: 'spki' }).subarray(-32)

test('verify-worker: libsodium is installed, and a batch gets one verdict per text, in order, for any mix of signers', async t => {
  const w = VerifyWorker.create(3000, 2)
  if (w === undefined) return t.fail('sodium-native is a dependency: VerifyWorker.create() found none')
  t.teardown(async () => { await w.close() })
  const a = generateKeyPairSync('ed25519')
  const b = generateKeyPairSync('ed25519')
  const texts = Array.from({ length: 300 }, (_, i) => `record ${i} \u00e9`)
  const signer = (i: number): typeof a => i % 3 === 0 ? b : a
  const sigs = texts.map((text, i) => sign(null, Buffer.from(text), signer(i).privateKey))
  // forgeries: another text's signature, a flipped bit, the other signer's key, a short and a garbage signature
  const wire = sigs.map(s => s.toString('base64'))
  wire[10] = wire[11]
  const flipped = Buffer.from(sigs[20]); flipped[5] ^= 1; wire[20] = flipped.toString('base64')
  wire[40] = wire[40].slice(0, 40)
  wire[50] = '!!!!not base64!!!!'
  const keyOf = Uint32Array.from(texts.map((_, i) => i === 30 ? (signer(i) === a ? 1 : 0) : (signer(i) === a ? 0 : 1)))
  t.is(w.running, 0, 'no thread before the first batch')
  const verdicts = await w.verify({ texts, sigs: wire, keys: [rawPublic(a.publicKey), rawPublic(b.publicKey)], keyOf })
  t.is(verdicts.length, 300)
  const bad = new Set([10, 20, 30, 40, 50])
  for (let i = 0; i < 300; i++) t.is(verdicts[i], bad.has(i) ? 0 : 1, `text ${i}`)
  t.is(w.running, 2, 'a batch of 300 is split over both threads')
  await waitFor(() => w.running === 0, { timeoutMs: 20_000, message: 'the threads end after their idle time' })
  t.is((await w.verify({ texts: ['x'], sigs: [sign(null, Buffer.from('x'), a.privateKey).toString('base64')], keys: [rawPublic(a.publicKey)], keyOf: Uint32Array.of(0) }))[0], 1, 'and starts again')
  await w.close()
  await t.throwsAsync(w.verify({ texts: [], sigs: [], keys: [], keyOf: new Uint32Array(0) }), { message: /closed/ })
})

test('verify-worker: a worker that cannot load libsodium fails the batch, is not started again, and does not hang', async t => {
  const w = new VerifyWorker('/nonexistent/sodium-native.js')
  t.teardown(async () => { await w.close() })
  await t.throwsAsync(w.verify({ texts: ['x'], sigs: ['x'], keys: [new Uint8Array(32)], keyOf: Uint32Array.of(0) }), { message: /failed/ })
  t.false(w.usable)
  await t.throwsAsync(w.verify({ texts: ['x'], sigs: ['x'], keys: [new Uint8Array(32)], keyOf: Uint32Array.of(0) }), { message: /closed/ })
})

/** A page of 200 sealed records by two hosts, 50 of them forged in the ways a relaying peer could. */
async function page (): Promise<{ items: Array<{ canonical: string, proof: Proof }>, forged: Set<number> }> {
  const keys = await Promise.all([generateKeyPair('Ed25519'), generateKeyPair('Ed25519')])
  const signers = keys.map(k => new RecordSigner(k, peerIdFromPrivateKey(k).toString(), 'c'))
  const items: Array<{ canonical: string, proof: Proof }> = []
  const forged = new Set<number>()
  for (let i = 0; i < 200; i++) {
    const svc = makeTestService({ Hostname: `h${i % 2}`, ID: `r${i}`, Name: `svc-${i}` })
    let proof = signers[i % 2].seal(svc, i % 7 === 0).proof as Proof
    let canonical = encodeService(svc)
    if (i % 4 === 1) {
      forged.add(i)
      switch (i % 5) {
        case 0: proof = { ...proof, peer: signers[(i + 1) % 2].peer }; break // claimed by the other host
        case 1: canonical = encodeService({ ...svc, Name: 'changed' }); break // the record was altered
        case 2: proof = { ...proof, observer: !proof.observer }; break // an origin proof passed off as an observer's, or back
        case 3: proof = { ...proof, peer: 'QmNotAnEd25519PeerId' }; break // a signer whose key cannot be read
        default: proof = { ...proof, sig: Buffer.alloc(64, i).toString('base64') } // a signature of no one
      }
    }
    items.push({ canonical, proof })
  }
  await Promise.all(signers.map(async s => { await s.close() }))
  return { items, forged }
}

test('proof: prepare() on the worker gives check() the verdicts node:crypto gives, forged proofs refused, without verifying again', async t => {
  const { items, forged } = await page()
  const worker = VerifyWorker.create()
  const v = new ProofVerifier('c', worker)
  const reference = new ProofVerifier('c')
  t.teardown(async () => { await v.close() })
  t.is(v.backend, 'worker')
  await v.prepare(items.slice(0, 15))
  t.is(worker?.running, 0, 'a batch under WORKER_MIN_VERIFY stays on the thread pool: no thread for a trickle of gossip messages')
  t.is(v.computed, 15)
  v.clearPrepared()
  v.computed = 0
  await v.prepare(items)
  const computed = v.computed
  t.is(computed, 190, 'the worker verified the page, all but the 10 whose signer has no readable key')
  for (const [i, { canonical, proof }] of items.entries()) {
    t.is(v.check(canonical, proof), !forged.has(i), `record ${i}`)
    t.is(reference.check(canonical, proof), !forged.has(i), `record ${i}, node:crypto`)
  }
  t.is(v.computed, computed, 'check() used the worker\'s verdicts')
  t.false(v.check(items[0].canonical.replace('svc-0', 'svc-x'), items[0].proof), 'a verdict is used for the same text only')
  // a lone record (no prepare) is verified in this thread with libsodium: the same verdicts, no worker
  const lone = new ProofVerifier('c', VerifyWorker.create())
  t.teardown(async () => { await lone.close() })
  for (const [i, { canonical, proof }] of items.entries()) t.is(lone.check(canonical, proof), !forged.has(i), `record ${i}, checked alone`)
  t.is(lone.computed, 190)
})

test('proof: a verifier whose worker cannot start verifies on the thread pool with the same verdicts', async t => {
  const { items, forged } = await page()
  const v = new ProofVerifier('c', new VerifyWorker('/nonexistent/sodium-native.js'))
  t.teardown(async () => { await v.close() })
  await v.prepare(items)
  t.is(v.backend, 'thread pool')
  const computed = v.computed
  t.is(computed, 200, 'the thread pool verified the page ahead')
  for (const [i, { canonical, proof }] of items.entries()) t.is(v.check(canonical, proof), !forged.has(i), `record ${i}`)
  t.is(v.computed, computed)
})
