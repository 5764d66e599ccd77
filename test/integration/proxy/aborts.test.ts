// A client that aborts its connection (RST), or that the idle timeout cuts, in tcp mode or in a
// WebSocket tunnel: the backend's connection is reset, not closed with a FIN, which reads as a
// clean end of what the client sent (an upload cut short looked complete).
// bench/proxy/differential-tcp.ts found both: HAProxy resets the backend there. A client that
// closes cleanly still gives the backend a FIN.
import test from 'ava'
import net from 'node:net'
import { harness, instance, proxyConfig, waitListening } from './setup.ts'

const IP = '127.0.52.10'
const BACKEND_IP = '127.0.52.11'
const UPGRADE = 'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n'

interface Ending { bytes: number, how: string }

/** A raw backend (answering an upgrade with 101 when asked) whose next connection reports how it ended: 'FIN' or the error's code. */
async function endingBackend (t: import('ava').ExecutionContext, upgrade: boolean): Promise<{ port: number, next: () => Promise<Ending> }> {
  const endings: Array<Promise<Ending>> = []
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    endings.push(new Promise((resolve) => {
      let bytes = 0
      let head = !upgrade
      s.on('data', (d: Buffer) => {
        bytes += d.length
        if (!head && d.includes('\r\n\r\n')) { head = true; s.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n') }
      })
      s.on('end', () => { resolve({ bytes, how: 'FIN' }) })
      s.on('error', (e: NodeJS.ErrnoException) => { resolve({ bytes, how: e.code ?? 'error' }) })
    }))
  })
  await new Promise<void>(resolve => server.listen(0, BACKEND_IP, resolve))
  t.teardown(() => { server.close() })
  const next = async (): Promise<Ending> => {
    const t0 = Date.now()
    while (endings.length === 0 && Date.now() - t0 < 3000) await new Promise(resolve => setTimeout(resolve, 10))
    const e = endings.shift()
    if (e === undefined) throw new Error('no backend connection')
    return await Promise.race([e, new Promise<Ending>(resolve => setTimeout(() => { resolve({ bytes: -1, how: 'still open after 3 s' }) }, 3000))])
  }
  return { port: (server.address() as net.AddressInfo).port, next }
}

/** Connects, sends the upgrade when asked and waits for its 101, sends 100 KiB, then resets, ends, or keeps the connection open and silent (resolving with how the proxy ended it). */
async function client (sp: number, upgrade: boolean, then: 'reset' | 'end' | 'stall'): Promise<string> {
  const s = net.connect({ host: IP, port: sp, allowHalfOpen: true })
  s.on('error', () => {})
  await new Promise(resolve => s.once('connect', resolve))
  if (upgrade) {
    s.write(UPGRADE)
    await new Promise<void>(resolve => { s.on('data', (d: Buffer) => { if (d.includes('\r\n\r\n')) resolve() }) })
  }
  s.write(Buffer.alloc(100 * 1024, 0x61))
  if (then === 'stall') {
    const how = await new Promise<string>((resolve) => {
      s.on('end', () => { resolve('FIN') })
      s.on('error', (e: NodeJS.ErrnoException) => { resolve(e.code ?? 'error') })
      setTimeout(() => { resolve('still open after 3 s') }, 3000)
    })
    s.destroy()
    return how
  }
  await new Promise(resolve => setTimeout(resolve, 200))
  if (then === 'reset') s.resetAndDestroy()
  else s.end()
  await new Promise(resolve => setTimeout(resolve, 50))
  s.destroy()
  return ''
}

for (const [mode, SP] of [['tcp', 18981], ['http', 18982]] as const) {
  const tunnel = mode === 'http'
  test(`${tunnel ? 'a WebSocket tunnel' : 'tcp mode'}: a client's reset resets the backend's connection; a clean close still ends it with a FIN`, async (t) => {
    const b = await endingBackend(t, tunnel)
    const h = await harness(t, { proxy: proxyConfig(IP) })
    h.put(instance('aborts', 'host-a', BACKEND_IP, b.port, SP, { ProxyMode: mode }))
    await h.settle()
    await waitListening(h, SP)

    await client(SP, tunnel, 'reset')
    const aborted = await b.next()
    t.is(aborted.how, 'ECONNRESET', 'the client aborted: so is the backend\'s connection')
    t.true(aborted.bytes >= 100 * 1024, `what the client sent before it reached the backend (${aborted.bytes} bytes)`)

    await client(SP, tunnel, 'end')
    const clean = await b.next()
    t.is(clean.how, 'FIN', 'the client closed cleanly: a FIN')
    t.true(clean.bytes >= 100 * 1024, `every byte the client sent (${clean.bytes} bytes)`)
  })
}

for (const [mode, SP] of [['tcp', 18983], ['http', 18984]] as const) {
  const tunnel = mode === 'http'
  test(`${tunnel ? 'a WebSocket tunnel' : 'tcp mode'} cut by the idle timeout: the backend's connection is reset, the client's closed`, async (t) => {
    const b = await endingBackend(t, tunnel)
    const h = await harness(t, { proxy: proxyConfig(IP, { idle_timeout: 400 }) })
    h.put(instance('idle-cut', 'host-a', BACKEND_IP, b.port, SP, { ProxyMode: mode }))
    await h.settle()
    await waitListening(h, SP)
    const t0 = Date.now()
    const [clientSaw, backendSaw] = await Promise.all([client(SP, tunnel, 'stall'), b.next()])
    t.is(backendSaw.how, 'ECONNRESET', 'the client stalled mid-upload: not a clean end for the backend')
    t.true(backendSaw.bytes >= 100 * 1024)
    t.is(clientSaw, 'FIN')
    t.true(Date.now() - t0 < 2500, 'within the idle timeout and two sweeps')
  })
}
