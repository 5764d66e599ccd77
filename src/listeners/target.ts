// A webhook URL as given, split into what is sent where: user:password@ becomes an
// Authorization: Basic header (decoded here, sent on every attempt) and never goes out in
// the URL, and everything shown (names, logs, /api/listeners.json, metric labels) has its
// credentials masked as health checks' URLs are (lib/redact.ts): the password, a user part
// alone (often a token: https://TOKEN@host/) and secret-looking query values (?token=...).
import { unescape } from 'node:querystring'
import { redactText } from '../lib/redact.ts'

export interface Target {
  /** The URL requests go to, without credentials. */
  readonly href: string
  /** "Basic ..." when the URL carried credentials. */
  readonly authorization?: string
  /** The URL as shown: credentials replaced by "***" (redactText). */
  readonly display: string
}

export function parseTarget (url: string): Target {
  const u = new URL(url)
  if (u.username === '' && u.password === '') return { href: u.href, display: redactText(url) }
  // unescape, not decodeURIComponent: a "%" that starts no escape ("p@ss100%") is kept as it is,
  // where decodeURIComponent threw and the daemon did not start
  const authorization = `Basic ${Buffer.from(`${unescape(u.username)}:${unescape(u.password)}`).toString('base64')}`
  const display = redactText(u.href)
  u.username = ''
  u.password = ''
  return { href: u.href, authorization, display }
}

/** The URL as shown anywhere: credentials masked. */
export function displayUrl (url: string): string {
  return URL.canParse(url) ? parseTarget(url).display : url
}
