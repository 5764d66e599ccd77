// The bound on documents that stream clients hold unsent (held-documents.ts).
import test from 'ava'
import { HeldDocuments, type DocumentHolder } from '../../../src/api/held-documents.ts'

function holder (name: string, cuts: string[], pending = true): DocumentHolder & { pendingNow: boolean } {
  const h = { pendingNow: pending, pending: () => h.pendingNow, cut: () => { cuts.push(name) } }
  return h
}

test('held documents: past the bound in bytes, the clients still holding the oldest are cut; those that sent theirs, and the newest, never', t => {
  const cuts: string[] = []
  const held = new HeldDocuments(40) // four documents of 10 bytes
  const docs = Array.from({ length: 7 }, (_, i) => [Buffer.alloc(4, i), Buffer.alloc(6, i)])
  const a = holder('a', cuts)
  const b = holder('b', cuts)
  const sent = holder('sent', cuts)
  held.hold(docs[0], a)
  held.hold(docs[0], b) // one document for two clients of one version
  held.hold(docs[1], sent)
  held.hold(docs[2], holder('c', cuts))
  held.hold(docs[3], holder('d', cuts))
  t.is(held.size, 4)
  t.deepEqual(cuts, [])
  sent.pendingNow = false // its socket sent v1: it holds nothing now
  held.hold(docs[4], holder('e', cuts))
  t.deepEqual(cuts, [], 'v1 is let go, not cut: 4 documents held')
  t.is(held.size, 4)
  held.hold(docs[5], holder('f', cuts))
  t.deepEqual(cuts, ['a', 'b'], 'the two clients of the oldest document')
  t.is(held.size, 4)
  // a client that takes a newer document lets go of its old one
  const g = holder('g', cuts)
  held.hold(docs[5], g)
  held.hold(docs[6], g)
  t.is(held.size, 4, 'v2 cut for v6')
  t.deepEqual(cuts, ['a', 'b', 'c'])
  held.release(g)
  t.is(held.size, 3)
  t.is(held.bytes, 30)
})

test('held documents: small documents are never cut however many versions are held; one larger than the bound alone is kept', t => {
  const cuts: string[] = []
  const held = new HeldDocuments(1000)
  for (let i = 0; i < 50; i++) held.hold([Buffer.alloc(20, i)], holder(`c${i}`, cuts))
  t.is(held.size, 50)
  t.deepEqual(cuts, [])
  held.hold([Buffer.alloc(5000)], holder('big', cuts))
  t.is(cuts.length, 50, 'every older one cut')
  t.is(held.size, 1, 'the newest kept, though larger than the bound')
})

test('held documents: a document its clients have sent is let go at the next new one, not kept until the bound is reached', t => {
  const cuts: string[] = []
  const held = new HeldDocuments(1000)
  const sent = holder('sent', cuts)
  held.hold([Buffer.alloc(100)], sent) // an SSE client's snapshot; it stays connected and reads
  sent.pendingNow = false
  t.is(held.bytes, 100)
  held.hold([Buffer.alloc(10)], holder('next', cuts)) // the next version's document
  t.is(held.size, 1, 'the sent snapshot is no longer referenced here')
  t.is(held.bytes, 10)
  t.deepEqual(cuts, [])
})
