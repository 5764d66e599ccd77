// The API's write guard hook: one middleware given to createApp runs before every route
// that changes state (drain, undrain) and before none of the read routes.
import test from 'ava'
import http from 'node:http'
import type net from 'node:net'
import type Koa from 'koa'
import { createApp } from '../../../src/api/app.ts'
import { EventHub } from '../../../src/api/events.ts'
import { Catalog } from '../../../src/catalog/index.ts'
import { silentLogger } from '../../../src/lib/logger.ts'
import { Metrics } from '../../../src/lib/metrics.ts'
import { makeCatalogOptions, makeTestService } from '../../helpers/factories.ts'
import { FakeClock } from '../../helpers/fake-clock.ts'

test('createApp: the write guard runs before drain and undrain, and only there', async t => {
  const clock = new FakeClock()
  const catalog = new Catalog({ clock }, makeCatalogOptions({ hostname: 'host1' }))
  const svc = makeTestService({ Hostname: 'host1' })
  catalog.merge(svc)
  const logger = silentLogger()
  const metrics = new Metrics({ defaultMetrics: false })
  const hub = new EventHub({ catalog, members: () => [], logger, metrics }, { bufferSize: 10, heartbeatIntervalMs: 60_000 })
  const drained: string[] = []
  const guarded: string[] = []
  const writeGuard: Koa.Middleware = async (ctx, next) => {
    guarded.push(`${ctx.method} ${ctx.path}`)
    if (ctx.get('x-allow') !== 'yes') { ctx.status = 403; ctx.body = { message: 'forbidden', status: 'error' }; return }
    await next()
  }
  const app = createApp({
    catalog, logger, members: () => [], discoveryErrors: () => ({}), startedAt: Date.now(), hub, metrics, clock, streamQueueBytes: 1 << 20,
    drainer: { drain: (id) => { drained.push(id); return catalog.get('host1', id) }, undrain: (id) => catalog.get('host1', id), isDrained: () => false },
    check: () => undefined,
    lifespans: { aliveLifespanMs: 80_000, drainingLifespanMs: 600_000, tombstoneLifespanMs: 10_800_000 },
    writeGuard,
  })
  const server = http.createServer(app.callback())
  await new Promise<void>(resolve => server.listen(0, '127.0.10.8', resolve))
  t.teardown(() => { server.close(); server.closeAllConnections() })
  const base = `http://127.0.10.8:${(server.address() as net.AddressInfo).port}`

  t.is((await fetch(`${base}/api/services/${svc.ID}/drain`, { method: 'POST' })).status, 403)
  t.deepEqual(drained, [], 'the handler never ran')
  t.is((await fetch(`${base}/api/services/${svc.ID}/undrain`, { method: 'POST' })).status, 403)
  t.is((await fetch(`${base}/api/services/${svc.ID}/drain`, { method: 'POST', headers: { 'x-allow': 'yes' } })).status, 202)
  t.deepEqual(drained, [svc.ID])
  for (const path of ['/api/services.json', '/api/state.json', '/health', '/api/services/web.json', '/metrics']) t.is((await fetch(`${base}${path}`)).status, 200, path)
  t.deepEqual(guarded, [`POST /api/services/${svc.ID}/drain`, `POST /api/services/${svc.ID}/undrain`, `POST /api/services/${svc.ID}/drain`])
})
