// Layers the sources (defaults < file < env < flags), checks every value, resolves the
// start-up values, and either returns the effective config or throws ONE ConfigError that
// lists every problem found in every source.
import os from 'node:os'
import path from 'node:path'
import { ConfigError } from '../lib/errors.ts'
import { openFileLimit } from '../lib/open-files.ts'
import { coerce, type Mode, type ValuePath } from './coerce.ts'
import { DEFAULTS } from './defaults.ts'
import { readEnv, unknownEnvWarnings } from './env.ts'
import { chooseConfigFile, displayPath, readConfigFile } from './file.ts'
import { resolveConfig, type Interfaces } from './resolve.ts'
import { allKeys, isKey, isSection, keysOf, SECTIONS, specOf, type SectionName } from './schema.ts'
import { didYouMean } from '../lib/suggest.ts'
import type { SidecarConfig } from './types.ts'

/**
 * Values from command-line flags (or a program), by section and key. Strings are parsed
 * like env vars; a value may also be of the effective type (number, string[], boolean;
 * durations as milliseconds). Undefined values are ignored.
 */
export type ConfigOverrides = Partial<Record<keyof SidecarConfig, Record<string, unknown>>>

export interface LoadOptions {
  /** From -f/--config-file: must exist. '' means "no file at all". */
  configFile?: string
  env: Record<string, string | undefined>
  overrides: ConfigOverrides
  /** How the user typed the flag that set an override, by "section.key" ("-c"): errors name it so. */
  typedFlags?: Readonly<Record<string, string>>
  cwd: string
  /** Default os.hostname(). */
  osHostname?: string
  /** Default os.networkInterfaces(); scanned for the advertise IP. */
  interfaces?: Interfaces
  /** Default os.homedir(); for the default data_dir and "~/" in paths. */
  homedir?: string
  /** Default: this process's open-file limit (open-files.ts); null = unknown. Sizes the connection caps. */
  openFiles?: number | null
}

export interface LoadedConfig {
  config: SidecarConfig
  /** Absolute path of the config file read, if any. */
  file?: string
  warnings: string[]
}

/** Loads the effective configuration. Throws ConfigError listing every problem. */
export function loadConfig (opts: LoadOptions): LoadedConfig {
  const cwd = path.resolve(opts.cwd)
  const problems: string[] = []
  const warnings: string[] = []
  const values = new Map<string, unknown>() // "section.key" -> effective value so far
  const bases = new Map<string, string>() // "section.key" -> dir its relative path resolves against
  const bad = new Set<string>()

  /** label: how the source names the value, or a problem inside it ([entry, key] of an array of tables). */
  const apply = (section: SectionName, key: string, raw: unknown, mode: Mode, label: string | ((at?: ValuePath) => string), base: string): void => {
    const id = `${section}.${key}`
    const r = coerce(specOf(section, key), raw, mode)
    if (!r.ok) {
      r.problems.forEach((p, i) => { problems.push(`${typeof label === 'string' ? label : label(r.at?.[i])}: ${p}`) })
      bad.add(id)
      return
    }
    values.set(id, r.value)
    bases.set(id, base)
  }

  for (const [section, key] of allKeys()) {
    const raw = (DEFAULTS[section] as Record<string, unknown>)[key]
    const r = coerce(specOf(section, key), raw, 'toml')
    if (!r.ok) throw new Error(`bug: default [${section}] ${key}: ${r.problems.join('; ')}`)
    values.set(`${section}.${key}`, r.value)
  }

  const choice = chooseConfigFile(opts.configFile, opts.env, cwd)
  let file: string | undefined
  if (choice.path !== undefined) {
    const display = displayPath(choice.path, cwd)
    const read = readConfigFile({ ...choice, path: choice.path }, display)
    problems.push(...read.problems)
    file = choice.path
    for (const [section, key, raw] of read.entries) {
      apply(section, key, raw, 'toml', (at) => `${read.where([section, key, ...at ?? []])}: [${section}] ${key}`, path.dirname(choice.path))
    }
  }

  for (const e of readEnv(opts.env)) apply(e.section, e.key, e.value, 'text', `env ${e.name} ([${e.section}] ${e.key})`, cwd)
  warnings.push(...unknownEnvWarnings(opts.env))

  for (const [section, keys] of Object.entries(opts.overrides)) {
    if (keys === undefined) continue
    if (!isSection(section)) {
      problems.push(`override: unknown section [${section}]${didYouMean(section, SECTIONS, (s) => `[${s}]`)}`)
      continue
    }
    for (const [key, raw] of Object.entries(keys)) {
      if (raw === undefined) continue
      if (!isKey(section, key)) {
        problems.push(`override: unknown key [${section}] ${key}${didYouMean(key, keysOf(section))}`)
        continue
      }
      const flag = specOf(section, key).flag
      const typed = opts.typedFlags?.[`${section}.${key}`]
      const name = flag === undefined ? undefined : typed !== undefined && typed !== `--${flag.long}` ? `${typed} (--${flag.long}, [${section}] ${key})` : `--${flag.long} ([${section}] ${key})`
      apply(section, key, raw, 'override', name ?? `override [${section}] ${key}`, cwd)
    }
  }

  const config = build(values)
  const resolved = resolveConfig(config, {
    cwd,
    osHostname: opts.osHostname ?? os.hostname(),
    homedir: opts.homedir ?? os.homedir(),
    interfaces: opts.interfaces ?? os.networkInterfaces(),
    bases,
    bad,
    openFiles: (opts.openFiles === undefined ? openFileLimit() : opts.openFiles) ?? undefined,
  })
  problems.push(...resolved.problems)
  warnings.push(...resolved.warnings)
  if (problems.length > 0) throw new ConfigError(problems)
  return file === undefined ? { config, warnings } : { config, file, warnings }
}

/** The nested config object, keys in schema order; lists are copied. */
function build (values: ReadonlyMap<string, unknown>): SidecarConfig {
  const out: Record<string, Record<string, unknown>> = {}
  for (const section of SECTIONS) {
    const obj: Record<string, unknown> = {}
    for (const key of keysOf(section)) {
      const v = values.get(`${section}.${key}`)
      obj[key] = Array.isArray(v) ? [...v] : v
    }
    out[section] = obj
  }
  return out as unknown as SidecarConfig
}
