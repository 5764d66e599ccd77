// What an operator sees of the process's lifecycle: SIGHUP, a signal during the start, the
// exit after `stopped`, and --check-config with a static file. Real daemons on 127.0.34.2-5.
import test from 'ava'
import { spawnSync } from 'node:child_process'
import { closeSync, futimesSync, openSync, writeSync } from 'node:fs'
import { link, mkdir, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { BIN, DaemonProcess, REPO, startDaemon } from '../helpers/daemon.ts'
import { waitFor } from '../helpers/wait.ts'

type ServicesJson = { Services: Record<string, Array<{ Status: number }>> }

function entry (name: string, port: number): unknown {
  return { Service: { Name: name, Image: `${name}:1`, Ports: [{ Type: 'tcp', Port: port, ServicePort: 0, IP: '127.0.34.1' }] }, Check: { Type: 'AlwaysSuccessful' } }
}

async function tempDir (t: import('ava').ExecutionContext, name: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `sidecar-${name}-`))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

test('SIGHUP: the daemon keeps running, logs what it re-reads, and re-reads the static file at once (an edit its watch cannot see)', async t => {
  const dir = await tempDir(t, 'sighup')
  const file = path.join(dir, 'static.json')
  // Edited through a second name (a hard link) in another folder, which the daemon does not
  // watch, and given back its modification time (whole seconds, exact): the file's watch and
  // poll see no change, only SIGHUP makes the daemon read it.
  const other = path.join(dir, 'elsewhere')
  await mkdir(other)
  const alias = path.join(other, 'static.json')
  const MTIME = 1_700_000_000
  await writeFile(file, JSON.stringify([entry('aaaa', 34001)]))
  await utimes(file, MTIME, MTIME)
  await link(file, alias)
  const d = await startDaemon({ ip: '127.0.34.2', hostname: 'sighup-a', cwd: dir, args: ['-d', 'static'], env: { STATIC_CONFIG_FILE: file } })
  t.teardown(() => { d.kill() })
  const names = async (): Promise<string[]> => Object.keys((await d.json<ServicesJson>('/services.json')).Services).sort()
  await waitFor(async () => (await names()).includes('aaaa'), { timeoutMs: 10_000, message: () => `aaaa announced\n${d.output.slice(-2000)}` })

  // same size, same inode, and the modification time put back at once: written in place and
  // re-stamped in one synchronous step (a truncating write, then utimes turns later, once let
  // a loaded CI machine's poll see the file changed in between)
  const fd = openSync(alias, 'r+')
  try {
    writeSync(fd, JSON.stringify([entry('bbbb', 34001)]), 0)
    futimesSync(fd, MTIME, MTIME)
  } finally {
    closeSync(fd)
  }
  await new Promise(resolve => setTimeout(resolve, 2500)) // longer than the poll (1 s): had it seen the edit, bbbb would be in
  t.false((await names()).includes('bbbb'), 'the edit is invisible to the watch (else this test proves nothing)')

  d.child.kill('SIGHUP')
  await waitFor(async () => (await names()).includes('bbbb'), { timeoutMs: 5000, message: () => `bbbb announced after SIGHUP\n${d.output.slice(-2000)}` })
  t.true(d.running, 'still running after SIGHUP')
  await d.waitForOutput(/SIGHUP received: re-reading the static discovery file \S+static\.json now; configuration file, environment and flag changes need a restart/)
  t.is((await d.json<{ status: string }>('/health')).status, 'ok')
  const exit = await d.stop('SIGTERM')
  t.is(exit.code, 0, d.output.slice(-2000))
})

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
  // Timed on the daemon's own clock: the `stopped` line's time (TZ=UTC, so it reads as UTC)
  // against the time a preload writes at the process's 'exit' event. Read from here, the pipe and
  // the exit's delivery to this process added their own delays on a loaded machine.
  const atExit = "process.on('exit',()=>process.stderr.write('exit-at '+Date.now()+'\\n'))"
  const d = await startDaemon({ ip: '127.0.34.4', hostname: 'stoptime-a', cwd: dir, args: ['-d', 'static'], env: { STATIC_CONFIG_FILE: file, TZ: 'UTC', NODE_OPTIONS: `--import=data:text/javascript,${encodeURIComponent(atExit)}` } })
  t.teardown(() => { d.kill() })
  await new Promise(resolve => setTimeout(resolve, 1500)) // gossipsub's heartbeat (1 s) runs
  const exit = await d.stop('SIGTERM')
  t.is(exit.code, 0, d.output.slice(-2000))
  const stopped = /\[(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d\.\d{3})\] INFO: stopped/.exec(d.output)
  const exitAt = /^exit-at (\d+)$/m.exec(d.output)
  t.not(stopped, null, 'logged `stopped`')
  t.not(exitAt, null, `the preload wrote the exit time\n${d.output.slice(-2000)}`)
  if (stopped === null || exitAt === null) return
  const lingered = Number(exitAt[1]) - Date.parse(`${stopped[1]}T${stopped[2]}Z`)
  t.log(`exited ${lingered} ms after logging \`stopped\``)
  t.true(lingered >= 0 && lingered < 600, `exited ${lingered} ms after logging \`stopped\` (it was about 1,000)`)
})

function checkConfig (dir: string, env: Record<string, string>): { code: number | null, stdout: string, stderr: string } {
  const r = spawnSync(process.execPath, [BIN, '--check-config', '-d', 'static', '--hostname', 'check-a', '--bind-ip', '127.0.34.5', '--advertise-ip', '127.0.34.5'], {
    cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: dir, SIDECAR_FROM_SOURCE: '1', ...env }, timeout: 60_000,
  })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

test('--check-config with static discovery reads the static file: missing or bad exits 2 with the daemon\'s own message, good passes', async t => {
  const dir = await tempDir(t, 'checkstatic')
  const file = path.join(dir, 'static.json')

  const missing = checkConfig(dir, { STATIC_CONFIG_FILE: file })
  t.is(missing.code, 2, missing.stderr)
  t.true(missing.stderr.includes(`${file}: cannot read the static discovery file: ENOENT`), missing.stderr)
  t.true(missing.stderr.includes(`'${file}'; create it (see static.example.json), or name the JSON file with [static_discovery] config_file or STATIC_CONFIG_FILE, or leave static out of [sidecar] discovery (--discover)\n`), missing.stderr)

  await writeFile(file, JSON.stringify([{ Service: { Name: 'x', Ports: [{ Type: 'tcp', Port: 0 }] } }]))
  const bad = checkConfig(dir, { STATIC_CONFIG_FILE: file })
  t.is(bad.code, 2, bad.stderr)
  t.true(bad.stderr.includes(`${file}: entry 0 (x): Service.Ports[0].Port must be from 1 to 65535`), bad.stderr)
  t.is(bad.stdout, '', 'no configuration printed for a config that would not start')

  // the daemon itself refuses the same file with the same words
  const d = new DaemonProcess({ ip: '127.0.34.5', hostname: 'check-a', cwd: dir, args: ['-d', 'static'], env: { STATIC_CONFIG_FILE: file } })
  t.teardown(() => { d.kill() })
  t.is((await d.exited).code, 1)
  t.true(d.output.includes(`${file}: entry 0 (x): Service.Ports[0].Port must be from 1 to 65535`), d.output)

  await writeFile(file, JSON.stringify([entry('web', 34004), entry('db', 34005)]))
  const good = checkConfig(dir, { STATIC_CONFIG_FILE: file })
  t.is(good.code, 0, good.stderr)
  t.true(good.stdout.includes(`# static discovery file ${file}: 2 services\n`), good.stdout)

  // what the daemon would warn about is said too, on stderr, without failing the check
  await writeFile(file, JSON.stringify([entry('web', 34004), { Service: { Name: 'ext', Hostname: 'elsewhere' } }]))
  const foreign = checkConfig(dir, { STATIC_CONFIG_FILE: file })
  t.is(foreign.code, 0, foreign.stderr)
  t.regex(foreign.stderr, /warning: .*an entry names another host than this one \("check-a"\) in Service.Hostname: entry 1 \(ext\) "elsewhere"/)
})

// README's cluster on one machine (Cluster), on 127.0.54.25-26 instead of 127.0.0.2-3; then the
// usual slip of a second daemon on the same address: its seed without :port took its own
// bind_port, and it ran alone without a word.
test('README\'s two daemons on one machine form a cluster; a seed that is only the node itself is said in the log', async t => {
  t.timeout(120_000)
  const dir = await tempDir(t, 'onemachine')
  const conf = path.join(REPO, 'config/one-host.toml')
  const a = await startDaemon({ ip: '127.0.54.25', hostname: 'a', cwd: dir, args: ['-f', conf, '-c', '127.0.54.25'] })
  t.teardown(() => { a.kill() })
  const b = await startDaemon({ ip: '127.0.54.26', hostname: 'b', cwd: dir, args: ['-f', conf, '-c', '127.0.54.25'] })
  t.teardown(() => { b.kill() })
  type Services = { Services: Record<string, Array<{ Hostname: string, Status: number }>> }
  await waitFor(async () => {
    const doc = await b.json<Services>('/services.json')
    return (doc.Services['sidecar-api'] ?? []).filter(s => s.Status === 0).map(s => s.Hostname).sort().join() === 'a,b'
  }, { timeoutMs: 30_000, message: () => `a's and b's sidecar-api ALIVE on b\n${b.output.slice(-2000)}` })
  await a.waitForOutput(/INFO: \[gossip\] every seed \(127\.0\.54\.25\) is this node itself: running alone until another node joins it \(a seed without :port is taken at this node's bind_port, 7946\)/)
  t.false(b.output.includes('is this node itself'), b.output.slice(-2000))

  const c = await startDaemon({ ip: '127.0.54.25', hostname: 'c', cwd: dir, apiPort: 7778, args: ['-f', conf, '--bind-port', '7947', '-c', '127.0.54.25'] })
  t.teardown(() => { c.kill() })
  await waitFor(() => c.output.includes('every seed'), { timeoutMs: 30_000, message: () => c.output.slice(-2000) })
  t.regex(c.output, /every seed \(127\.0\.54\.25\) is this node itself: running alone until another node joins it \(a seed without :port is taken at this node's bind_port, 7947\)/)
})

// A SIGTERM while the program still loads (1-3 s on a busy host, before the CLI follows
// signals) killed the process by the signal's default action: exit 143, no word. A real daemon
// on 127.0.54.27, signalled as soon as bin/sidecar.js has re-executed itself with its V8 flags.
test('a SIGTERM while the program still loads ends it cleanly: exit 0, not death by the signal', async t => {
  t.timeout(60_000)
  const dir = await tempDir(t, 'earlysig')
  await writeFile(path.join(dir, 'static.json'), '[]')
  const d = new DaemonProcess({ ip: '127.0.54.27', hostname: 'early', cwd: dir, args: ['-d', 'static'], env: { STATIC_CONFIG_FILE: path.join(dir, 'static.json') } })
  t.teardown(() => { d.kill() })
  const pid = d.child.pid ?? 0
  // Node booted in the re-executed process: /proc's SigCgt has SIGUSR1 (signal 10), caught from the
  // end of Node's boot (SIGTERM cannot tell: Node's boot catches it to restore the terminal)
  const booted = async (): Promise<boolean> => {
    if (!(await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).includes('--optimize-for-size')) return false
    const m = /^SigCgt:\s*([0-9a-f]+)$/m.exec(await readFile(`/proc/${pid}/status`, 'utf8').catch(() => ''))
    return m !== null && (BigInt(`0x${m[1]}`) & (1n << 9n)) !== 0n
  }
  await waitFor(booted, { timeoutMs: 20_000, intervalMs: 5, message: 'the re-executed process booted' })
  // then bin/sidecar.js's first lines run (its early handler among them); loading the program
  // takes over a second more. 150 ms of the main thread's time on a CPU, not of the clock: at a
  // load average of 20, 150 ms of the clock passed before those lines ran, and the process died
  // of the SIGTERM with no output, as any program does before its first line.
  const onCpuMs = async (): Promise<number> => Number((await readFile(`/proc/${pid}/task/${pid}/schedstat`, 'utf8')).split(' ')[0]) / 1e6
  const bootedAt = await onCpuMs()
  await waitFor(async () => await onCpuMs() - bootedAt >= 150, { timeoutMs: 20_000, intervalMs: 5, message: 'the main thread ran 150 ms on a CPU since the boot' })
  t.false(d.output.includes('starting sidecar'), 'signalled before the start, while loading')
  const r = await d.stop('SIGTERM', 20_000)
  t.is(r.signal, null, `died of ${String(r.signal)}; output:\n${d.output.slice(-2000)}`)
  t.is(r.code, 0, d.output.slice(-2000))
  t.regex(d.output, /SIGTERM received while starting: ending the start early/)
})
