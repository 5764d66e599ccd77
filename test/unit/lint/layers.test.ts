// The import-direction rule (eslint/layers.js): a deliberately wrong import fails, a
// right one passes, and the project's own config turns the rule on for every src/ file.
import test from 'ava'
import path from 'node:path'
import { ESLint } from 'eslint'
import tseslint from 'typescript-eslint'
import { LAYERS, sidecarPlugin } from '../../../eslint/layers.js'

const REPO = path.resolve(import.meta.dirname, '../../..')
const SRC = path.join(REPO, 'src')

/** An ESLint with only the layer rule (no type information needed), on files that need not exist. */
function linter (): ESLint {
  return new ESLint({
    cwd: REPO,
    overrideConfigFile: true,
    overrideConfig: [{
      files: ['**/*.ts'],
      languageOptions: { parser: tseslint.parser },
      plugins: { sidecar: sidecarPlugin },
      rules: { 'sidecar/layers': ['error', { root: SRC }] },
    }],
  })
}

async function problems (file: string, code: string): Promise<string[]> {
  const [result] = await linter().lintText(code, { filePath: path.join(REPO, file) })
  return result.messages.map(m => m.message)
}

test('layers: gossip/ importing api/ (the ClusterMember that used to point up) fails with both folders named', async t => {
  const found = await problems('src/gossip/x.ts', "import type { ClusterMember } from '../api/app.ts'\n")
  t.is(found.length, 1)
  t.regex(found[0], /src\/gossip\/ may not import src\/api\//)
})

test('layers: lib/ may import nothing of src/, not even service/ (the Clock that used to point up)', async t => {
  t.is((await problems('src/lib/clock.ts', "import { Time } from '../service/time.ts'\n")).length, 1)
  t.is((await problems('src/lib/x.ts', "export * from '../service/index.ts'\n")).length, 1, 're-exports count')
  t.is((await problems('src/lib/x.ts', "export { Time } from '../service/time.ts'\n")).length, 1)
  t.is((await problems('src/lib/x.ts', "const m = await import('../catalog/index.ts')\nexport { m }\n")).length, 1, 'dynamic imports count')
})

test('layers: health/ may not import discovery/, nested folders resolve to their top folder', async t => {
  t.is((await problems('src/health/monitor.ts', "import type { Discovered } from '../discovery/types.ts'\n")).length, 1)
  t.is((await problems('src/discovery/docker/labels.ts', "import type { SidecarConfig } from '../../config/types.ts'\n")).length, 1, 'discovery/docker takes an init object, not config')
  t.deepEqual(await problems('src/discovery/docker/labels.ts', "import { renderCheckArgs } from '../../health/template.ts'\nimport type { Discovered } from '../types.ts'\n"), [])
})

test('layers: downward, same-folder and package imports pass', async t => {
  t.deepEqual(await problems('src/daemon/daemon.ts', "import { Gossip } from '../gossip/gossip.ts'\nimport { x } from './route-rule.ts'\nimport os from 'node:os'\nimport Koa from 'koa'\n"), [])
  t.deepEqual(await problems('src/local/x.ts', "import type { Catalog } from '../catalog/index.ts'\nimport type { HealthMonitor } from '../health/monitor.ts'\n"), [])
})

test('layers: nothing imports daemon/ but cli/, and a folder not in the map is reported', async t => {
  t.is((await problems('src/api/app.ts', "import { Daemon } from '../daemon/daemon.ts'\n")).length, 1)
  t.deepEqual(await problems('src/cli/main.ts', "import { Daemon } from '../daemon/daemon.ts'\n"), [])
  const unknown = await problems('src/newthing/x.ts', "import { Time } from '../service/time.ts'\n")
  t.regex(unknown[0] ?? '', /not in the layer map/)
})

test('layers: files outside src/ (tests, benchmarks) are not checked', async t => {
  t.deepEqual(await problems('test/unit/x.test.ts', "import { Daemon } from '../../src/daemon/daemon.ts'\n"), [])
})

test('layers: the project config runs the rule as an error on every src/ folder of the map', async t => {
  const eslint = new ESLint({ cwd: REPO })
  for (const folder of Object.keys(LAYERS)) {
    const config = await eslint.calculateConfigForFile(path.join(SRC, folder, 'any.ts')) as { rules: Record<string, unknown[]> }
    t.deepEqual(config.rules['sidecar/layers']?.[0], 2, `src/${folder}/`)
  }
})
