// The signing worker and RecordSigner.sealMany with real keys: signatures made on the worker
// verify and equal the main thread's (Ed25519 is deterministic); the worker ends when idle or
// closed, and sealMany still signs (on the thread pool) when it cannot be used.
import { generateKeyPairSync, verify } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import test from 'ava'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { ProofVerifier, RecordSigner, WORKER_MIN_BATCH } from '../../../src/gossip/proof.ts'
import { SignWorker } from '../../../src/gossip/sign-worker.ts'
import { encodeService } from '../../../src/service/index.ts'
import { makeTestService } from '../../helpers/factories.ts'

test('sign-worker: a batch is signed in order with the given key; it ends when idle and starts again on the next batch', async t => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  const w = new SignWorker(privateKey.export({ format: 'der', type: 'pkcs8' }), 50)
  t.teardown(async () => { await w.close() })
  t.false(w.running, 'no thread before the first batch')
  const texts = Array.from({ length: 100 }, (_, i) => `text ${i} \u00e9`)
  const sigs = await w.sign(texts)
  t.is(sigs.length, 100)
  for (const [i, sig] of sigs.entries()) t.true(verify(null, Buffer.from(texts[i]), publicKey, Buffer.from(sig, 'base64')), `signature ${i}`)
  t.false(verify(null, Buffer.from(texts[1]), publicKey, Buffer.from(sigs[0], 'base64')))
  t.true(w.running)
  await sleep(300)
  t.false(w.running, 'ended after its idle time')
  t.is((await w.sign(['again'])).length, 1)
  await w.close()
  t.false(w.running)
  await t.throwsAsync(w.sign(['x']), { message: /closed/ })
})

test('sign-worker: a key the worker cannot read fails the batch (the caller falls back), it does not hang', async t => {
  const w = new SignWorker(Buffer.from('not a key'))
  t.teardown(async () => { await w.close() })
  await t.throwsAsync(w.sign(['x']), { message: /failed/ })
  await t.throwsAsync(w.sign(['x']), { message: /closed/ }, 'and is not started again')
  t.false(w.running)
})

test('proof: sealMany signs on the worker what seal() would, uses the cache, and falls back to the thread pool once closed', async t => {
  const key = await generateKeyPair('Ed25519')
  const peer = peerIdFromPrivateKey(key).toString()
  const signer = new RecordSigner(key, peer, 'c')
  const reference = new RecordSigner(key, peer, 'c') // same key, its own cache: signs on the main thread
  t.teardown(async () => { await signer.close(); await reference.close() })
  const n = WORKER_MIN_BATCH * 3
  const items = Array.from({ length: n }, (_, i) => ({ svc: makeTestService({ Hostname: 'me', ID: `r${i}` }), observer: i % 5 === 0 }))
  const sealed = await signer.sealMany(items)
  t.is(sealed.length, n)
  const verifier = new ProofVerifier('c')
  for (const [i, r] of sealed.entries()) {
    t.is(r.svc, items[i].svc, 'in order')
    t.is(r.proof?.observer, items[i].observer)
    t.is(r.proof?.sig, reference.seal(items[i].svc, items[i].observer).proof?.sig, `record ${i}: the main thread's signature`)
    t.true(verifier.check(encodeService(r.svc), r.proof!))
  }
  t.is(signer.cached, n)
  t.deepEqual(signer.seal(items[3].svc, items[3].observer), sealed[3], 'seal() finds what sealMany signed')
  await signer.close()
  const more = Array.from({ length: n }, (_, i) => ({ svc: makeTestService({ Hostname: 'me', ID: `s${i}` }), observer: false }))
  const after = await signer.sealMany(more)
  for (const [i, r] of after.entries()) t.true(verifier.check(encodeService(r.svc), r.proof!), `after close, record ${i}`)
})
