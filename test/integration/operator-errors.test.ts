// What an operator gets wrong and is now told, against the real CLI and real daemons on
// 127.0.46.1-9: a static port IP every peer refuses, a config type error (with its line), and
// a data_dir that cannot be prepared.
import { spawnSync } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import test from 'ava'
import { BIN } from '../helpers/daemon.ts'
import { ALIVE, makeCluster, startAll, statusIn, waitOnAll } from '../helpers/cluster.ts'
import { sleep } from '../helpers/wait.ts'

/** `sidecar --check-config ARGS` in dir, as an operator runs it. */
function checkConfig (dir: string, args: string[], env: Record<string, string> = {}): { code: number | null, stdout: string, stderr: string } {
  const r = spawnSync(process.execPath, [BIN, '--check-config', ...args], {
    cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: dir, SIDECAR_FROM_SOURCE: '1', ...env }, timeout: 60_000,
  })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

const svc = (name: string, port: number, ip?: string): unknown => ({
  Service: { Name: name, Image: `${name}:1`, Ports: [{ Type: 'tcp', Port: port, ServicePort: 0, ...(ip !== undefined ? { IP: ip } : {}) }] },
  Check: { Type: 'AlwaysSuccessful' },
})

test('a static port IP peers refuse: the host that lists it warns at start and in --check-config, and the peer indeed refuses it (backend-ip) while taking the rest', async t => {
  t.timeout(120_000)
  const [alpha, bravo] = await makeCluster(t, [
    { ip: '127.0.46.2', hostname: 'ops-alpha', args: ['-n', 'ops', '-c', '127.0.46.2'] },
    { ip: '127.0.46.3', hostname: 'ops-bravo', args: ['-n', 'ops', '-c', '127.0.46.2'] },
  ])
  // 127.0.46.9 is loopback: backend_cidrs could never admit it, and the warning says so
  await writeFile(alpha.staticFile, JSON.stringify([svc('good', 24621), svc('stray', 24622, '127.0.46.9'), svc('lan', 24623, '10.46.0.7')]))
  alpha.services = ['good', 'stray', 'lan']

  const check = checkConfig(alpha.dir, ['-d', 'static', '--hostname', 'ops-alpha', '--bind-ip', '127.0.46.2', '--advertise-ip', '127.0.46.2'], { STATIC_CONFIG_FILE: alpha.staticFile })
  t.is(check.code, 0, check.stderr)
  const expected = /2 port IPs are neither this host's advertised address \(127\.0\.46\.2\) nor inside \[sidecar\] backend_cidrs: every peer refuses those records \(admission reason backend-ip\).*add the network of entry 2 \(lan\) 10\.46\.0\.7 to \[sidecar\] backend_cidrs.*entry 1 \(stray\) 127\.0\.46\.9 is a loopback, link-local or unspecified address, which backend_cidrs never admits/
  t.regex(check.stderr, new RegExp(`warning: ${alpha.staticFile.replaceAll('.', '\\.')}: ${expected.source}`))

  await startAll([alpha, bravo])
  t.regex(alpha.d.output, expected, 'the daemon warns at start')
  t.is(alpha.d.output.match(/port IPs are neither/g)?.length, 1, 'once per load')
  await waitOnAll([bravo], 'bravo holds alpha\'s good record', s => statusIn(s, 'ops-alpha', 'good') === ALIVE, 30_000)
  await sleep(2000) // a few more exchanges: the refused records stay refused
  const held = await bravo.state()
  t.is(statusIn(held, 'ops-alpha', 'stray'), undefined, 'the peer refused what the warning named')
  t.is(statusIn(held, 'ops-alpha', 'lan'), undefined)
  t.is(statusIn(await alpha.state(), 'ops-alpha', 'stray'), ALIVE, 'while its own host lists it ALIVE')
  t.regex(bravo.d.output, /refused stray .* of ops-alpha .*a backend IP is neither its host's own address nor in \[sidecar\] backend_cidrs/)
})
