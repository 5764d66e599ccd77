// What a first-time user reads: `sidecar --version`, and the log of a first start with a static
// file of one service. Daemon on 127.0.61.70.
import test from 'ava'
import { spawnSync } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { BIN, REPO, startDaemon } from '../helpers/daemon.ts'
import { waitFor } from '../helpers/wait.ts'

test('--version names the gossip protocol, which tells this build from 0.1.0 where the package version does not', async t => {
  const version = (JSON.parse(await readFile(path.join(REPO, 'package.json'), 'utf8')) as { version: string }).version
  const r = spawnSync(process.execPath, [BIN, '--version'], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', SIDECAR_FROM_SOURCE: '1' }, timeout: 60_000 })
  t.is(r.status, 0, r.stderr)
  t.is(r.stdout, `sidecar ${version} (gossip protocol 2.0.0, node ${process.version})\n`)
})

test('a first start with a static file of one service logs "loaded 1 service" and a URL of the API', async t => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-first-run-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const file = path.join(dir, 'static.json')
  await writeFile(file, JSON.stringify([{ Service: { ID: 'web-1', Name: 'web', Image: 'web:1', Ports: [{ Type: 'tcp', Port: 29170, ServicePort: 0, IP: '127.0.61.70' }] }, Check: { Type: 'AlwaysSuccessful' } }]))
  const d = await startDaemon({ ip: '127.0.61.70', hostname: 'first-run', cwd: dir, args: ['-d', 'static'], env: { STATIC_CONFIG_FILE: file, SIDECAR_LOGGING_LEVEL: 'info' } })
  t.teardown(() => { d.kill() })
  await waitFor(() => d.output.includes('is now healthy') || undefined, { timeoutMs: 30_000, message: () => `the service checked\n${d.output}` })
  await d.waitForOutput(`INFO: [static] loaded 1 service from ${file}\n`)
  await d.waitForOutput('INFO: [api] api listening on http://127.0.61.70:7777\n')
  t.false(d.output.includes('1 services'), d.output)
})
