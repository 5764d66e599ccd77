/// <reference lib="dom" />
// The web UI with a large catalog, in headless Chromium (/usr/bin/chromium, playwright-core):
// one real daemon (127.0.4.12) with N static services over M names. Prints the time from
// opening the page to every panel drawn, the page's long tasks (over 50 ms: the page cannot
// answer a click or a key meanwhile) while the first snapshot and changes arrive, and then in
// 30 s of steady state (two members events), and how long the filter takes to answer.
// Bounded: every wait has a limit; at most 10,000 services. Prints figures, asserts nothing.
//   node bench/ui.ts [services] [names]      (default: 10000 1000)
import { readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { chromium } from 'playwright-core'
import { startDaemon } from '../test/helpers/daemon.ts'

const n = Math.min(10_000, Math.max(1, Number(process.argv[2] ?? 10_000)))
const names = Math.min(n, Math.max(1, Number(process.argv[3] ?? 1000)))
const load = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')

interface LongTasks { count: number, totalMs: number, maxMs: number }

const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-bench-ui-'))
const file = path.join(dir, 'static.json')
await writeFile(file, JSON.stringify(Array.from({ length: n }, (_, i) => ({
  Service: { ID: `i${i}`, Name: `svc${i % names}`, Image: `img:${i % 3}`, Ports: [{ Type: 'tcp', Port: 20000 + (i % 30000), ServicePort: 0 }] },
  Check: { Type: 'AlwaysSuccessful' },
}))))
console.log(`node ${process.version}, ${os.cpus().length} cores, load average ${load()} (before); ${n} services over ${names} names`)
const d = await startDaemon({ ip: '127.0.4.12', hostname: 'bench-ui', cwd: dir, args: ['-d', 'static'], env: { STATIC_CONFIG_FILE: file, HEALTH_INTERVAL: '3s', SIDECAR_LOGGING_LEVEL: 'warn', PROXY_ENABLED: 'false' } })
const b = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'] })
try {
  const page = await b.newPage()
  await page.addInitScript(() => {
    const w = window as unknown as { longTasks: number[] }
    w.longTasks = []
    new PerformanceObserver(list => { for (const e of list.getEntries()) w.longTasks.push(e.duration) }).observe({ type: 'longtask', buffered: true })
  })
  const takeLongTasks = async (): Promise<LongTasks> => await page.evaluate(() => {
    const w = window as unknown as { longTasks: number[] }
    const l = w.longTasks
    w.longTasks = []
    return { count: l.length, totalMs: Math.round(l.reduce((a, x) => a + x, 0)), maxMs: Math.round(Math.max(0, ...l)) }
  })
  const show = (l: LongTasks): string => `${l.count} long tasks, ${l.totalMs} ms in all, longest ${l.maxMs} ms`
  const t0 = performance.now()
  await page.goto(d.url('/'))
  await page.waitForFunction((m) => document.querySelectorAll('section.service').length === m && document.querySelector('.badge.s-unknown') === null, names, { timeout: 120_000, polling: 100 })
  console.log(`page opened -> all ${names} panels drawn, every instance Alive: ${Math.round(performance.now() - t0)} ms`)
  await page.waitForTimeout(2000)
  console.log(`meanwhile (and 2 s more): ${show(await takeLongTasks())}`)
  await page.waitForTimeout(30_000)
  console.log(`the next 30 s (members events every 15 s): ${show(await takeLongTasks())}`)
  const t1 = performance.now()
  await page.locator('#filter').fill('svc7')
  await page.waitForFunction((m) => document.querySelectorAll('section.service').length < m, names, { timeout: 60_000, polling: 20 })
  console.log(`filter "svc7" answered in ${Math.round(performance.now() - t1)} ms (${await page.locator('section.service').count()} panels); ${show(await takeLongTasks())}`)
} finally {
  await b.close()
  d.kill()
  await rm(dir, { recursive: true, force: true })
  console.log(`load average ${load()} (after)`)
}
