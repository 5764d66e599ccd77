// /metrics against what a hostile member can make: one real daemon (alpha, 127.0.38.1) and a
// rogue member (127.0.38.9, test/helpers/rogue.ts) that publishes signed records of its own host.
// Phases, each followed by a line of figures (the /metrics size and series, the scrape's time,
// the daemon's longest event-loop stall at 1 ms resolution over the phase, its heap after a full
// collection and its resident memory):
//   names:  N records with hostile names (253 characters, quotes, backslashes, newlines, NUL,
//           lone surrogates) and no service port
//   ports:  the same records, each on a ServicePort of its own (the proxy opens at most
//           [proxy] max_listeners of them)
//   churn:  every record renamed every second, for CHURN_S seconds
//   depart: the rogue stops; its records are tombstoned when it departs
// Prints figures, asserts nothing; `promtool check metrics` is run on the largest page.
//   node bench/metrics-hostile.ts [records] [churn seconds]     (default: 10000, 60)
import { readFileSync } from 'node:fs'
import http from 'node:http'
import type { ExecutionContext } from 'ava'
import { encodeRecords, KIND, WIRE_LIMITS } from '../src/gossip/wire.ts'
import { makeService, ServiceStatus, Time, type Service } from '../src/service/index.ts'
import { makeCluster, startAll } from '../test/helpers/cluster.ts'
import { promtool } from '../test/helpers/promtool.ts'
import { startRogue, type Rogue } from '../test/helpers/rogue.ts'
import { describeStall, StallMeter } from '../test/helpers/stall-meter.ts'
import { sleep, waitFor } from '../test/helpers/wait.ts'

const N = Number(process.argv[2] ?? 10_000)
const CHURN_S = Number(process.argv[3] ?? 60)
/** Records renamed each second (those past [proxy] max_listeners wait for a listener and add no series). */
const CHURN_N = Number(process.argv[4] ?? 3000)
/** Ports that two of the rogue's names claim at once (a conflict, logged once when it appears). */
const CONFLICTS = Number(process.argv[5] ?? 1000)
const NET = '127.0.38.'
const ALPHA = `${NET}1`
const ROGUE = `${NET}9`
const FIRST_PORT = 30_000
const BACKEND_PORT = 18_999
const load = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')

const teardowns: Array<() => unknown> = []
const t = { teardown: (fn: () => unknown) => { teardowns.push(fn) }, log: console.log } as unknown as ExecutionContext

/** A 253-character name with everything the exposition must escape or survive, unique by i and round. */
function hostileName (i: number, round: number): string {
  const head = `x"\\\n\u0000\ud800}{,=#${round}-${i}-\udc00é`
  return head + 'n'.repeat(253 - head.length)
}

const meter = new StallMeter('metrics-hostile')
const [alpha] = await makeCluster(t, [{ ip: ALPHA, hostname: 'alpha', args: ['-n', 'auditm', '-c', ALPHA], env: { SIDECAR_LOGGING_LEVEL: 'warn', ...meter.env(`--inspect=${ALPHA}:0`) }, inspector: true }])
const backend = http.createServer((_req, res) => { res.end('ok') })
await new Promise<void>(resolve => backend.listen(BACKEND_PORT, ROGUE, resolve))
teardowns.push(() => { backend.close() })

async function scrape (): Promise<{ text: string, ms: number }> {
  const t0 = performance.now()
  const text = await (await fetch(alpha.d.url('/metrics'), { signal: AbortSignal.timeout(120_000) })).text()
  return { text, ms: performance.now() - t0 }
}

function gauge (text: string, name: string): number {
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN)
}

async function figures (phase: string): Promise<string> {
  await alpha.d.collectGarbage()
  await meter.read() // a window for the scrape alone
  const { text, ms } = await scrape()
  const stall = await meter.read()
  const after = (await scrape()).text
  const lines = text.split('\n').filter(l => l !== '' && !l.startsWith('#'))
  const proxy = lines.filter(l => l.startsWith('sidecar_proxy_') && l.includes('service=')).length
  const line = `${phase}: /metrics ${(Buffer.byteLength(text) / 1e6).toFixed(2)} MB, ${lines.length} series (${proxy} of proxy listeners); scrape ${ms.toFixed(0)} ms, stall during it ${describeStall(stall)}; gauge ${(1000 * gauge(after, 'sidecar_event_loop_delay_max_seconds')).toFixed(0)} ms; heap used ${(gauge(text, 'sidecar_nodejs_heap_size_used_bytes') / 1e6).toFixed(1)} MB, rss ${(gauge(text, 'sidecar_process_resident_memory_bytes') / 1e6).toFixed(0)} MB; load ${load()}`
  console.log(line)
  return text
}


async function publish (rogue: Rogue, records: Service[]): Promise<void> {
  const sealed = records.map(r => rogue.sign(r))
  for (const m of encodeRecords(sealed, KIND.records, WIRE_LIMITS.maxMessageBytes)) await rogue.publish(m)
}

function records (round: number, withPorts: boolean): Service[] {
  const now = Time.fromMillis(Date.now())
  return Array.from({ length: N }, (_, i) => makeService({
    ID: `r${i}`,
    Name: hostileName(i, round),
    Image: 'x:1',
    Hostname: 'rogue',
    Created: Time.fromMillis(Date.now() - 1000),
    Updated: now,
    Status: ServiceStatus.ALIVE,
    Ports: withPorts ? [{ Type: 'tcp', Port: BACKEND_PORT, ServicePort: FIRST_PORT + i, IP: ROGUE }] : [],
  }))
}

async function rogueRecords (): Promise<number> {
  const s = await alpha.state()
  return Object.keys(s.Servers.rogue?.Services ?? {}).length
}

async function listeners (): Promise<number> {
  try {
    return (await (await fetch(alpha.d.url('/api/proxy.json'), { signal: AbortSignal.timeout(60_000) })).json() as { listeners: unknown[] }).listeners.length
  } catch {
    return NaN
  }
}

try {
  await startAll([alpha])
  meter.start(alpha.d.child.pid as number)
  console.log(`node ${process.version}, ${N} records, churn ${CHURN_S} s, load ${load()}`)
  await figures('baseline')
  const rogue = await startRogue(t, { ip: ROGUE, hostname: 'rogue', clusterName: 'auditm' })
  await rogue.join(ALPHA)
  await waitFor(async () => (await alpha.d.json<{ ClusterMembers?: Record<string, unknown> }>('/services.json')).ClusterMembers?.rogue !== undefined, { timeoutMs: 15_000, message: 'the rogue is a member' })

  await publish(rogue, records(0, false))
  await waitFor(async () => await rogueRecords() === N, { timeoutMs: 60_000, message: `alpha holds the rogue's ${N} records` })
  await figures('names')

  let round = 1
  await publish(rogue, records(round, true))
  await waitFor(async () => (await alpha.d.json<{ listeners: Array<{ service: string }> }>('/api/proxy.json')).listeners.filter(l => l.service.includes(`#${round}-`)).length >= Math.min(N, 100), { timeoutMs: 60_000, message: 'listeners opened' })
  await sleep(3000)
  console.log(`listeners open: ${await listeners()}`)
  const big = await figures('ports')
  const checked = await promtool(big)
  console.log(`promtool: exit ${checked.code}: ${checked.output.trim().slice(0, 2000)}`)
  {
    await meter.read()
    const t1 = performance.now()
    const sizes = await Promise.all(Array.from({ length: 8 }, async () => (await scrape()).text.length))
    const stall = await meter.read()
    const text = (await scrape()).text
    console.log(`8 scrapes at once: ${(performance.now() - t1).toFixed(0)} ms for all, ${(sizes[0] / 1e6).toFixed(1)} MB each, stall ${describeStall(stall)}, rss after ${(gauge(text, 'sidecar_process_resident_memory_bytes') / 1e6).toFixed(0)} MB`)
  }

  const t0 = Date.now()
  while (Date.now() - t0 < CHURN_S * 1000) {
    const r0 = Date.now()
    round++
    await publish(rogue, records(round, true).slice(0, CHURN_N))
    if (round % 10 === 0) console.log(`churn round ${round}: ${(Date.now() - r0)} ms to publish, ${await listeners()} listeners`)
    await sleep(Math.max(0, 1000 - (Date.now() - r0)))
  }
  await sleep(12_000) // drain_grace (10 s) for the last ones closed
  const churned = await figures(`churn (${round} rounds)`)
  const stale = churned.split('\n').filter(l => l.startsWith('sidecar_proxy_') && l.includes('=#') && !l.includes(`=#${round}-`)).length
  console.log(`series of names from earlier rounds still in /metrics: ${stale}; listeners open: ${await listeners()}`)

  // two names on each of CONFLICTS ports (a port conflict), both renamed every second
  const conflictRecords = (r: number): Service[] => {
    const now = Time.fromMillis(Date.now())
    return Array.from({ length: 2 * CONFLICTS }, (_, i) => makeService({
      ID: `c${i}`, Name: hostileName(i, r), Image: 'x:1', Hostname: 'rogue', Created: Time.fromMillis(Date.now() - 1000 - (i % 2) * 1000), Updated: now, Status: ServiceStatus.ALIVE,
      Ports: [{ Type: 'tcp', Port: BACKEND_PORT, ServicePort: 50_000 + Math.floor(i / 2), IP: ROGUE }],
    }))
  }
  await publish(rogue, conflictRecords(1000))
  await sleep(3000)
  await figures('conflicts')
  const c0 = Date.now()
  let cr = 1000
  while (Date.now() - c0 < CHURN_S * 500) {
    const r0 = Date.now()
    await publish(rogue, conflictRecords(++cr))
    await sleep(Math.max(0, 1000 - (Date.now() - r0)))
  }
  await sleep(3000)
  await figures(`conflicts renamed (${cr - 1000} rounds)`)

  await rogue.node.stop()
  await waitFor(async () => await listeners() === 0, { timeoutMs: 60_000, message: 'the rogue\'s listeners closed after it left' })
  await sleep(2000)
  const gone = await figures('departed')
  console.log(`proxy series left: ${gone.split('\n').filter(l => l.startsWith('sidecar_proxy_') && l.includes('service=')).length}`)
} finally {
  for (const fn of teardowns.reverse()) await fn()
  await meter.close()
}
