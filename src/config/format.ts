// The effective configuration written back as TOML (for --check-config and the start-up
// log): every section and key, durations as "20s"/"200ms"/"1m30s". The output is itself a
// valid config file that loads to the same configuration (except redacted secrets).
import { stringify } from 'smol-toml'
import { formatDuration } from './duration.ts'
import { keysOf, SECTIONS, specOf } from './schema.ts'
import type { SidecarConfig } from './types.ts'

export const REDACTED = '<redacted>'

/** A webhook URL with its password (user:password@) replaced by <redacted>. */
function maskPassword (url: string): string {
  if (!URL.canParse(url)) return url
  const u = new URL(url)
  if (u.password === '') return url
  u.password = REDACTED
  return u.href
}

export interface FormatOptions {
  /** Replace a non-empty cluster_key, api token, listeners secret and webhook URL passwords with "<redacted>" (default true: the output gets logged). */
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
  if (redact && config.api.token !== '') doc.api.token = REDACTED
  if (redact) {
    doc.listeners.urls = config.listeners.urls.map(maskPassword)
    doc.listeners.webhook = config.listeners.webhook.map(w => ({ ...w, url: maskPassword(w.url) }))
  }
  return `${stringify(doc)}\n`
}
