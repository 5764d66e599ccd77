import test from 'ava'
import { clearEjection, ejectionMs, isEjected, maxEjected, newOutlierState, recordFailure, recordResponse } from '../../../src/proxy/outlier.ts'

const policy = { baseMs: 10_000, maxMs: 300_000, after5xx: 0 }

test('ejectionMs: 10 s, 20 s, 40 s ... doubling up to 5 min, and never past it', t => {
  t.deepEqual([1, 2, 3, 4, 5, 6, 7, 8].map(n => ejectionMs(n, policy)), [10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000])
  t.is(ejectionMs(0, policy), 0)
  t.is(ejectionMs(10_000, policy), 300_000, 'a huge count does not overflow to NaN')
})

test('maxEjected: at most half of a pool, rounded down (a lone backend is never ejected)', t => {
  t.deepEqual([0, 1, 2, 3, 4, 5, 10].map(maxEjected), [0, 0, 1, 1, 2, 2, 5])
})

test('recordFailure: ejects for the base time, then twice as long on a repeat after the ejection ended', t => {
  const s = newOutlierState()
  t.true(recordFailure(s, policy, 1000, 0, 3))
  t.is(s.ejectedUntil, 11_000)
  t.true(isEjected(s, 10_999))
  t.false(isEjected(s, 11_000))
  t.false(recordFailure(s, policy, 5000, 1, 3), 'already ejected: no longer ejection')
  t.is(s.ejectedUntil, 11_000)
  t.true(recordFailure(s, policy, 12_000, 0, 3), 'failed again on its first request back')
  t.is(s.ejectedUntil, 32_000)
  t.is(s.ejections, 2)
})

test('recordFailure: never ejects more than half of the pool', t => {
  const s = newOutlierState()
  t.false(recordFailure(s, policy, 0, 0, 1), 'pool of one')
  t.false(recordFailure(s, policy, 0, 1, 3), 'one of three already out')
  t.false(recordFailure(s, policy, 0, 2, 4), 'two of four already out')
  t.is(s.ejections, 0)
  t.true(recordFailure(s, policy, 0, 1, 4), 'one of four out: a second may go')
})

test('recordResponse: a success after the ejection ended resets the back-off to the base', t => {
  const s = newOutlierState()
  recordFailure(s, policy, 0, 0, 2)
  t.false(recordResponse(s, policy, 200, 5000))
  t.is(s.ejections, 1, 'a response of a request started before the ejection does not end it')
  t.false(recordResponse(s, policy, 200, 10_000))
  t.is(s.ejections, 0)
  recordFailure(s, policy, 20_000, 0, 2)
  t.is(s.ejectedUntil, 30_000, 'back to the base time')
})

test('recordResponse: 5xx counts only when eject_after_5xx is on, and only consecutive ones', t => {
  const off = newOutlierState()
  for (let i = 0; i < 10; i++) t.false(recordResponse(off, policy, 503, 0))
  const on = { ...policy, after5xx: 3 }
  const s = newOutlierState()
  t.false(recordResponse(s, on, 500, 0))
  t.false(recordResponse(s, on, 502, 0))
  t.false(recordResponse(s, on, 404, 0), 'a 4xx ends the streak')
  t.false(recordResponse(s, on, 500, 0))
  t.false(recordResponse(s, on, 500, 0))
  t.true(recordResponse(s, on, 503, 0), 'third in a row')
})

test('clearEjection: the active check bringing an instance back ends its ejection and back-off', t => {
  const s = newOutlierState()
  recordFailure(s, policy, 0, 0, 2)
  clearEjection(s)
  t.false(isEjected(s, 1))
  t.is(s.ejections, 0)
})
