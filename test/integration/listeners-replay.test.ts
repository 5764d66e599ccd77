// Replayed webhook bodies, with a real daemon on 127.0.73.x and real HTTP receivers run by the
// test: the configured receiver verifies X-Sidecar-Request-Signature with the code docs/listeners.md
// shows (raw body, timing-safe compare, a 5 minute window, seen event ids dropped), and a hostile
// listener (a static entry's ListenPort, as a container's SidecarListener label makes one)
// resends what it got to that receiver.
import { createHmac, timingSafeEqual } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import test, { type ExecutionContext } from 'ava'
import { startDaemon, type DaemonProcess } from '../helpers/daemon.ts'
import { startReceiver, type Received, type Receiver } from '../helpers/receiver.ts'
import { waitFor } from '../helpers/wait.ts'

const SECRET = 'replay-test secret'
const TOLERANCE_S = 300
const RECEIVER_IP = '127.0.73.10'

async function tmp (t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-listeners-replay-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

async function receiver (t: ExecutionContext, host = RECEIVER_IP): Promise<Receiver> {
  const r = await startReceiver(host)
  t.teardown(async () => { await r.close() })
  return r
}

const entry = (name: string, extra: Record<string, unknown> = {}): unknown => ({ Service: { Name: name, Image: `${name}:1`, Ports: [] }, Check: { Type: 'AlwaysSuccessful' }, ...extra })

/** A daemon (the tests of this file run at once: each its own IP, 127.0.73.2 and .3) with static entries and the given sidecar.toml. */
async function daemon (t: ExecutionContext, ip: string, dir: string, toml: string, entries: unknown[]): Promise<DaemonProcess> {
  const file = path.join(dir, 'static.json')
  await writeFile(file, JSON.stringify(entries))
  await writeFile(path.join(dir, 'sidecar.toml'), toml)
  const d = await startDaemon({ ip, hostname: 'replay-a', cwd: dir, args: ['-d', 'static', '-f', path.join(dir, 'sidecar.toml')], env: { STATIC_CONFIG_FILE: file, HEALTH_INTERVAL: '500ms' } })
  t.teardown(() => { d.kill() })
  return d
}

const header = (h: http.IncomingHttpHeaders, name: string): string => String(h[name] ?? '')

/** What a receiver that knows only X-Sidecar-Signature checks (as before this header existed). */
function oldHeaderVerifies (raw: Buffer, headers: http.IncomingHttpHeaders): boolean {
  const expected = createHmac('sha256', SECRET).update(raw).digest()
  const given = Buffer.from(header(headers, 'x-sidecar-signature').replace(/^sha256=/, ''), 'hex')
  return given.length === expected.length && timingSafeEqual(given, expected)
}

type Verdict = 'ok' | 'unsigned' | 'bad signature' | 'stale' | 'duplicate'
type Verify = (rawBody: Buffer, headers: http.IncomingHttpHeaders, nowS?: number) => Verdict

/**
 * The receiver docs/listeners.md shows, run from its text (the js block under "Verifying a
 * POST"): v1 over the raw body, the time, the event id and hostname, compared in constant time;
 * then the window of 5 minutes; then the ids seen within it. Each call, a receiver of its own.
 */
function documentedVerifier (): Verify {
  const doc = readFileSync(path.join(import.meta.dirname, '../../docs/listeners.md'), 'utf8')
  const section = doc.slice(doc.indexOf('## Verifying a POST'))
  const code = /```js\n([\s\S]*?)```/.exec(section)?.[1]
  if (code === undefined) throw new Error('docs/listeners.md has no js block under "Verifying a POST"')
  return new Function('require', 'secret', `${code}\nreturn verify`)(createRequire(import.meta.url), SECRET) as Verify
}

/** A receiver checking the new header as documented, its clock skewMs ahead: "much later". */
class Verifier {
  skewMs = 0
  readonly #verify = documentedVerifier()
  check (raw: Buffer, headers: http.IncomingHttpHeaders): Verdict { return this.#verify(raw, headers, (Date.now() + this.skewMs) / 1000) }
}

/** As docs/listeners.md advises: a duplicate is answered 2xx (most often a retry whose answer was lost), without acting on it. */
const STATUS: Record<Verdict, number> = { ok: 200, unsigned: 401, 'bad signature': 401, stale: 401, duplicate: 200 }

/** A receiver answering as documented, its clock skewMs ahead; onVerdict sees each request's verdict. */
async function verifying (t: ExecutionContext, skewMs = 0, onVerdict?: (q: Received, v: Verdict) => void): Promise<Receiver> {
  const r = await receiver(t)
  const verifier = new Verifier()
  verifier.skewMs = skewMs
  r.respond = (q, _req, res) => {
    const v = verifier.check(q.raw, q.headers)
    onVerdict?.(q, v)
    res.statusCode = STATUS[v]
    res.end(v)
  }
  return r
}

/** Sends raw with headers to the receiver as an attacker would, with a real HTTP request: "<status> <answer>". */
async function resend (to: Receiver, raw: Buffer, headers: Record<string, string>): Promise<string> {
  return await new Promise<string>((resolve, reject) => {
    const req = http.request(to.url('/hook'), { method: 'POST', headers: { ...headers, 'content-length': String(raw.length) } }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => { resolve(`${res.statusCode ?? 0} ${Buffer.concat(chunks).toString()}`.trim()) })
    })
    req.on('error', reject)
    req.end(raw)
  })
}

/** The headers a daemon sent, as an attacker who captured them holds them. */
function captured (q: Received): Record<string, string> {
  const h: Record<string, string> = {}
  for (const name of ['content-type', 'x-sidecar-event-id', 'x-sidecar-hostname', 'x-sidecar-signature', 'x-sidecar-request-signature']) {
    if (q.headers[name] !== undefined) h[name] = header(q.headers, name)
  }
  return h
}

const TOML = (urls: string[], extra = ''): string => `[listeners]\nurls = ${JSON.stringify(urls)}\nsecret = "${SECRET}"\n${extra}`

test('replay: a receiver verifies X-Sidecar-Request-Signature on every POST, a retry carrying the time of its own attempt; X-Sidecar-Signature still verifies', async t => {
  const dir = await tmp(t)
  const r = await receiver(t)
  const verifier = new Verifier()
  const verdicts: Verdict[] = []
  let failFirst: string | undefined
  r.respond = (q, _req, res) => {
    const id = header(q.headers, 'x-sidecar-event-id')
    failFirst ??= id
    // the first event's first two attempts fail: its third comes 1.5-3 s after the first
    if (id === failFirst && q.attempt <= 2) { res.statusCode = 503; res.end('busy'); return }
    const v = verifier.check(q.raw, q.headers)
    verdicts.push(v)
    res.statusCode = STATUS[v]
    res.end(v)
  }
  const d = await daemon(t, '127.0.73.2', dir, TOML([r.url('/hook')], 'retry_delay = "1s"\n'), [entry('a'), entry('b')])
  await waitFor(() => verdicts.length >= 4, { timeoutMs: 60_000, message: () => `4 events taken; verdicts ${verdicts.join(',')}\n${d.output.slice(-3000)}` })

  t.deepEqual(verdicts, verdicts.map(() => 'ok'), 'every POST verifies, the retried one included')
  for (const q of r.requests) {
    t.regex(header(q.headers, 'x-sidecar-request-signature'), /^t=\d+,v1=[0-9a-f]{64}$/)
    t.true(oldHeaderVerifies(q.raw, q.headers), 'X-Sidecar-Signature verifies as before')
    const sent = Number(/^t=(\d+)/.exec(header(q.headers, 'x-sidecar-request-signature'))?.[1])
    t.true(sent >= Math.floor(q.arrivedAt / 1000) - 2 && sent <= Math.ceil(q.completeAt / 1000), `t=${sent} is the time of this attempt (arrived ${q.arrivedAt / 1000})`)
  }
  const attempts = r.requests.filter(q => header(q.headers, 'x-sidecar-event-id') === failFirst)
  t.deepEqual(attempts.map(q => q.attempt), [1, 2, 3])
  t.true(attempts.every(q => q.raw.equals(attempts[0].raw)), 'the same bytes on every attempt')
  const times = attempts.map(q => Number(/^t=(\d+)/.exec(header(q.headers, 'x-sidecar-request-signature'))?.[1]))
  t.true(times[2] > times[0], `the third attempt has a later time than the first: ${times.join(', ')}`)
  t.not(header(attempts[2].headers, 'x-sidecar-request-signature'), header(attempts[0].headers, 'x-sidecar-request-signature'))
})

test('replay: a listener\'s captured POST resent to another receiver with another event id, a changed byte or a forged time is refused, and so is a resend after the window', async t => {
  const dir = await tmp(t)
  const daemonVerdicts = new Map<string, Verdict>()
  const r = await verifying(t, 0, (q, v) => { if (q.headers['user-agent'] === 'sidecar-listener') daemonVerdicts.set(header(q.headers, 'x-sidecar-event-id'), v) })
  // the hostile listener: a service that declares itself one (a static entry's ListenPort on
  // the advertise IP; a container's SidecarListener label does the same), so it gets every
  // signed body too
  const ip = '127.0.73.3'
  const hostile = await receiver(t, ip)
  const d = await daemon(t, ip, dir, TOML([r.url('/hook')]), [entry('a'), entry('spy', { ListenPort: hostile.port })])
  const q = await (async () => {
    let spied: Received | undefined
    await waitFor(() => {
      spied = hostile.requests.find(s => daemonVerdicts.has(header(s.headers, 'x-sidecar-event-id')))
      return spied !== undefined
    }, { timeoutMs: 60_000, message: () => `an event both receivers got: ${hostile.requests.length}, ${r.requests.length}\n${d.output.slice(-3000)}` })
    return spied as Received
  })()
  const h = captured(q)
  const otherId = { ...h, 'x-sidecar-event-id': String(Number(h['x-sidecar-event-id']) + 1_000_000) }

  // the hole: a receiver that checks X-Sidecar-Signature and drops seen ids (all it could do
  // before) takes the spied body under a new event id
  const today = await receiver(t)
  const todaySeen = new Set<string>()
  today.respond = (x, _req, res) => {
    const id = header(x.headers, 'x-sidecar-event-id')
    const v = !oldHeaderVerifies(x.raw, x.headers) ? 'bad signature' : todaySeen.has(id) ? 'duplicate' : 'ok'
    todaySeen.add(id)
    res.statusCode = STATUS[v]
    res.end(v)
  }
  t.is(await resend(today, q.raw, h), '200 ok')
  const taken = await resend(today, q.raw, otherId)
  t.log(`a receiver checking only X-Sidecar-Signature answered ${taken} to the replay under event id ${otherId['x-sidecar-event-id']} (captured: ${h['x-sidecar-event-id']})`)
  t.is(taken, '200 ok', 'X-Sidecar-Signature alone takes the replay under a new id')

  t.is(daemonVerdicts.get(header(q.headers, 'x-sidecar-event-id')), 'ok', 'the daemon\'s own POST of it verified')

  // as captured: the receiver took that id already
  t.is(await resend(r, q.raw, h), '200 duplicate', 'resent as it was: a duplicate, not acted on')

  // another event id: refused by X-Sidecar-Request-Signature
  t.is(await resend(r, q.raw, otherId), '401 bad signature', 'another event id: refused')

  // one byte of the body changed (a status digit), with the captured id and with a fresh one
  const changed = Buffer.from(q.raw)
  const at = changed.indexOf('"Status":') + '"Status":'.length
  changed[at] = changed[at] === 0x30 ? 0x32 : 0x30
  t.false(oldHeaderVerifies(changed, h))
  t.is(await resend(r, changed, otherId), '401 bad signature', 'one byte changed: refused')
  t.is(await resend(r, changed, h), '401 bad signature', 'one byte changed, same id: refused')

  // the time moved to now (a fresh-looking replay), or another hostname claimed
  const v1 = h['x-sidecar-request-signature'].split(',')[1]
  t.is(await resend(r, q.raw, { ...otherId, 'x-sidecar-request-signature': `t=${Math.floor(Date.now() / 1000) + 1},${v1}` }), '401 bad signature', 'a forged time: refused')
  t.is(await resend(r, q.raw, { ...otherId, 'x-sidecar-hostname': 'replay-b' }), '401 bad signature', 'another hostname: refused')
  // the new header left out: a receiver that requires it refuses
  const withoutNew: Record<string, string> = { ...otherId }
  delete withoutNew['x-sidecar-request-signature']
  t.is(await resend(r, q.raw, withoutNew), '401 unsigned', 'without the new header: refused')

  // much later (the receiver's clock 6 minutes on), at a receiver that has long forgotten the
  // id: it keeps ids only for its window
  t.is(await resend(await verifying(t, (TOLERANCE_S + 60) * 1000), q.raw, h), '401 stale', 'resent after the window: stale')
  // the limit docs/listeners.md names: within the window, the same event (same id, same body)
  // is valid at a receiver that has not taken it yet
  t.is(await resend(await verifying(t), q.raw, h), '200 ok')
  t.deepEqual([...daemonVerdicts.values()].filter(v => v !== 'ok'), [], 'every POST of the daemon verified')
})
