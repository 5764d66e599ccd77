// A check's timeout against real sockets on 127.0.0.1 while the test stalls the event loop
// (a synchronous busy-wait, as module loading on a busy host does): an answer that came
// during the stall passes, a server that never answers still times out, and a loop that
// keeps stalling does not hold a check open for ever.
import net from 'node:net'
import test from 'ava'
import { httpGet, tcpConnect, type CheckResult, type CheckRunner } from '../../../src/health/checks.ts'
import { armCheckTimeout, stallMarginMs } from '../../../src/health/deadline.ts'

const TIMEOUT_MS = 200

function busyWait (ms: number): void {
  const end = performance.now() + ms
  while (performance.now() < end) { /* the event loop is stalled */ }
}

/** A server on 127.0.0.1: 'answer' replies to HTTP at once (a TCP connect completes in the kernel anyway), 'silent' accepts and never writes. */
async function server (t: { teardown: (fn: () => void) => void }, kind: 'answer' | 'silent'): Promise<number> {
  const sockets = new Set<net.Socket>()
  const s = net.createServer(socket => {
    sockets.add(socket)
    socket.on('error', () => {})
    socket.on('close', () => { sockets.delete(socket) })
    if (kind === 'answer') socket.once('data', () => { socket.end('HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n') })
  })
  await new Promise<void>(resolve => { s.listen(0, '127.0.0.1', resolve) })
  t.teardown(() => { for (const c of sockets) c.destroy(); s.close() })
  return (s.address() as net.AddressInfo).port
}

/**
 * Starts a check as the monitor does (one controller, the timeout armed first), runs
 * `meanwhile` synchronously right after, and resolves with the result and the time it took.
 */
async function check (runner: CheckRunner, args: string, meanwhile: () => void): Promise<{ result: CheckResult, ms: number }> {
  // Started from the check phase (setImmediate), as after an I/O callback: the loop runs its
  // expired timers next, before it polls for I/O again.
  await new Promise(resolve => { setImmediate(resolve) })
  const run = new AbortController()
  const t0 = performance.now()
  const disarm = armCheckTimeout(TIMEOUT_MS, () => { run.abort(new DOMException('The check timed out', 'TimeoutError')) })
  const pending = runner(args, run.signal)
  meanwhile()
  try {
    return { result: await pending, ms: performance.now() - t0 }
  } finally {
    disarm()
  }
}

test.serial('check timeout: a TCP check whose connect completed during a 600 ms stall of the loop passes (timeout 200 ms)', async t => {
  const port = await server(t, 'answer')
  const { result } = await check(tcpConnect, `127.0.0.1:${port}`, () => { busyWait(600) })
  t.deepEqual(result, { ok: true })
})

test.serial('check timeout: an HTTP check against a server that answers at once passes after a 600 ms stall of the loop (timeout 200 ms)', async t => {
  const port = await server(t, 'answer')
  const { result } = await check(httpGet, `http://127.0.0.1:${port}/`, () => { busyWait(600) })
  t.deepEqual(result, { ok: true })
})

test.serial('check timeout: a stall that ends just past the timeout still lets an answer already waiting win', async t => {
  const port = await server(t, 'answer')
  const { result } = await check(tcpConnect, `127.0.0.1:${port}`, () => { busyWait(TIMEOUT_MS + 20) })
  t.deepEqual(result, { ok: true })
})

test.serial('check timeout: a server that never answers times out, within 3 timeouts', async t => {
  const port = await server(t, 'silent')
  const { result, ms } = await check(httpGet, `http://127.0.0.1:${port}/`, () => {})
  t.false(result.ok)
  t.regex(result.error ?? '', /timed out/)
  t.true(ms >= TIMEOUT_MS - 5 && ms < 3 * TIMEOUT_MS, `took ${Math.round(ms)} ms`)
})

test.serial('check timeout: a loop that keeps stalling does not re-arm the timeout for ever (a server that never answers)', async t => {
  const port = await server(t, 'silent')
  // A 600 ms stall at the start, then 300 ms stalls 10 ms apart for as long as the check runs (20 at most, 6 s).
  let stalls = 0
  let timer: NodeJS.Timeout | undefined
  const keepStalling = (): void => { timer = setTimeout(() => { busyWait(300); if (++stalls < 20) keepStalling() }, 10) }
  t.teardown(() => { clearTimeout(timer) })
  const { result, ms } = await check(httpGet, `http://127.0.0.1:${port}/`, () => { busyWait(600); keepStalling() })
  clearTimeout(timer)
  t.false(result.ok)
  t.regex(result.error ?? '', /timed out/)
  // The first firing (600 ms, late) re-arms once; the second, however late, ends the check.
  t.true(ms < 600 + 2 * TIMEOUT_MS + 2 * 300 + 200, `took ${Math.round(ms)} ms, ${stalls} stalls of 300 ms`)
  t.true(stalls < 19, `${stalls} stalls: the check ended while the loop was still stalling`)
})

test('stall margin: a quarter of the timeout, never under 50 ms', t => {
  t.is(stallMarginMs(2000), 500)
  t.is(stallMarginMs(200), 50)
  t.is(stallMarginMs(100), 50)
})
