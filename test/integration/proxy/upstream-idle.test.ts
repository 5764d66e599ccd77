// Keep-alive connections to a backend: one parked within the idle limit is reused; one idle
// for UPSTREAM_IDLE_MS is never reused and is closed by the backend's sweep timer within about
// twice that, so a proxy does not keep idle sockets open on backends it no longer calls.
import test from 'ava'
import net from 'node:net'
import { IdleSweep } from '../../../src/proxy/idle.ts'
import { BackendConns, UPSTREAM_IDLE_MS, type UpstreamUser } from '../../../src/proxy/upstream.ts'
import { waitFor } from '../../helpers/wait.ts'

function user (): UpstreamUser & { connected: Promise<void> } {
  const { promise, resolve } = Promise.withResolvers<void>()
  return { connected: promise, onUpConnect: () => { resolve() }, onUpData: () => {}, onUpEnd: () => {}, onUpDrain: () => {}, onUpClose: () => {} }
}

test('an idle backend connection is reused within the idle limit, never after it, and closed by the sweep', async (t) => {
  const accepted: net.Socket[] = []
  const closed: number[] = []
  const server = net.createServer((s) => { accepted.push(s); s.on('close', () => closed.push(Date.now())) })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.close() })
  const port = (server.address() as net.AddressInfo).port
  const conns = new BackendConns('127.0.0.1', port, 2000, new IdleSweep(60_000))
  t.teardown(() => { conns.close(true) })

  const first = user()
  const a = conns.acquire(first)
  await first.connected
  a.release()
  const b = conns.acquire(user())
  t.is(b, a, 'reused at once')
  b.release()
  const parked = Date.now()

  await waitFor(() => closed.length === 1, { timeoutMs: 4 * UPSTREAM_IDLE_MS, message: 'the idle connection closed' })
  const after = closed[0] - parked
  t.log(`closed ${after} ms after it went idle (limit ${UPSTREAM_IDLE_MS} ms)`)
  t.true(after >= UPSTREAM_IDLE_MS - 50, `not before the idle limit: ${after} ms`)
  // the sweep that finds it idle: the next one, or (parked just after a sweep was set) the one
  // after it, 8,001 ms once in CI; a late timer on a loaded machine adds to either
  t.true(after <= 3 * UPSTREAM_IDLE_MS, `by the sweep: ${after} ms`)
  await waitFor(() => conns.open === 0, { timeoutMs: 2000, message: 'the pool forgot it' })

  // one parked, then left past the limit: the next request gets a new connection, the stale one closes
  const c = conns.acquire(user())
  await waitFor(() => c.connected, { timeoutMs: 2000, message: 'connected' })
  c.release()
  ;(c as { parkedAt: number }).parkedAt -= UPSTREAM_IDLE_MS // as if it had been idle that long
  const d = conns.acquire(user())
  t.not(d, c, 'a connection idle past the limit is not reused')
  await waitFor(() => c.socket.destroyed, { timeoutMs: 2000, message: 'the stale one destroyed' })
  await waitFor(() => accepted.length === 3, { timeoutMs: 2000, message: 'the new connection accepted' })
  t.is(accepted.length, 3)
})
