// What README.md and docs/*.md show of a running daemon against a real one on 127.0.50.10
// (config/one-host.toml, host "host-a", as README's examples were taken): every metric name
// the docs mention is exported by its /metrics, every route of README's API table answers,
// and README's example answers have the keys the real answers have. Each check also runs on a
// mistyped copy of the docs, so it is shown to fail. docs/listeners.md's /api/listeners.json example
// is held to the answer about a filtered webhook whose POSTs fail (nothing listens at its port
// on this test's own address). The checks without a daemon are in test/unit/docs-drift.test.ts.
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import test from 'ava'
import { REPO, startDaemon, type DaemonProcess } from '../helpers/daemon.ts'
import { documentedRoutes, exportedFamilies, fencedExample, inlineExample, keyDifferences, metricProblems, readDocs } from '../helpers/docs-drift.ts'
import { waitFor } from '../helpers/wait.ts'

const IP = '127.0.50.10'
const DOCS = readDocs()
const README = DOCS.get('README.md') ?? ''
/** A filtered webhook nothing answers: /api/listeners.json then shows `filter` and a `lastError`, as docs/listeners.md's example does. */
const WEBHOOK = JSON.stringify([{ url: `http://${IP}:9/sidecar/update`, services: ['sidecar-api'], status_changes_only: true }])

/**
 * Metrics a daemon exports only in a set-up this test's daemon does not have, each with that
 * condition. (It runs with [api] gc_metrics on, so sidecar_nodejs_gc_duration_seconds is
 * exported and needs no entry.)
 */
const CONDITIONAL: Readonly<Record<string, string>> = {}

let daemon: DaemonProcess
let dir: string
let id: string

test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-docs-drift-'))
  daemon = await startDaemon({ ip: IP, hostname: 'host-a', cwd: dir, args: ['-f', path.join(REPO, 'config/one-host.toml')], env: { API_GC_METRICS: 'true', SIDECAR_QUIC: 'false', LISTENERS_WEBHOOK: WEBHOOK } })
  // the example service of config/static.json, health checked: ALIVE
  id = await waitFor(async () => {
    const doc = await daemon.json<{ Services: Record<string, Array<{ ID: string, Status: number }>> }>('/services.json')
    const svc = doc.Services['sidecar-api']?.[0]
    return svc?.Status === 0 && svc.ID
  }, { timeoutMs: 20_000, message: () => `sidecar-api ALIVE on ${IP}; output:\n${daemon.output.slice(-3000)}` })
})

test.after.always(async () => {
  await daemon?.stop()
  if (dir !== undefined) await rm(dir, { recursive: true, force: true })
})

async function get (p: string, init: RequestInit = {}): Promise<{ status: number, text: string }> {
  const res = await fetch(daemon.url(p), { ...init, signal: AbortSignal.timeout(10_000) })
  return { status: res.status, text: await res.text() }
}

// ---------------------------------------------------------------- metrics

async function families (): Promise<Map<string, string>> {
  // the gc histogram appears with the first collection it sees
  return await waitFor(async () => {
    const f = exportedFamilies((await get('/metrics')).text)
    return f.has('sidecar_nodejs_gc_duration_seconds') && f
  }, { timeoutMs: 30_000, message: 'sidecar_nodejs_gc_duration_seconds in /metrics' })
}

test.serial('docs: every metric README.md and docs/*.md name is exported by a running daemon\'s /metrics', async t => {
  const f = await families()
  t.true(f.size > 50, `/metrics has its families (${f.size})`)
  t.deepEqual(metricProblems(DOCS, f, CONDITIONAL), [])
  for (const name of Object.keys(CONDITIONAL)) t.false(f.has(name), `${name} is exported here: it needs no entry in CONDITIONAL`)
})

test.serial('docs check: a mistyped metric name, or the prom-client name without the daemon\'s prefix, is named', async t => {
  const f = await families()
  const docs = new Map([...DOCS, ['docs/proxy.md', `${DOCS.get('docs/proxy.md') ?? ''}\n\`sidecar_proxy_request_total\`, \`nodejs_gc_duration_seconds\`, \`sidecar_proxy_request_duration_seconds_bucket\`\n`]])
  t.deepEqual(metricProblems(docs, f, CONDITIONAL), [
    'docs/proxy.md: metric sidecar_proxy_request_total is not exported by a running daemon\'s /metrics',
    'docs/proxy.md: metric nodejs_gc_duration_seconds is not exported by a running daemon\'s /metrics',
  ])
})

// ---------------------------------------------------------------- routes

/** A documented path made requestable: its placeholders filled with what this daemon holds. */
function concrete (p: string): string {
  return p.replace('<name>', 'sidecar-api').replace('<id>', id).replace('<x>', 'services.json')
}

const EXPECTED: Record<string, number> = { GET: 200, OPTIONS: 200, POST: 202 }

test.serial('docs: every route of README\'s API table answers as documented on a running daemon', async t => {
  const routes = documentedRoutes(README)
  t.true(routes.length > 15, `the table's routes were read (${routes.length})`)
  const wrong: string[] = []
  for (const [method, p] of routes) {
    const url = concrete(p)
    // streams answer their head and stay open: the status is read, then the request is aborted
    const abort = new AbortController()
    const res = await fetch(daemon.url(url), { method, signal: AbortSignal.any([abort.signal, AbortSignal.timeout(10_000)]) })
    abort.abort()
    if (res.status !== EXPECTED[method]) wrong.push(`${method} ${url}: ${res.status}, expected ${EXPECTED[method]}`)
  }
  t.deepEqual(wrong, [])
  await get(`/api/services/${id}/undrain`, { method: 'POST' })
})

// ---------------------------------------------------------------- example answers

test.serial('docs: README\'s example answers have the keys and statuses of a running daemon\'s answers', async t => {
  const problems: string[] = []
  const compare = (what: string, doc: unknown, real: unknown): void => {
    if (doc === undefined) problems.push(`${what}: no example found in README`)
    else problems.push(...keyDifferences(doc, real).map(d => `${what}: ${d}`))
  }
  compare('GET /services.json', fencedExample(README, 'Taken from a daemon running'), JSON.parse((await get('/services.json')).text))
  compare('GET /state.json', fencedExample(README, '`GET /state.json`'), JSON.parse((await get('/state.json')).text))
  compare('GET /api/services/sidecar-api/explain.json', fencedExample(README, '`GET /api/services/sidecar-api/explain.json`'), JSON.parse((await get('/api/services/sidecar-api/explain.json')).text))
  compare('GET /health', inlineExample(README, '`GET /health`:')?.body, JSON.parse((await get('/health')).text))

  // the answers README quotes whole: status and body
  const whole: Array<[string, string, string, RequestInit]> = [
    ['POST drain', '`POST /api/services/659081f28d2d/drain`:', `/api/services/${id}/drain`, { method: 'POST' }],
    ['POST drain of an unknown ID', 'an unknown ID:', '/api/services/nope/drain', { method: 'POST' }],
    ['GET /services/nope.json', '`GET /services/nope.json`:', '/services/nope.json', {}],
  ]
  for (const [what, lead, p, init] of whole) {
    const doc = inlineExample(README, lead)
    const real = await get(p, init)
    const body = JSON.parse(real.text.replaceAll(id, '659081f28d2d')) as unknown
    if (doc === undefined) problems.push(`${what}: no example found in README`)
    else if (doc.status !== real.status || JSON.stringify(doc.body) !== JSON.stringify(body)) problems.push(`${what}: README shows ${doc.status} ${JSON.stringify(doc.body)}, the daemon answers ${real.status} ${JSON.stringify(body)}`)
  }
  await get(`/api/services/${id}/undrain`, { method: 'POST' })
  t.deepEqual(problems, [])
})

test.serial('docs: docs/listeners.md\'s /api/listeners.json example has the keys of a running daemon\'s answer', async t => {
  const real = await waitFor(async () => {
    const doc = JSON.parse((await get('/api/listeners.json')).text) as { listeners: Array<{ lastError: unknown }> }
    return doc.listeners[0]?.lastError != null && doc
  }, { timeoutMs: 20_000, message: 'the webhook\'s first failed POST in /api/listeners.json' })
  const doc = fencedExample(DOCS.get('docs/listeners.md') ?? '', '`GET /api/listeners.json`:', '## Visibility')
  t.not(doc, undefined, 'docs/listeners.md has the example')
  t.deepEqual(keyDifferences(doc, real), [])
})

test('docs check: an example answer with a key too many, too few, or a wrong status is named', t => {
  const real = { status: 'ok', hostname: 'host-a', clusterName: 'default', uptimeSeconds: 6, clockOffsetSeconds: 0 }
  t.deepEqual(keyDifferences({ status: 'ok', hostname: 'host-a', clusterName: 'default', uptimeSeconds: 6 }, real), ['$.clockOffsetSeconds: in the answer, not in the example'])
  t.deepEqual(keyDifferences({ ...real, uptime: 1 }, real), ['$.uptime: in the example, not in the answer'])
  t.deepEqual(keyDifferences({ Services: { 'some-service': [{ ID: 'a', Nme: 'web' }] } }, { Services: { 'sidecar-api': [{ ID: 'b', Name: 'x' }] } }), [
    '$.Services.<key>[0].Nme: in the example, not in the answer',
    '$.Services.<key>[0].Name: in the answer, not in the example',
  ])
  t.deepEqual(keyDifferences({ name: 'x', '...': '...' }, { name: 'x', more: 1 }), [], 'an abridged example ("...") may leave keys out')
  const edited = README.replace('`GET /services/nope.json`: `404 {', '`GET /services/nope.json`: `400 {')
  t.not(edited, README)
  t.is(inlineExample(edited, '`GET /services/nope.json`:')?.status, 400)
})
