// `npm pack` gives a package that runs on a machine with only Node (>= 22.20) and npm: the
// tarball is installed into an empty folder (its dependencies from the registry, no dev
// dependencies), and its `sidecar` bin, run from there with no checkout in sight, prints
// its version and checks every ready-made configuration it ships, on this Node and on Node 22.
import { readFileSync, realpathSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import test from 'ava'
import { REPO } from '../helpers/daemon.ts'
import { run } from '../helpers/image.ts'

const VERSION = (JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string }).version
const NODE_DIR = path.dirname(process.execPath)
// How this machine reaches the registry (proxy, extra CA certificates) is not part of what is
// installed, so it passes through; nothing else of the test's environment does.
const NETWORK_ENV = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] =>
  e[1] !== undefined && /^(https?_proxy|no_proxy|node_extra_ca_certs|ssl_cert_file|ssl_cert_dir|npm_config_(registry|cafile|proxy|https_proxy|strict_ssl))$/i.test(e[0])))

test('npm pack: the tarball installs into an empty folder and its sidecar bin runs --version and --check-config on each config/ file', async (t) => {
  t.timeout(6 * 60_000)
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-pack-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  // Only Node and the system's tools on PATH (Node's directory first: npm and the bin's
  // "#!/usr/bin/env node" must find Node >= 22.20, not an older system one).
  const env = { ...NETWORK_ENV, PATH: `${NODE_DIR}:/usr/bin:/bin`, HOME: dir, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' }

  const pack = await run('npm', ['pack', '--loglevel=warn', '--pack-destination', dir], { cwd: REPO, env, cleanEnv: true, timeoutMs: 3 * 60_000 })
  t.is(pack.code, 0, pack.output)
  const tarball = path.join(dir, `sidecar-${VERSION}.tgz`)
  const list = await run('tar', ['-tzf', tarball], { env, cleanEnv: true, timeoutMs: 60_000 })
  t.is(list.code, 0, list.output)
  const files = list.output.split('\n').filter(l => l !== '').map(l => l.replace(/^package\//, ''))
  for (const f of ['bin/sidecar.js', 'dist/cli/main.js', 'ui/index.html', 'config/one-host.toml', 'config/static.json', 'sidecar.example.toml', 'docs/configuration.md']) t.true(files.includes(f), `the tarball holds ${f}`)
  t.false(files.some(f => f.startsWith('src/') || f.startsWith('test/') || f.startsWith('.ci/')), 'no sources, tests or CI files')
  t.log(`${path.basename(tarball)}: ${files.length} files, packed in ${(pack.ms / 1000).toFixed(1)} s`)

  const app = path.join(dir, 'app')
  const install = await run('npm', ['install', '--omit=dev', '--no-package-lock', '--prefix', app, tarball], { cwd: dir, env, cleanEnv: true, timeoutMs: 3 * 60_000 })
  t.is(install.code, 0, install.output)
  t.log(`installed in ${(install.ms / 1000).toFixed(1)} s`)
  const bin = path.join(app, 'node_modules/.bin/sidecar')

  // The oldest Node the package supports (engines: >= 22.20), from the npm registry's `node`
  // package, besides the Node running this test.
  const n22 = path.join(dir, 'node22')
  await mkdir(n22)
  await writeFile(path.join(n22, 'package.json'), JSON.stringify({ private: true, allowScripts: { node: true } }))
  const getNode = await run('npm', ['install', '--no-package-lock', '--prefix', n22, 'node@22'], { cwd: n22, env, cleanEnv: true, timeoutMs: 2 * 60_000 })
  t.is(getNode.code, 0, getNode.output)
  const node22Dir = path.dirname(realpathSync(path.join(n22, 'node_modules/.bin/node')))

  const shipped = path.join(app, 'node_modules/sidecar/config')
  const configs = (await readdir(shipped)).filter(f => f.endsWith('.toml'))
  t.true(configs.length >= 4, configs.join(', '))
  for (const nodeDir of [NODE_DIR, node22Dir]) {
    const nodeEnv = { ...env, PATH: `${nodeDir}:/usr/bin:/bin` }
    const version = await run(bin, ['--version'], { cwd: app, env: nodeEnv, cleanEnv: true, timeoutMs: 60_000 })
    t.is(version.code, 0, version.output)
    t.true(version.output.includes(VERSION), version.output)
    t.log(version.output.trim())
    for (const file of configs) {
      const r = await run(bin, ['--check-config', '-f', path.join(shipped, file)], { cwd: app, env: { ...nodeEnv, SIDECAR_CLUSTER_KEY: 'k-0123456789abcdef' }, cleanEnv: true, timeoutMs: 60_000 })
      t.is(r.code, 0, `${file} (${version.output.trim()}): ${r.output}`)
      t.regex(r.output, /^\[sidecar\]$/m, `${file}: the effective configuration is printed`)
    }
  }
})
