// gzip once per document version, shared by its readers (send-document.ts).
import test from 'ava'
import { gunzipSync } from 'node:zlib'
import { gzipOf } from '../../../src/api/send-document.ts'

test('gzipOf: one compression per parts array, shared by every reader of it; a new array is compressed anew', async t => {
  const parts = Array.from({ length: 50 }, (_, i) => Buffer.from(`{"ID":"i${i}","Name":"web","Status":0},`.repeat(100)))
  const readers = await Promise.all(Array.from({ length: 8 }, async () => await gzipOf(parts)))
  for (const r of readers) t.is(r, readers[0], 'the same compressed parts for all readers')
  t.deepEqual(gunzipSync(Buffer.concat(readers[0])), Buffer.concat(parts))
  const next = [...parts]
  t.not(await gzipOf(next), readers[0])
})
