import test from 'ava'
import { parsePortRange, PortRanges } from '../../../src/lib/port-ranges.ts'

test('parsePortRange: a port or a low-high range within 1..65535', t => {
  t.deepEqual(parsePortRange('8080'), [8080, 8080])
  t.deepEqual(parsePortRange('10000-19999'), [10000, 19999])
  t.deepEqual(parsePortRange(' 1-65535 '), [1, 65535])
  for (const bad of ['', '0', '65536', '20-10', '10-', '-10', '1e3', '80,81', '080800', 'http']) t.is(parsePortRange(bad), undefined, bad)
})

test('PortRanges: an empty list holds every port; otherwise the listed ports and ranges only', t => {
  const every = new PortRanges([])
  t.true(every.all)
  t.true(every.has(1) && every.has(65535))
  const some = new PortRanges(['8080', '10000-10009'])
  t.false(some.all)
  t.deepEqual([8079, 8080, 8081, 9999, 10000, 10009, 10010].map(p => some.has(p)), [false, true, false, false, true, true, false])
})
