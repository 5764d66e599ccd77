// Service naming for containers (reference §3.2): a label, or a regular expression over
// the container name. Both fall back to the image, as the original did.

export interface NamedThing {
  /** Docker's container name, with its leading "/". */
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly image: string
}

export type Namer = (c: NamedThing) => string

/** The label's value; the image when the label is missing or empty. */
export function labelNamer (label: string): Namer {
  return (c) => {
    const v = c.labels[label]
    return v !== undefined && v !== '' ? v : c.image
  }
}

/**
 * Capture group 1 of the expression applied to the name (with its leading "/", so the
 * original's expressions such as ^/(.+)(-[0-9a-z]{7,14})$ keep working); the image when
 * it does not match or group 1 is empty.
 */
export function regexNamer (expr: RegExp): Namer {
  return (c) => {
    const m = expr.exec(c.name)
    const v = m?.[1]
    return v !== undefined && v !== '' ? v : c.image
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
  return cfg.namer === 'regex' ? regexNamer(new RegExp(cfg.name_match)) : labelNamer(cfg.name_label)
}
