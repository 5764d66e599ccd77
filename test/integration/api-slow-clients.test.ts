// Clients that hold API connections without finishing a request, on a real daemon (127.0.63.10,
// port 7777). The bounds are documented as 10 s for a request head and 30 s for a whole
// request. Before (main at c5511c7) Node looked for expired connections only every 30 s, so a
// head that never completed was cut after 29-40 s and a dribbled body after 30-60 s (measured:
// 29.5 s and 59.7 s); a slow-loris client held three to four times the sockets the bounds say.
import test from 'ava'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { startDaemon, type DaemonProcess } from '../helpers/daemon.ts'
import { sleep } from '../helpers/wait.ts'

const IP = '127.0.63.10'

let d: DaemonProcess
let dir: string

test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-slow-clients-'))
  const file = path.join(dir, 'static.json')
  await writeFile(file, JSON.stringify([{ Service: { ID: 'web1', Name: 'web', Image: 'web:1', Ports: [{ Type: 'tcp', Port: 9001, ServicePort: 0 }] }, Check: { Type: 'AlwaysSuccessful' } }]))
  d = await startDaemon({ ip: IP, hostname: 'slow-clients', cwd: dir, args: ['-d', 'static'], env: { STATIC_CONFIG_FILE: file, SIDECAR_LOGGING_LEVEL: 'info', PROXY_ENABLED: 'false' } })
})

test.after.always(async () => {
  d?.kill()
  await rm(dir, { recursive: true, force: true })
})

/**
 * Opens a connection, writes `start`, then `drip` every second; resolves when the server closes
 * it, with the seconds it was held and the status line it got last (undefined: none).
 */
async function hold (start: string, drip: string, giveUpMs: number): Promise<{ heldS: number, status: string | undefined }> {
  return await new Promise((resolve, reject) => {
    const t0 = Date.now()
    let answer = ''
    const s = net.connect(7777, IP, () => { s.write(start) })
    const timer = setInterval(() => { if (s.writable) s.write(drip) }, 1000)
    const giveUp = setTimeout(() => { s.destroy() }, giveUpMs)
    s.on('data', (c: Buffer) => { answer += c.toString('latin1') })
    s.on('error', () => {}) // a reset is a close too
    s.on('close', () => {
      clearInterval(timer)
      clearTimeout(giveUp)
      resolve({ heldS: (Date.now() - t0) / 1000, status: [...answer.matchAll(/HTTP\/1\.1 (\d{3})/g)].at(-1)?.[1] })
    })
    s.on('timeout', () => { reject(new Error('unreachable')) })
  })
}

test('a request head that never completes is cut after 10 s, a dribbled body after 30 s, with 408, and /health answers meanwhile', async t => {
  // Staggered over 7.5 s: with a check every 30 s some of them would fall just before a check
  // and be cut in time by chance; not all of them.
  const heads: Array<Promise<{ heldS: number, status: string | undefined }>> = []
  const bodies: Array<Promise<{ heldS: number, status: string | undefined }>> = []
  for (let i = 0; i < 4; i++) {
    heads.push(hold('GET /health HTTP/1.1\r\nHost: x\r\n', 'X-Slow: 1\r\n', 60_000))
    bodies.push(hold('POST /api/services/web1/undrain HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n', 'a', 80_000))
    await sleep(2500)
  }
  const health = await fetch(d.url('/health'), { signal: AbortSignal.timeout(5000) })
  t.is(health.status, 200, '/health answers while the slow clients hold their connections')
  for (const [what, list, boundS] of [['head', heads, 10], ['request', bodies, 30]] as const) {
    for (const { heldS, status } of await Promise.all(list)) {
      t.log(`slow ${what}: cut after ${heldS.toFixed(1)} s with ${status ?? 'nothing'}`)
      t.is(status, '408', `a slow ${what} gets 408`)
      t.true(heldS >= boundS - 0.5 && heldS <= boundS + 3, `a slow ${what} is cut after its ${boundS} s (held ${heldS.toFixed(1)} s)`)
    }
  }
  t.regex(await (await fetch(d.url('/metrics'))).text(), /^sidecar_api_rejected_requests_total\{reason="request_timeout"\} [1-9]/m)
})
