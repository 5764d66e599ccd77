// Webhook receivers that answer as an attacker would, against a real daemon (127.0.63.30, port
// 7777) and real HTTP servers (127.0.63.31): a redirect to another target (with a token in its
// query), an error answer of 200 MB, an error answer dribbled a byte at a time, no answer at
// all, and an error body of terminal escapes and line breaks. A regression test: each held
// before it (c5511c7). Nothing is followed, no answer is read past 64 KiB or the timeout, the
// daemon's memory stays put, and the log gets neither an escape nor a forged line.
import test from 'ava'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { startDaemon } from '../helpers/daemon.ts'
import { rssKb } from '../helpers/proc.ts'
import { waitFor } from '../helpers/wait.ts'

interface ListenerJson { url: string, delivered: number, failedAttempts: number, lastError: { message: string } | null }

test('receivers that redirect, answer hugely, dribble, hang or send escapes: each fails with a clear error, bounded, and nothing more is fetched', async t => {
  t.timeout(120_000)
  const elsewhere: string[] = []
  const target = http.createServer((req, res) => { elsewhere.push(req.url ?? ''); res.end() })
  const timers = new Set<NodeJS.Timeout>()
  let hugeBytesSent = 0
  const receiver = http.createServer((req, res) => {
    req.resume()
    if (req.url === '/redirect') {
      res.writeHead(307, { Location: 'http://127.0.63.31:8081/elsewhere?token=leaked-4f2a&x=1' })
      res.end('moved')
    } else if (req.url === '/huge') {
      res.writeHead(500)
      const mb = Buffer.alloc(2 ** 20, 'a')
      const more = (): void => {
        while (hugeBytesSent < 200 * 2 ** 20 && res.writable) {
          hugeBytesSent += mb.length
          if (!res.write(mb)) { res.once('drain', more); return }
        }
        res.end()
      }
      more()
    } else if (req.url === '/dribble') {
      res.writeHead(500)
      const timer = setInterval(() => { res.write('x') }, 200)
      timers.add(timer)
      res.on('close', () => { clearInterval(timer) })
    } else if (req.url === '/escape') {
      res.writeHead(500)
      res.end('\u001b[2J\u001b[31mcleared\r\n[2026-01-01 00:00:00.000] ERROR: [api] forged line')
    } // '/hang': never answers
  })
  for (const [server, port] of [[receiver, 8080], [target, 8081]] as const) {
    await new Promise<void>(resolve => { server.listen(port, '127.0.63.31', resolve) })
    t.teardown(() => { server.closeAllConnections(); server.close() })
  }
  t.teardown(() => { for (const timer of timers) clearInterval(timer) })

  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-hostile-receivers-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const file = path.join(dir, 'static.json')
  await writeFile(file, JSON.stringify([{ Service: { Name: 'web', Image: 'web:1', Ports: [] }, Check: { Type: 'AlwaysSuccessful' } }]))
  const paths = ['/redirect', '/huge', '/dribble', '/hang', '/escape']
  const d = await startDaemon({
    ip: '127.0.63.30',
    hostname: 'hostile-receivers',
    cwd: dir,
    args: ['-d', 'static'],
    env: { STATIC_CONFIG_FILE: file, SIDECAR_LOGGING_LEVEL: 'info', PROXY_ENABLED: 'false', LISTENERS_URLS: paths.map(p => `http://127.0.63.31:8080${p}`).join(','), LISTENERS_TIMEOUT: '2s', LISTENERS_RETRIES: '1' },
  })
  t.teardown(() => { d.kill() })
  const before = rssKb(d.child.pid)
  let peak = before
  const sampler = setInterval(() => { peak = Math.max(peak, rssKb(d.child.pid)) }, 50)
  t.teardown(() => { clearInterval(sampler) })

  const byPath = async (): Promise<Map<string, ListenerJson>> => new Map((await d.json<{ listeners: ListenerJson[] }>('/api/listeners.json')).listeners.map(l => [new URL(l.url).pathname, l]))
  const all = await waitFor(async () => {
    const m = await byPath()
    return paths.every(p => (m.get(p)?.failedAttempts ?? 0) >= 2) ? m : undefined
  }, { timeoutMs: 60_000, message: 'every listener failed its event twice (one retry)' })
  clearInterval(sampler)
  const error = (p: string): string => all.get(p)?.lastError?.message ?? ''
  for (const p of paths) t.log(`${p}: ${error(p).slice(0, 160)}`)

  t.is(error('/redirect'), 'HTTP 307 Temporary Redirect to http://127.0.63.31:8081/elsewhere?token=***&x=1 (redirects are not followed: configure that URL): moved')
  t.deepEqual(elsewhere, [], 'the redirect target got nothing')
  t.regex(error('/huge'), /^HTTP 500 Internal Server Error: a{200}… \(answer longer than 65536 bytes, not read\)$/)
  t.true(hugeBytesSent < 50 * 2 ** 20, `the huge answer was not read on (${(hugeBytesSent / 2 ** 20).toFixed(0)} MB sent before the connection closed)`)
  t.regex(error('/dribble'), /^HTTP 500 Internal Server Error: x+ \(no response within 2000 ms\)$/)
  t.is(error('/hang'), 'no response within 2000 ms')
  t.regex(error('/escape'), /cleared/)
  const grownMb = (peak - before) / 1024
  t.true(grownMb < 60, `the daemon's memory stays put (+${grownMb.toFixed(0)} MB at the peak)`)

  // The log: the first failure of each listener is a WARN; none carries an escape or starts a forged line.
  await waitFor(() => /escape\): POST of event/.test(d.output), { message: 'the escape listener\'s warning' })
  t.false(d.output.includes('\u001b'), 'no terminal escape reaches the log')
  t.false(/^\[2026-01-01 00:00:00\.000\] ERROR/m.test(d.output), 'no forged line starts at the left margin')
  t.false(d.output.includes('leaked-4f2a'), 'the token in the redirect is not logged')
  t.true((await fetch(d.url('/health'))).ok)
})
