// The effective configuration written back as TOML (for --check-config and the start-up
// log): every section and key, durations as "20s"/"200ms"/"1m30s". The output is itself a
// valid config file that loads to the same configuration (except redacted secrets).
import { stringify } from 'smol-toml'
import { SECRET_NAME } from '../lib/redact.ts'
import { formatDuration } from './duration.ts'
import { keysOf, SECTIONS, specOf } from './schema.ts'
import type { SidecarConfig } from './types.ts'

export const REDACTED = '<redacted>'

/**
 * A webhook URL with its secrets replaced by <redacted>: the password (user:password@), else a
 * bare user part (https://TOKEN@host is a token sent as Basic auth), and query values whose
 * names hold secrets by convention (?token=, api_key=, ...).
 */
function maskUrlSecrets (url: string): string {
  if (!URL.canParse(url)) return url
  const u = new URL(url)
  let masked = u.password !== '' || u.username !== ''
  if (u.password !== '') u.password = REDACTED
  else if (u.username !== '') u.username = REDACTED
  for (const name of [...new Set(u.searchParams.keys())]) {
    if (!SECRET_NAME.test(name)) continue
    u.searchParams.set(name, REDACTED)
    masked = true
  }
  return masked ? u.href : url
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
    doc.listeners.urls = config.listeners.urls.map(maskUrlSecrets)
    doc.listeners.webhook = config.listeners.webhook.map(w => ({ ...w, url: maskUrlSecrets(w.url) }))
  }
  return `${stringify(doc)}\n`
}
