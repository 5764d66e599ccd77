import { Writable } from 'node:stream'
import test from 'ava'
import { bestSample, ClockOffsets, clusterOffset, correctionFor, MAX_CORRECTION_MS, MIN_CORRECTION_MS, sampleOf, SAMPLES_PER_MEMBER } from '../../../src/gossip/clock-offset.ts'
import { ClockCorrector } from '../../../src/gossip/clock-corrector.ts'
import { encodeProbe, Framer } from '../../../src/gossip/prober.ts'
import { CorrectedClock } from '../../../src/service/clock.ts'
import { createLogger } from '../../../src/lib/logger.ts'

test('sampleOf: NTP offset from send, peer and receive times; no sample from a negative or huge round trip', t => {
  // peer 60 s ahead, 10 ms each way: sent at 1000, peer reads 61010, back at 1020
  t.deepEqual(sampleOf(1000, 61_010, 1020), { offsetMs: 60_000, rttMs: 20 })
  t.deepEqual(sampleOf(1000, -58_990, 1020), { offsetMs: -60_000, rttMs: 20 })
  t.is(sampleOf(1000, 5000, 990), undefined)
  t.is(sampleOf(1000, 5000, 1000 + 60_000), undefined)
  t.is(sampleOf(1000, NaN, 1010), undefined)
})

test('bestSample: the shortest round trip wins (its error is smallest)', t => {
  t.deepEqual(bestSample([{ offsetMs: 900, rttMs: 400 }, { offsetMs: 1010, rttMs: 3 }, { offsetMs: 1200, rttMs: 50 }]), { offsetMs: 1010, rttMs: 3 })
  t.is(bestSample([]), undefined)
})

test('clusterOffset: median with this host as 0; a lying or skewed minority moves nothing; a tie corrects nothing', t => {
  t.is(clusterOffset([]), 0)
  // a host 60 s behind sees every member 60 s ahead
  t.is(clusterOffset([60_000, 60_010, 59_990, 60_005]), 60_000)
  // a correct host with one member 60 s off and one liar claiming +1 h
  t.is(clusterOffset([-60_000, 3_600_000, 5, -3]), 0)
  // two liars out of five members: still the honest value
  t.is(clusterOffset([1e9, -1e9, 10, 12, 11]), 10)
  // two hosts that disagree: nobody can tell which clock is right
  t.is(clusterOffset([60_000]), 0)
  t.is(clusterOffset([-60_000]), 0)
  // four hosts, two at +60 s: no majority either way
  t.is(clusterOffset([0, 60_000, 60_000]), 0)
  t.is(clusterOffset([NaN, 60_000, 60_000]), 60_000)
})

test('correctionFor: dead band below MIN_CORRECTION_MS, none beyond MAX_CORRECTION_MS', t => {
  t.deepEqual(correctionFor(MIN_CORRECTION_MS - 1, 3), { correctionMs: 0, measuredMs: MIN_CORRECTION_MS - 1, members: 3, ignored: 'small' })
  t.deepEqual(correctionFor(0, 3), { correctionMs: 0, measuredMs: 0, members: 3 })
  t.is(correctionFor(-60_000.4, 3).correctionMs, -60_000)
  t.deepEqual(correctionFor(MAX_CORRECTION_MS + 1, 3), { correctionMs: 0, measuredMs: MAX_CORRECTION_MS + 1, members: 3, ignored: 'too large' })
})

test('ClockOffsets keeps the last SAMPLES_PER_MEMBER per member and forgets departed ones', t => {
  const o = new ClockOffsets()
  o.add('a', { offsetMs: 1, rttMs: 1 })
  for (let i = 0; i < SAMPLES_PER_MEMBER; i++) o.add('a', { offsetMs: 60_000 + i, rttMs: 10 + i })
  t.is(o.offsets().get('a'), 60_000, 'the old best sample fell out of the window')
  o.add('b', { offsetMs: 60_000, rttMs: 5 })
  t.is(o.correction().correctionMs, 60_000)
  o.forget('a')
  t.is(o.correction().correctionMs, 0, 'one member against this host: a tie')
})

test('ClockCorrector sets the clock, logs the offset, and settles once the members are measured', async t => {
  const clock = new CorrectedClock()
  const logged: string[] = []
  const logger = createLogger({ level: 'info', format: 'json', destination: new Writable({ write (chunk: Buffer, _enc, cb) { logged.push(chunk.toString()); cb() } }) })
  const c = new ClockCorrector({ logger, offsets: new ClockOffsets(), correct: ms => { clock.correct(ms) } })
  const before = Date.now()
  c.add('a', { offsetMs: -60_000, rttMs: 2 })
  t.is(c.appliedMs, 0)
  c.add('b', { offsetMs: -60_100, rttMs: 3 })
  t.is(c.appliedMs, -60_000)
  t.is(clock.correctionMs(), -60_000)
  t.true(clock.nowMs() < before - 59_000 && clock.nowMs() > before - 61_000)
  t.true(clock.now().toMillis() < before - 59_000)
  t.true(logged.some(l => l.includes('this host\'s clock is off by +60.0 s')), logged.join('\n'))
  c.add('a', { offsetMs: -59_900, rttMs: 1 }) // jitter below half the dead band: no re-step
  t.is(c.appliedMs, -60_000)
  const t0 = Date.now()
  await c.settled(() => ['a', 'b'], AbortSignal.timeout(10_000))
  t.true(Date.now() - t0 < 500)
  c.forget('a')
  c.forget('b')
  t.is(clock.correctionMs(), 0)
})

test('ClockCorrector.settled waits for a connected member\'s first sample, and no longer once no member is connected', async t => {
  const logger = createLogger({ level: 'error', format: 'json', destination: new Writable({ write (_chunk: Buffer, _enc, cb) { cb() } }) })
  const c = new ClockCorrector({ logger, offsets: new ClockOffsets() })
  let connected = ['a']
  const t0 = Date.now()
  const done = c.settled(() => connected, AbortSignal.timeout(10_000)).then(() => Date.now() - t0)
  await new Promise(resolve => setTimeout(resolve, 300))
  connected = [] // a refused us and hung up: nothing left to wait for
  const waited = await done
  t.true(waited >= 300 && waited < 1000, `waited ${waited} ms`)
})

test('CorrectedClock: strictly increasing, except one step back when a correction moves it back', t => {
  const clock = new CorrectedClock()
  const a = clock.now()
  const b = clock.now()
  t.true(b.isAfter(a))
  clock.correct(-60_000)
  const c = clock.now()
  t.true(c.isBefore(b.plusMillis(-59_000)))
  t.true(clock.now().isAfter(c))
})

test('probe framing: timed frames are 28 bytes, bare seqs 4, however the stream splits them', t => {
  const f = new Framer()
  const probe = encodeProbe(7, 1234.5, { offsetMs: -60_000, rttMs: 2 })
  const bare = new Uint8Array([0, 0, 0, 9])
  const all = new Uint8Array([...probe, ...bare, ...probe])
  const frames = [...f.push(all.subarray(0, 3)), ...f.push(all.subarray(3, 30)), ...f.push(all.subarray(30))]
  t.deepEqual(frames.map(v => v.byteLength), [28, 4, 28])
  t.is(frames[0].getUint32(0) & 0x7fffffff, 7)
  t.is(frames[0].getFloat64(4), 1234.5)
  t.is(frames[0].getFloat64(12), -60_000)
  t.is(frames[1].getUint32(0), 9)
})
