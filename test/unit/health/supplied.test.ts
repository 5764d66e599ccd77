// The health monitor with a check kind whose verdict another component supplies.
import test from 'ava'
import { EventEmitter } from 'node:events'
import type { CheckResult } from '../../../src/health/checks.ts'
import { HealthMonitor } from '../../../src/health/monitor.ts'
import type { SuppliedCheckSource } from '../../../src/health/supplied.ts'
import { silentLogger } from '../../../src/lib/logger.ts'
import { ServiceStatus } from '../../../src/service/status.ts'
import { FakeClock } from '../../helpers/fake-clock.ts'
import { makeTestService } from '../../helpers/factories.ts'
import { waitFor } from '../../helpers/wait.ts'

class FakeSource extends EventEmitter<{ update: [args: string] }> implements SuppliedCheckSource {
  readonly type = 'Fake'
  verdicts = new Map<string, CheckResult | undefined>()
  reads = 0
  result (args: string): CheckResult | undefined { this.reads++; return this.verdicts.get(args) }
  set (args: string, v: CheckResult | undefined): void { this.verdicts.set(args, v); this.emit('update', args) }
}

function setup (t: { teardown: (fn: () => Promise<void>) => void }, intervalMs = 60_000): { monitor: HealthMonitor, source: FakeSource } {
  const source = new FakeSource()
  const monitor = new HealthMonitor({ logger: silentLogger(), clock: new FakeClock(), supplied: [source] }, {
    intervalMs, timeoutMs: 1000, rise: 1, fall: 1,
  })
  t.teardown(async () => { await monitor.stop() })
  return { monitor, source }
}

const svc = makeTestService({ ID: 'c0ffee000001' })

test('supplied check: no verdict leaves the service UNKNOWN; a verdict is applied as soon as the source reports it', async t => {
  const { monitor, source } = setup(t) // a one-minute interval: only the update can explain a quick change
  await monitor.start()
  monitor.sync([{ key: svc.ID, id: svc.ID, type: 'Fake', args: 'c0ffee000001' }])
  await waitFor(() => source.reads > 0, { timeoutMs: 2000, message: 'first read' })
  t.is(monitor.status(svc.ID), ServiceStatus.UNKNOWN)
  source.set('c0ffee000001', { ok: true })
  await waitFor(() => monitor.status(svc.ID) === ServiceStatus.ALIVE, { timeoutMs: 2000, message: 'ALIVE after the update' })
  source.set('c0ffee000001', { ok: false, error: 'Docker reports the container unhealthy' })
  await waitFor(() => monitor.status(svc.ID) === ServiceStatus.UNHEALTHY, { timeoutMs: 2000, message: 'UNHEALTHY after the update' })
  t.is(monitor.check(svc.ID)?.lastResult?.error, 'Docker reports the container unhealthy')
  t.is(monitor.check(svc.ID)?.type, 'Fake')
})

test('supplied check: updates for other args do not re-run this check', async t => {
  const { monitor, source } = setup(t)
  await monitor.start()
  monitor.sync([{ key: svc.ID, id: svc.ID, type: 'Fake', args: 'c0ffee000001' }])
  await waitFor(() => source.reads > 0, { timeoutMs: 2000, message: 'first read' })
  const before = source.reads
  source.set('someone-else', { ok: true })
  await new Promise(resolve => setTimeout(resolve, 100))
  t.is(source.reads, before)
})

test('supplied check: the other check kinds are unchanged, and an unknown kind still cannot run', t => {
  const { monitor } = setup(t)
  monitor.sync([
    { key: 'a00000000001', id: 'a00000000001', type: 'AlwaysSuccessful', args: '' },
    { key: 'a00000000002', id: 'a00000000002', type: 'Docker', args: 'x' },
  ])
  t.is(monitor.check('a00000000001')?.lastResult, undefined)
  t.regex(monitor.check('a00000000002')?.lastResult?.error ?? '', /unknown health check type "Docker"/)
})

class ProbeSource extends EventEmitter<{ update: [args: string] }> implements SuppliedCheckSource {
  readonly type = 'Probe'
  readonly seen: string[] = []
  result (): CheckResult | undefined { throw new Error('result() must not be called when probe() exists') }
  async probe (args: string, signal: AbortSignal): Promise<CheckResult> {
    this.seen.push(args)
    if (args === 'slow') return await new Promise(resolve => { signal.addEventListener('abort', () => { resolve({ ok: false, error: 'timed out' }) }, { once: true }) })
    return args === 'good' ? { ok: true } : { ok: false, error: `bad ${args}` }
  }
}

test('supplied check with probe(): run at each interval with the check timeout, its result applied', async t => {
  const source = new ProbeSource()
  const monitor = new HealthMonitor({ logger: silentLogger(), clock: new FakeClock(), supplied: [source] }, {
    intervalMs: 60_000, timeoutMs: 200, rise: 1, fall: 1,
  })
  t.teardown(async () => { await monitor.stop() })
  await monitor.start()
  const good = makeTestService({ ID: 'a00000000001' })
  const slow = makeTestService({ ID: 'a00000000002' })
  monitor.sync([{ key: good.ID, id: good.ID, type: 'Probe', args: 'good' }, { key: slow.ID, id: slow.ID, type: 'Probe', args: 'slow' }])
  await waitFor(() => monitor.status(good.ID) === ServiceStatus.ALIVE, { timeoutMs: 2000, message: 'good ALIVE' })
  await waitFor(() => monitor.status(slow.ID) === ServiceStatus.UNHEALTHY, { timeoutMs: 2000, message: 'slow UNHEALTHY after the 200 ms timeout' })
  t.is(monitor.check(slow.ID)?.lastResult?.error, 'timed out')
})

test('a check that ignores its abort still ends: UNHEALTHY with a timeout error soon after its timeout, and stop() does not wait for it', async t => {
  class Stuck extends EventEmitter<{ update: [args: string] }> implements SuppliedCheckSource {
    readonly type = 'Stuck'
    probes = 0
    result (): CheckResult | undefined { return undefined }
    async probe (): Promise<CheckResult> { this.probes++; return await new Promise<CheckResult>(() => {}) } // never settles, whatever the signal says
  }
  const source = new Stuck()
  const monitor = new HealthMonitor({ logger: silentLogger(), clock: new FakeClock(), supplied: [source] }, { intervalMs: 60_000, timeoutMs: 200, rise: 1, fall: 1 })
  await monitor.start()
  monitor.sync([{ key: svc.ID, id: svc.ID, type: 'Stuck', args: 'x' }])
  await waitFor(() => monitor.status(svc.ID) === ServiceStatus.UNHEALTHY, { timeoutMs: 4000, message: 'UNHEALTHY once the stuck check is past its timeout' })
  t.regex(monitor.check(svc.ID)?.lastResult?.error ?? '', /^timed out/)
  monitor.sync([{ key: svc.ID, id: svc.ID, type: 'Stuck', args: 'y' }]) // replaced while its next run is stuck
  await waitFor(() => source.probes >= 2, { timeoutMs: 2000, message: 'the replacement check ran' })
  const stopped = await Promise.race([monitor.stop().then(() => 'stopped'), new Promise(resolve => setTimeout(() => { resolve('hung') }, 4000).unref())])
  t.is(stopped, 'stopped')
})

test('supplied check: while the source has no verdict, the check says why (waiting); a verdict clears it', async t => {
  class Pending extends FakeSource {
    pending (args: string): string | undefined { return this.verdicts.get(args) === undefined ? `no verdict for ${args} yet` : undefined }
  }
  const source = new Pending()
  const monitor = new HealthMonitor({ logger: silentLogger(), clock: new FakeClock(), supplied: [source] }, { intervalMs: 60_000, timeoutMs: 1000, rise: 1, fall: 1 })
  t.teardown(async () => { await monitor.stop() })
  await monitor.start()
  monitor.sync([{ key: svc.ID, id: svc.ID, type: 'Fake', args: 'c0ffee000001' }])
  await waitFor(() => monitor.check(svc.ID)?.waiting, { timeoutMs: 2000, message: 'the check says why it waits' })
  t.is(monitor.check(svc.ID)?.waiting, 'no verdict for c0ffee000001 yet')
  t.is(monitor.status(svc.ID), ServiceStatus.UNKNOWN)
  source.set('c0ffee000001', { ok: true })
  await waitFor(() => monitor.status(svc.ID) === ServiceStatus.ALIVE, { timeoutMs: 2000, message: 'ALIVE after the verdict' })
  t.is(monitor.check(svc.ID)?.waiting, undefined)
})
