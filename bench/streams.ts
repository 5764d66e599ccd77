// Event stream fan-out: how long a change takes to reach every SSE client, and what each
// client costs the daemon. One real daemon on 127.0.4.11; changes are drain/undrain requests
// (one event each); clients are fetch + eventsource-parser readers in this process.
// Bounded: at most 500 clients and 40 changes per round. Prints figures, asserts nothing.
//   node bench/streams.ts [clients...]      (default: 1 50 200 500)
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { startDaemon } from '../test/helpers/daemon.ts'
import { rssKb } from '../test/helpers/proc.ts'
import { SseReader } from '../test/helpers/streams.ts'
import { sleep, waitFor } from '../test/helpers/wait.ts'

const CHANGES = 40
const counts = process.argv.slice(2).map(Number).filter(n => n > 0 && n <= 500)

function percentile (sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]
}

const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-bench-streams-'))
const file = path.join(dir, 'static.json')
await writeFile(file, JSON.stringify([{ Service: { Name: 'web', Image: 'nginx:1.27', Ports: [{ Port: 9000, ServicePort: 8000 }] }, Check: { Type: 'AlwaysSuccessful' } }]))
const d = await startDaemon({ ip: '127.0.4.11', hostname: 'bench-streams', cwd: dir, args: ['-d', 'static'], env: { STATIC_CONFIG_FILE: file, SIDECAR_LOGGING_LEVEL: 'warn' } })
const rss = (): number => rssKb(d.child.pid) / 1024
try {
  const id = await waitFor(async () => (await d.json<{ Services: Record<string, Array<{ ID: string, Status: number }>> }>('/api/services.json')).Services.web?.find(s => s.Status === 0)?.ID, { message: 'web ALIVE' })
  console.log(`node ${process.version}, ${os.cpus().length} cores; ${CHANGES} changes per round, 50 ms apart; latency = POST sent -> event parsed at a client`)
  console.log('clients | latency p50 / p99 / max (ms) | all clients had the change (p50 / max ms) | daemon RSS before -> with clients (MiB)')
  for (const n of counts.length > 0 ? counts : [1, 50, 200, 500]) {
    const before = rss()
    const arrivals: number[][] = Array.from({ length: n }, () => [])
    const clients = Array.from({ length: n }, (_, ci) => new SseReader(d.url('/api/events'), {
      onEvent: (e) => { if (e.event === 'service-changed') arrivals[ci].push(performance.now()) },
    }))
    await waitFor(() => clients.every(c => c.events.length > 0), { timeoutMs: 60_000, message: `${n} snapshots` })
    const withClients = rss()
    const sentAt: number[] = []
    for (let i = 0; i < CHANGES; i++) {
      sentAt.push(performance.now())
      await (await fetch(d.url(`/api/services/${id}/${i % 2 === 0 ? 'drain' : 'undrain'}`), { method: 'POST' })).arrayBuffer()
      await sleep(50)
    }
    await waitFor(() => arrivals.every(a => a.length >= CHANGES), { timeoutMs: 60_000, message: 'every event at every client' })
    const latencies = arrivals.flatMap(a => a.slice(0, CHANGES).map((t, i) => t - sentAt[i])).sort((x, y) => x - y)
    const allHad = sentAt.map((s, i) => Math.max(...arrivals.map(a => a[i])) - s).sort((x, y) => x - y)
    console.log(`${String(n).padStart(7)} | ${percentile(latencies, 0.5).toFixed(1)} / ${percentile(latencies, 0.99).toFixed(1)} / ${latencies.at(-1)?.toFixed(1)} | ${percentile(allHad, 0.5).toFixed(1)} / ${allHad.at(-1)?.toFixed(1)} | ${before.toFixed(0)} -> ${withClients.toFixed(0)} (${((withClients - before) * 1024 / n).toFixed(0)} KiB per client)`)
    for (const c of clients) c.close()
    await sleep(500)
  }
} finally {
  d.kill()
  await rm(dir, { recursive: true, force: true })
}
