// bin/sidecar.js in a checkout whose dist/ is older than src/ (a developer edited src/, or
// checked out another branch, after `npm ci` built dist/): it runs src/ and says so in one
// line, instead of the old build without a word; a current build, and an installed package
// (dist/ only, no src/), run dist/ without a word. A temporary copy of the checkout, built for
// real (tsc, about 9 s); no daemon, no network.
import test from 'ava'
import { spawnSync } from 'node:child_process'
import { cp, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { REPO } from '../helpers/daemon.ts'

function sidecar (dir: string, args: string[]): { stdout: string, stderr: string, status: number | null } {
  const r = spawnSync(process.execPath, [path.join(dir, 'bin/sidecar.js'), ...args], { cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: dir }, timeout: 60_000 })
  return { stdout: r.stdout, stderr: r.stderr, status: r.status }
}

test('a checkout whose src/ changed after the build runs src/ and says so in one line; a current build and a package without src/ run dist/ silently', async t => {
  t.timeout(3 * 60_000)
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-stale-dist-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  for (const p of ['bin', 'src', 'package.json', 'tsconfig.json', 'tsconfig.build.json']) await cp(path.join(REPO, p), path.join(dir, p), { recursive: true })
  await symlink(path.join(REPO, 'node_modules'), path.join(dir, 'node_modules'))
  const started = Date.now()
  const build = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { cwd: dir, encoding: 'utf8', timeout: 120_000 })
  t.is(build.status, 0, `${build.stdout}${build.stderr}`)
  t.log(`built in ${Date.now() - started} ms`)
  const version = (JSON.parse(await readFile(path.join(REPO, 'package.json'), 'utf8')) as { version: string }).version

  // built after the last edit: dist/, no word
  const fresh = sidecar(dir, ['--version'])
  t.is(fresh.status, 0, fresh.stderr)
  t.is(fresh.stdout, `sidecar ${version} (gossip protocol 2.0.0, node ${process.version})\n`)
  t.is(fresh.stderr, '')

  // the developer changes what --version prints, and runs it again
  const main = path.join(dir, 'src/cli/main.ts')
  const text = await readFile(main, 'utf8')
  t.true(text.includes('`sidecar ${packageVersion()}'), 'src/cli/main.ts prints the version')
  await writeFile(main, text.replace('`sidecar ${packageVersion()}', '`sidecar (edited) ${packageVersion()}'))
  const edited = sidecar(dir, ['--version'])
  t.is(edited.status, 0, edited.stderr)
  t.is(edited.stdout, `sidecar (edited) ${version} (gossip protocol 2.0.0, node ${process.version})\n`, 'the edited code ran')
  t.is(edited.stderr, 'sidecar: dist/ is older than src/ (src/cli/main.ts changed since the build): running src/; `npm run build` updates dist/.\n')

  // an installed package ships dist/ without src/: dist/ (the old build here), no word
  await rm(path.join(dir, 'src'), { recursive: true })
  const installed = sidecar(dir, ['--version'])
  t.is(installed.status, 0, installed.stderr)
  t.is(installed.stdout, `sidecar ${version} (gossip protocol 2.0.0, node ${process.version})\n`)
  t.is(installed.stderr, '')
})
