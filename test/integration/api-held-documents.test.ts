// One-shot answers (not streams) whose clients never read them, on a real daemon (127.0.84.11,
// port 7777) with 3,000 instances of one service of 20 ports each: /api/services.json is about
// 9.5 MB and the service's explain about 11 MB, more than the kernel's buffers of a loopback
// connection take. Each GET whose client reads nothing kept its whole document until the client
// closed: 24 of them on /api/services.json, each after a drain or undrain (writes any client may
// make without a token), or on explain (a document built for each request: no change needed),
// held every one of their documents, and nothing cut them. Now the documents held unsent for
// clients stay within 32 MiB together (3 of these), the newest always kept; the clients that
// hold older ones are cut off, counted and logged, while a client that reads, slowly or not,
// gets its whole document.
import anyTest, { type TestFn } from 'ava'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { startDaemon, type DaemonProcess } from '../helpers/daemon.ts'
import { sleep, waitFor } from '../helpers/wait.ts'

const IP = '127.0.84.11'
const INSTANCES = 3000
const PORTS = 20
const NAME = 'service-with-a-rather-long-name'
const CLIENTS = 24

const test = anyTest as TestFn<{ d: DaemonProcess }>
const cleanup: Array<() => Promise<void> | void> = []

test.before(async t => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-api-held-documents-'))
  cleanup.push(async () => { await rm(dir, { recursive: true, force: true }) })
  const file = path.join(dir, 'static.json')
  await writeFile(file, JSON.stringify(Array.from({ length: INSTANCES }, (_, i) => ({
    Service: { ID: `svc${i}`, Name: NAME, Image: `registry.example.com/team/image-${i}:1.2.3`, Ports: Array.from({ length: PORTS }, (_, p) => ({ Type: 'tcp', Port: 10_000 + p, ServicePort: 0 })) },
    Check: { Type: 'AlwaysSuccessful' },
  }))))
  const d = await startDaemon({ ip: IP, hostname: 'api-held-documents', cwd: dir, args: ['-d', 'static'], inspector: true, env: { STATIC_CONFIG_FILE: file, SIDECAR_LOGGING_LEVEL: 'info', PROXY_ENABLED: 'false', HEALTH_INTERVAL: '30s' } })
  cleanup.unshift(() => { d.kill() })
  await waitFor(async () => (await d.json<{ Services: Record<string, unknown[]> }>('/api/services.json')).Services[NAME]?.length === INSTANCES, { timeoutMs: 90_000, message: `all ${INSTANCES} instances listed` })
  t.context = { d }
})

test.after.always(async () => { for (const f of cleanup) await f() })

async function metric (d: DaemonProcess, line: RegExp): Promise<number> {
  const m = line.exec(await (await fetch(d.url('/metrics'), { signal: AbortSignal.timeout(10_000) })).text())
  return m === null ? Number.NaN : Number(m[1])
}

const CUT = /^sidecar_api_answers_cut_total (\d+)$/m

/** MB of Buffers the daemon holds after a full collection (what lives, not what awaits the collector). */
async function externalMb (d: DaemonProcess): Promise<number> {
  await d.collectGarbage()
  return await metric(d, /^sidecar_nodejs_external_memory_bytes (\S+)$/m) / 2 ** 20
}

/** A new catalog version: drain or undrain svc0 (no token: a client that is no browser may). */
async function change (d: DaemonProcess, drain: boolean): Promise<void> {
  const res = await fetch(d.url(`/api/services/svc0/${drain ? 'drain' : 'undrain'}`), { method: 'POST', signal: AbortSignal.timeout(10_000) })
  if (res.status !== 202) throw new Error(`${drain ? 'drain' : 'undrain'} answered ${res.status}`)
}

/** A raw client of one GET (no Accept-Encoding: the document as it is), with what it has received. */
class Client {
  readonly socket: net.Socket
  readonly #chunks: Buffer[] = []
  received = 0
  closed = false
  error: string | undefined
  readonly done: Promise<void>

  constructor (d: DaemonProcess, p: string) {
    this.socket = net.connect({ host: d.ip, port: d.apiPort })
    this.socket.on('data', chunk => { this.#chunks.push(chunk); this.received += chunk.length })
    this.socket.on('error', err => { this.error = (err as NodeJS.ErrnoException).code ?? err.message })
    this.done = new Promise(resolve => this.socket.once('close', () => { this.closed = true; resolve() }))
    this.socket.write(`GET ${p} HTTP/1.1\r\nHost: ${d.ip}\r\nConnection: close\r\n\r\n`)
  }

  /** Reads the first bytes of the answer (its head: the daemon began to send it), then nothing more. Called at once after the constructor. */
  async stall (timeoutMs = 30_000): Promise<void> {
    const first = new Promise<void>(resolve => this.socket.once('data', () => { this.socket.pause(); resolve() }))
    await waitFor(async () => await Promise.race([first.then(() => true), this.done.then(() => true), sleep(100).then(() => false)]), { timeoutMs, message: 'the first bytes of the answer' })
  }

  /** Reads on, at bytesPerS at most (0: as fast as it comes), until the connection closes. */
  async readToEnd (bytesPerS = 0, timeoutMs = 120_000): Promise<void> {
    if (bytesPerS > 0) {
      this.socket.on('data', chunk => {
        this.socket.pause()
        setTimeout(() => this.socket.resume(), chunk.length / bytesPerS * 1000).unref()
      })
    }
    this.socket.resume()
    let timer: NodeJS.Timeout | undefined
    await Promise.race([this.done, new Promise<void>((resolve, reject) => { timer = setTimeout(() => { reject(new Error(`no end of the answer within ${timeoutMs} ms (${this.received} bytes)`)) }, timeoutMs) })])
    clearTimeout(timer)
  }

  /** Whether the answer came whole: a 200 with as many bytes of body as its Content-Length said, and valid JSON. */
  complete (): boolean {
    const all = Buffer.concat(this.#chunks)
    const end = all.indexOf('\r\n\r\n')
    if (end < 0) return false
    const head = all.subarray(0, end).toString()
    const length = /^content-length: (\d+)$/im.exec(head)
    if (!head.startsWith('HTTP/1.1 200') || length === null) return false
    const body = all.subarray(end + 4)
    if (body.length !== Number(length[1])) return false
    try { JSON.parse(body.toString()); return true } catch { return false }
  }
}

for (const [p, versions] of [['/api/services.json', true], [`/api/services/${NAME}/explain.json`, false]] as const) {
  test.serial(`${p}: clients that do not read their answers${versions ? ', each after a change,' : ''} hold 32 MiB of documents at most; those past it are cut off and counted; a reader gets the whole document`, async t => {
    t.timeout(300_000)
    const { d } = t.context
    const cutBefore = await metric(d, CUT)
    const mark = d.mark()
    const before = await externalMb(d)

    const stalled: Client[] = []
    t.teardown(() => { for (const c of stalled) c.socket.destroy() })
    for (let i = 0; i < CLIENTS; i++) {
      if (versions) await change(d, i % 2 === 0)
      const c = new Client(d, p)
      stalled.push(c)
      await c.stall() // its document is built and being sent: the next client's is another one
      await sleep(300)
    }
    await sleep(2000)
    const grown = await externalMb(d) - before
    const cut = await metric(d, CUT) - cutBefore
    t.log(`${p}: Buffers ${before.toFixed(0)} MB before, +${grown.toFixed(0)} MB with ${CLIENTS} clients that do not read ${CLIENTS} documents; ${cut} cut off`)
    t.true(grown < 48, `${CLIENTS} clients that do not read hold ${grown.toFixed(0)} MB of Buffers, under 48 MB (32 MiB of documents, 3 of about 10 MB, and what the sockets hold beside)`)
    t.true(cut >= CLIENTS - 4, `the clients holding older documents are cut off and counted (${cut})`)

    // a client that reads at its pace gets the whole current document while the others hold theirs
    const reader = new Client(d, p)
    await reader.readToEnd()
    t.true(reader.complete(), `a reading client gets the whole document (${reader.received} bytes, ${reader.error ?? 'no error'})`)

    // the stalled clients read at last: those cut off get an answer cut short, the newest the whole of theirs
    await Promise.all(stalled.map(async c => { await c.readToEnd() }))
    const whole = stalled.map(c => c.complete())
    t.log(`answers that came whole once read at last: ${whole.map(w => w ? 1 : 0).join('')}`)
    t.true(whole.at(-1), 'the newest document is never cut')
    t.true(whole.filter(w => !w).length >= CLIENTS - 4, `the connections of the clients cut off were closed: ${whole.filter(w => !w).length} answers cut short`)
    if (versions) {
      const lines = d.outputSince(mark).match(/API client \S+ cut off/g) ?? []
      t.true(lines.length >= 1 && lines.length <= 2, `the cuts are logged, at most once a minute (${lines.length} lines)`)
    }
    t.is((await fetch(d.url('/health'), { signal: AbortSignal.timeout(10_000) })).status, 200)
  })
}

test.serial('a slow reader of a large document is not cut while the documents held for clients stay within the bound', async t => {
  t.timeout(300_000)
  const { d } = t.context
  const cutBefore = await metric(d, CUT)
  const slow = new Client(d, '/api/services.json')
  t.teardown(() => { slow.socket.destroy() })
  await slow.stall()
  const reading = slow.readToEnd(300_000) // 9.5 MB in 30 s or more
  // meanwhile: other clients take newer versions whole, and two leave newer ones unread (3 documents of about 9.5 MB together)
  const others: Client[] = []
  t.teardown(() => { for (const c of others) c.socket.destroy() })
  for (let i = 0; i < 6; i++) {
    await change(d, i % 2 === 0)
    const c = new Client(d, '/api/services.json')
    others.push(c)
    if (i < 4) {
      await c.readToEnd()
      t.true(c.complete(), `a reader of a newer version gets it whole (${c.received} bytes)`)
    } else {
      await c.stall()
    }
  }
  t.false(slow.closed, `the slow reader is still reading (${slow.received} bytes so far)`)
  await reading
  t.true(slow.complete(), `the slow reader gets the whole document (${slow.received} bytes, ${slow.error ?? 'no error'})`)
  t.is(await metric(d, CUT) - cutBefore, 0, 'nobody is cut off')
})
