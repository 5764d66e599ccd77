// Webhook listener figures (prints, never fails): what a catalog change costs with
// listeners attached, change-to-receiver latency, and memory kept by a burst to a slow
// receiver. In-process catalog + Listeners, real HTTP receivers on 127.0.0.1.
// Run: node --expose-gc bench/listeners.bench.ts
import { EventEmitter } from 'node:events'
import { performance } from 'node:perf_hooks'
import { Catalog } from '../src/catalog/index.ts'
import { Listeners, type ListenersInit } from '../src/listeners/index.ts'
import { systemClock } from '../src/service/clock.ts'
import { silentLogger } from '../src/lib/logger.ts'
import { Metrics } from '../src/lib/metrics.ts'
import { makeService, ServiceStatus, type Service } from '../src/service/index.ts'
import { startReceiver, type Receiver } from '../test/helpers/receiver.ts'

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})

function service (i: number, status: ServiceStatus): Service {
  return makeService({ ID: `id${i}`, Name: `svc${i % 50}`, Image: 'img:1', Hostname: 'host1', Ports: [{ Type: 'tcp', Port: 10_000 + i, ServicePort: 8000, IP: '10.0.0.1' }], Updated: systemClock.now(), ProxyMode: 'http', Status: status })
}

async function setup (services: number, urls: string[], init: Partial<ListenersInit> = {}): Promise<{ catalog: Catalog, listeners: Listeners }> {
  const catalog = new Catalog({ clock: systemClock }, { hostname: 'host1', clusterName: 'bench', aliveLifespanMs: 80_000, drainingLifespanMs: 600_000, tombstoneLifespanMs: 10_800_000 })
  for (let i = 0; i < services; i++) catalog.merge(service(i, ServiceStatus.ALIVE))
  const listeners = new Listeners({ catalog, logger: silentLogger(), metrics: new Metrics({ defaultMetrics: false }), clock: systemClock, local: Object.assign(new EventEmitter<{ change: [] }>(), { listenerTargets: () => [] }) }, {
    hostname: 'host1', urls, webhooks: [], secret: '', timeoutMs: 3000, retries: 5, retryDelayMs: 100, queueSize: 100, minIntervalMs: 0, ...init,
  })
  await listeners.start()
  return { catalog, listeners }
}

let next = 0
/** n status changes, round robin over the services, each flipping ALIVE <-> UNHEALTHY. */
function flip (catalog: Catalog, n: number, services: number): void {
  for (let k = 0; k < n; k++) {
    const i = next++ % services
    const alive = catalog.get('host1', `id${i}`)?.Status === ServiceStatus.ALIVE
    catalog.merge(service(i, alive ? ServiceStatus.UNHEALTHY : ServiceStatus.ALIVE))
  }
}

const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]
const mib = (b: number): string => `${(b / 1024 / 1024).toFixed(1)} MiB`

async function dispatchCost (services: number, receiver: Receiver): Promise<void> {
  const CHANGES = 1000
  for (const listenerCount of [0, 1, 3]) {
    const { catalog, listeners } = await setup(services, Array.from({ length: listenerCount }, (_, i) => receiver.url(`/${i}`)))
    flip(catalog, 200, services) // warm-up
    const t0 = performance.now()
    flip(catalog, CHANGES, services)
    const us = (performance.now() - t0) * 1000 / CHANGES
    await listeners.stop()
    console.log(`  catalog of ${services} services, ${listenerCount} listener(s): ${us.toFixed(1)} µs per change (merge + queueing)`)
  }
}

async function latency (services: number, receiver: Receiver): Promise<void> {
  const { catalog, listeners } = await setup(services, [receiver.url()])
  const times: number[] = []
  for (let k = 0; k < 200; k++) {
    const before = receiver.requests.length
    const t0 = performance.now()
    flip(catalog, 1, services)
    while (receiver.requests.length === before) await new Promise(resolve => setImmediate(resolve))
    times.push(performance.now() - t0)
  }
  await listeners.stop()
  const body = receiver.requests.at(-1)?.raw.length ?? 0
  console.log(`  catalog of ${services} services (body ${(body / 1024).toFixed(0)} KiB): change -> receiver p50 ${pct(times, 0.5).toFixed(2)} ms, p99 ${pct(times, 0.99).toFixed(2)} ms`)
}

/** 1000 changes to a slow receiver: in one catalog operation (a reload), or one per event-loop turn (health checks). */
async function burstMemory (services: number, slow: Receiver, queueSize: number, perTurn: boolean): Promise<void> {
  const { catalog, listeners } = await setup(services, [slow.url()], { queueSize })
  gc()
  const before = process.memoryUsage()
  const t0 = performance.now()
  if (perTurn) {
    for (let k = 0; k < 1000; k++) { flip(catalog, 1, services); await new Promise(resolve => setImmediate(resolve)) }
  } else {
    flip(catalog, 1000, services)
  }
  const dispatchMs = performance.now() - t0
  gc()
  const during = process.memoryUsage()
  const view = (): ReturnType<Listeners['list']>[number] => listeners.list()[0]
  while (listeners.backlog > 0 || view().queueDepth > 0 || view().sending !== null) await new Promise(resolve => setTimeout(resolve, 20))
  const drainMs = performance.now() - t0
  const v = view()
  await listeners.stop()
  console.log(`  ${services} services, queue ${queueSize}, ${perTurn ? 'one change per turn' : 'one operation'}: changes made in ${dispatchMs.toFixed(0)} ms; ` +
    `heap kept +${mib(during.heapUsed - before.heapUsed)}, buffers +${mib(during.arrayBuffers - before.arrayBuffers)}; ${v.delivered} POSTs, ${v.coalesced} coalesced, drained after ${drainMs.toFixed(0)} ms`)
}

const fast = await startReceiver()
const slow = await startReceiver()
slow.respond = async (_q, _req, res) => { await new Promise(resolve => setTimeout(resolve, 20)); res.end() }
try {
  console.log('dispatch cost (inside catalog.merge):')
  for (const n of [10, 500, 2000]) await dispatchCost(n, fast)
  console.log('delivery latency, one listener, sequential changes:')
  for (const n of [10, 500]) await latency(n, fast)
  console.log('burst of 1000 changes to a receiver answering in 20 ms (run with --expose-gc for heap figures):')
  for (const [n, q] of [[500, 20], [500, 100], [2000, 100]]) {
    await burstMemory(n, slow, q, false)
    await burstMemory(n, slow, q, true)
  }
} finally {
  await fast.close()
  await slow.close()
}
