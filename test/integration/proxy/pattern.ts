// Test bodies whose every byte depends on its offset: a shifted, lost or overwritten range changes
// the sha256 (slow-client and slow-backend tests, both directions of the proxy's read buffers).
import { createHash } from 'node:crypto'

export const MIB = 1 << 20

/** Bytes [from, from + n) of a stream where each 4-byte word is its offset mixed with seed: a shifted or overwritten range changes the hash. */
export function piece (from: number, n: number, seed: number): Buffer {
  const b = Buffer.alloc(n)
  for (let i = 0; i + 4 <= n; i += 4) b.writeUInt32LE(((from + i) ^ seed) >>> 0, i)
  return b
}

/** The sha256 of the first n bytes of the stream, made piece by piece. */
export function patternSha (n: number, seed: number): string {
  const h = createHash('sha256')
  for (let o = 0; o < n; o += MIB) h.update(piece(o, Math.min(MIB, n - o), seed))
  return h.digest('hex')
}
