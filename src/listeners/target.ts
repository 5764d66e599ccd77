// A webhook URL as given, split into what is sent where: user:password@ becomes an
// Authorization: Basic header (decoded here, sent on every attempt) and never goes out in
// the URL, and everything shown (names, logs, /api/listeners.json, metric labels) has the
// password masked.
import { unescape } from 'node:querystring'

export interface Target {
  /** The URL requests go to, without credentials. */
  readonly href: string
  /** "Basic ..." when the URL carried credentials. */
  readonly authorization?: string
  /** The URL as shown: the password replaced by "***". */
  readonly display: string
}

export function parseTarget (url: string): Target {
  const u = new URL(url)
  if (u.username === '' && u.password === '') return { href: u.href, display: url }
  // unescape, not decodeURIComponent: a "%" that starts no escape ("p@ss100%") is kept as it is,
  // where decodeURIComponent threw and the daemon did not start
  const authorization = `Basic ${Buffer.from(`${unescape(u.username)}:${unescape(u.password)}`).toString('base64')}`
  const shown = new URL(u.href)
  if (shown.password !== '') shown.password = '***'
  u.username = ''
  u.password = ''
  return { href: u.href, authorization, display: shown.href }
}

/** The URL as shown anywhere: the password masked. */
export function displayUrl (url: string): string {
  return URL.canParse(url) ? parseTarget(url).display : url
}
