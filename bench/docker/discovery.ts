// How fast Docker discovery follows containers, against the test dockerd
// (sudo bash test/helpers/docker-setup.sh start): a real daemon on 127.0.2.16, ROUNDS
// containers started and killed one after another. Prints figures; never fails on time.
//   node_modules/.bin/node bench/docker/discovery.ts [rounds]   (Node 24: type stripping)
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { startDockerDaemon, STATUS, waitForInstance } from '../../test/helpers/docker-daemon.ts'
import { runContainer, testDocker } from '../../test/helpers/docker.ts'

const ROUNDS = Math.min(Math.max(Number(process.argv[2] ?? 10), 1), 50) // bounded
const IP = '127.0.2.16'

/** targetMs: issue 4's bound for every sample (the test checks behaviour only, this checks speed). */
function summary (ms: number[], targetMs?: number): string {
  if (ms.length === 0) return 'n=0'
  const s = [...ms].sort((a, b) => a - b)
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))]
  const max = s[s.length - 1]
  const target = targetMs === undefined ? '' : `; target max <= ${targetMs} ms: ${max <= targetMs ? 'met' : 'MISSED'}`
  return `p50 ${at(0.5)} ms, p90 ${at(0.9)} ms, max ${max} ms (n=${s.length})${target}`
}

const docker = await testDocker()
if (!docker.ok) {
  console.log(`skipped: ${docker.reason}`)
  process.exit(0)
}
const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-bench-docker-'))
const d = await startDockerDaemon({ ip: IP, hostname: 'bench-docker', cwd: dir, dockerUrl: docker.url })
const toAlive: number[] = []
const killToTombstone: number[] = []
const stopToTombstone: number[] = []
try {
  for (let i = 0; i < ROUNDS; i++) {
    const c = await runContainer(docker.docker, { name: 'sctest-bench', hostIp: IP, labels: { ServiceName: 'bench', ServicePort_80: '8080', HealthCheck: 'HttpGet', HealthCheckArgs: 'http://{{ host }}:{{ tcp 8080 }}/' } })
    try {
      toAlive.push((await waitForInstance(d, c.shortId, s => s.Status === STATUS.ALIVE, 'ALIVE', 10_000)).ms)
      if (i % 2 === 0) {
        const t0 = Date.now()
        await docker.docker.getContainer(c.id).kill()
        await waitForInstance(d, c.shortId, s => s.Status === STATUS.TOMBSTONE, 'TOMBSTONE', 10_000)
        killToTombstone.push(Date.now() - t0)
      } else {
        await c.stop(1)
        stopToTombstone.push((await waitForInstance(d, c.shortId, s => s.Status === STATUS.TOMBSTONE, 'TOMBSTONE', 10_000)).ms)
      }
    } finally {
      await c.remove()
    }
  }
  console.log(`docker discovery, load average ${os.loadavg()[0].toFixed(1)}, ${ROUNDS} containers, check interval 1 s, API polled every 50 ms:`)
  console.log(`  container started -> ALIVE:           ${summary(toAlive, 3000)}`)
  console.log(`  docker kill called -> TOMBSTONE:      ${summary(killToTombstone)}`)
  console.log(`  docker stop returned -> TOMBSTONE:    ${summary(stopToTombstone, 2000)}`)
} finally {
  d.kill()
  await rm(dir, { recursive: true, force: true })
}
