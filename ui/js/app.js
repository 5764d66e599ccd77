// Boots the page: one EventSource on /api/events keeps the model current (a snapshot first,
// then service-changed and members events; the browser reconnects by itself with
// Last-Event-ID, and the page itself when the stream goes silent, as a hung daemon's does),
// and changes are drawn at the next animation frame: only the panels of the services that
// changed are rebuilt (a cluster may hold thousands), and a draw that took long waits as long
// again before the next, so a burst of changes never freezes the page.
import { answerReason, explainProblem, Model } from './model.js'
import { renderMembers, renderServices, renderSummary, visible } from './render.js'
import { refreshTimes } from './time.js'

const $ = (id) => document.getElementById(id)
const model = new Model()
const view = {
  open: new Set(), // service names whose details are shown
  explain: new Map(), // service name -> { doc, error }: the last explain.json document, what went wrong asking for the latest
  asking: new Set(), // service names whose explain is being asked for
  pages: new Map(), // service name -> the page of its details shown (render.js DETAILS_PAGE_ROWS), when not the first
  filter: '',
  hideTombstones: true,
  problemsOnly: false,
}
/** What the next draw must rebuild: every panel, or the services named. */
const changed = { all: true, names: new Set() }
/** A draw builds panels for this long at most; the rest follow in the next draws. */
const BUILD_BUDGET_MS = 40
let pending = false
/** A draw does not start before this (performance.now()): after a draw of D ms, D ms of rest. */
let restUntil = 0

function render () {
  pending = false
  const started = performance.now()
  $('cluster-name').textContent = model.clusterName || '…'
  $('this-host').textContent = model.hostname || '…'
  document.title = model.hostname ? `Sidecar · ${model.hostname}` : 'Sidecar'
  renderMembers($('members'), model.memberRows())
  renderSummary($('summary'), model.totals())
  const services = model.visibleServices({ filter: view.filter, hideTombstones: view.hideTombstones, problemsOnly: view.problemsOnly })
  const left = renderServices($('services'), services, model, view, { onToggle, onDrain, onRetry, onPage }, changed, BUILD_BUDGET_MS)
  watchPanels()
  changed.all = false
  changed.names = left
  const empty = $('empty')
  empty.hidden = !model.loaded || services.length > 0
  empty.textContent = model.records.size === 0 ? 'No services in this cluster yet: no member has announced one.' : view.problemsOnly && view.filter.trim() === '' ? 'No problems: every service shown is Alive.' : 'No services match.'
  restUntil = performance.now() + (performance.now() - started)
  if (left.size > 0) schedule()
}

/** Draws at the next animation frame; `name`: that service's panel changed; `all`: every panel may have. */
function schedule ({ name, all = false } = {}) {
  if (all) changed.all = true
  if (name !== undefined) changed.names.add(name)
  if (pending) return
  pending = true
  const wait = restUntil - performance.now()
  if (wait > 0) setTimeout(() => requestAnimationFrame(render), wait)
  else requestAnimationFrame(render)
}

/** True while the notice tells why the stream is refused or lost (cleared once it is live again). */
let refusedNotice = false
/**
 * A stream lost this long (the daemon stopped, the network between) turns the page "offline"
 * and says since when what it shows is not current: the browser's reconnecting alone left
 * "reconnecting…" in the corner for as long as the daemon was away, beside data growing stale.
 */
const STALE_AFTER_MS = 3000
/** While the stream is lost: since when (the reader's clock), the timer, whether it is stale yet. */
let lost
const CLOCK = new Intl.DateTimeFormat(undefined, { timeStyle: 'medium' })
/**
 * A daemon that hangs (stopped, its event loop stuck, a half-dead path) keeps the stream open
 * and sends nothing, so the browser sees no error. It sends a members event at each heartbeat
 * ([api] heartbeat_interval, which the stream event tells), so a stream silent for
 * HUSH_BEATS intervals (HUSH_MIN_MS to HUSH_MAX_MS) is taken for a hung daemon: the page says
 * what it shows is not current and connects anew, which a daemon that resumes answers.
 */
const HUSH_BEATS = 2.5
const HUSH_MIN_MS = 3000
const HUSH_MAX_MS = 10 * 60_000
/** A connection's first event (a snapshot of a large catalog takes a while to build) is waited for this long at least. */
const FIRST_WORD_MS = 30_000
/** The daemon's heartbeat interval: its default until a stream event tells. */
let heartbeatMs = 15_000
/** When (Date.now()) the daemon was last heard from, on any connection or by /api/health. */
let lastWord = Date.now()
/**
 * A hung daemon may leave a connection without its first event too (the page opened, or
 * connecting anew), where waiting FIRST_WORD_MS kept "connecting…" up for 37.5 s with no word.
 * A live daemon answers /api/health at once even while it builds the snapshot of a large
 * catalog, so while a connection waits for its first event the page asks for it after
 * ASK_AFTER_MS of silence (one request at a time), and no word at all for NO_ANSWER_MS, with a
 * question out for ASK_GRACE_MS, is a daemon that does not answer: the page says so and keeps
 * waiting on its connection, which a daemon that resumes answers.
 */
const ASK_AFTER_MS = 2000
const NO_ANSWER_MS = 5000
const ASK_GRACE_MS = 3000
/** When (Date.now()) the daemon was asked the oldest question it has not answered; undefined when none is out. */
let askedSince
/** True while the notice says that the daemon does not answer (cleared by any word from it). */
let silentNotice = false
/** The page's event stream (connect()). */
let stream

function notice (text, kind = 'info') {
  refusedNotice = false
  silentNotice = false
  const el = $('notice')
  el.replaceChildren(...visible(text)) // it may quote a service's name
  el.className = `notice notice-${kind}`
  el.hidden = text === ''
}

function connection (state, text) {
  const el = $('conn')
  el.className = `conn conn-${state}`
  el.textContent = text
}

// --- explain (details view) ---
// One request per service at a time, for EXPLAIN_WAIT_MS at most; a refresh asked for meanwhile
// follows it. A slow daemon, or a service that changes many times a second, would otherwise pile
// requests up on the browser's six connections to the host (which the event stream and the
// drain buttons need too), and an older answer could replace a newer one.

const EXPLAIN_WAIT_MS = 15_000
const explainTimers = new Map()
/** Names whose explain is being asked for -> true when it must be asked again once answered. */
const explainAgain = new Map()

/** Names a URL path cannot carry: the browser resolves them away (`/api/services/../explain.json`). */
const PATHLESS = new Set(['', '.', '..'])

/** Where explain of `name` is asked for: in the path, or in the query for a name a path cannot carry. */
function explainUrl (name) {
  return PATHLESS.has(name) ? `/api/explain.json?name=${encodeURIComponent(name)}` : `/api/services/${encodeURIComponent(name)}/explain.json`
}

/** explain.json of `name`: { doc }, or { error } telling what went wrong, for the panel. */
async function fetchExplain (name) {
  const waited = (err) => err.name === 'TimeoutError' ? `the daemon did not answer within ${EXPLAIN_WAIT_MS / 1000} s` : undefined
  let res
  try {
    res = await fetch(explainUrl(name), { cache: 'no-store', signal: AbortSignal.timeout(EXPLAIN_WAIT_MS) })
  } catch (err) {
    return { error: waited(err) ?? `the daemon could not be reached (${err.message})` }
  }
  let body
  let json = true
  try {
    body = await res.json()
  } catch (err) {
    if (waited(err) !== undefined) return { error: waited(err) }
    json = false
  }
  if (!res.ok) return { error: `HTTP ${res.status}: ${answerReason(body, res.statusText)}` }
  if (!json) return { error: `HTTP ${res.status}, but the answer is not JSON` }
  const problem = explainProblem(body)
  return problem === undefined ? { doc: body } : { error: `HTTP ${res.status}, but the answer is no explain document (${problem})` }
}

async function loadExplain (name) {
  if (view.asking.has(name)) { explainAgain.set(name, true); return }
  view.asking.add(name)
  if (view.explain.get(name)?.error !== undefined) schedule({ name }) // "Asking again…"
  const got = await fetchExplain(name)
  view.asking.delete(name)
  const again = explainAgain.get(name) === true
  explainAgain.delete(name)
  // a failure keeps the last document, and says how old it is
  view.explain.set(name, got.doc !== undefined ? { doc: got.doc } : { doc: view.explain.get(name)?.doc, error: got.error })
  schedule({ name })
  if (again) refreshExplain(name)
}

/** Re-fetches explain for an open service, at most every 250 ms during a burst of changes. */
function refreshExplain (name) {
  if (!view.open.has(name) || explainTimers.has(name)) return
  explainTimers.set(name, setTimeout(() => { explainTimers.delete(name); void loadExplain(name) }, 250))
}

function onRetry (name) {
  void loadExplain(name)
}

function onToggle (name) {
  if (view.open.has(name)) { view.open.delete(name); view.pages.delete(name) } else { view.open.add(name); void loadExplain(name) }
  schedule({ name })
}

function onPage (name, page) {
  view.pages.set(name, page)
  schedule({ name })
}

// --- writes (drain, undrain) ---
// When the daemon has an [api] token, a write answers 401: the page asks for the token once,
// keeps it in sessionStorage (this tab only, gone when it closes) and sends it as a Bearer
// header. Without it the page stays read-only and says so.

const TOKEN_KEY = 'sidecar.apiToken'

function storedToken () {
  try { return sessionStorage.getItem(TOKEN_KEY) ?? '' } catch { return '' }
}

function storeToken (token) {
  try { if (token === '') sessionStorage.removeItem(TOKEN_KEY); else sessionStorage.setItem(TOKEN_KEY, token) } catch { /* storage disabled: ask again next time */ }
}

/** A write's answer is waited for this long (its body too); the page says so meanwhile. */
const WRITE_WAIT_MS = 15_000

async function post (url) {
  const token = storedToken()
  return await fetch(url, { method: 'POST', headers: token === '' ? {} : { Authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(WRITE_WAIT_MS) })
}

async function onDrain (svc, undrain) {
  const action = undrain ? 'undrain' : 'drain'
  const url = `/api/services/${encodeURIComponent(svc.ID)}/${action}`
  notice(`Asked to ${action} ${svc.Name} ${svc.ID}; waiting for the daemon's answer…`)
  try {
    let res = await post(url)
    if (res.status === 401) {
      const hadToken = storedToken() !== ''
      storeToken('')
      const token = window.prompt(`${hadToken ? 'The API token was not accepted. ' : ''}This sidecar needs its API token ([api] token) to ${action}. Enter it (kept for this tab only):`) ?? ''
      if (token.trim() === '') {
        notice(`Read-only: ${action} needs this sidecar's API token ([api] token). Use the button again to enter it.`, 'error')
        return
      }
      storeToken(token.trim())
      res = await post(url)
      if (res.status === 401) storeToken('')
    }
    const body = await res.json().catch(() => undefined)
    if (res.ok) notice(typeof body?.Message === 'string' ? body.Message : `${action} requested for ${svc.Name} ${svc.ID}`)
    else notice(`Could not ${action} ${svc.Name} ${svc.ID}: HTTP ${res.status}: ${answerReason(body, res.statusText)}`, 'error')
  } catch (err) {
    if (err.name === 'TimeoutError') notice(`No answer to the ${action} of ${svc.Name} ${svc.ID} within ${WRITE_WAIT_MS / 1000} s: the daemon may still carry it out, and the instance's status will show it.`, 'error')
    else notice(`Could not ${action} ${svc.Name} ${svc.ID}: ${err.message}`, 'error')
  }
  refreshExplain(svc.Name)
}

// --- the event stream ---

/**
 * The stream was refused (EventSource gives up on any answer but a stream and tells no
 * reason): asks once more with fetch to show the daemon's own message (a 503 at
 * [api] max_stream_clients, a 401 from a proxy, ...), then retries after its Retry-After.
 */
async function explainRefusal () {
  let wait = 5
  try {
    const res = await fetch('/api/events', { cache: 'no-store', signal: AbortSignal.timeout(10_000) })
    if (res.ok) {
      void res.body?.cancel() // accepted this time: connect at once
      wait = 0
    } else {
      const body = await res.json().catch(() => undefined)
      wait = Math.min(300, Math.max(1, Number(res.headers.get('Retry-After')) || 5))
      notice(`The daemon refuses the live updates (HTTP ${res.status}): ${answerReason(body, res.statusText)}. Trying again every ${wait} s; what is shown is not current.`, 'error')
      refusedNotice = true
    }
  } catch {
    notice('The daemon does not answer; what is shown is not current. Trying again every 5 s.', 'error')
    refusedNotice = true
  }
  setTimeout(connect, wait * 1000)
}

/** The page shows what is no longer current (the stream lost, or silent): the pill and a notice that stays until it is live again. */
function sayStale (pill, message) {
  connection('offline', pill)
  notice(message, 'error')
  refusedNotice = true
}

/** The daemon answered (an event, a stream's head, /api/health): a notice that it does not answer goes. */
function word () {
  lastWord = Date.now()
  askedSince = undefined
  if (!silentNotice) return
  notice('')
  if (stream?.readyState === EventSource.OPEN) connection('live', 'live')
  else connection('connecting', 'connecting…')
}

/** A connection waits for its first event: asks the daemon once it is silent, says when it does not answer. */
function askOrSay () {
  const silent = Date.now() - lastWord
  if (silent >= ASK_AFTER_MS) void askHealth()
  if (silent < NO_ANSWER_MS || askedSince === undefined || Date.now() - askedSince < ASK_GRACE_MS) return
  if (refusedNotice || lost?.stale === true) return // the page already says it is not current, or why
  const since = CLOCK.format(lastWord)
  const who = model.hostname || 'The daemon'
  const shown = model.loaded ? ', and what is shown is not current' : ''
  sayStale(`no answer since ${since}`, `${who} does not answer: no word from it since ${since}, so it may be hung or overloaded${shown}. Still trying…`)
  silentNotice = true
}

/** The stream has been silent too long: says so (unless the page already says it is not current), and connects anew. */
function hung (source) {
  source.close()
  if (!refusedNotice && lost?.stale !== true) {
    const since = CLOCK.format(lastWord)
    sayStale(`no word since ${since}`, `No word from ${model.hostname || 'the daemon'} since ${since}: the daemon may be hung, and what is shown is not current. Reconnecting…`)
  }
  connect()
}

function connect () {
  const source = new EventSource('/api/events')
  stream = source
  /** performance.now() when this connection last heard from the daemon (or (re)started); whether it has had an event yet. */
  let heardAt = performance.now()
  let waitingFirst = true
  let watchdog
  let due = performance.now()
  const watch = () => {
    const now = performance.now()
    const hush = Math.min(HUSH_MAX_MS, Math.max(HUSH_MIN_MS, HUSH_BEATS * heartbeatMs))
    const wait = (waitingFirst ? Math.max(hush, FIRST_WORD_MS) : hush) - (now - heardAt)
    // Looked at each second (the bound shrinks once the first event is in). A look that comes
    // late (the page was busy, or hidden and throttled) may run before the events that arrived
    // meanwhile: they get a second to be read first.
    const late = now - due > 1000
    due = now + (late ? 1000 : Math.min(wait, 1000))
    if (waitingFirst && !late) askOrSay()
    if (wait > 0 || late) watchdog = setTimeout(watch, due - now)
    else hung(source)
  }
  watchdog = setTimeout(watch, 0)
  /** Every event is word from the daemon (the members event comes at each heartbeat at least). */
  const heard = (first = false) => {
    heardAt = performance.now()
    waitingFirst = first
    word()
  }
  for (const type of ['snapshot', 'service-changed', 'members', 'stream', 'dropped', 'closing']) source.addEventListener(type, () => { heard() })
  source.addEventListener('stream', (e) => {
    const ms = Number(JSON.parse(e.data).HeartbeatIntervalMs)
    if (Number.isFinite(ms) && ms > 0) heartbeatMs = ms
  })
  source.addEventListener('open', () => {
    heard(true) // the head is in; the snapshot may take longer
    clearTimeout(lost?.timer)
    lost = undefined
    connection('live', 'live')
    if (refusedNotice) { refusedNotice = false; notice('') }
  })
  source.addEventListener('snapshot', (e) => {
    model.applySnapshot(JSON.parse(e.data))
    for (const name of view.open) refreshExplain(name)
    schedule({ all: true })
  })
  source.addEventListener('service-changed', (e) => {
    for (const name of model.applyChange(JSON.parse(e.data))) {
      refreshExplain(name)
      schedule({ name })
    }
  })
  source.addEventListener('members', (e) => {
    model.applyMembers(JSON.parse(e.data))
    schedule()
  })
  for (const type of ['dropped', 'closing']) {
    source.addEventListener(type, (e) => {
      connection('connecting', 'reconnecting…')
      console.info(`event stream ${type}: ${JSON.parse(e.data).reason}`)
    })
  }
  source.addEventListener('error', () => {
    // EventSource retries by itself (the server asks for 1 s) and resumes with Last-Event-ID.
    heardAt = performance.now() // the watch starts again with the browser's attempt
    waitingFirst = true
    if (source.readyState === EventSource.CLOSED) {
      clearTimeout(watchdog)
      clearTimeout(lost?.timer) // the refusal's own notice says more
      lost = undefined
      connection('offline', 'offline')
      void explainRefusal()
      return
    }
    if (lost === undefined) {
      const since = CLOCK.format(Date.now())
      lost = { since, stale: false }
      lost.timer = setTimeout(() => {
        lost.stale = true
        sayStale(`offline since ${since}`, `No live updates from ${model.hostname || 'the daemon'} since ${since}: what is shown is not current. Reconnecting…`)
      }, STALE_AFTER_MS)
    }
    if (lost.stale) connection('offline', `offline since ${lost.since}`)
    else connection('connecting', 'reconnecting…')
  })
}

// The filter and the toggles change which instances and panels are listed: every panel.
$('filter').addEventListener('input', (e) => { view.filter = e.target.value; schedule({ all: true }) })
$('hide-tombstones').addEventListener('change', (e) => { view.hideTombstones = e.target.checked; schedule({ all: true }) })
$('problems-only').addEventListener('change', (e) => { view.problemsOnly = e.target.checked; schedule({ all: true }) })
view.hideTombstones = $('hide-tombstones').checked
view.problemsOnly = $('problems-only').checked
// "N secs ago" is refreshed each second in the members list and the panels on screen only
// (thousands of panels hold tens of thousands of times); a panel coming into view is refreshed
// at once.
const onScreen = new Set()
const watched = new Set()
const visibility = new IntersectionObserver((entries) => {
  for (const e of entries) {
    if (e.isIntersecting) { onScreen.add(e.target); refreshTimes(e.target) } else onScreen.delete(e.target)
  }
})

/** Follows the panels the last draw added or removed. */
function watchPanels () {
  for (const el of $('services').children) if (!watched.has(el)) { watched.add(el); visibility.observe(el) }
  for (const el of watched) {
    if (!el.isConnected) { watched.delete(el); onScreen.delete(el); visibility.unobserve(el) }
  }
}

setInterval(() => {
  refreshTimes($('members'))
  for (const el of onScreen) refreshTimes(el)
}, 1000)
setInterval(() => { for (const name of view.open) refreshExplain(name) }, 10_000)

// The daemon forgets a tombstone once it is older than its tombstone_lifespan (3 h by default)
// without an event, so a tab open for days would keep every tombstone it ever saw (and list
// them with "Hide tombstones" off). Every few minutes the page reads the catalog (a 304 when it
// has not changed) and drops the tombstones it no longer holds.
const RECONCILE_MS = 5 * 60_000
let reconciling = false
async function reconcile () {
  if (reconciling || !model.loaded) return
  reconciling = true
  try {
    const res = await fetch('/api/services.json', { cache: 'no-cache', signal: AbortSignal.timeout(60_000) })
    if (res.ok) for (const name of model.dropForgottenTombstones(await res.json())) schedule({ name })
  } catch {
    // unreachable: the stream's own state already says so; the next round tries again
  } finally {
    reconciling = false
  }
}
setInterval(() => { void reconcile() }, RECONCILE_MS)

// The daemon's own state (/health): a page that showed only the catalog looked fine while the
// daemon was degraded (a bad static file edit, a proxy port taken, no Docker, ...) or starting.
const HEALTH_MS = 10_000
function healthText (h) {
  if (h?.status === 'starting') return 'This sidecar is starting: it does not listen for its peers yet.'
  if (h?.status === 'joining') return 'This sidecar is joining its cluster: it pulls the state from a seed (5 s at most when none answers), so the catalog may be incomplete.'
  if (h?.status === 'stopping') return 'This sidecar is stopping.'
  if (h?.status !== 'degraded') return ''
  const problems = [
    ...Object.entries(h.discoveryErrors ?? {}).map(([name, why]) => `${name} discovery: ${why}`),
    ...Object.values(h.proxyErrors ?? {}).map(why => `proxy: ${why}`),
    ...(typeof h.identityError === 'string' ? [`node identity: ${h.identityError}`] : []),
    ...Object.entries(h.refusedBy ?? {}).map(([peer, why]) => `refused by ${peer}: ${why}`),
    ...Object.values(h.versionMismatch ?? {}).filter(why => typeof why === 'string'), // each names its host
  ]
  return `This sidecar is degraded (/health): ${problems.join(' · ')}`
}
/** True while a /api/health request is out. */
let healthOut = false
/** Reads /api/health (one request at a time): its answer is word from the daemon (askOrSay) and shows its state. */
async function askHealth () {
  if (healthOut) return
  healthOut = true
  askedSince ??= Date.now()
  let text = ''
  try {
    const res = await fetch('/api/health', { cache: 'no-store', signal: AbortSignal.timeout(HEALTH_MS) })
    const h = await res.json()
    if (typeof h?.status === 'string') word() // the daemon's own answer, not a proxy's error page
    text = healthText(h)
  } catch {
    // unreachable or silent: the stream's state, or askOrSay, says so
  } finally {
    healthOut = false
  }
  const el = $('health')
  el.replaceChildren(...visible(text)) // it quotes file, service and peer names
  el.hidden = text === ''
}
async function checkHealth () {
  await askHealth()
  setTimeout(() => { void checkHealth() }, HEALTH_MS)
}
$('not-started').remove()
connect()
void checkHealth()
