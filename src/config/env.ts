// Environment variables: exactly <PREFIX>_<KEY> for each schema key (DOCKER_URL for
// [docker_discovery] docker_url). Unlike the original (envconfig), there is NO fallback to the
// bare key name: USER, BIND_IP, CONFIG_FILE, URL... are never read.
// A variable set to "" is set: it gives strings "" and lists [] (for keys where "" means
// "resolve at start-up", that is what it asks for); for numbers, durations and enums it is
// reported as a problem.
import { allKeys, CONFIG_FILE_ENV, envName, FROM_SOURCE_ENV, type SectionName } from './schema.ts'
import { nearest } from '../lib/suggest.ts'

export interface EnvEntry {
  section: SectionName
  key: string
  name: string
  value: string
}

/** The schema keys set in env, in schema order. */
export function readEnv (env: Record<string, string | undefined>): EnvEntry[] {
  const out: EnvEntry[] = []
  for (const [section, key] of allKeys()) {
    const name = envName(section, key)
    const value = env[name]
    if (value !== undefined) out.push({ section, key, name, value })
  }
  return out
}

/** Every variable this program reads. */
export function knownEnvNames (): string[] {
  return [CONFIG_FILE_ENV, FROM_SOURCE_ENV, ...allKeys().map(([s, k]) => envName(s, k))]
}

/**
 * Warnings for SIDECAR_* variables that are not ours (typos, or the original's variables
 * such as SIDECAR_STATS_ADDR that this implementation does not have). Other prefixes
 * (API_, DOCKER_...) are shared with other software, so they are not reported.
 */
export function unknownEnvWarnings (env: Record<string, string | undefined>): string[] {
  const known = knownEnvNames()
  const ours = known.filter((n) => n.startsWith('SIDECAR_'))
  const warnings: string[] = []
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith('SIDECAR_') || known.includes(name) || env[name] === undefined) continue
    const tail = (n: string): string => n.slice('SIDECAR_'.length).toLowerCase() // the shared prefix would make every name look near
    const best = nearest(tail(name), ours.map(tail))
    const hint = best === undefined ? '' : `, did you mean SIDECAR_${best.toUpperCase()}?`
    warnings.push(`environment variable ${name} is not a sidecar setting and is ignored${hint}`)
  }
  return warnings
}
