// nextStatus, the status rule of the health monitor (reference §4 with rise/fall), checked
// exhaustively over every status, result and threshold count that matters.
import test from 'ava'
import { nextStatus } from '../../../src/health/monitor.ts'
import { ServiceStatus } from '../../../src/service/status.ts'

const { ALIVE, UNHEALTHY, UNKNOWN, DRAINING, TOMBSTONE } = ServiceStatus

test('nextStatus: the first result decides at once, whatever rise and fall say', t => {
  for (const [rise, fall] of [[1, 1], [3, 5], [10, 10]]) {
    t.is(nextStatus(UNKNOWN, true, 1, 0, rise, fall), ALIVE)
    t.is(nextStatus(UNKNOWN, false, 0, 1, rise, fall), UNHEALTHY)
  }
})

test('nextStatus: ALIVE turns UNHEALTHY only after fall failures in a row', t => {
  for (const fall of [1, 2, 3, 5]) {
    for (let failures = 1; failures < fall; failures++) t.is(nextStatus(ALIVE, false, 0, failures, 1, fall), ALIVE, `fall ${fall}, ${failures} failures`)
    t.is(nextStatus(ALIVE, false, 0, fall, 1, fall), UNHEALTHY, `fall ${fall} reached`)
    t.is(nextStatus(ALIVE, false, 0, fall + 7, 1, fall), UNHEALTHY, 'beyond fall')
  }
})

test('nextStatus: UNHEALTHY turns ALIVE only after rise passes in a row', t => {
  for (const rise of [1, 2, 4]) {
    for (let successes = 1; successes < rise; successes++) t.is(nextStatus(UNHEALTHY, true, successes, 0, rise, 1), UNHEALTHY, `rise ${rise}, ${successes} passes`)
    t.is(nextStatus(UNHEALTHY, true, rise, 0, rise, 1), ALIVE, `rise ${rise} reached`)
  }
})

test('nextStatus: a result that agrees with the status keeps it', t => {
  t.is(nextStatus(ALIVE, true, 1, 0, 3, 3), ALIVE)
  t.is(nextStatus(UNHEALTHY, false, 0, 1, 3, 3), UNHEALTHY)
})

test('nextStatus: statuses the monitor never sets itself follow the same thresholds', t => {
  // DRAINING and TOMBSTONE are stamped by src/local/, never kept by the monitor; the rule still never jumps early.
  for (const s of [DRAINING, TOMBSTONE]) {
    t.is(nextStatus(s, true, 1, 0, 2, 2), s)
    t.is(nextStatus(s, true, 2, 0, 2, 2), ALIVE)
    t.is(nextStatus(s, false, 0, 1, 2, 2), s)
    t.is(nextStatus(s, false, 0, 2, 2, 2), UNHEALTHY)
  }
})
