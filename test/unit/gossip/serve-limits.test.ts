// The per-peer serving limits of anti-entropy (src/gossip/serve-limits.ts), on a fake clock:
// exchanges at once, exchanges per second, records and versions per minute, and the map of peers bounded.
import test from 'ava'
import { ServeLimits, SERVE_LIMITS, type ServeTicket } from '../../../src/gossip/serve-limits.ts'

function limits (size = 10_000): { l: ServeLimits, advance: (ms: number) => void, reports: Array<[string, number, number]>, versionReports: number[] } {
  let now = 0
  const versionReports: number[] = []
  const reports: Array<[string, number, number]> = []
  const l = new ServeLimits({ stateSize: () => size, now: () => now, report: (p, r, h, v) => { reports.push([p, r, h]); versionReports.push(v) } })
  return { l, advance: (ms) => { now += ms }, reports, versionReports }
}

function ticket (t: ServeTicket | string): ServeTicket {
  if (typeof t === 'string') throw new Error(`refused: ${t}`)
  return t
}

test('serve limits: a third exchange at once is refused, one peer does not use up another\'s', t => {
  const { l } = limits()
  const a = ticket(l.open('a'))
  ticket(l.open('a'))
  t.is(l.open('a'), 'busy')
  ticket(l.open('b'))
  a.release()
  a.release() // twice: counted once
  ticket(l.open('a'))
  t.is(l.open('a'), 'busy')
})

test('serve limits: a peer looping on exchanges gets the burst, then the refill rate', t => {
  const { l, advance, reports } = limits()
  let served = 0
  for (let i = 0; i < 1000; i++) {
    const r = l.open('a')
    if (typeof r !== 'string') { served++; r.release() }
  }
  t.is(served, SERVE_LIMITS.exchangeBurst)
  t.deepEqual(reports, [['a', 1, 0]], 'the first refusal is logged at once, the rest within the minute are summed')
  // refused attempts take from the bucket too: looping on refusals earns nothing back
  advance(1000)
  served = 0
  for (let i = 0; i < 1000; i++) {
    const r = l.open('a')
    if (typeof r !== 'string') { served++; r.release() }
  }
  t.is(served, SERVE_LIMITS.exchangesPerS)
  advance(SERVE_LIMITS.logEveryMs)
  t.is(l.open('a') === 'rate' ? 'rate' : 'served', 'served')
})

test('serve limits: the first full pull is whole, a second within the minute gets what refilled, and the rest follows', t => {
  const { l, advance } = limits(10_000)
  const x = ticket(l.open('joiner'))
  t.is(x.sendable(10_000), 10_000, 'a late joiner\'s full pull')
  x.release()
  const y = ticket(l.open('joiner'))
  t.is(y.sendable(10_000), SERVE_LIMITS.recordSlack)
  y.release()
  advance(SERVE_LIMITS.recordRefillMs / 2)
  const z = ticket(l.open('joiner'))
  t.is(z.sendable(9000), 5500, 'half a minute refills half of the state plus slack')
  z.release()
  advance(SERVE_LIMITS.recordRefillMs)
  t.is(ticket(l.open('joiner')).sendable(3500), 3500)
})

test('serve limits: versions fit up to 4 states plus slack a minute, all or none per exchange; one peer does not use up another\'s', t => {
  const { l, advance, versionReports } = limits(10_000)
  const x = ticket(l.open('v'))
  for (let i = 0; i < 5; i++) t.true(x.versions(10_000), `a whole state's versions, ${i + 1} of 5 (4 states plus 10,000)`)
  t.false(x.versions(1), 'the budget is spent: refused, nothing taken')
  t.true(x.versions(0), 'an exchange with no versions to send always goes on')
  t.true(ticket(l.open('w')).versions(10_000), 'another peer has its own budget')
  t.deepEqual(versionReports, [1], 'the refusal is reported')
  advance(SERVE_LIMITS.recordRefillMs / 4)
  t.false(x.versions(13_000), 'a quarter minute refills 12,500: an exchange over what is left is refused whole')
  t.true(x.versions(12_000))
  advance(SERVE_LIMITS.recordRefillMs)
  t.true(x.versions(50_000), 'full again after a minute')
})

test('serve limits: the peers remembered stay bounded', t => {
  const { l, advance } = limits()
  for (let i = 0; i < 5 * SERVE_LIMITS.maxPeers; i++) {
    ticket(l.open(`p${i}`)).release()
    advance(10)
  }
  t.true(l.size <= SERVE_LIMITS.maxPeers, `${l.size} peers held`)
})
