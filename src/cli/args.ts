// argv -> what to do, plus the config values given as flags. Flag values are NOT checked
// here: loadConfig checks them with every other source, so one error lists everything.
import { parseArgs } from 'node:util'
import type { ConfigOverrides } from '../config/load.ts'
import { didYouMean } from '../lib/suggest.ts'
import { ConfigError } from '../lib/errors.ts'
import { FLAGS, type FlagDef } from './usage.ts'

export type { ConfigOverrides } from '../config/load.ts'
export { usage } from './usage.ts'

export interface CliArgs {
  help: boolean
  version: boolean
  checkConfig: boolean
  /** -f/--config-file as given (relative to cwd); '' asks for no file. */
  configFile?: string
  overrides: ConfigOverrides
  /** How each flag that set a config key was typed, by "section.key" ("-c"), for loadConfig's messages. */
  typedFlags: Record<string, string>
}

const BY_LONG = new Map(FLAGS.map((f) => [f.long, f]))
const LONG_NAMES = FLAGS.map((f) => f.long)

const OPTIONS = Object.fromEntries(FLAGS.map((f) => [f.long, {
  type: f.arg !== undefined ? 'string' as const : 'boolean' as const,
  ...(f.short !== undefined ? { short: f.short } : {}),
  ...(f.multiple === true ? { multiple: true } : {}),
}]))

/** The flag as the user typed it: "-c (--cluster-ip)" for a short one, so the message names what is on their command line. */
function nameOf (f: FlagDef, rawName: string): string {
  return rawName === `--${f.long}` ? rawName : `${rawName} (--${f.long})`
}

/** Parses argv (without node and script). Throws ConfigError listing every bad argument. */
export function parseCliArgs (argv: string[]): CliArgs {
  const { tokens } = parseArgs({ args: argv, options: OPTIONS, strict: false, allowPositionals: true, tokens: true })
  const problems: string[] = []
  const result: CliArgs = { help: false, version: false, checkConfig: false, overrides: {}, typedFlags: {} }
  let unknownAt = -2 // argv index of the last unknown flag: a bare word right after it is its value

  for (const t of tokens) {
    if (t.kind === 'option-terminator') continue
    if (t.kind === 'positional') {
      if (t.index !== unknownAt + 1) problems.push(`unexpected argument ${JSON.stringify(t.value)} (flags take the form --name VALUE)`)
      continue
    }
    const def = BY_LONG.get(t.name) // parseArgs names a known short flag by its long name
    if (def === undefined) {
      problems.push(unknownFlag(t.rawName, t.name))
      if (t.value === undefined) unknownAt = t.index
      continue
    }
    if (def.arg === undefined) {
      if (t.value !== undefined) problems.push(`flag ${nameOf(def, t.rawName)} takes no value, got ${JSON.stringify(t.value)}`)
      else setBoolean(result, def)
      continue
    }
    if (t.value === undefined) {
      problems.push(`flag ${nameOf(def, t.rawName)} needs a value: ${t.rawName} ${def.arg}`)
      continue
    }
    if (!t.inlineValue && t.value.length > 1 && t.value.startsWith('-') && !/^-\d/.test(t.value)) {
      problems.push(`flag ${nameOf(def, t.rawName)} needs a value, got the flag ${t.value} (write --${def.long}=VALUE for a value starting with "-")`)
      continue
    }
    setValue(result, def, t.value)
    if (def.target !== undefined) result.typedFlags[`${def.target.section}.${def.target.key}`] = t.rawName
  }
  if (problems.length > 0) throw new ConfigError(problems)
  return result
}

function unknownFlag (rawName: string, name: string): string {
  if (!rawName.startsWith('--')) {
    const shorts = FLAGS.filter((f) => f.short !== undefined).map((f) => `-${f.short}`).join(' ')
    return `unknown flag ${rawName} (short flags: ${shorts}; see --help)`
  }
  const hint = didYouMean(name, LONG_NAMES, (n) => `--${n}`)
  return `unknown flag ${rawName}${hint !== '' ? hint : ' (see --help)'}`
}

function setBoolean (r: CliArgs, def: FlagDef): void {
  if (def.long === 'help') r.help = true
  else if (def.long === 'version') r.version = true
  else if (def.long === 'check-config') r.checkConfig = true
  else throw new Error(`bug: boolean flag --${def.long} has no meaning`)
}

function setValue (r: CliArgs, def: FlagDef, value: string): void {
  if (def.long === 'config-file') {
    r.configFile = value
    return
  }
  if (def.target === undefined) throw new Error(`bug: flag --${def.long} sets nothing`)
  const { section, key } = def.target
  const sec = (r.overrides[section] ??= {})
  if (def.multiple === true) {
    const list = Array.isArray(sec[key]) ? sec[key] as string[] : []
    sec[key] = [...list, value]
  } else {
    sec[key] = value // the last one given wins
  }
}
