// The effective configuration written back as TOML (for --check-config and the start-up
// log): every section and key, durations as "20s"/"200ms"/"1m30s". The output is itself a
// valid config file that loads to the same configuration (except redacted secrets).
import { stringify } from 'smol-toml'
import { formatDuration } from './duration.ts'
import { keysOf, SECTIONS, specOf } from './schema.ts'
import type { SidecarConfig } from './types.ts'

export const REDACTED = '<redacted>'

export interface FormatOptions {
  /** Replace a non-empty cluster_key and listeners secret with "<redacted>" (default true: the output gets logged). */
  redact?: boolean
}

export function formatConfig (config: SidecarConfig, { redact = true }: FormatOptions = {}): string {
  const doc: Record<string, Record<string, unknown>> = {}
  for (const section of SECTIONS) {
    const src = config[section] as unknown as Record<string, unknown>
    const out: Record<string, unknown> = {}
    for (const key of keysOf(section)) {
      const v = src[key]
      out[key] = specOf(section, key).type === 'duration' && typeof v === 'number' ? formatDuration(v) : v
    }
    doc[section] = out
  }
  if (redact && config.sidecar.cluster_key !== '') doc.sidecar.cluster_key = REDACTED
  if (redact && config.listeners.secret !== '') doc.listeners.secret = REDACTED
  return `${stringify(doc)}\n`
}
