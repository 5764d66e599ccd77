// Every command-line flag and the --help text built from them. Flags that set a config key
// come from the config schema (so the key, env var and default are named in one place); the
// others steer the program itself.
import { DEFAULTS } from '../config/defaults.ts'
import { CONFIG_FILE_ENV, envName, SECTIONS, keysOf, specOf, type SectionName } from '../config/schema.ts'

export interface FlagDef {
  long: string
  short?: string
  /** Placeholder of the value; absent for boolean flags. */
  arg?: string
  multiple?: boolean
  /** The config key the flag sets. */
  target?: { section: SectionName, key: string }
  doc: string
  env?: string
  /** The default as shown in --help. */
  defaultText?: string
}

function showDefault (section: SectionName, key: string): string {
  const spec = specOf(section, key)
  if (spec.defaultText !== undefined) return spec.defaultText
  const v = (DEFAULTS[section] as Record<string, unknown>)[key]
  if (Array.isArray(v)) return v.length === 0 ? 'none' : v.join(',')
  return String(v)
}

function configFlags (): FlagDef[] {
  const out: FlagDef[] = []
  for (const section of SECTIONS) {
    for (const key of keysOf(section)) {
      const spec = specOf(section, key)
      if (spec.flag === undefined) continue
      const { long, short, arg, multiple } = spec.flag
      const doc = multiple === true ? `${spec.doc}; repeat for more, replaces the whole list` : spec.doc
      out.push({ long, short, arg, multiple, target: { section, key }, doc, env: envName(section, key), defaultText: showDefault(section, key) })
    }
  }
  return out
}

/** All flags, in --help order. */
export const FLAGS: readonly FlagDef[] = [
  { long: 'config-file', short: 'f', arg: 'PATH', doc: 'TOML configuration file; "" for none', env: CONFIG_FILE_ENV, defaultText: './sidecar.toml when it exists' },
  ...configFlags(),
  { long: 'check-config', doc: 'check the configuration, and the static discovery file when static discovery is on, print the configuration as TOML and exit (0 if valid, 2 if not)' },
  { long: 'version', doc: 'print the version and exit' },
  { long: 'help', short: 'h', doc: 'print this help and exit' },
]

// Fails at import (so in every test run) if two flags ever claim one name.
const names = FLAGS.flatMap((f) => [f.long, ...(f.short !== undefined ? [f.short] : [])])
if (new Set(names).size !== names.length) throw new Error(`bug: duplicate flag names in ${names.join(' ')}`)


function signature (f: FlagDef): string {
  const names = f.short !== undefined ? `-${f.short}, --${f.long}` : `    --${f.long}`
  return f.arg !== undefined ? `${names} ${f.arg}` : names
}

const INDENT = '        '
const WIDTH = 80

/** Word-wraps text to WIDTH columns, each line indented. */
function wrap (text: string): string[] {
  const out: string[] = []
  let line = ''
  for (const word of text.split(' ')) {
    if (line !== '' && INDENT.length + line.length + 1 + word.length > WIDTH) {
      out.push(INDENT + line)
      line = word
    } else {
      line = line === '' ? word : `${line} ${word}`
    }
  }
  if (line !== '') out.push(INDENT + line)
  return out
}

export function usage (): string {
  const lines = [
    'Usage: sidecar [flags]',
    '',
    'Service discovery daemon: discovers this host\'s services (static file, Docker),',
    'health-checks them, shares them with the cluster by gossip, and serves the',
    'catalog over HTTP.',
    '',
    'Flags:',
  ]
  for (const f of FLAGS) {
    lines.push(`  ${signature(f)}${f.multiple === true ? '   (repeatable)' : ''}`)
    lines.push(...wrap(f.doc))
    const where: string[] = []
    if (f.env !== undefined) where.push(`env ${f.env}`)
    if (f.target !== undefined) where.push(`sets [${f.target.section}] ${f.target.key}`)
    if (where.length > 0) lines.push(...wrap(where.join(', ')))
    if (f.defaultText !== undefined) lines.push(...wrap(`default: ${f.defaultText}`))
  }
  lines.push(
    '',
    'Precedence: built-in defaults < config file < environment variables < flags.',
    'Every config key has an environment variable <SECTION PREFIX>_<KEY>, e.g.',
    'SIDECAR_CLUSTER_NAME, API_PORT, HEALTH_INTERVAL; lists in env vars and flags are',
    'separated by commas or spaces. Keys without a flag are set in the file or by',
    `their variable, e.g. ${envName('static_discovery', 'config_file')} (the static discovery file, default`,
    `${showDefault('static_discovery', 'config_file')}) and ${envName('sidecar', 'logging_format')} (text or json). Every key, with its`,
    'variable: docs/configuration.md and sidecar.example.toml.',
    '',
    'A first run without Docker: sidecar -d static serves the services listed in',
    `./${showDefault('static_discovery', 'config_file')} (its format: static.example.json). The web UI and JSON API are`,
    `at http://localhost:${showDefault('api', 'port')}/ (/health, /services.json), or at the bind IP when`,
    `that is one address; the gossip port is ${showDefault('sidecar', 'bind_port')}.`,
    'To join a cluster, give every node the same seeds: -c <a member\'s IP>[:PORT].',
    'Logs go to stderr (the proxy\'s access log, when on, to stdout). The node\'s',
    'identity, host pins and drains (which hold across restarts) are kept in',
    `[sidecar] data_dir (${envName('sidecar', 'data_dir')}), by default ${showDefault('sidecar', 'data_dir')}.`,
    '',
    'Exit codes: 0 ok, 1 failed to start or crashed, 2 bad configuration or usage.',
    'SIGINT or SIGTERM: a graceful stop (this host\'s records are tombstoned and',
    'gossiped), at most 5 s, exit 0. A signal during the start ends the start early',
    '(nothing more starts, the wait for a seed ends), then the same stop; a second',
    'signal exits at once. SIGHUP: re-reads the static discovery file now and keeps',
    'running; configuration file, environment and flag changes need a restart.',
    '',
  )
  return lines.join('\n')
}
