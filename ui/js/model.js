// The page's model: every record by (Hostname, ID), the cluster members, and the pure
// functions that turn them into what the page shows. No DOM here.
import { lookalikeOf } from './lookalike.js'

export const STATUS = Object.freeze({ ALIVE: 0, TOMBSTONE: 1, UNHEALTHY: 2, UNKNOWN: 3, DRAINING: 4 })
const STATUS_NAMES = ['Alive', 'Tombstone', 'Unhealthy', 'Unknown', 'Draining']

/** "Alive", ...; like the original, any other value reads "Tombstone". */
export function statusName (status) {
  return STATUS_NAMES[status] ?? 'Tombstone'
}

/** The part of Image after the first ':', else the whole image (the original's Version()). */
export function versionOf (svc) {
  const parts = (svc.Image ?? '').split(':')
  return parts.length > 1 ? parts[1] : svc.Image ?? ''
}

/** "8080->32768,9000": ServicePort->Port, or just Port when not exported. */
export function portsOf (svc) {
  return (svc.Ports ?? []).map(p => p.ServicePort ? `${p.ServicePort}->${p.Port}` : String(p.Port)).join(', ')
}

function key (svc) { return `${svc.Hostname}\u0000${svc.ID}` }

/**
 * Characters never shown as such (render.js shows each as a marked U+XXXX): controls, format
 * characters (zero-width, bidi embeddings, overrides and isolates), line and paragraph
 * separators, the default-ignorable ones fonts draw as nothing (Hangul fillers, variation
 * selectors, the combining grapheme joiner) and every space but U+0020, which passes for it
 * ("web\u00A0api" would read as "web api").
 */
const MARKED = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}[\p{Zs}--[\u0020]]]/v
const MARKED_ALL = new RegExp(MARKED.source, 'gv')
/**
 * In a value from another machine (a name, host, ID, image), U+0020 at either end and next to
 * another too: the page collapses them, so "web " would read as "web" and "a  b" as "a b".
 */
const MARKED_IN_VALUE_ALL = new RegExp(`${MARKED.source}|^\\u0020|\\u0020$|\\u0020(?=\\u0020)|(?<=\\u0020)\\u0020`, 'gv')

/**
 * `text` as runs of plain text and single marked characters: [{ text, code }], `code` the
 * marked character's "U+XXXX" (undefined for plain text). `value`: `text` is a value from another
 * machine, whose edge and doubled spaces are marked too.
 */
export function markedParts (text, value = false) {
  const parts = []
  let at = 0
  for (const m of text.matchAll(value ? MARKED_IN_VALUE_ALL : MARKED_ALL)) {
    if (m.index > at) parts.push({ text: text.slice(at, m.index), code: undefined })
    parts.push({ text: m[0], code: `U+${m[0].codePointAt(0).toString(16).toUpperCase().padStart(4, '0')}` })
    at = m.index + m[0].length
  }
  if (at < text.length) parts.push({ text: text.slice(at), code: undefined })
  return parts
}

const hasMark = (v) => MARKED.test(v) || /^\u0020|\u0020$|\u0020\u0020/.test(v)

/** A value as it reads (from its markedParts): its marked characters left out, spaces as a space. */
const readOf = (parts) => parts.map(p => p.code === undefined ? p.text : /\p{Zs}/v.test(p.text) ? ' ' : '').join('')
const readForm = (v) => hasMark(v) ? readOf(markedParts(v, true)) : v

/**
 * True iff the filter `q` (lower case) is in `value` as stored, as the page shows it (each
 * marked character as its U+XXXX: what the reader sees and may copy), or as it reads with the
 * marked characters left out (spaces as a space): "payments" finds "pay\u200Bments", the name
 * that passes for it.
 */
export function matchesFilter (value, q) {
  const v = value ?? ''
  if (v.toLowerCase().includes(q)) return true
  if (!hasMark(v)) return false // most values: no mark (markedParts costs 3 times as much)
  const parts = markedParts(v, true)
  return parts.map(p => p.code ?? p.text).join('').toLowerCase().includes(q) || readOf(parts).toLowerCase().includes(q)
}

export class Model {
  constructor () {
    this.records = new Map()
    this.members = {}
    this.clusterName = ''
    this.hostname = ''
    /** False until the first snapshot: the page does not know yet whether the cluster is empty. */
    this.loaded = false
    /** Service name -> { count: its records, look: lookalikeOf its read form }, made once per name. */
    this.names = new Map()
    /** A lookalike form -> the names that read so (lookalike.js). */
    this.byForm = new Map()
  }

  /**
   * Counts `by` (1 or -1) records of `name`; returns the other names whose lookalike mark that
   * changes: those that read as `name` does, once it comes or goes.
   */
  #count (name, by, known = undefined) {
    const had = this.names.get(name)
    if (had !== undefined && had.count + by > 0) { had.count += by; return [] }
    if (had === undefined && by < 0) return []
    const look = had?.look ?? known ?? lookalikeOf(readForm(name))
    let alike = this.byForm.get(look.form)
    if (by > 0) {
      this.names.set(name, { count: by, look })
      if (alike === undefined) this.byForm.set(look.form, alike = new Set())
      alike.add(name)
    } else {
      this.names.delete(name)
      alike.delete(name)
      if (alike.size === 0) this.byForm.delete(look.form)
    }
    return [...alike].filter(n => n !== name && this.names.get(n).look.reads)
  }

  /**
   * Why the service name `name` may pass for another, for its mark, or undefined: its
   * lookalikeOf result and `like`, at most 3 other names here that read as it does (when some
   * letter of it reads as another), `more` how many besides.
   */
  lookalike (name) {
    const look = this.names.get(name)?.look
    if (look === undefined || (!look.mixed && !look.reads)) return undefined
    const alike = look.reads ? this.byForm.get(look.form) : undefined
    const like = []
    if (alike !== undefined) for (const n of alike) { if (n !== name) like.push(n); if (like.length === 3) break }
    const more = alike === undefined ? 0 : alike.size - 1 - like.length
    return look.mixed || like.length > 0 ? { ...look, like, more } : undefined
  }

  /** True iff `name` has a lookalike mark and the filter `q` (lower case) is in the name it passes for. */
  #passesFor (name, q) {
    const look = this.names.get(name)?.look
    return look?.reads === true && look.form.toLowerCase().includes(q) && this.lookalike(name) !== undefined
  }

  /** Replaces everything with a snapshot (the /services.json document plus Hostname). */
  applySnapshot (doc) {
    this.records.clear()
    const looks = this.names
    this.names = new Map()
    this.byForm = new Map()
    for (const list of Object.values(doc.Services ?? {})) for (const svc of list) this.records.set(key(svc), svc)
    for (const svc of this.records.values()) this.#count(svc.Name, 1, looks.get(svc.Name)?.look)
    this.members = doc.ClusterMembers ?? {}
    this.clusterName = doc.ClusterName ?? ''
    this.hostname = doc.Hostname ?? ''
    this.loaded = true
  }

  /**
   * Applies one service-changed event; returns the service names it touched (two when the
   * instance was renamed, and those that read alike whose mark a new or gone name changes).
   */
  applyChange (event) {
    const svc = event.Service
    const before = this.records.get(key(svc))
    this.records.set(key(svc), svc)
    const m = this.members[svc.Hostname]
    if (m !== undefined && Date.parse(svc.Updated) > Date.parse(m.LastUpdated)) this.members[svc.Hostname] = { ...m, LastUpdated: svc.Updated }
    if (before?.Name === svc.Name) return [svc.Name]
    const alike = [...this.#count(svc.Name, 1), ...(before === undefined ? [] : this.#count(before.Name, -1))]
    return [...new Set([svc.Name, ...(before === undefined ? [] : [before.Name]), ...alike])]
  }

  /**
   * Drops the tombstones absent from `doc` (a /services.json document) that are over a minute
   * old (a younger one may have come by an event after the document was made); returns the
   * service names whose panels that changes.
   */
  dropForgottenTombstones (doc, now = Date.now()) {
    const held = new Set()
    for (const list of Object.values(doc.Services ?? {})) for (const svc of list) held.add(key(svc))
    const names = new Set()
    for (const [k, svc] of this.records) {
      if (svc.Status === STATUS.TOMBSTONE && !held.has(k) && now - Date.parse(svc.Updated) > 60_000) {
        this.records.delete(k)
        names.add(svc.Name)
        for (const n of this.#count(svc.Name, -1)) names.add(n)
      }
    }
    return names
  }

  applyMembers (doc) {
    this.members = doc.ClusterMembers ?? {}
    if (doc.ClusterName) this.clusterName = doc.ClusterName
  }

  /**
   * Members sorted by name, each with the number of its live (non-tombstone) records; then the
   * hosts that are no member but still have records here (departed: their records tombstoned),
   * each with its tombstones and its newest record's time, so a host that died stays in view.
   */
  memberRows () {
    const live = new Map()
    const gone = new Map() // host of no member -> { tombstones, lastUpdated }
    const listed = Object.keys(this.members).length > 0 // a daemon without gossip lists no member
    for (const svc of this.records.values()) {
      if (svc.Status !== STATUS.TOMBSTONE) live.set(svc.Hostname, (live.get(svc.Hostname) ?? 0) + 1)
      if (!listed || Object.hasOwn(this.members, svc.Hostname) || svc.Hostname === this.hostname) continue
      const g = gone.get(svc.Hostname) ?? { tombstones: 0, lastUpdated: svc.Updated }
      if (svc.Status === STATUS.TOMBSTONE) g.tombstones++
      if (Date.parse(svc.Updated) > Date.parse(g.lastUpdated)) g.lastUpdated = svc.Updated
      gone.set(svc.Hostname, g)
    }
    const members = Object.values(this.members)
      .sort((a, b) => a.Name.localeCompare(b.Name))
      .map(m => ({ name: m.Name, lastUpdated: m.LastUpdated, services: live.get(m.Name) ?? 0, self: m.Name === this.hostname }))
    const departed = [...gone].sort(([a], [b]) => a.localeCompare(b))
      .map(([name, g]) => ({ name, lastUpdated: g.lastUpdated, services: live.get(name) ?? 0, tombstones: g.tombstones, departed: true }))
    return [...members, ...departed]
  }

  /** How many records of each status the cluster holds: { Alive: n, ... } (statusCounts). */
  totals () {
    return statusCounts(this.records.values())
  }

  /**
   * Service name -> visible instances, names sorted. The filter matches the name, or any
   * instance's host, image, ID or ports (case-insensitive, matchesFilter); a name match shows
   * every instance. `problemsOnly`: only the services with an instance shown that is not Alive.
   */
  visibleServices ({ filter = '', hideTombstones = false, problemsOnly = false } = {}) {
    const q = filter.trim().toLowerCase()
    const byName = new Map()
    for (const svc of this.records.values()) {
      if (hideTombstones && svc.Status === STATUS.TOMBSTONE) continue
      const list = byName.get(svc.Name)
      if (list === undefined) byName.set(svc.Name, [svc])
      else list.push(svc)
    }
    const out = []
    for (const name of [...byName.keys()].sort()) {
      let list = byName.get(name)
      if (q !== '' && !matchesFilter(name, q) && !this.#passesFor(name, q)) {
        list = list.filter(s => [s.Hostname, s.Image, s.ID, portsOf(s)].some(v => matchesFilter(v, q)))
      }
      if (problemsOnly && list.every(s => s.Status === STATUS.ALIVE)) continue
      if (list.length > 0) out.push({ name, instances: list.sort(byHostThenId) })
    }
    return out
  }
}

function byHostThenId (a, b) {
  return a.Hostname.localeCompare(b.Hostname) || a.ID.localeCompare(b.ID)
}

/**
 * Instances grouped by version, exported ports and status: the rows of a service panel.
 * Each group: count, version, ports (distinct ServicePort->Port), oldest Created, newest
 * Updated, status; groups ordered by status (alive first) then version.
 */
export function groupInstances (instances) {
  const groups = new Map()
  for (const svc of instances) {
    const exported = (svc.Ports ?? []).map(p => `${p.ServicePort}/${p.Type}`).sort().join(',')
    const k = `${versionOf(svc)}\u0000${exported}\u0000${svc.Status}`
    let g = groups.get(k)
    if (g === undefined) {
      g = { version: versionOf(svc), status: svc.Status, instances: [], created: svc.Created, updated: svc.Updated }
      groups.set(k, g)
    }
    g.instances.push(svc)
    if (Date.parse(svc.Created) < Date.parse(g.created)) g.created = svc.Created
    if (Date.parse(svc.Updated) > Date.parse(g.updated)) g.updated = svc.Updated
  }
  const order = [STATUS.ALIVE, STATUS.DRAINING, STATUS.UNHEALTHY, STATUS.UNKNOWN, STATUS.TOMBSTONE]
  return [...groups.values()]
    .map(g => ({ ...g, count: g.instances.length, ports: [...new Set(g.instances.map(portsOf))].filter(p => p !== '') }))
    .sort((a, b) => order.indexOf(a.status) - order.indexOf(b.status) || a.version.localeCompare(b.version))
}

/** Counts by status name for a service's summary badges. */
export function statusCounts (instances) {
  const counts = {}
  for (const svc of instances) counts[statusName(svc.Status)] = (counts[statusName(svc.Status)] ?? 0) + 1
  return counts
}

const isObject = (v) => typeof v === 'object' && v !== null && !Array.isArray(v)

/**
 * Why `doc` is not an explain.json document the details can show (a proxy's page, an API of
 * another version), or undefined when it is one. What the details read of it is checked, so
 * that no answer can stop the page's drawing.
 */
export function explainProblem (doc) {
  if (!isObject(doc) || !Array.isArray(doc.instances)) return 'no list of instances'
  const bad = doc.instances.findIndex(e => !isObject(e) || !isObject(e.service) || typeof e.service.Hostname !== 'string' || typeof e.service.ID !== 'string' ||
    typeof e.routable !== 'boolean' || !Array.isArray(e.reasons) || !(e.check === null || isObject(e.check)))
  return bad === -1 ? undefined : `instance ${bad} lacks its service, routable, reasons or check`
}

/**
 * The reason an API answer gives, for people: the API's error body's `message`, else an
 * `error` (what proxies and other APIs send, a text or { message }), else the HTTP status text;
 * at most 300 characters (the body may be anything).
 */
export function answerReason (body, statusText) {
  const said = [body?.message, body?.error, body?.error?.message].find(v => typeof v === 'string' && v.trim() !== '')
  const text = said ?? (statusText || 'no reason given')
  return text.length > 300 ? `${text.slice(0, 300)}…` : text
}
