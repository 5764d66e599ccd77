// A service port that another program holds: the listener fails with a clear reason, is tried
// again at later rebuilds without piling anything up on its server (each failed listen used to
// leave a 'listening' callback behind, one per rebuild: a leak, and Node's MaxListeners warning
// on a busy host), and opens once the port is free. In-process proxy on 127.0.13.100.
import net from 'node:net'
import test from 'ava'
import { waitFor } from '../../helpers/wait.ts'
import { harness, instance, proxyConfig } from './setup.ts'

const IP = '127.0.13.100'
const HELD = 42_200
const OTHER = 42_201

test('a port held by another program: failed with the reason, retried at 60 rebuilds without a leak, open once it is free', async t => {
  t.timeout(60_000)
  const blocker = net.createServer()
  await new Promise<void>((resolve, reject) => { blocker.once('error', reject); blocker.listen({ host: IP, port: HELD, exclusive: true }, resolve) })
  t.teardown(() => { blocker.close() })
  const warnings: string[] = []
  const onWarning = (w: Error): void => { warnings.push(`${w.name}: ${w.message}`) }
  process.on('warning', onWarning)
  t.teardown(() => { process.off('warning', onWarning) })

  const h = await harness(t, { proxy: proxyConfig(IP) })
  h.put(instance('held', 'h1', '127.0.13.101', 30_000, HELD))
  await h.settle()
  const held = (): ReturnType<typeof h.proxy.listeners>[number] | undefined => h.proxy.listeners().find(l => l.port === HELD)
  await waitFor(() => held()?.state === 'failed', { timeoutMs: 5000, message: 'the listener failed' })
  t.is(held()?.error, `port ${HELD} is in use on ${IP} by another program`)

  // every rebuild tries the failed listener again
  for (let i = 0; i < 60; i++) {
    h.put(instance('other', 'h1', '127.0.13.101', 31_000 + i, OTHER))
    await h.settle()
  }
  await new Promise(resolve => setImmediate(resolve)) // warnings are emitted on the next tick
  t.is(held()?.state, 'failed')
  t.deepEqual(warnings.filter(w => w.startsWith('MaxListenersExceededWarning')), [], 'no callbacks piled up on the server')

  await new Promise<void>(resolve => blocker.close(() => { resolve() }))
  h.put(instance('other', 'h1', '127.0.13.101', 32_000, OTHER))
  await h.settle()
  await waitFor(() => held()?.state === 'listening', { timeoutMs: 10_000, message: 'the listener opened once the port was free' })
  t.is(held()?.error, undefined)
  // and it proxies: a connection is accepted
  const socket = net.connect({ host: IP, port: HELD })
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
  socket.destroy()
})
