// A container's SidecarListener label, against a real dockerd: a real daemon on 127.0.5.20
// with Docker discovery POSTs every change to /sidecar/update of the container's published
// port, and stops when the container stops. The container runs a tiny HTTP receiver
// (busybox nc + sh) that records each request, since the test image has no other server.
// Daemons of other test files share the dockerd and may see the container's label too: only
// the requests and bodies this test's daemon sent (X-Sidecar-Hostname, State.Hostname) count.
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { PassThrough } from 'node:stream'
import test from 'ava'
import type Docker from 'dockerode'
import { startDockerDaemon } from '../helpers/docker-daemon.ts'
import { dockerTests, runContainer, type TestContainer } from '../helpers/docker.ts'
import { startReceiver, type StateChangedEvent } from '../helpers/receiver.ts'
import { sleep, waitFor } from '../helpers/wait.ts'

const IP = '127.0.5.20'
const { docker, dtest } = await dockerTests(test, 'Docker listener test')

/** One HTTP request per connection: appends "METHOD PATH EVENT-ID BYTES HOSTNAME" to /tmp/requests and the body to /tmp/bodies, answers 200. */
const HANDLER = `#!/bin/busybox sh
CR=$(printf '\\r')
read -r method path proto
len=0; id=-; host=-
while IFS= read -r line; do
  line=\${line%"$CR"}
  [ -z "$line" ] && break
  case "$line" in
    [Cc]ontent-[Ll]ength:*) len=\${line#*:}; len=\${len# } ;;
    [Xx]-[Ss]idecar-[Ee]vent-[Ii]d:*) id=\${line#*:}; id=\${id# } ;;
    [Xx]-[Ss]idecar-[Hh]ostname:*) host=\${line#*:}; host=\${host# } ;;
  esac
done
body=$(/bin/busybox head -c "$len")
printf '%s %s %s %s %s\\n' "$method" "$path" "$id" "\${#body}" "$host" >> /tmp/requests
printf '%s\\n' "$body" >> /tmp/bodies
printf 'HTTP/1.1 200 OK\\r\\nContent-Length: 0\\r\\nConnection: close\\r\\n\\r\\n'
`
const RECEIVER_CMD = ['/bin/busybox', 'sh', '-c', `cat > /tmp/handler <<'EOF'\n${HANDLER}EOF\n/bin/busybox chmod +x /tmp/handler; /bin/busybox touch /tmp/requests /tmp/bodies; exec /bin/busybox nc -ll -p 80 -e /tmp/handler`]

/** Runs a command in a running container and returns its stdout. */
async function output (d: Docker, id: string, cmd: string[]): Promise<string> {
  const exec = await d.getContainer(id).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true })
  const stream = await exec.start({ Detach: false, hijack: true })
  const out = new PassThrough()
  const chunks: Buffer[] = []
  out.on('data', (c: Buffer) => chunks.push(c))
  d.modem.demuxStream(stream, out, new PassThrough())
  await once(stream, 'end')
  return Buffer.concat(chunks).toString()
}

interface ListenerJson { name: string, source: string, url: string, delivered: number }

dtest('listeners: a container with SidecarListener gets /sidecar/update calls until it stops', async t => {
  if (!docker.ok) return
  const cwd = await mkdtemp(path.join(os.tmpdir(), 'sidecar-listeners-docker-'))
  t.teardown(async () => { await rm(cwd, { recursive: true, force: true }) })
  const probe = await startReceiver()
  t.teardown(async () => { await probe.close() })
  const d = await startDockerDaemon({ ip: IP, hostname: 'listeners-docker', cwd, dockerUrl: docker.url, env: { LISTENERS_URLS: probe.url(), DOCKER_RECONCILE_INTERVAL: '1s' } })
  t.teardown(() => { d.kill() })
  const containers: TestContainer[] = []
  t.teardown(async () => { for (const c of containers) await c.remove() })
  const suffix = Math.random().toString(36).slice(2, 8)

  const app = await runContainer(docker.docker, { name: 'sctest-listener', hostIp: IP, cmd: RECEIVER_CMD, labels: { ServiceName: `app-${suffix}`, ServicePort_80: '9100', SidecarListener: '9100', HealthCheck: 'AlwaysSuccessful' } })
  containers.push(app)
  const url = `http://${IP}:${app.hostPort}/sidecar/update`
  const listeners = async (): Promise<ListenerJson[]> => (await d.json<{ listeners: ListenerJson[] }>('/api/listeners.json')).listeners
  const mine = await waitFor(async () => (await listeners()).find(l => l.source === 'discovered'), { timeoutMs: 30_000, message: () => `the container's listener\n${d.output.slice(-3000)}` })
  t.is(mine.name, `Service(app-${suffix}-${app.shortId})`)
  t.is(mine.url, url)

  // Another container comes and goes: the app's receiver is told.
  const other = await runContainer(docker.docker, { name: 'sctest-other', hostIp: IP, labels: { ServiceName: `other-${suffix}`, HealthCheck: 'AlwaysSuccessful' } })
  containers.push(other)
  const bodies = async (): Promise<StateChangedEvent[]> => (await output(docker.docker, app.id, ['/bin/busybox', 'cat', '/tmp/bodies'])).split('\n').filter(l => l !== '').map(l => JSON.parse(l) as StateChangedEvent).filter(b => b.State.Hostname === 'listeners-docker')
  await waitFor(async () => (await bodies()).some(b => b.ChangeEvent.Service.ID === other.shortId && b.ChangeEvent.Service.Status === 0), { timeoutMs: 30_000, message: () => `the app container told other is ALIVE\n${d.output.slice(-3000)}` })
  const requests = (await output(docker.docker, app.id, ['/bin/busybox', 'cat', '/tmp/requests'])).trim().split('\n').filter(r => r.endsWith(' listeners-docker'))
  t.true(requests.length > 0, 'requests from this test\'s daemon')
  t.true(requests.every(r => /^POST \/sidecar\/update \d+ \d+ listeners-docker$/.test(r)), requests.join('\n'))
  const ids = requests.map(r => Number(r.split(' ')[2]))
  t.true(ids.every((id, i) => i === 0 || id > ids[i - 1]), 'in order')

  // The app container stops: its listener goes, and nothing is POSTed to it any more.
  await app.stop(1)
  await waitFor(async () => (await listeners()).every(l => l.source !== 'discovered'), { timeoutMs: 30_000, message: 'the listener removed with its container' })
  await d.waitForOutput(new RegExp(`removing listener Service\\(app-${suffix}-${app.shortId}\\)`)) // POSTs logged before it are not counted below
  const removedAt = d.mark()
  await other.stop(1)
  await waitFor(() => probe.bodies().some(b => b.ChangeEvent.Service.ID === other.shortId && b.ChangeEvent.Service.Status === 1), { timeoutMs: 30_000, message: 'probe told other is a TOMBSTONE' })
  await sleep(500)
  const attempts = d.outputSince(removedAt).split('\n').filter(l => l.includes(url) && !l.includes('removing listener'))
  t.deepEqual(attempts, [], `no POST attempted to ${url} after the removal`)
})
