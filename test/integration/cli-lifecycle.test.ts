// What an operator sees of the process's lifecycle: the exit after `stopped`. Real daemons on
// 127.0.34.2-5.
import test from 'ava'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { startDaemon } from '../helpers/daemon.ts'

function entry (name: string, port: number): unknown {
  return { Service: { Name: name, Image: `${name}:1`, Ports: [{ Type: 'tcp', Port: port, ServicePort: 0, IP: '127.0.34.1' }] }, Check: { Type: 'AlwaysSuccessful' } }
}

async function tempDir (t: import('ava').ExecutionContext, name: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `sidecar-${name}-`))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

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
