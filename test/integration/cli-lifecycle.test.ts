// What an operator sees of the process's lifecycle: a signal during the start, the exit after
// `stopped`. Real daemons on 127.0.34.2-5.
import test from 'ava'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { DaemonProcess, startDaemon } from '../helpers/daemon.ts'
import { waitFor } from '../helpers/wait.ts'

function entry (name: string, port: number): unknown {
  return { Service: { Name: name, Image: `${name}:1`, Ports: [{ Type: 'tcp', Port: port, ServicePort: 0, IP: '127.0.34.1' }] }, Check: { Type: 'AlwaysSuccessful' } }
}

async function tempDir (t: import('ava').ExecutionContext, name: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `sidecar-${name}-`))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

test('a SIGTERM while the start waits for an unreachable seed ends the start at once: exit 0, no 5 s seed wait', async t => {
  const dir = await tempDir(t, 'sigjoin')
  const file = path.join(dir, 'static.json')
  await writeFile(file, JSON.stringify([entry('web', 34002)]))
  // 127.0.34.9:34999: nothing listens there, so the start waits (up to 5 s) for the seed to answer
  const d = new DaemonProcess({ ip: '127.0.34.3', hostname: 'sigjoin-a', cwd: dir, args: ['-d', 'static', '-c', '127.0.34.9:34999'], env: { STATIC_CONFIG_FILE: file } })
  t.teardown(() => { d.kill() })
  await waitFor(() => /gossip on /.test(d.output) || !d.running, { timeoutMs: 60_000, message: () => `gossip listening\n${d.output.slice(-2000)}` })
  t.false(/no seed answered/.test(d.output), 'the signal comes during the seed wait (the machine was too slow to tell)')
  const exit = await d.stop('SIGTERM')
  t.is(exit.code, 0, d.output.slice(-2000))
  t.true(exit.ms < 2500, `exited ${exit.ms} ms after the signal (the seed wait is 5 s)`)
  t.regex(d.output, /SIGTERM received while starting/)
  t.notRegex(d.output, /no seed answered|shutdown took longer/)
})

test('after a SIGTERM the process ends right after its `stopped` line (nothing holds it a second longer)', async t => {
  const dir = await tempDir(t, 'stoptime')
  const file = path.join(dir, 'static.json')
  await writeFile(file, JSON.stringify([entry('web', 34003)]))
  const d = await startDaemon({ ip: '127.0.34.4', hostname: 'stoptime-a', cwd: dir, args: ['-d', 'static'], env: { STATIC_CONFIG_FILE: file } })
  t.teardown(() => { d.kill() })
  await new Promise(resolve => setTimeout(resolve, 1500)) // gossipsub's heartbeat (1 s) runs
  let stoppedAt: number | undefined
  const onData = (): void => { if (stoppedAt === undefined && /INFO: stopped/.test(d.output)) stoppedAt = Date.now() }
  d.child.stdout?.on('data', onData)
  d.child.stderr?.on('data', onData)
  const exit = await d.stop('SIGTERM')
  t.is(exit.code, 0, d.output.slice(-2000))
  t.not(stoppedAt, undefined, 'logged `stopped`')
  const lingered = Date.now() - (stoppedAt ?? 0)
  t.true(lingered < 600, `exited ${lingered} ms after logging \`stopped\` (it was about 1,000)`)
})
