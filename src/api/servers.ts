// GET /servers (reference §5.8): the state as the original's plain-text dump, in a tiny
// HTML page that reloads itself every 4 s.
import type { StateSnapshot } from '../catalog/index.ts'
import { compareGoStrings } from '../catalog/index.ts'
import { PartWriter } from '../lib/json-parts.ts'
import { Slicer } from '../lib/slicer.ts'
import { formatPorts, type Service } from '../service/service.ts'
import { statusString } from '../service/status.ts'
import type { Time } from '../service/time.ts'

const MINUTE = 60
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR
const WEEK = 7 * DAY

/** The original's output.TimeAgo (reference §10.3): both times rounded to the second. */
export function timeAgo (when: Time, refMs: number): string {
  const diff = Math.round(refMs / 1000) - Math.round(when.toMillis() / 1000)
  if (diff > WEEK) return `${(diff / WEEK).toFixed(1)} weeks ago`
  if (diff > DAY) return `${(diff / DAY).toFixed(1)} days ago`
  if (diff > HOUR) return `${(diff / HOUR).toFixed(1)} hours ago`
  if (diff > MINUTE) return `${(diff / MINUTE).toFixed(1)} mins ago`
  if (diff > 1) return `${diff.toFixed(1)} secs ago`
  return '1.0 sec ago'
}

/** Go's %-Ns: left-aligned, padded with spaces to at least n characters (code points). */
function pad (s: string, n: number): string {
  const len = [...s].length
  return len >= n ? s : s + ' '.repeat(n - len)
}

/** The original's Service.Format() line. */
export function formatService (svc: Service, refMs: number): string {
  return `      ${svc.ID} ${pad(svc.Name, 30)} ${pad(formatPorts(svc), 15)} ${pad(svc.Image, 45)}  ${pad(timeAgo(svc.Updated, refMs), 15)} ${pad(statusString(svc.Status), 9)}\n`
}

/**
 * The original's ServicesState.Format(), piece by piece: servers by name, services by name,
 * then the member list. One generator serves the whole string (formatState) and the sliced
 * page (serversPageParts), so the two cannot drift apart.
 */
function * statePieces (state: StateSnapshot, members: readonly string[], refMs: number): Generator<string> {
  yield 'Services ------------------------------\n'
  for (const host of Object.keys(state.Servers).sort(compareGoStrings)) {
    const server = state.Servers[host]
    yield `  ${server.Name}: (${timeAgo(server.LastUpdated, refMs)})\n`
    const services = Object.values(server.Services).sort((a, b) => compareGoStrings(a.Name, b.Name) || compareGoStrings(a.ID, b.ID))
    for (const svc of services) yield formatService(svc, refMs)
    yield '\n'
  }
  yield '\nCluster Hosts -------------------------\n'
  for (const m of members) yield `    ${m}\n`
  yield '---------------------------------------'
}

/** The original's ServicesState.Format() as one string. */
export function formatState (state: StateSnapshot, members: readonly string[], refMs: number): string {
  let out = ''
  for (const piece of statePieces(state, members, refMs)) out += piece
  return out
}

/** Enough for text inside an element: names come from other hosts, so "<" must never open a tag. */
function escapeHtml (s: string): string {
  return s.replace(/[&<]/g, c => c === '&' ? '&amp;' : '&lt;')
}

function pageHead (state: StateSnapshot): string {
  return `<!doctype html>\n<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="4"><title>Sidecar ${escapeHtml(state.Hostname)}</title></head>\n<body><pre>`
}

const PAGE_TAIL = '</pre></body></html>\n'

export function serversPage (state: StateSnapshot, members: readonly string[], refMs: number): string {
  return `${pageHead(state)}${escapeHtml(formatState(state, members, refMs))}${PAGE_TAIL}`
}

/**
 * The same bytes as serversPage, built in time slices (Slicer): at 10,000 services the page
 * takes about 100 ms to build in one piece on a quiet machine, several times that on a busy one.
 */
export async function serversPageParts (state: StateSnapshot, members: readonly string[], refMs: number): Promise<Buffer[]> {
  const out = new PartWriter()
  const slicer = new Slicer()
  out.add(pageHead(state))
  for (const piece of statePieces(state, members, refMs)) {
    out.add(escapeHtml(piece))
    if (slicer.due()) await slicer.next()
  }
  out.add(PAGE_TAIL)
  return out.finish()
}
