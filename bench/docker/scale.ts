// Docker discovery at scale, against the test dockerd (sudo bash test/helpers/docker-setup.sh
// start): N containers (default 200, at most 240: the test bridge is a /24), each one service
// with a published port and an HttpGet or TcpConnect check, and real daemons on 127.0.48.10.
// Prints figures; never fails on time.
//   node_modules/.bin/node bench/docker/scale.ts [containers] [window seconds] [check interval]
//
//   1. a daemon running while the containers start: last start -> all ALIVE;
//      a daemon started after they all run: spawn -> all ALIVE
//   2. idle, nothing changing: the daemon's CPU and longest event-loop stall, and dockerd's CPU
//      (dockerd and its containerd) with the daemon running and with it stopped
//   3. churn: CHURN containers stopped and CHURN started at once: every change reflected, no
//      record lost (a running container not ALIVE) and no ghost (a stopped one still ALIVE)
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import type Docker from 'dockerode'
import type { DaemonProcess } from '../../test/helpers/daemon.ts'
import { startDockerDaemon, STATUS, type ServicesJson } from '../../test/helpers/docker-daemon.ts'
import { runContainer, testDocker, type TestContainer } from '../../test/helpers/docker.ts'
import { describeStall, StallMeter } from '../../test/helpers/stall-meter.ts'
import { sleep, waitFor } from '../../test/helpers/wait.ts'

const N = Math.min(Math.max(Number(process.argv[2] ?? 200), 1), 240) // bounded: the bridge is a /24
const WINDOW_S = Math.min(Math.max(Number(process.argv[3] ?? 30), 5), 120)
const CHURN = Math.min(50, Math.floor(N / 4))
const CHECK_INTERVAL = process.argv[4] ?? '1s' // the tests' 1 s by default; the daemon's default is 3 s
const IP = '127.0.48.10'
const START_CONCURRENCY = 4
const SOCKET_DIR = process.env.SIDECAR_TEST_DOCKER_DIR ?? '/run/sidecar-test-docker'

const docker = await testDocker()
if (!docker.ok) {
  console.log(`skipped: ${docker.reason}`)
  process.exit(0)
}
const dk = docker.docker
const dockerdPid = Number(readFileSync(path.join(SOCKET_DIR, 'dockerd.pid'), 'utf8'))

/** CPU seconds (user + system) of a process; with children: its direct children too (dockerd's containerd). */
function cpuSeconds (pid: number, withChildren = false): number {
  const one = (p: number): number => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8')
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      return (Number(f[11]) + Number(f[12])) / 100
    } catch { return 0 }
  }
  let total = one(pid)
  if (withChildren) {
    for (const t of readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) {
      if (readFileSync(`/proc/${t}/comm`, 'utf8').trim() === 'containerd') total += one(Number(t))
    }
  }
  return total
}

async function cpuOver (pids: Array<{ pid: number, children?: boolean }>, seconds: number): Promise<number[]> {
  const a = pids.map(p => cpuSeconds(p.pid, p.children))
  const t0 = performance.now()
  await sleep(seconds * 1000)
  const dt = (performance.now() - t0) / 1000
  return pids.map((p, i) => (cpuSeconds(p.pid, p.children) - a[i]) / dt * 60) // CPU seconds per minute
}

async function forEachLimited<T> (items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => { while (next < items.length) await fn(items[next++]) }))
}

let serial = 0
async function startOne (): Promise<TestContainer> {
  const i = serial++
  const port = String(10_000 + i % 20) // 20 services of 10 instances, each service its own proxy port
  const check = i % 2 === 0 ? { HealthCheck: 'HttpGet', HealthCheckArgs: `http://{{ host }}:{{ tcp ${port} }}/` } : { HealthCheck: 'TcpConnect', HealthCheckArgs: `{{ host }}:{{ tcp ${port} }}` }
  return await runContainer(dk, { name: `sctest-scale-${i}`, hostIp: IP, labels: { ServiceName: `scale-${i % 20}`, ServicePort_80: port, ...check } })
}

async function states (d: DaemonProcess): Promise<Map<string, number>> {
  const doc = await d.json<ServicesJson>('/services.json')
  const m = new Map<string, number>()
  for (const list of Object.values(doc.Services)) for (const s of list) m.set(s.ID, s.Status)
  return m
}

/** Waits until every running container is ALIVE and every gone one is not; returns ms. */
async function converge (d: DaemonProcess, running: TestContainer[], gone: TestContainer[], what: string, timeoutMs = 120_000): Promise<number> {
  const t0 = Date.now()
  let last = ''
  await waitFor(async () => {
    const m = await states(d)
    const lost = running.filter(c => m.get(c.shortId) !== STATUS.ALIVE).length
    const ghosts = gone.filter(c => m.get(c.shortId) === STATUS.ALIVE).length
    last = `${lost} running not ALIVE, ${ghosts} stopped still ALIVE`
    return lost === 0 && ghosts === 0
  }, { timeoutMs, intervalMs: 100, message: () => `${what}: ${last}\n${d.output.slice(-3000)}` })
  return Date.now() - t0
}

async function metric (d: DaemonProcess, name: string): Promise<number> {
  const text = await (await fetch(d.url('/metrics'))).text()
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN)
}

const others = (await dk.listContainers()).length
const containers: TestContainer[] = []
const dirs: string[] = []
let d: DaemonProcess | undefined
const newDaemon = async (meter?: StallMeter): Promise<DaemonProcess> => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-bench-docker-scale-'))
  dirs.push(dir)
  return await startDockerDaemon({ ip: IP, hostname: 'bench-scale', cwd: dir, dockerUrl: docker.url, env: { SIDECAR_LOGGING_LEVEL: 'info', HEALTH_INTERVAL: CHECK_INTERVAL, ...meter?.env() } })
}
const head = `docker discovery at scale: ${N} containers (${others} other containers running), ${os.cpus().length} CPUs, load average ${os.loadavg()[0].toFixed(1)}, check interval ${CHECK_INTERVAL}, reconcile every 3 s`
const say = (line: string): void => { console.log(line) }
say(head)
try {
  // 1a: a daemon watching while the containers start
  d = await newDaemon()
  const t0 = Date.now()
  await forEachLimited(Array.from({ length: N }), START_CONCURRENCY, async () => { containers.push(await startOne()) })
  const started = Date.now() - t0
  say(`  ${N} containers started (concurrency ${START_CONCURRENCY}) in ${started} ms; last start -> all ALIVE: ${await converge(d, containers, [], 'all ALIVE')} ms`)
  await d.stop()

  // 1b: a daemon started after they all run
  const meter = new StallMeter('docker-scale')
  d = await newDaemon(meter)
  const apiMs = Date.now() - d.spawnedAt
  await converge(d, containers, [], 'all ALIVE after start')
  say(`  daemon spawned after they run -> all ALIVE: ${Date.now() - d.spawnedAt} ms (its API answered after ${apiMs} ms)`)

  // 2: idle
  await sleep(3000)
  const pid = d.child.pid as number
  meter.start(pid)
  await metric(d, 'sidecar_event_loop_delay_max_seconds') // resets its window
  const [daemonCpu, dockerdCpu] = await cpuOver([{ pid }, { pid: dockerdPid, children: true }], WINDOW_S)
  const stalls = await meter.read()
  const gauge = await metric(d, 'sidecar_event_loop_delay_max_seconds')
  say(`  idle ${WINDOW_S} s, daemon running: daemon CPU ${daemonCpu.toFixed(2)} s/min; longest stall ${describeStall(stalls)}, gauge ${(gauge * 1000).toFixed(0)} ms; dockerd+containerd CPU ${dockerdCpu.toFixed(2)} s/min`)

  // 3: churn
  const gone = containers.slice(0, CHURN)
  const kept = containers.slice(CHURN)
  const fresh: TestContainer[] = []
  const t1 = Date.now()
  await meter.read() // a new window
  await Promise.all([
    forEachLimited(gone, 8, async (c) => { await c.stop(0) }),
    forEachLimited(Array.from({ length: CHURN }), START_CONCURRENCY, async () => { const c = await startOne(); fresh.push(c); containers.push(c) }),
  ])
  const churned = Date.now() - t1
  const ms = await converge(d, [...kept, ...fresh], gone, 'churn')
  const churnStalls = await meter.read()
  const m = await states(d)
  const tomb = gone.filter(c => m.get(c.shortId) === STATUS.TOMBSTONE).length
  say(`  churn: ${CHURN} stopped + ${CHURN} started in ${churned} ms; -> reflected ${ms} ms later; ${tomb}/${CHURN} tombstones; longest stall ${describeStall(churnStalls)}`)
  await forEachLimited(gone, 8, async (c) => { await c.remove() })
  containers.splice(0, CHURN)

  // 2b: dockerd without the daemon
  await d.stop()
  await sleep(2000)
  const [dockerdIdle] = await cpuOver([{ pid: dockerdPid, children: true }], WINDOW_S)
  say(`  idle ${WINDOW_S} s, daemon stopped: dockerd+containerd CPU ${dockerdIdle.toFixed(2)} s/min`)

  // one reconcile's cost in dockerd: a full list, and the two health-filtered lists
  const listings: Array<[string, Docker.ContainerListOptions]> = [['list', {}], ['list health=healthy (none is)', { filters: { health: ['healthy'] } }], ['list label=sidecar-test (all match: a health filter all match)', { filters: { label: ['sidecar-test'] } }]]
  for (const [what, opts] of listings) {
    const reps = 30
    const a = cpuSeconds(dockerdPid, true); const t = performance.now()
    let bytes = 0
    for (let i = 0; i < reps; i++) bytes = JSON.stringify(await dk.listContainers(opts)).length
    say(`  one ${what}: dockerd CPU ${((cpuSeconds(dockerdPid, true) - a) / reps * 1000).toFixed(1)} ms, ${((performance.now() - t) / reps).toFixed(1)} ms wall, ${(bytes / 1024).toFixed(0)} KiB`)
  }
  await meter.close()
} finally {
  d?.kill()
  await forEachLimited(containers, 8, async (c) => { await c.remove() })
  const left = await dk.listContainers({ all: true, filters: { name: ['sctest-scale-'], label: [`sidecar-test.pid=${process.pid}`] } })
  await forEachLimited(left, 8, async (c) => { await dk.getContainer(c.Id).remove({ force: true }).catch(() => {}) })
  for (const dir of dirs) await rm(dir, { recursive: true, force: true })
}
