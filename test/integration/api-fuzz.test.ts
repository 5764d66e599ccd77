// A bounded fuzz run of the API (in CI): 10,000 malformed or hostile requests against a
// real daemon on 127.0.12.40:7777 (with [api] token set), mostly on raw sockets so that
// nothing is cleaned up by an HTTP client: bad methods, paths and ids, path traversal for
// the UI files, bad and huge headers, bad bodies and encodings, foreign origins, and raw
// malformed HTTP. Expected: no crash, no 5xx, every write refused (401/403, or 400/431 when
// it is not even HTTP), nothing drained, no file outside ui/ served, and the daemon's RSS
// back within 10 % of where it was after a warm-up. Figures printed (docs/security.md).
import test from 'ava'
import { readFile } from 'node:fs/promises'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { startDaemon } from '../helpers/daemon.ts'
import { rssKb } from '../helpers/proc.ts'
import { sleep, waitFor } from '../helpers/wait.ts'
import { prng as rng } from '../helpers/prng.ts'

const IP = '127.0.12.40'
const TOKEN = 'fuzz-token-0d9e8f7a'
const TOTAL = 10_000
const WARMUP = 500
const CONCURRENCY = 16
const REQUEST_TIMEOUT_MS = 5000
const RUN_LIMIT_MS = 150_000 // the whole run stops by itself after this, whatever is left


const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'PROPFIND', 'get', 'P0ST', 'FOO', 'CONNECT']
const WRITE_METHODS = new Set(['POST', 'PUT', 'DELETE', 'PATCH', 'TRACE', 'PROPFIND', 'FOO', 'P0ST'])

function paths (id: string): string[] {
  return [
    '/', '/ui/', '/ui', '/ui/js/app.js', '/services.json', '/api/services.json', '/state.json', '/api/state.json',
    '/services/web.json', '/api/services/web.json', '/services/web', '/services/.json', '/services/..json',
    '/api/services/web/explain.json', '/api/services/%2e%2e/explain.json', '/api/proxy.json', '/api/listeners.json',
    '/health', '/api/health', '/metrics', '/servers', '/watch?by_service=false',
    `/api/services/${id}/drain`, `/api/services/${id}/undrain`, '/api/services/nope/drain', '/api/services//drain',
    `/api/services/${id}%00/drain`, '/api/services/%ZZ/drain', '/api/services/' + 'x'.repeat(5000) + '/drain',
    '/ui/../package.json', '/ui/%2e%2e/package.json', '/ui/..%2fpackage.json', '/ui/%2e%2e%2f%2e%2e%2fetc/passwd',
    '/ui/....//....//etc/passwd', '/ui/..\\..\\package.json', '/ui/js/..%5c..%5cpackage.json', '/ui/%00', '/ui/js/%c0%ae%c0%ae/package.json',
    '//etc/passwd', '/ui//etc/passwd', '/ui/%252e%252e/package.json', '/src/cli/main.ts', '/ui/../src/cli/main.ts',
    '/api/services/web/explain.json?x=' + '%'.repeat(100), '/v1/x', '/api/', '/api/services/\u00e9\u4e2d.json', '*', 'http://evil.example/',
  ]
}

function header (r: () => number, pick: <T>(a: T[]) => T): string {
  const choices = [
    () => `Origin: ${pick(['http://evil.example', 'null', `http://${IP}:8000`, `http://${IP}:7777`, 'x', ''])}`,
    () => `Sec-Fetch-Site: ${pick(['cross-site', 'same-site', 'same-origin', 'none', '???'])}`,
    () => `Authorization: ${pick(['Bearer', 'Bearer wrong', `Bearer ${TOKEN}x`, 'Basic Zm9vOmJhcg==', `bearer  ${TOKEN.slice(0, 5)}`, 'x'.repeat(2000)])}`,
    () => `Content-Type: ${pick(['application/json', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=--', 'application/json; charset=utf-99'])}`,
    () => `Accept: ${pick(['text/event-stream', '*/*', 'application/json', '\u00ff'])}`,
    () => `Accept-Encoding: ${pick(['gzip', 'br, deflate', 'identity;q=0', 'x'.repeat(300)])}`,
    () => `Last-Event-ID: ${pick(['-1', '99999999999999999999', 'abc', '1e308', ''])}`,
    () => `X-Forwarded-Host: ${pick(['evil.example', `${IP}:7777`, ''])}`,
    () => `If-None-Match: "${'x'.repeat(Math.floor(r() * 4000))}"`,
    () => `X-Big: ${'a'.repeat(17_000)}`, // past Node's 16 KiB header limit: 431
    () => `Range: bytes=${pick(['0-', '-1', '999999999-', 'x'])}`,
  ]
  return pick(choices)()
}

function body (pick: <T>(a: T[]) => T): string {
  return pick(['', '{', '{"a":', 'null', '[]', '{"__proto__":{"x":1}}', '\u0000\u0001\u0002', 'x'.repeat(70_000), '{"a":"' + '\\u0000'.repeat(100) + '"}'])
}

interface Case { text: string, write: boolean, kind: string }

/** Blank lines only: the server rightly waits for a request line (until its headers timeout), so the client gives up early. */
const WAITS_FOR_MORE = '\r\n\r\n\r\n'
const GIVE_UP_MS = 300

function makeCase (i: number, id: string): Case {
  const r = rng(i + 1)
  const pick = <T>(a: T[]): T => a[Math.floor(r() * a.length)]
  const roll = r()
  if (roll < 0.12) {
    // raw malformed HTTP
    const raw = pick([
      'GARBAGE\r\n\r\n', 'GET\r\n\r\n', 'GET / HTTP/9.9\r\nHost: x\r\n\r\n', 'GET /\r\n\r\n', WAITS_FOR_MORE,
      'GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n', 'GET / HTTP/1.1\r\nHost: x\r\nX: \u0000\r\n\r\n',
      `POST /api/services/${id}/drain HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
      `POST /api/services/${id}/drain HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n`,
      `POST /api/services/${id}/drain HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n`,
      'GET / HTTP/1.1\r\n' + 'X: y\r\n'.repeat(3000) + '\r\n', '\u0016\u0003\u0001\u0000\u00a5\u0001\u0000\u0000', // a TLS hello
      `GET /${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`, 'GET / HTTP/1.1\nHost: x\n\n',
    ])
    return { text: raw, write: raw.startsWith('POST'), kind: 'raw' }
  }
  const method = pick(METHODS)
  const p = pick(paths(id))
  const lines = [`${method} ${p} HTTP/1.1`, `Host: ${pick([`${IP}:7777`, `${IP}:7777`, 'evil.example', ''])}`]
  const n = Math.floor(r() * 4)
  for (let k = 0; k < n; k++) lines.push(header(r, pick))
  const b = WRITE_METHODS.has(method) || r() < 0.1 ? body(pick) : ''
  if (b !== '') lines.push(`Content-Length: ${Buffer.byteLength(b)}`)
  lines.push('Connection: close')
  return { text: `${lines.join('\r\n')}\r\n\r\n${b}`, write: WRITE_METHODS.has(method), kind: 'http' }
}

/** Sends one request on a fresh socket; the status (0: no HTTP answer) and the first bytes of the answer. */
async function send (text: string, timeoutMs = REQUEST_TIMEOUT_MS): Promise<{ status: number, head: string }> {
  return await new Promise((resolve) => {
    const s = net.connect(7777, IP)
    let out = ''
    const done = (): void => {
      s.destroy()
      clearTimeout(timer)
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(out)
      resolve({ status: m === null ? 0 : Number(m[1]), head: out.slice(0, 4096) })
    }
    const timer = setTimeout(done, timeoutMs)
    s.on('connect', () => { s.write(text) })
    s.on('data', (c: Buffer) => {
      out += c.toString('latin1')
      // streams (/watch, SSE) never end: the head and a first chunk are enough
      if (out.length > 65_536 || (/^HTTP\/1\.[01] 200/.test(out) && /content-type: (text\/event-stream|application\/json)/i.test(out) && /\r\n\r\n./s.test(out) && out.includes('\r\n\r\n'))) done()
    })
    s.on('end', done)
    s.on('error', done)
  })
}

test('api fuzz: 10,000 hostile requests, no crash, no 5xx, every write refused, nothing drained, RSS back within 10 %', async t => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-apifuzz-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const file = path.join(dir, 'static.json')
  await writeFile(file, JSON.stringify([{ Service: { Name: 'web', Image: 'web:1', Ports: [{ Type: 'tcp', Port: 9001, ServicePort: 0 }] }, Check: { Type: 'AlwaysSuccessful' } }]))
  const d = await startDaemon({ ip: IP, hostname: 'fuzz', cwd: dir, args: ['-d', 'static'], env: { STATIC_CONFIG_FILE: file, API_TOKEN: TOKEN, SIDECAR_LOGGING_LEVEL: 'info', PROXY_ENABLED: 'false' } })
  t.teardown(() => { d.kill() })
  const pid = d.child.pid ?? 0
  const svc = await waitFor(async () => (await d.json<{ Services: Record<string, Array<{ ID: string, Status: number }>> }>('/services.json')).Services.web?.[0], { timeoutMs: 10_000, message: 'web listed' })

  const statuses = new Map<number, number>()
  /** Requests without an HTTP answer, by kind and start (what they were, for the log). */
  const silent = new Map<string, number>()
  const failures: string[] = []
  const leaks = ['root:x:0:0', '"name": "sidecar"', 'export function run']
  let next = 0
  let rssBase = 0
  const t0 = Date.now()
  const worker = async (): Promise<void> => {
    while (next < TOTAL && Date.now() - t0 < RUN_LIMIT_MS) {
      const i = next++
      if (i === WARMUP) rssBase = rssKb(pid)
      const c = makeCase(i, svc.ID)
      const { status, head } = await send(c.text, c.text === WAITS_FOR_MORE ? GIVE_UP_MS : REQUEST_TIMEOUT_MS)
      statuses.set(status, (statuses.get(status) ?? 0) + 1)
      if (status === 0) { const k = `${c.kind} ${c.write ? 'write ' : ''}${JSON.stringify(c.text.slice(0, 40))}`; silent.set(k, (silent.get(k) ?? 0) + 1) }
      if (status >= 500) failures.push(`case ${i} (${c.kind}): ${status}: ${JSON.stringify(c.text.slice(0, 200))} -> ${JSON.stringify(head.slice(0, 300))}`)
      if (c.write && c.kind === 'http' && ![400, 401, 403, 404, 405, 413, 414, 431, 0].includes(status)) failures.push(`case ${i}: a write got ${status}: ${JSON.stringify(c.text.slice(0, 200))}`)
      if (c.write && status >= 200 && status < 300) failures.push(`case ${i}: a write was accepted: ${JSON.stringify(c.text.slice(0, 200))}`)
      for (const l of leaks) if (head.includes(l)) failures.push(`case ${i}: a file outside ui/ was served (${l}): ${JSON.stringify(c.text.slice(0, 200))}`)
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
  const ms = Date.now() - t0
  const sent = Math.min(next, TOTAL)

  t.true(d.running, `the daemon exited: ${d.output.slice(-3000)}`)
  t.is(sent, TOTAL, `all ${TOTAL} requests sent within ${RUN_LIMIT_MS} ms`)
  t.deepEqual(failures.slice(0, 20), [])
  t.is((await d.json<{ Services: Record<string, Array<{ Status: number }>> }>('/services.json')).Services.web[0].Status, 0, 'nothing drained')
  t.is((await fetch(d.url('/health'))).status, 200)

  // RSS: V8 gives memory back lazily; wait (bounded) for it to settle near the warm-up figure.
  let rssAfter = rssKb(pid)
  for (let k = 0; k < 30 && rssAfter > rssBase * 1.1; k++) { await sleep(1000); rssAfter = rssKb(pid) }
  const figures = `${sent} requests in ${ms} ms (${Math.round(sent / (ms / 1000))}/s, ${CONCURRENCY} at once); statuses ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}; RSS ${Math.round(rssBase / 1024)} MiB after ${WARMUP} warm-up requests, ${Math.round(rssAfter / 1024)} MiB after (${((rssAfter / rssBase - 1) * 100).toFixed(1)} %); load ${(await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ')}`
  t.log(figures)
  t.log(`without an HTTP answer: ${JSON.stringify([...silent].sort((a, b) => b[1] - a[1]).slice(0, 12))}`)
  console.log(`api fuzz: ${figures}`)
  t.true(rssAfter <= rssBase * 1.1, `RSS ${rssAfter} KiB vs ${rssBase} KiB after warm-up`)
  t.is(statuses.get(500) ?? 0, 0)
})
