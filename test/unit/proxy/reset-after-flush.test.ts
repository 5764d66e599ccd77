// resetAfterFlush on real loopback sockets: a reset sent as soon as Node's write queue is empty
// throws away what the kernel still holds for a slow reader; resetAfterFlush waits for the
// kernel's queue too (its line in /proc/self/net/tcp), so the reader gets every byte, then the
// reset; a reader that takes nothing is reset when the time is up. tableKey names a socket as
// the kernel's table does (IPv4, IPv6, IPv4-mapped).
import test from 'ava'
import { readFileSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import { resetAfterFlush, tableKey } from '../../../src/proxy/reset-after-flush.ts'

const IP = '127.0.53.30'
const MAPPED = '::ffff:127.0.53.31'
const LINUX = os.platform() === 'linux'

/** A server on host whose first connection gets `bytes` written, then handed to `then` (once Node's queue took them: at once; o.written: once it is empty); and a client that reads 64 KiB every pauseMs (or nothing for stallMs first), ending with what it got and how. */
async function pair (host: string, bytes: number, then: (s: net.Socket) => void, o: { pauseMs?: number, stallMs?: number, written?: boolean }): Promise<{ got: number, how: string }> {
  const server = net.createServer((s) => {
    s.on('error', () => {})
    s.write(Buffer.alloc(bytes, 0x5a), () => { if (o.written === true) then(s) })
    if (o.written !== true) then(s)
  })
  await new Promise<void>(resolve => server.listen(0, host, resolve))
  try {
    const buf = Buffer.alloc(64 * 1024)
    let got = 0
    return await new Promise((resolve) => {
      const c: net.Socket = net.connect({
        host: host.replace('::ffff:', ''),
        port: (server.address() as net.AddressInfo).port,
        onread: {
          buffer: buf,
          callback: (n: number) => {
            got += n
            if (o.pauseMs === undefined) return true
            setTimeout(() => { c.resume() }, o.pauseMs)
            return false
          },
        },
      })
      if (o.stallMs !== undefined) { c.pause(); setTimeout(() => { c.resume() }, o.stallMs) }
      c.on('end', () => { resolve({ got, how: 'FIN' }) })
      c.on('error', (e: NodeJS.ErrnoException) => { resolve({ got, how: e.code ?? 'error' }) })
    })
  } finally {
    server.close()
  }
}

const MiB = 1024 * 1024

test('a slow reader of 16 MiB gets every byte, then the reset; a reset as soon as Node\'s queue is empty loses what the kernel held', async (t) => {
  const flushed = await pair(IP, 16 * MiB, (s) => { resetAfterFlush(s, 20_000) }, { pauseMs: 1, stallMs: 300 })
  t.deepEqual(flushed, { got: 16 * MiB, how: 'ECONNRESET' })
  if (!LINUX) return
  const naive = await pair(IP, 16 * MiB, (s) => { s.resetAndDestroy() }, { pauseMs: 1, stallMs: 300, written: true })
  t.is(naive.how, 'ECONNRESET')
  t.true(naive.got < 16 * MiB, `the kernel's queue is lost to a reset at once (${naive.got} bytes arrived)`)
})

test('the same through an IPv4-mapped IPv6 socket (its line is in /proc/self/net/tcp6)', async (t) => {
  const flushed = await pair(MAPPED, 8 * MiB, (s) => { resetAfterFlush(s, 20_000) }, { pauseMs: 1, stallMs: 300 })
  t.deepEqual(flushed, { got: 8 * MiB, how: 'ECONNRESET' })
})

test('a reader that takes nothing is reset when the time is up, with part of the bytes', async (t) => {
  const t0 = Date.now()
  const stuck = await pair(IP, 32 * MiB, (s) => { resetAfterFlush(s, 500) }, { stallMs: 1500 })
  t.is(stuck.how, 'ECONNRESET')
  t.true(stuck.got < 32 * MiB, `${stuck.got} bytes arrived`)
  t.true(Date.now() - t0 < 10_000)
})

test('tableKey names a socket as the kernel\'s table prints it', async (t) => {
  const fake = (localAddress: string, localPort: number, remoteAddress: string, remotePort: number): net.Socket => ({ localAddress, localPort, remoteAddress, remotePort }) as unknown as net.Socket
  const le = os.endianness() === 'LE'
  t.deepEqual(tableKey(fake('127.0.53.1', 80, '10.1.2.3', 0xabcd)), { key: le ? '0135007F:0050 0302010A:ABCD' : '7F003501:0050 0A010203:ABCD', v6: false })
  if (le) {
    t.deepEqual(tableKey(fake('2001:db8::1', 443, '::ffff:10.1.2.3', 1)), { key: 'B80D0120000000000000000001000000:01BB 0000000000000000FFFF00000302010A:0001', v6: true })
    t.is(tableKey(fake('fe80::1%eth0', 1, 'fe80::2', 2))?.key, '000080FE000000000000000001000000:0001 000080FE000000000000000002000000:0002')
  }
  t.is(tableKey(fake(undefined as unknown as string, 1, '127.0.0.1', 2)), undefined)
  if (!LINUX) return
  // a real socket's line
  const server = net.createServer(() => {})
  await new Promise<void>(resolve => server.listen(0, IP, resolve))
  const c = net.connect({ host: IP, port: (server.address() as net.AddressInfo).port })
  await new Promise(resolve => c.once('connect', resolve))
  const k = tableKey(c)
  t.true(k !== undefined && readFileSync('/proc/self/net/tcp', 'latin1').includes(k.key))
  c.destroy()
  server.close()
})
