// What README.md and docs/*.md say against what the code does, for the parts a program can read:
// flags, environment variables, links and anchors, repository paths, defaults quoted in prose,
// the API's route table and the HealthCheckArgs template actions. Each check also runs on a
// mistyped copy of the real text, so it is shown to fail. The checks against a running daemon
// (metrics, example answers) are in test/integration/docs-drift.test.ts.
import fs from 'node:fs'
import path from 'node:path'
import test, { type ExecutionContext } from 'ava'
import { usage } from '../../src/cli/usage.ts'
import { createApp, type ApiComponents } from '../../src/api/app.ts'
import { DEFAULTS } from '../../src/config/defaults.ts'
import { allKeys, isKey, isSection, SECTIONS, specOf } from '../../src/config/schema.ts'
import { LABEL } from '../../src/discovery/docker/labels.ts'
import { CHECK_KEYS, ENTRY_KEYS, SERVICE_KEYS } from '../../src/discovery/static/parse.ts'
import { checkStaticFile } from '../../src/discovery/static/static-discoverer.ts'
import { systemClock } from '../../src/service/clock.ts'
import { TEMPLATE_FIELDS } from '../../src/health/template.ts'
import { nodeRequire } from '../../src/lib/node-http.ts'
import {
  documentedRoutes, envProblems, flagTableProblems, linkProblems, pathProblems, proseDefaultProblems,
  readDocs, REPO, routeShape, section, sourceText, stripFences, tableRows,
} from '../helpers/docs-drift.ts'
import { load as loadTestConfig, problems as configProblems, tmpDir, writeFile } from './config/helpers.ts'
import { ConfigError } from '../../src/lib/errors.ts'

const DOCS = readDocs()
const README = DOCS.get('README.md') ?? ''
const CONFIG_DOC = DOCS.get('docs/configuration.md') ?? ''
const HELP = usage()

/** text with from replaced by to; throws when text lacks from, so a negative case cannot pass by editing nothing. */
function swap (text: string, from: string, to: string): string {
  if (!text.includes(from)) throw new Error(`the text lacks ${JSON.stringify(from)}: the negative case would prove nothing`)
  return text.replace(from, to)
}

/** docs with one file's text replaced by edit(text); the edit must change something. */
function edited (file: string, edit: (text: string) => string): Map<string, string> {
  const before = DOCS.get(file) ?? ''
  const after = edit(before)
  if (after === before) throw new Error(`the edit of ${file} changed nothing: the negative case would prove nothing`)
  return new Map([...DOCS, [file, after]])
}

// ---------------------------------------------------------------- command line

const readmeFlags = (md: string): string[] => flagTableProblems('README.md "Command line"', section(md, '## Command line'), { env: 3, default: 2 }, HELP)
const configDocFlags = (md: string): string[] => flagTableProblems('docs/configuration.md "Flags"', section(md, '## Flags'), { env: 2 }, HELP)

test('docs: README\'s command-line table has every flag of the program, with its short name, value, env var and default, and no other', t => {
  t.deepEqual(readmeFlags(README), [])
})

test('docs: docs/configuration.md\'s flag table has every flag of the program, with its short name, value and env var, and no other', t => {
  t.deepEqual(configDocFlags(CONFIG_DOC), [])
})

test('docs check: a mistyped, missing or extra flag in a flag table is named', t => {
  t.deepEqual(readmeFlags(swap(README, '`--bind-port PORT`', '`--bind-prt PORT`')), [
    'README.md "Command line": --bind-port is a flag (src/cli/usage.ts) but is not in the table',
    'README.md "Command line": --bind-prt is in the table but the program has no such flag',
  ])
  t.deepEqual(readmeFlags(swap(README, '| `SIDECAR_HOSTNAME` |', '| `SIDECAR_HOST` |')), ['README.md "Command line": --hostname is documented with env SIDECAR_HOST, the program reads SIDECAR_HOSTNAME'])
  t.deepEqual(readmeFlags(swap(README, '| `7946` |', '| `7964` |')), ['README.md "Command line": --bind-port is documented with default 7964, the program\'s is 7946'])
  t.deepEqual(configDocFlags(swap(CONFIG_DOC, '| `-l`, `--logging-level LEVEL` |', '| `-L`, `--logging-level LEVEL` |')), [
    'docs/configuration.md "Flags": --logging-level is documented with short -L, the program has -l',
    'docs/configuration.md "Flags": -L is in the table but the program has no such short flag',
  ])
})

// ---------------------------------------------------------------- environment variables

const SOURCES = sourceText()

test('docs: every environment variable the docs name is a config key\'s, or one a source file reads', t => {
  t.deepEqual(envProblems(DOCS, SOURCES), [])
})

test('docs check: a mistyped environment variable is named', t => {
  t.deepEqual(envProblems(edited('docs/configuration.md', md => swap(md, '| `HEALTH_RISE` |', '| `HEALTH_RAISE` |')), SOURCES),
    ['docs/configuration.md: HEALTH_RAISE is neither a config key\'s variable (src/config/schema.ts) nor read by any source file'])
})

// ---------------------------------------------------------------- links and paths

test('docs: every relative link and #anchor of README.md and docs/*.md resolves', t => {
  t.deepEqual(linkProblems(DOCS), [])
})

test('docs check: a link to a missing file or heading is named', t => {
  t.deepEqual(linkProblems(edited('README.md', md => swap(md, '(docs/security.md#no-frames-no-sniffing)', '(docs/security.md#no-frames)'))),
    ['README.md: link docs/security.md#no-frames: no heading with the anchor #no-frames'])
  t.deepEqual(linkProblems(edited('docs/configuration.md', md => swap(md, '](security-gossip.md)', '](security-gosip.md)'))),
    ['docs/configuration.md: link security-gosip.md: no such file'])
  t.deepEqual(linkProblems(edited('README.md', md => swap(md, '(#compose-demo)', '(#compose)'))),
    ['README.md: link #compose: no heading with the anchor #compose'])
})

test('docs: every repository path the docs name in code exists', t => {
  t.deepEqual(pathProblems(DOCS), [])
})

test('docs check: a path that moved is named', t => {
  t.deepEqual(pathProblems(edited('docs/faults.md', md => swap(md, '`src/service/clock.ts`', '`src/lib/clock.ts`'))),
    ['docs/faults.md: `src/lib/clock.ts` is no file or folder of the repository'])
})

// ---------------------------------------------------------------- defaults in prose

test('docs: a default quoted beside its key in prose is the schema\'s default', t => {
  t.deepEqual(proseDefaultProblems(DOCS), [])
})

test('docs check: a default quoted wrong in prose is named', t => {
  t.deepEqual(proseDefaultProblems(edited('README.md', md => swap(md, '`[api] max_stream_clients` (512)', '`[api] max_stream_clients` (256)'))),
    ['README.md: [api] max_stream_clients is quoted as (256), its default is 512'])
  t.deepEqual(proseDefaultProblems(edited('docs/docker.md', md => swap(md, 'reconcile_interval` (3 s)', 'reconcile_interval` (5 s)'))),
    ['docs/docker.md: [docker_discovery] reconcile_interval is quoted as (5 s), its default is "3s"'])
})

// ---------------------------------------------------------------- API routes

/** Every route the API's router serves, as "METHOD /path" with parameters as *: createApp's own registrations. */
function servedRoutes (): Set<string> {
  const Router = nodeRequire('@koa/router') as { prototype: { register: (path: string | string[], methods: string[], ...rest: unknown[]) => unknown } }
  const register = Router.prototype.register
  const seen = new Set<string>()
  Router.prototype.register = function (this: unknown, p: string | string[], methods: string[], ...rest: unknown[]) {
    for (const one of Array.isArray(p) ? p : [p]) for (const m of methods) if (m !== 'HEAD') seen.add(`${m.toUpperCase()} ${routeShape(one)}`)
    return register.call(this, p, methods, ...rest)
  }
  try {
    // Only the registrations matter: every component is a stand-in that nothing calls before a request.
    const any: unknown = new Proxy(function () {}, { get: (_t, p) => p === 'then' || p === Symbol.toPrimitive ? undefined : any, apply: () => any })
    const real: Partial<ApiComponents> = { frameAncestors: [], listeners: () => [], proxy: () => ({}) }
    createApp(new Proxy(real, { get: (o, p) => p in o ? o[p as keyof ApiComponents] : any }) as ApiComponents)
  } finally {
    Router.prototype.register = register
  }
  return seen
}

/** Served before the router, by the UI's middleware (src/api/ui.ts): the integration test requests them. */
const UI_PATHS = ['GET /', 'GET /ui/']

function routeProblems (readme: string): string[] {
  const served = servedRoutes()
  const documented = new Set(documentedRoutes(readme).map(([m, p]) => `${m} ${routeShape(p)}`))
  return [
    ...[...served].filter(r => !documented.has(r)).map(r => `the API serves ${r}, README's API table does not list it`),
    ...[...documented].filter(r => !served.has(r) && !UI_PATHS.includes(r)).map(r => `README's API table lists ${r}, the API's router has no such route`),
  ]
}

test('docs: README\'s API table lists every route the API serves, and no other', t => {
  t.true(servedRoutes().size > 10, 'the router registrations were seen')
  t.deepEqual(routeProblems(README), [])
})

test('docs check: a route missing from, or mistyped in, the API table is named', t => {
  t.deepEqual(routeProblems(swap(README, '| `GET /health`, `/api/health` |', '| `GET /health` |')), ['the API serves GET /api/health, README\'s API table does not list it'])
  t.deepEqual(routeProblems(swap(README, '| `GET /api/listeners.json` |', '| `GET /api/listener.json` |')), [
    'the API serves GET /api/listeners.json, README\'s API table does not list it',
    'README\'s API table lists GET /api/listener.json, the API\'s router has no such route',
  ])
})

// ---------------------------------------------------------------- HealthCheckArgs templates

/** The `{{ .Field }}` actions a text names. */
const fieldActions = (md: string): string[] => [...new Set([...stripFences(md).matchAll(/\{\{ \.([A-Za-z]+) \}\}/g)].map(m => m[1]))].sort()

function templateProblems (docs: Map<string, string>): string[] {
  const problems: string[] = []
  const fields: string[] = [...TEMPLATE_FIELDS].sort()
  for (const [where, text] of [['README.md "Health checks"', section(docs.get('README.md') ?? '', '## Health checks')], ['docs/docker.md "Templating"', section(docs.get('docs/docker.md') ?? '', '## Templating of HealthCheckArgs')]] as const) {
    const named = fieldActions(text)
    for (const f of fields) if (!named.includes(f)) problems.push(`${where}: {{ .${f} }} works (src/health/template.ts) but is not named`)
    for (const f of named) if (!fields.includes(f)) problems.push(`${where}: {{ .${f} }} is named but is no template field`)
  }
  return problems
}

test('docs: README and docs/docker.md name every {{ .Field }} a HealthCheckArgs template takes, and no other', t => {
  t.deepEqual(templateProblems(DOCS), [])
})

test('docs check: a template field missing from, or unknown to, the docs is named', t => {
  t.deepEqual(templateProblems(edited('docs/docker.md', md => swap(md, '`{{ .ProxyMode }}`', '`{{ .Mode }}`'))), [
    'docs/docker.md "Templating": {{ .ProxyMode }} works (src/health/template.ts) but is not named',
    'docs/docker.md "Templating": {{ .Mode }} is named but is no template field',
  ])
})

// ---------------------------------------------------------------- routes named in prose

/** Paths the docs name that the API does not serve, on purpose: the original's Envoy routes, and requests shown being refused. */
const NOT_SERVED = ['/v1/registration', '/v1/clusters', '/v1/listeners', '/api/', '/ui/../package.json', '/ui/../../package.json']

/** Every API path the docs name in code (`/api/proxy.json`, `GET /services/<name>.json`) that no route serves. */
function mentionedRouteProblems (docs: Map<string, string>): string[] {
  const routes = [...servedRoutes(), ...UI_PATHS, 'GET /ui'] // /ui: redirected to /ui/ by the UI's middleware
  const served = new Set(routes.map(r => r.replace(/^[A-Z]+ /, '')))
  // what a concrete path may be an instance of: not the pre-flight's /api/*, which any GET path would fit
  const concrete = routes.filter(r => !r.startsWith('OPTIONS ')).map(r => r.replace(/^[A-Z]+ /, ''))
  const problems: string[] = []
  for (const [file, md] of docs) {
    for (const m of md.matchAll(/`(?:[A-Z]+ )?(\/(?:api|v1|watch|services|state|health|metrics|servers|ui)\b[^`\s]*)`/g)) {
      const p = m[1].replace(/\?.*$/, '')
      if (NOT_SERVED.includes(p) || served.has(routeShape(p))) continue
      // a concrete path of a parameter route (`/api/services/big.json`)
      const segs = p.split('/')
      if (concrete.some(s => { const t = s.split('/'); return t.length === segs.length && t.every((x, i) => x === '*' || x === segs[i]) })) continue
      problems.push(`${file}: \`${m[1]}\` is named, the API serves no such path`)
    }
  }
  return problems
}

test('docs: every API path README.md and docs/*.md name is one the API serves (or one they say it does not)', t => {
  t.deepEqual(mentionedRouteProblems(DOCS), [])
})

test('docs check: a mistyped API path in prose is named', t => {
  t.deepEqual(mentionedRouteProblems(edited('docs/listeners.md', md => swap(md, '`GET /api/listeners.json`', '`GET /api/listener.json`'))),
    ['docs/listeners.md: `/api/listener.json` is named, the API serves no such path'])
})

// ---------------------------------------------------------------- layout

/** The src/ folders README's "Layout" names (`service/`, ...) against the folders src/ has. */
function layoutProblems (readme: string): string[] {
  const named = new Set([...section(readme, '## Layout').matchAll(/`([a-z]+)\/`/g)].map(m => m[1]).filter(n => !['src', 'test', 'bench'].includes(n)))
  const folders = fs.readdirSync(path.join(REPO, 'src'), { withFileTypes: true }).filter(e => e.isDirectory()).map(e => e.name)
  return [
    ...folders.filter(f => !named.has(f)).map(f => `src/${f}/ is not named in README's Layout`),
    ...[...named].filter(n => !folders.includes(n)).map(n => `README's Layout names ${n}/, src/ has no such folder`),
  ]
}

test('docs: README\'s Layout names every folder of src/, and no other', t => {
  t.deepEqual(layoutProblems(README), [])
})

test('docs check: a src/ folder left out of, or unknown to, the Layout is named', t => {
  t.deepEqual(layoutProblems(swap(README, '`lib/` what they share', '`util/` what they share')), [
    'src/lib/ is not named in README\'s Layout',
    'README\'s Layout names util/, src/ has no such folder',
  ])
})

// ---------------------------------------------------------------- configuration errors quoted

/** The configuration errors the docs quote (`sidecar.toml:4: unknown key ...`, `env API_PORT (...): ...`, `--http-port (...): ...`), whitespace made single. */
function quotedConfigErrors (docs: Map<string, string>): Array<[string, string]> {
  const out: Array<[string, string]> = []
  for (const [file, md] of docs) {
    for (const m of stripFences(md).matchAll(/`((?:sidecar\.toml:\d+: |env [A-Z_0-9]+ \(\[|--[a-z-]+ \(\[)[^`]+)`/g)) out.push([file, m[1].replace(/\s+/g, ' ')])
  }
  return out
}

/** What loadConfig says for the mistakes the docs show: each in a sidecar.toml found in the working directory, at the line quoted. */
function realConfigErrors (t: ExecutionContext): string[] {
  const out: string[] = []
  for (const toml of ['[sidecar]\n\n\nclustr_name = "x"\n', '[sidecar]\n\n\nbind_port = "x"\n', '\n[health]\ninterval = "3 seconds"\n']) {
    const cwd = tmpDir(t)
    writeFile(cwd, 'sidecar.toml', toml)
    out.push(...configProblems(t, { cwd }))
  }
  out.push(...configProblems(t, { env: { API_PORT: 'abc' } }), ...configProblems(t, { overrides: { api: { port: '99999' } } }))
  return out
}

function configErrorProblems (quoted: Array<[string, string]>, real: readonly string[]): string[] {
  return quoted.filter(([, q]) => !real.some(r => r.startsWith(q))).map(([file, q]) => `${file}: quotes the configuration error "${q}", loadConfig says ${JSON.stringify(real)}`)
}

test('docs: the configuration errors README.md and docs/*.md quote are what loading such a configuration says', t => {
  const quoted = quotedConfigErrors(DOCS)
  t.true(quoted.length >= 5, `the quoted errors were found (${quoted.length})`)
  t.deepEqual(configErrorProblems(quoted, realConfigErrors(t)), [])
})

test('docs check: a configuration error quoted in words the daemon does not use is named', t => {
  const quoted = quotedConfigErrors(edited('docs/configuration.md', md => swap(md, 'is out of range 1..65535`', 'is out of range 0..65535`')))
  t.deepEqual(configErrorProblems(quoted, realConfigErrors(t)).map(p => p.replace(/, loadConfig says .*/, '')), ['docs/configuration.md: quotes the configuration error "--http-port ([api] port): 99999 is out of range 0..65535"'])
})

// ---------------------------------------------------------------- static file keys and Docker labels

/** The keys of a static-file entry the parser takes (src/discovery/static/parse.ts) that README's "Static discovery" does not name, and the keys its example uses that the parser refuses. */
function staticKeyProblems (readme: string): string[] {
  const text = section(readme, '## Static discovery')
  const problems: string[] = []
  for (const key of [...ENTRY_KEYS, ...SERVICE_KEYS, ...CHECK_KEYS]) {
    if (!new RegExp(`["\`]${key}["\`]`).test(text)) problems.push(`README's Static discovery does not name the key ${key}, which the static file takes`)
  }
  const example = /```json\n([\s\S]*?)\n```/.exec(text)?.[1]
  if (example === undefined) return [...problems, 'README\'s Static discovery has no JSON example']
  const entries = JSON.parse(example) as Array<Record<string, Record<string, unknown>>>
  const known = (keys: readonly string[], obj: object, what: string): void => {
    for (const k of Object.keys(obj)) if (!keys.includes(k)) problems.push(`README's static example: ${what} has the key ${k}, which the parser refuses`)
  }
  for (const e of entries) {
    known(ENTRY_KEYS, e, 'an entry')
    if (e.Service !== undefined) known(SERVICE_KEYS, e.Service, 'Service')
    if (e.Check !== undefined) known(CHECK_KEYS, e.Check, 'Check')
  }
  return problems
}

test('docs: README\'s Static discovery names every key a static entry takes, and its example uses no other', t => {
  t.deepEqual(staticKeyProblems(README), [])
})

test('docs check: a static key left unnamed, or mistyped in the example, is named', t => {
  t.deepEqual(staticKeyProblems(swap(README, '"Check": { "Type": "HttpGet"', '"Chek": { "Type": "HttpGet"')), [
    'README\'s Static discovery does not name the key Check, which the static file takes',
    'README\'s static example: an entry has the key Chek, which the parser refuses',
  ])
  t.deepEqual(staticKeyProblems(swap(README, '`Created`, `Updated`, `Status` and\n  `Site`', '`Created`, `Updated` and `Status`')), ['README\'s Static discovery does not name the key Site, which the static file takes'])
})

/** What the daemon says of README's static example, loaded as a host's static file (the warnings of `--check-config`). */
async function staticExampleWarnings (t: ExecutionContext, readme: string): Promise<string[]> {
  const example = /```json\n([\s\S]*?)\n```/.exec(section(readme, '## Static discovery'))?.[1] ?? '[]'
  const file = writeFile(tmpDir(t), 'static.json', example)
  const warnings: string[] = []
  t.is(await checkStaticFile({ file, hostname: 'host-a', advertiseIp: '10.0.0.5', backendCidrs: [] }, systemClock, w => { warnings.push(w.replace(file, 'static.json')) }), 1, 'its one entry loads')
  return warnings
}

test('docs: README\'s static example loads with no warning (a copy of it works as shown)', async t => {
  t.deepEqual(await staticExampleWarnings(t, README), [])
})

test('docs check: a static example whose port IP peers would refuse is named', async t => {
  const warnings = await staticExampleWarnings(t, swap(README, '"ServicePort": 9999 }', '"ServicePort": 9999, "IP": "10.1.2.3" }'))
  t.is(warnings.length, 1)
  t.regex(warnings[0] ?? '', /^static\.json: a port IP is neither this host's advertised address \(10\.0\.0\.5\)/)
})

/** The container labels discovery reads (src/discovery/docker/labels.ts) against the rows of docs/docker.md's label table. */
function dockerLabelProblems (dockerMd: string): string[] {
  const rows = tableRows(section(dockerMd, '## Labels')).map(c => /^`([A-Za-z_]+)(?:<[^>]*>)?=/.exec(c[0] ?? '')?.[1]).filter(l => l !== undefined)
  const labels: string[] = [DEFAULTS.services.name_label, ...Object.values(LABEL)]
  return [
    ...labels.filter(l => !rows.includes(l)).map(l => `docs/docker.md's label table has no row for ${l}`),
    ...rows.filter(r => !labels.includes(r)).map(r => `docs/docker.md's label table has a row for ${r}, which discovery does not read`),
  ]
}

test('docs: docs/docker.md\'s label table has a row for every label discovery reads, and no other', t => {
  t.deepEqual(dockerLabelProblems(DOCS.get('docs/docker.md') ?? ''), [])
})

test('docs check: a label missing from, or unknown to, docs/docker.md\'s table is named', t => {
  t.deepEqual(dockerLabelProblems(swap(DOCS.get('docs/docker.md') ?? '', '| `SidecarDiscover=false` |', '| `SidecarDiscovery=false` |')), [
    'docs/docker.md\'s label table has no row for SidecarDiscover',
    'docs/docker.md\'s label table has a row for SidecarDiscovery, which discovery does not read',
  ])
})

// ---------------------------------------------------------------- configuration summaries

/** README's table of the config sections: a row for each section of the schema, and each `key` a row names is a key of that section. */
function sectionTableProblems (readme: string): string[] {
  const rows = tableRows(section(readme, '## Configuration')).flatMap(c => {
    const name = /^`\[([a-z_]+)\]`$/.exec(c[0] ?? '')?.[1]
    return name === undefined ? [] : [[name, c[1] ?? ''] as const]
  })
  const problems = SECTIONS.filter(s => !rows.some(([name]) => name === s)).map(s => `README's Configuration table has no row for [${s}]`)
  for (const [name, what] of rows) {
    if (!isSection(name)) problems.push(`README's Configuration table has a row for [${name}], which is no section`)
    else for (const m of what.matchAll(/`([a-z][a-z0-9_]*)`/g)) if (!isKey(name, m[1])) problems.push(`README's Configuration table names \`${m[1]}\` under [${name}], which has no such key`)
  }
  return problems
}

test('docs: README\'s table of the config sections has a row for each section, naming only its keys', t => {
  t.deepEqual(sectionTableProblems(README), [])
})

test('docs check: a key named under the wrong section, or a section left out, is named', t => {
  t.deepEqual(sectionTableProblems(swap(README, '`retry_delay`, `queue_size`', '`retry_delay`, `queue_sze`')), ['README\'s Configuration table names `queue_sze` under [listeners], which has no such key'])
  t.deepEqual(sectionTableProblems(swap(README, '| `[health]` |', '| `[healthcheck]` |')), [
    'README\'s Configuration table has no row for [health]',
    'README\'s Configuration table has a row for [healthcheck], which is no section',
  ])
})

/** docs/configuration.md's rule for values taken from a set ("**Enums** (`discovery`, ...) are case-insensitive"): it names every such key, and no other. */
function enumRuleProblems (md: string): string[] {
  const list = /- \*\*Enums\*\* \(([^)]*)\)/.exec(md)?.[1]
  if (list === undefined) return ['docs/configuration.md has no **Enums** rule']
  const named = [...list.matchAll(/`([a-z_]+)`/g)].map(m => m[1])
  const enums = allKeys().filter(([s, k]) => specOf(s, k).values !== undefined).map(([, k]) => k)
  return [
    ...enums.filter(k => !named.includes(k)).map(k => `docs/configuration.md's Enums rule leaves out ${k}, whose values are a set (src/config/schema.ts)`),
    ...named.filter(k => !enums.includes(k)).map(k => `docs/configuration.md's Enums rule names ${k}, which takes no set of values`),
  ]
}

test('docs: docs/configuration.md\'s Enums rule names every key whose value is one of a set, and no other', t => {
  t.deepEqual(enumRuleProblems(CONFIG_DOC), [])
})

test('docs check: an enum key left out of, or wrongly in, the Enums rule is named', t => {
  t.deepEqual(enumRuleProblems(swap(CONFIG_DOC, '`balance`, `access_log`', '`balance`, `bind_ip`')), [
    'docs/configuration.md\'s Enums rule leaves out access_log, whose values are a set (src/config/schema.ts)',
    'docs/configuration.md\'s Enums rule names bind_ip, which takes no set of values',
  ])
})

// ---------------------------------------------------------------- npm scripts

const SCRIPTS = Object.keys((JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts)

/** Every `npm run <script>` README.md and docs/*.md show (in code, across a line break too) that package.json does not define. */
function npmScriptProblems (docs: Map<string, string>): string[] {
  const problems: string[] = []
  for (const [file, md] of docs) {
    for (const m of md.matchAll(/npm\s+run(?:\s+-s)?\s+([a-z][a-z0-9:-]*)/g)) if (!SCRIPTS.includes(m[1])) problems.push(`${file}: \`npm run ${m[1]}\` is shown, package.json has no such script`)
  }
  return problems
}

test('docs: every `npm run` script README.md and docs/*.md show is one package.json defines', t => {
  t.deepEqual(npmScriptProblems(DOCS), [])
})

test('docs check: a script that was renamed is named', t => {
  t.deepEqual(npmScriptProblems(edited('README.md', md => swap(md, '`npm run bench:api`', '`npm run bench:api-load`'))), ['README.md: `npm run bench:api-load` is shown, package.json has no such script'])
})

// ---------------------------------------------------------------- TOML examples

/** What loading each ```toml example of README.md and docs/*.md as a sidecar.toml says: its problems and warnings, by file and example. */
function tomlExampleProblems (t: ExecutionContext, docs: Map<string, string>): string[] {
  const out: string[] = []
  for (const [file, md] of docs) {
    let n = 0
    for (const m of md.matchAll(/^```toml\n([\s\S]*?)^```$/gm)) {
      n++
      const cwd = tmpDir(t)
      writeFile(cwd, 'sidecar.toml', m[1])
      try {
        out.push(...loadTestConfig(t, { cwd }).warnings.map(w => `${file}, TOML example ${n}: warning: ${w}`))
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err
        out.push(...err.problems.map(p => `${file}, TOML example ${n}: ${p}`))
      }
    }
  }
  return out
}

test('docs: every TOML example README.md and docs/*.md show loads with no problem and no warning', t => {
  t.true([...DOCS.values()].some(md => md.includes('```toml\n')), 'the docs have TOML examples')
  t.deepEqual(tomlExampleProblems(t, DOCS), [])
})

test('docs check: a TOML example with a mistyped key is named', t => {
  t.deepEqual(tomlExampleProblems(t, edited('docs/configuration.md', md => swap(md, 'status_changes_only = true\n```', 'status_change_only = true\n```'))),
    ['docs/configuration.md, TOML example 1: sidecar.toml:8: [listeners] webhook: entry 0: unknown key status_change_only, did you mean status_changes_only? (keys: url, services, status_changes_only)'])
})
