// Port conflicts whose names a member keeps changing, on an in-process proxy over a real catalog
// (listeners bind real sockets on 127.0.38.50): what the proxy remembers of them is the
// conflicts of now, not every pair of names it ever saw. Measured as heap after a full GC.
import v8 from 'node:v8'
import vm from 'node:vm'
import test from 'ava'
import { harness, instance, proxyConfig } from './setup.ts'

v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc') as () => void
const MiB = 1024 * 1024
const IP = '127.0.38.50'

function heapAfterGc (): number {
  gc()
  gc()
  return process.memoryUsage().heapUsed
}

test('conflicts: 200 contested ports renamed 100 times keep nothing of the names gone', async t => {
  // one listener at most: the contested ports wait, and their conflicts are still worked out
  const h = await harness(t, { proxy: proxyConfig(IP, { max_listeners: 1 }) })
  const PORTS = 200
  const name = (side: string, round: number, i: number): string => `${side}-${round}-${i}-`.padEnd(253, 'n')
  const round = async (r: number): Promise<void> => {
    for (let i = 0; i < PORTS; i++) {
      h.put({ ...instance(name('a', r, i), 'host-a', IP, 1, 40_000 + i), ID: `a${i}` })
      h.put({ ...instance(name('b', r, i), 'host-b', IP, 1, 40_000 + i), ID: `b${i}` })
    }
    await h.settle()
  }
  await round(0)
  t.is(h.proxy.report().conflicts.length, PORTS)
  const before = heapAfterGc()
  for (let r = 1; r <= 100; r++) await round(r)
  const grown = heapAfterGc() - before
  t.log(`heap grown by 100 renames of ${PORTS} contested ports: ${(grown / MiB).toFixed(2)} MiB`)
  t.is(h.proxy.report().conflicts.length, PORTS)
  t.true(h.proxy.report().conflicts.every(c => c.owner.startsWith('a-100-') || c.owner.startsWith('b-100-')))
  // every pair of names ever seen, remembered: 18 MiB; the conflicts of now alone: about 5
  t.true(grown < 10 * MiB, `heap grew ${(grown / MiB).toFixed(2)} MiB`)
})
