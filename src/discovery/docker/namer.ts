// Service naming for containers (reference §3.2): a label, or a regular expression over
// the container name. Both fall back to the image, as the original did.
//
// The container name is chosen by whoever starts the container, and Docker takes names of up
// to about a megabyte ([a-zA-Z0-9][a-zA-Z0-9_.-]*, the API's 1 MiB header limit). JavaScript's
// backtracking RegExp took exponential time on such a name for patterns an operator writes
// (^/([a-z0-9]+(?:-?[a-z0-9]+)*)-\d+$ froze the daemon 26 s on 32 characters, doubling with
// each more), so the pattern is RE2 syntax matched by re2js: time linear in the name whatever
// the pattern, and the syntax the original's Go regexp took.
import { compileRe2 } from '../../lib/re2.ts'

export interface NamedThing {
  /** Docker's container name, with its leading "/". */
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly image: string
}

export interface Naming {
  readonly name: string
  /** Why the namer could not do its job for this container (logged once per container). */
  readonly warning?: string
}

export type Namer = (c: NamedThing) => Naming

/**
 * The longest container name the regex namer reads (its leading "/" included). Real names are
 * far shorter (a Kubernetes dockershim name, the longest kind, stays under 450); a longer one is
 * named after its image, so a crafted megabyte-long name costs a length comparison, not the
 * 0.2 to 0.6 s re2js spends on it at each inspect.
 */
export const MAX_MATCHED_NAME_LENGTH = 1024

/** The label's value; the image when the label is missing or empty. */
export function labelNamer (label: string): Namer {
  return (c) => {
    const v = c.labels[label]
    return { name: v !== undefined && v !== '' ? v : c.image }
  }
}

/**
 * Capture group 1 of the pattern (RE2 syntax) found in the name (with its leading "/", so the
 * original's expressions such as ^/(.+)(-[0-9a-z]{7,14})$ keep working); the image when it
 * does not match, group 1 is empty or missing, or the name is longer than MAX_MATCHED_NAME_LENGTH.
 */
export function regexNamer (source: string): Namer {
  const pattern = compileRe2(source) // throws RE2JSException when it is not RE2 syntax
  const hasGroup = pattern.groupCount() >= 1
  return (c) => {
    if (c.name.length > MAX_MATCHED_NAME_LENGTH) {
      return { name: c.image, warning: `container name is ${c.name.length} characters long: [services] name_match is tried on names of at most ${MAX_MATCHED_NAME_LENGTH}, so it is named after its image` }
    }
    if (!hasGroup) return { name: c.image }
    const m = pattern.matcher(c.name)
    const v = m.find() ? m.group(1) : null
    return { name: v !== null && v !== '' ? v : c.image }
  }
}

/** How containers are named: the [services] section's keys (validated by the config loader). */
export interface NamerOptions {
  readonly namer: 'docker_label' | 'regex'
  readonly name_label: string
  readonly name_match: string
}

/** The namer the options ask for. */
export function makeNamer (cfg: NamerOptions): Namer {
  return cfg.namer === 'regex' ? regexNamer(cfg.name_match) : labelNamer(cfg.name_label)
}
