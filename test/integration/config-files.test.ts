// The ready-made configurations of config/ and the systemd unit: each passes `sidecar --check-config` (the real
// CLI, from source) and means what its comments say. A new file in config/ must be added here.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import test from 'ava'
import { parse } from 'smol-toml'
import { BIN, REPO } from '../helpers/daemon.ts'

const DIR = path.join(REPO, 'config')
// The machine running the tests may have no private IPv4 address: the one warning allowed.
const NO_PRIVATE_IP = /^warning: no private IPv4 address found/

type Doc = Record<string, Record<string, unknown>>

function checkConfig (file: string, env: Record<string, string> = {}): { code: number | null, doc: Doc, stderr: string } {
  const t0 = Date.now()
  const r = spawnSync(process.execPath, [BIN, '--check-config', '-f', path.join(DIR, file)], {
    cwd: REPO, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: '/nonexistent', SIDECAR_FROM_SOURCE: '1', ...env }, timeout: 60_000,
  })
  // A run that never ends is killed at the timeout: say so, rather than an exit code of null.
  const stderr = r.status === null ? `${r.stderr}(no exit code: ended by ${String(r.signal)} after ${Date.now() - t0} ms; stdout had ${r.stdout.length} characters)` : r.stderr
  return { code: r.status, doc: r.status === 0 ? parse(r.stdout) as Doc : {}, stderr }
}

const EXPECT: Record<string, (t: import('ava').ExecutionContext, doc: Doc) => void> = {
  'one-host.toml': (t, doc) => {
    t.deepEqual(doc.sidecar.discovery, ['static'])
    t.like(doc.sidecar, { bind_ip: '127.0.0.1', advertise_ip: '127.0.0.1' })
    t.is(doc.api.bind_ip, '127.0.0.1', 'nothing listens beyond this machine')
    t.is(doc.proxy.bind_ip, '127.0.0.1')
    t.is(doc.static_discovery.config_file, path.join(DIR, 'static.json'), 'the static file resolves next to the config')
  },
  'docker-host.toml': (t, doc) => {
    t.deepEqual(doc.sidecar.discovery, ['docker'])
    t.deepEqual(doc.sidecar.seeds, [])
    t.is(doc.docker_discovery.docker_url, 'unix:///var/run/docker.sock')
  },
  'cluster-member.toml': (t, doc) => {
    t.deepEqual(doc.sidecar.discovery, ['docker'])
    t.is((doc.sidecar.seeds as string[]).length, 3)
    t.is(doc.sidecar.cluster_key, '<redacted>', 'the key from SIDECAR_CLUSTER_KEY is in force, and not printed')
  },
  'compose.toml': (t, doc) => {
    t.is(doc.sidecar.cluster_name, 'compose-demo')
    t.deepEqual(doc.sidecar.discovery, ['docker'])
    t.is(doc.sidecar.data_dir, '/home/node/.sidecar', 'the identity volume of docker/compose.yml, also for sidecar-1 (root)')
  },
}

test('config/: every ready-made configuration has a check here', t => {
  t.deepEqual(readdirSync(DIR).filter(f => f.endsWith('.toml')).sort(), Object.keys(EXPECT).sort())
})

for (const [file, expect] of Object.entries(EXPECT)) {
  test(`config/${file} passes --check-config and says what its comments say`, t => {
    const r = checkConfig(file, file === 'cluster-member.toml' ? { SIDECAR_CLUSTER_KEY: 'a-test-key-0123456789abcdef' } : {})
    t.is(r.code, 0, r.stderr)
    for (const line of r.stderr.split('\n').filter(l => l.trim() !== '')) t.regex(line, NO_PRIVATE_IP, 'no warning but the machine\'s own')
    expect(t, r.doc)
  })
}

test('config/: a broken copy is refused with exit 2, naming the key (the check can fail)', t => {
  const r = spawnSync(process.execPath, [BIN, '--check-config', '-f', path.join(DIR, 'one-host.toml')], {
    cwd: REPO, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: '/nonexistent', SIDECAR_FROM_SOURCE: '1', HEALTH_RISE: '0' }, timeout: 60_000,
  })
  t.is(r.status, 2)
  t.regex(r.stderr, /HEALTH_RISE/)
})

const SYSTEMD_ANALYZE = spawnSync('systemd-analyze', ['--version'], { stdio: 'ignore' }).status === 0
;(SYSTEMD_ANALYZE ? test : test.skip)('docker/sidecar.service passes systemd-analyze verify, as a non-root, restarting, hardened unit', t => {
  const unit = readFileSync(path.join(REPO, 'docker/sidecar.service'), 'utf8')
  for (const line of ['User=sidecar', 'Restart=on-failure', 'NoNewPrivileges=yes', 'ProtectSystem=strict', 'RestartPreventExitStatus=2', 'StartLimitIntervalSec=120', 'StartLimitBurst=10']) t.true(unit.includes(`\n${line}\n`), line)
  // `npm install -g` puts the bin in /usr/bin (Debian's or NodeSource's Node) or /usr/local/bin: a bare
  // name is looked up in both, a path fits one (203/EXEC on the other)
  t.regex(unit, /\nExecStart=sidecar --config-file \/etc\/sidecar\/sidecar\.toml\n/, 'ExecStart names the bin without a directory')
  // a group named here that the host lacks (no Docker, so no docker group) fails every start with 216/GROUP
  t.notRegex(unit, /\nSupplementaryGroups=/, 'no group the host may lack')
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sidecar-unit-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  // The unit names the npm-installed bin; here the checkout's stands in for it.
  writeFileSync(path.join(dir, 'sidecar.service'), unit.replace('\nExecStart=sidecar ', `\nExecStart=${process.execPath} ${BIN} `))
  const r = spawnSync('systemd-analyze', ['verify', path.join(dir, 'sidecar.service')], { encoding: 'utf8', timeout: 60_000 })
  t.is(r.status, 0, r.stderr)
  t.is(r.stderr.trim(), '', r.stderr)
})
