// tcp and ws modes, and upgrades in plain http mode.
import test from 'ava'
import net from 'node:net'
import { tcpRoundTrip, tcpShoutBackend, wsEchoBackend, wsRoundTrip } from '../../helpers/backends.ts'
import { harness, instance, proxyConfig, waitListening } from './setup.ts'

const IP = '127.0.3.25'

test('tcp: bytes pass both ways, and the client\'s half-close reaches the backend, which still answers', async (t) => {
  const SP = 18201
  const b = await tcpShoutBackend('127.0.3.26')
  t.teardown(async () => { await b.close() })
  const h = await harness(t, { proxy: proxyConfig(IP, { access_log: 'json' }) })
  h.put(instance('shout', 'host-a', '127.0.3.26', b.port, SP, { ProxyMode: 'tcp' }))
  await h.settle()
  await waitListening(h, SP)
  t.is(h.proxy.listeners()[0].mode, 'tcp')
  t.is(await tcpRoundTrip(IP, SP, 'hello through the pipe'), 'HELLO THROUGH THE PIPE')
  const big = 'x'.repeat(1 << 20)
  t.is((await tcpRoundTrip(IP, SP, big)).length, big.length, '1 MiB each way')
  await new Promise(resolve => setTimeout(resolve, 50))
  const lines = h.access.map(l => JSON.parse(l) as Record<string, unknown>)
  t.like(lines[0], { service: 'shout', port: SP, method: 'TCP', backend: `127.0.3.26:${b.port}`, retries: 0 })
})

test('tcp: a refused connect is retried on another backend and the refusing one is ejected', async (t) => {
  const SP = 18202
  const b = await tcpShoutBackend('127.0.3.26')
  t.teardown(async () => { await b.close() })
  // a port nobody listens on: take a free one and close it
  const probe = net.createServer()
  await new Promise<void>(resolve => probe.listen(0, '127.0.3.27', resolve))
  const deadPort = (probe.address() as net.AddressInfo).port
  await new Promise<void>(resolve => probe.close(() => { resolve() }))
  const h = await harness(t, { proxy: proxyConfig(IP) })
  h.put(instance('shout', 'host-a', '127.0.3.27', deadPort, SP, { ProxyMode: 'tcp' }))
  h.put(instance('shout', 'host-b', '127.0.3.26', b.port, SP, { ProxyMode: 'tcp' }))
  await h.settle()
  await waitListening(h, SP)
  for (let i = 0; i < 4; i++) t.is(await tcpRoundTrip(IP, SP, `msg ${i}`), `MSG ${i}`)
  const report = h.proxy.report().listeners[0]
  t.is(report.totals.retries, 1, 'one connection met the dead backend, then it was ejected')
  t.is(report.backends.find(x => x.hostname === 'host-a')?.state, 'ejected')
})

test('ws mode: a WebSocket round trip through the proxy', async (t) => {
  const SP = 18203
  const b = await wsEchoBackend('127.0.3.26')
  t.teardown(async () => { await b.close() })
  const h = await harness(t, { proxy: proxyConfig(IP) })
  h.put(instance('chat', 'host-a', '127.0.3.26', b.port, SP, { ProxyMode: 'ws' }))
  await h.settle()
  await waitListening(h, SP)
  t.is(await wsRoundTrip(`ws://${IP}:${SP}/socket`, 'ping'), 'echo: ping')
  t.is(await (await fetch(`http://${IP}:${SP}/`)).text(), 'plain http', 'plain requests too')
})

test('http mode: upgrades are proxied as well', async (t) => {
  const SP = 18204
  const b = await wsEchoBackend('127.0.3.26')
  t.teardown(async () => { await b.close() })
  const h = await harness(t, { proxy: proxyConfig(IP) })
  h.put(instance('chat2', 'host-a', '127.0.3.26', b.port, SP))
  await h.settle()
  await waitListening(h, SP)
  t.is(h.proxy.listeners()[0].mode, 'http')
  t.is(await wsRoundTrip(`ws://${IP}:${SP}/`, 'hi'), 'echo: hi')
})
