// DOM building. Every value from the catalog reaches the page through textContent or an
// attribute, never as HTML: service names, images and hosts come from other machines. Text
// children show invisible characters (controls, zero-width, bidi overrides, blank fillers,
// spaces other than U+0020) as a visible U+XXXX mark: a name with U+202E cannot read as another
// ("evil" shown as "live"), nor "pay\u200Bments" pass for "payments" (model.js, markedParts).
// A service name that mixes scripts whose letters look alike, or reads as another name here
// ("раyments" in Cyrillic and Latin beside "payments"), is marked too (lookalike.js, serviceName).
import { groupInstances, markedParts, portsOf, statusCounts, statusName, STATUS } from './model.js'
import { timeAgo } from './time.js'

/** h('td', { class: 'x', dataset: { label: 'Ports' } }, 'text', childNode, ...) */
export function h (tag, attrs = {}, ...children) {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue
    if (k === 'dataset') Object.assign(el.dataset, v)
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v)
    else el.setAttribute(k, v === true ? '' : String(v))
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue
    if (c instanceof Node) el.append(c)
    else el.append(...visible(String(c)))
  }
  return el
}

/**
 * `text` as nodes, each invisible character a <span class="invisible"> naming its code point.
 * `value`: a value from another machine (a name, host, ID, image), whose spaces at either end
 * and doubled spaces are marked too ("web " beside "web").
 */
export function visible (text, value = false) {
  const parts = markedParts(text, value)
  if (parts.every(p => p.code === undefined)) return [text]
  return parts.map(({ text, code }) => {
    if (code === undefined) return text
    const mark = document.createElement('span')
    mark.className = 'invisible'
    mark.title = `invisible character ${code}`
    mark.textContent = code
    return mark
  })
}

/** `text` as it is shown, each invisible character as its U+XXXX: for titles and labels. */
const shown = (text) => markedParts(text, true).map(p => p.code ?? p.text).join('')

/** "Latin, Cyrillic and Greek" */
const listed = (words) => words.length < 2 ? words.join('') : `${words.slice(0, -1).join(', ')} and ${words.at(-1)}`

/** "Cyrillic letter р U+0440, reads as p" */
function charNote (ch, c) {
  return `${c.script === null ? 'character' : `${c.script} letter`} ${ch} ${c.code}${c.readsAs === ch ? '' : `, reads as ${c.readsAs}`}`
}

/**
 * A service's name as nodes: visible(name, true), and when it may pass for another (`look`,
 * Model.lookalike), each of its letters in question in a <span class="lookalike"> that names its
 * script and code point, then a mark that says why, with the same words as its title and its
 * accessible name.
 */
export function serviceName (name, look) {
  const nodes = visible(name, true)
  if (look === undefined) return nodes
  const out = []
  for (const node of nodes) {
    if (typeof node !== 'string') { out.push(node); continue }
    let run = ''
    for (const ch of node) {
      if (!look.chars.has(ch)) { run += ch; continue }
      if (run !== '') out.push(run)
      run = ''
      out.push(h('span', { class: 'lookalike', title: charNote(ch, look.chars.get(ch)) }, ch))
    }
    if (run !== '') out.push(run)
  }
  const notes = [...look.chars].slice(0, 8).map(([ch, c]) => charNote(ch, c))
  const more = look.chars.size > notes.length ? '; …' : ''
  const others = look.like.map(n => `"${shown(n)}"`)
  if (look.more > 0) others.push(`${look.more} more`)
  const why = [
    look.mixed ? `This name mixes ${listed(look.scripts)} letters, which look alike` : null,
    others.length > 0 ? `It reads as ${listed(others)}, ${others.length === 1 ? 'the name of another service' : 'names of other services'} here` : null,
  ].filter(Boolean).join('. ')
  const text = `${why}: ${notes.join('; ')}${more}.`
  const label = [look.mixed || look.scripts.some(s => s !== 'Latin') ? look.scripts.join(' + ') : null, others.length > 0 ? `reads as ${look.like.map(shown).join(', ')}${look.more > 0 ? ', …' : ''}` : null].filter(Boolean).join(' · ')
  out.push(h('span', { class: 'confusable', role: 'img', title: text, 'aria-label': text }, `⚠ ${label}`))
  return out
}

export function statusClass (status) {
  return `s-${statusName(status).toLowerCase()}`
}

/** The reader's own zone and language: "May 3, 2024, 7:00:00 PM GMT+9". */
const LOCAL_TIME = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'long' })

function ago (iso) {
  const t = Date.parse(iso)
  return h('time', { datetime: iso, dataset: { time: iso }, title: Number.isNaN(t) || timeAgo(iso) === 'never' ? undefined : LOCAL_TIME.format(t) }, timeAgo(iso))
}

/**
 * Words a screen reader reads after a button's text, unseen: one "Details" or "Drain" button of
 * hundreds says which service (and instance) it is for.
 */
function hiddenWords (...children) {
  return h('span', { class: 'visually-hidden' }, ...children)
}

/** A table cell that carries its column name, shown beside the value on narrow screens. */
function td (label, ...children) {
  return h('td', { dataset: { label } }, ...children)
}

/**
 * The URL of a member's own UI, or undefined when its name is no plain host name: a peer named
 * "db@attacker.example" or "db/x" would make the link lead elsewhere than the name reads.
 */
export function memberUrl (name) {
  try {
    const url = new URL(`${location.protocol}//${name}${location.port ? `:${location.port}` : ''}/`)
    return url.hostname === name.toLowerCase() && url.username === '' && url.password === '' && url.pathname === '/' && url.search === '' && url.hash === '' ? url.href : undefined
  } catch {
    return undefined
  }
}

/** "3 services" */
function services (n) {
  return n === 1 ? '1 service' : `${n} services`
}

/**
 * A host that is no member but has records here: departed (its records tombstoned), or not
 * yet or no longer listed while some are live.
 */
function departedMember (m) {
  const gone = m.services === 0
  return h('li', { class: 'member departed', dataset: { host: m.name } },
    h('span', { class: 'host' }, visible(m.name, true)),
    h('span', { class: `badge ${gone ? 's-tombstone' : 's-unknown'}` }, gone ? 'departed' : 'not a member'),
    h('span', { class: 'heard' }, 'last record ', ago(m.lastUpdated)),
    h('span', { class: 'count' }, [m.services > 0 ? `${services(m.services)} live` : null, m.tombstones > 0 ? `${services(m.tombstones)} tombstoned` : null].filter(Boolean).join(', ')))
}

/** The cluster's instances by status, problems first: "300 instances: 8 unhealthy 1 draining 191 alive 100 tombstoned". */
export function renderSummary (el, totals) {
  const words = { Unhealthy: 'unhealthy', Unknown: 'unknown', Draining: 'draining', Alive: 'alive', Tombstone: 'tombstoned' }
  const n = Object.values(totals).reduce((a, b) => a + b, 0)
  el.replaceChildren(`${n.toLocaleString('en')} instance${n === 1 ? '' : 's'}`, n > 0 ? ': ' : null,
    ...Object.entries(words).filter(([s]) => totals[s] > 0).map(([s, word]) => h('span', { class: `badge s-${s.toLowerCase()}` }, `${totals[s].toLocaleString('en')} ${word}`)))
}

export function renderMembers (list, rows) {
  list.replaceChildren(...rows.map(m => {
    if (m.departed) return departedMember(m)
    const url = memberUrl(m.name)
    return h('li', { class: m.self ? 'member self' : 'member', dataset: { host: m.name } },
      url === undefined ? h('span', { class: 'host', title: 'no link: this name is not a plain host name' }, visible(m.name, true)) : h('a', { href: url, class: 'host' }, visible(m.name, true)),
      m.self ? h('span', { class: 'tag' }, 'this host') : null,
      h('span', { class: 'heard' }, 'heard ', ago(m.lastUpdated)),
      h('span', { class: 'count' }, m.services === 0 ? 'no services' : services(m.services)))
  }))
}

function badges (instances) {
  return Object.entries(statusCounts(instances)).map(([name, n]) =>
    h('span', { class: `badge s-${name.toLowerCase()}` }, `${n} ${name.toLowerCase()}`))
}

function groupsTable (instances) {
  return h('table', { class: 'groups' },
    h('thead', {}, h('tr', {}, ['#', 'Version', 'Ports', 'Created', 'Updated', 'Status'].map(t => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, groupInstances(instances).map(g => h('tr', { class: statusClass(g.status), dataset: { status: statusName(g.status) } },
      td('Instances', h('span', { class: 'count', title: `${g.count} instance${g.count === 1 ? '' : 's'}` }, String(g.count))),
      td('Version', g.version ? visible(g.version, true) : '—'),
      td('Ports', portsSummary(g.ports)),
      td('Created', ago(g.created)),
      td('Updated', ago(g.updated)),
      td('Status', h('span', { class: 'status' }, statusName(g.status)))))))
}

/** At most 3 ports of a group (an instance may export 256), then how many more. */
function portsSummary (lists) {
  const ports = lists.flatMap(p => p.split(', '))
  if (ports.length === 0) return '—'
  return ports.length <= 3 ? ports.join(' · ') : `${ports.slice(0, 3).join(' · ')} +${ports.length - 3}`
}

/** What a cell from explain shows without its entry: '…' while explain loads, '—' when it failed. */
function unexplained (failed) {
  return h('span', { class: 'muted' }, failed ? '—' : '…')
}

function routedCell (explained, failed) {
  if (explained === undefined) return unexplained(failed)
  if (explained.routable) return h('span', { class: 'yes', title: 'this host routes traffic to it' }, '✓ yes')
  return h('span', { class: 'no' }, '✗ no', h('ul', { class: 'reasons' }, explained.reasons.map(r => h('li', {}, r))))
}

function checkCell (explained, failed) {
  if (explained === undefined) return unexplained(failed)
  const c = explained.check
  if (c === null) return h('span', { class: 'muted' }, explained.local ? 'no check' : `on ${explained.service.Hostname}`)
  const result = c.ok === null ? h('span', { class: 'muted' }, 'not run yet') : c.ok ? h('span', { class: 'yes' }, 'passing') : h('span', { class: 'no' }, c.error ?? 'failing')
  return h('span', {}, result, ' ', h('span', { class: 'muted' }, c.type), c.checkedAt ? h('span', { class: 'muted' }, ' · ', ago(c.checkedAt)) : null)
}

function reportedCell (explained, failed) {
  if (explained === undefined) return unexplained(failed)
  if (explained.reportedBy === null) return h('span', { class: 'muted' }, '…')
  return h('span', {}, explained.reportedBy, ' · ', ago(explained.reportedAt))
}

/**
 * What went wrong asking explain for `name` (the entry's `error`), what is shown instead, and a
 * button to ask again; null when nothing did.
 */
function explainFailure (name, entry, asking, onRetry) {
  if (entry?.error === undefined) return null
  return h('p', { class: 'explain-error' },
    `Could not learn whether this host routes to each instance: ${entry.error}. `,
    entry.doc === undefined ? null : ['The columns from it show its answer of ', ago(entry.doc.time), '. '],
    h('button', { type: 'button', class: 'retry', dataset: { focusKey: 'retry' }, onclick: () => { onRetry(name) } }, asking ? 'Asking again…' : 'Try again'))
}

/**
 * The details show this many instances at a time: a browser lays a table of 3,000 rows out in
 * 1-2 s (a page frozen that long at each change of the service), one of 100 in a few tens of ms.
 */
export const DETAILS_PAGE_ROWS = 100

/** Which of `count` instances the details show at `page` (clamped): { page, from, to, pages }. */
function detailsPage (count, page) {
  const pages = Math.max(1, Math.ceil(count / DETAILS_PAGE_ROWS))
  const p = Math.min(Math.max(0, page), pages - 1)
  return { page: p, from: p * DETAILS_PAGE_ROWS, to: Math.min(count, (p + 1) * DETAILS_PAGE_ROWS), pages }
}

/**
 * "Instances 101–200 of 3,000", with buttons to the previous and next pages (`where`: above or
 * below the table); null for one page. A button with no page to go to says so but keeps the
 * focus (a disabled one would drop it).
 */
function pager (name, count, at, onPage, where) {
  if (at.pages === 1) return null
  const button = (key, label, to, none) => h('button', { type: 'button', class: `page-${key}`, dataset: { focusKey: `page ${key} ${where}` }, 'aria-disabled': none ? 'true' : undefined, onclick: () => { if (!none) onPage(name, to) } }, label)
  return h('p', { class: `pager pager-${where}` },
    button('previous', '‹ Previous', at.page - 1, at.page === 0),
    h('span', { class: 'page-range' }, `Instances ${(at.from + 1).toLocaleString('en')}–${at.to.toLocaleString('en')} of ${count.toLocaleString('en')}`),
    button('next', 'Next ›', at.page + 1, at.page === at.pages - 1))
}

/**
 * The details table: one row per instance. `entry` is what the page has of explain:
 * { doc, error } (the last explain.json document, what went wrong asking for the latest), or
 * undefined while it loads; `onDrain(svc, undrain)` is called by the drain buttons.
 */
function detailsTable (instances, model, entry, onDrain) {
  const failed = entry?.error !== undefined
  const byKey = new Map((entry?.doc?.instances ?? []).map(e => [`${e.service.Hostname}\u0000${e.service.ID}`, e]))
  return h('table', { class: 'instances' },
    h('thead', {}, h('tr', {}, ['Host', 'ID', 'Image', 'Ports', 'Status', 'Routed here', 'Health check', 'Reported by'].map(t => h('th', { scope: 'col' }, t)), h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Action')))),
    h('tbody', {}, instances.map(svc => {
      const e = byKey.get(`${svc.Hostname}\u0000${svc.ID}`)
      const local = svc.Hostname === model.hostname
      const canDrain = local && svc.Status !== STATUS.TOMBSTONE
      const draining = svc.Status === STATUS.DRAINING || e?.drained === true
      return h('tr', { class: statusClass(svc.Status), dataset: { host: svc.Hostname, id: svc.ID, status: statusName(svc.Status) } },
        td('Host', visible(svc.Hostname, true)),
        td('ID', h('code', {}, visible(svc.ID, true))),
        td('Image', svc.Image ? visible(svc.Image, true) : '—'),
        td('Ports', (svc.Ports ?? []).length === 0 ? '—' : portsOf(svc).split(', ').map((p, i) => [i > 0 ? ', ' : null, h('span', { class: 'port' }, p)])),
        td('Status', h('span', { class: 'status' }, statusName(svc.Status)), ' ', h('span', { class: 'muted' }, ago(svc.Updated))),
        td('Routed here', routedCell(e, failed)),
        td('Health check', checkCell(e, failed)),
        td('Reported by', reportedCell(e, failed)),
        td('Action', canDrain
          ? h('button', { type: 'button', class: draining ? 'drain undrain' : 'drain', dataset: { focusKey: `drain ${svc.ID}` }, onclick: () => { onDrain(svc, draining) } }, draining ? 'Undrain' : 'Drain', hiddenWords(' ', visible(svc.Name, true), ' ', visible(svc.ID, true)))
          : null))
    })))
}

/** Each container's panels by service name, as last drawn. */
const drawn = new WeakMap()

/**
 * One panel per service. `state.open` holds the names whose details are shown;
 * `state.explain` what was fetched of explain for them (detailsTable), `state.asking` the names
 * whose explain is being asked for. `changed` says which panels must be
 * rebuilt (`all`, or the service `names`); every other panel is kept as it is, so a change to
 * one service among thousands costs one panel, and the rest keep the reader's selection.
 * Panels are built for at most `budgetMs`; returns the names of those it did not get to (they
 * keep their old panel, or have none yet), for the next draw.
 */
export function renderServices (container, services, model, state, handlers, changed = { all: true, names: new Set() }, budgetMs = Infinity) {
  const before = drawn.get(container) ?? new Map()
  const panels = new Map()
  const left = new Set()
  const until = performance.now() + budgetMs
  for (const { name, instances } of services) {
    const old = before.get(name)
    if (old !== undefined && !changed.all && !changed.names.has(name)) panels.set(name, old)
    else if (performance.now() < until) panels.set(name, servicePanel(name, instances, model, state, handlers))
    else {
      left.add(name)
      if (old !== undefined) panels.set(name, old)
    }
  }
  drawn.set(container, panels)
  const focused = focusedControl(container)
  const wanted = new Set(panels.values())
  for (const el of [...container.children]) if (!wanted.has(el)) el.remove()
  let at = container.firstElementChild
  for (const el of panels.values()) {
    if (el === at) at = at.nextElementSibling
    else container.insertBefore(el, at)
  }
  if (focused !== undefined && !focused.el.isConnected) refocus(panels.get(focused.service), focused.key)
  return left
}

/**
 * The button that has the focus in one of the panels, by its panel and data-focus-key: a panel
 * rebuilt (its Details toggled, a drain, any live change) would otherwise take the keyboard's
 * and the screen reader's place with it, back to the top of the page.
 */
function focusedControl (container) {
  const el = document.activeElement
  if (!(el instanceof HTMLElement) || !container.contains(el) || el.dataset.focusKey === undefined) return undefined
  const service = el.closest('section.service')?.dataset.service
  return service === undefined ? undefined : { el, service, key: el.dataset.focusKey }
}

function refocus (panel, key) {
  const target = [...(panel?.querySelectorAll('[data-focus-key]') ?? [])].find(el => el.dataset.focusKey === key)
  target?.focus({ preventScroll: true })
}

function servicePanel (name, instances, model, state, handlers) {
  const open = state.open.has(name)
  return h('section', { class: 'panel service', id: `svc-${name}`, dataset: { service: name } },
    h('header', { class: 'service-head' },
      h('h2', {}, name === '' ? h('span', { class: 'invisible', title: 'this service\'s name is empty' }, 'empty name') : serviceName(name, model.lookalike(name))),
      h('span', { class: 'badges' }, badges(instances)),
      h('button', { type: 'button', class: 'details-toggle', 'aria-expanded': open ? 'true' : 'false', dataset: { focusKey: 'details' }, onclick: () => { handlers.onToggle(name) } }, open ? 'Hide details' : 'Details', hiddenWords(' of ', name === '' ? 'the service with an empty name' : visible(name, true)))),
    h('div', { class: 'scroll' }, groupsTable(instances)),
    open
      ? h('div', { class: 'details scroll' },
        h('h3', { class: 'details-title' }, `Each instance, as routed from ${model.hostname}`),
        explainFailure(name, state.explain.get(name), state.asking.has(name), handlers.onRetry),
        detailsOf(name, instances, model, state, handlers))
      : null)
}

/** The details' page of instances (state.pages, the first by default) and the pager around it. */
function detailsOf (name, instances, model, state, handlers) {
  const at = detailsPage(instances.length, state.pages.get(name) ?? 0)
  return [
    pager(name, instances.length, at, handlers.onPage, 'above'),
    detailsTable(instances.slice(at.from, at.to), model, state.explain.get(name), handlers.onDrain),
    pager(name, instances.length, at, handlers.onPage, 'below'),
  ]
}
