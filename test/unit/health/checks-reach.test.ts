// HttpGet and TcpConnect checks with a reach (Docker labels' checks): against real servers on
// 127.0.0.1, each counting what it received, so a check that was refused is seen to send nothing.
import test from 'ava'
import http from 'node:http'
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import { httpGet, reachKey, tcpConnect } from '../../../src/health/checks.ts'

interface Counted { port: number, hits: () => number, close: () => Promise<void> }

async function httpServer (answer: (res: http.ServerResponse) => void): Promise<Counted> {
  let hits = 0
  const server = http.createServer((_req, res) => { hits++; answer(res) })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return { port: (server.address() as AddressInfo).port, hits: () => hits, close: async () => { server.closeAllConnections(); await new Promise(resolve => server.close(resolve)) } }
}

async function tcpServer (): Promise<Counted> {
  let hits = 0
  const server = net.createServer(s => { hits++; s.destroy() })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return { port: (server.address() as AddressInfo).port, hits: () => hits, close: async () => { await new Promise(resolve => server.close(resolve)) } }
}

const signal = (): AbortSignal => AbortSignal.timeout(5000)

test('reachKey: hosts lowercased, IPv6 without brackets', t => {
  t.is(reachKey('LocalHost', 80), 'localhost:80')
  t.is(reachKey('[::1]', 8080), '::1:8080')
  t.is(reachKey('10.0.0.5', 1), '10.0.0.5:1')
})

test('httpGet with a reach: a target in it is checked, one outside it fails without a connection, naming the rule', async t => {
  const inside = await httpServer(res => res.end('ok'))
  const outside = await httpServer(res => res.end('secret'))
  t.teardown(async () => { await inside.close(); await outside.close() })
  const reach = new Set([reachKey('127.0.0.1', inside.port)])
  t.deepEqual(await httpGet(`http://127.0.0.1:${inside.port}/health`, signal(), reach), { ok: true })
  const r = await httpGet(`http://127.0.0.1:${outside.port}/latest/meta-data/`, signal(), reach)
  t.false(r.ok)
  t.is(r.error, `127.0.0.1:${outside.port} is not checked: a check from a container's labels may reach only that container's published TCP ports: 127.0.0.1:${inside.port} ([docker_discovery] check_any_target = true lifts this)`)
  t.is(outside.hits(), 0, 'the server outside the reach got nothing')
  t.is(inside.hits(), 1)
  t.deepEqual(await httpGet(`http://127.0.0.1:${outside.port}/`, signal()), { ok: true }, 'without a reach (the operator\'s checks), any target')
})

test('httpGet with a reach: a redirect out of it is not followed; one within it is', async t => {
  const outside = await httpServer(res => res.end('secret'))
  const inside = await httpServer(res => {
    res.writeHead(302, { Location: res.req.url === '/away' ? `http://127.0.0.1:${outside.port}/admin?op=delete` : '/ok' })
    res.end()
  })
  t.teardown(async () => { await inside.close(); await outside.close() })
  const reach = new Set([reachKey('127.0.0.1', inside.port), reachKey('localhost', inside.port)])
  const r = await httpGet(`http://127.0.0.1:${inside.port}/away`, signal(), reach)
  t.false(r.ok)
  t.regex(r.error ?? '', new RegExp(`^redirected to http://127\\.0\\.0\\.1:${outside.port}/admin\\?op=delete: 127\\.0\\.0\\.1:${outside.port} is not checked`))
  t.is(outside.hits(), 0, 'the redirect target got nothing')
  // /ok redirects to /ok again (same server), five times, then the 302 is the answer: followed within the reach.
  const within = await httpGet(`http://127.0.0.1:${inside.port}/ok`, signal(), reach)
  t.is(within.error, `HTTP 302 from http://127.0.0.1:${inside.port}/ok: more than 5 redirects (a redirect loop?), started at http://127.0.0.1:${inside.port}/ok`)
  t.is(inside.hits(), 1 + 6, 'the first request, then the redirects it followed on the same server')
})

test('httpGet with a reach: a name, an IPv6 form or a default port outside it are refused as well', async t => {
  const reach = new Set([reachKey('127.0.0.1', 8080)])
  for (const url of ['http://localhost:8080/', 'http://[::1]:8080/', 'http://127.0.0.1/', 'https://127.0.0.1/', 'http://LOCALHOST:8081/']) {
    const r = await httpGet(url, signal(), reach)
    t.false(r.ok, url)
    t.regex(r.error ?? '', /is not checked: a check from a container's labels/, url)
  }
  t.regex((await httpGet('http://127.0.0.1/', signal(), reach)).error ?? '', /^127\.0\.0\.1:80 is not checked/)
  t.regex((await httpGet('https://127.0.0.1/', signal(), reach)).error ?? '', /^127\.0\.0\.1:443 is not checked/)
})

test('tcpConnect with a reach: in it connects, outside it fails without a connection; an empty reach allows nothing', async t => {
  const inside = await tcpServer()
  const outside = await tcpServer()
  t.teardown(async () => { await inside.close(); await outside.close() })
  const reach = new Set([reachKey('127.0.0.1', inside.port)])
  t.deepEqual(await tcpConnect(`127.0.0.1:${inside.port}`, signal(), reach), { ok: true })
  const r = await tcpConnect(`127.0.0.1:${outside.port}`, signal(), reach)
  t.false(r.ok)
  t.regex(r.error ?? '', /is not checked/)
  const none = await tcpConnect(`127.0.0.1:${outside.port}`, signal(), new Set())
  t.regex(none.error ?? '', /published TCP ports, and it publishes none/)
  // ":port" means 127.0.0.1: judged as that.
  t.deepEqual(await tcpConnect(`:${inside.port}`, signal(), reach), { ok: true })
  await new Promise(resolve => setTimeout(resolve, 50))
  t.is(outside.hits(), 0)
  t.is(inside.hits(), 2)
})

test('other spellings of an address: a URL is judged as WHATWG normalises it, a TcpConnect host only as written', async t => {
  const inside = await tcpServer()
  t.teardown(async () => { await inside.close() })
  const reach = new Set([reachKey('127.0.0.1', inside.port)])
  // http://2130706433/ and http://0x7f.1/ are 127.0.0.1 to the URL parser, and so to the reach.
  t.regex((await httpGet(`http://0x7f.1:${inside.port + 1}/`, signal(), reach)).error ?? '', new RegExp(`^127\\.0\\.0\\.1:${inside.port + 1} is not checked`))
  // The resolver would read "2130706433" as 127.0.0.1 too, but the reach holds addresses as Docker binds them: refused, nothing sent.
  t.regex((await tcpConnect(`2130706433:${inside.port}`, signal(), reach)).error ?? '', /^2130706433:\d+ is not checked/)
  t.is(inside.hits(), 0)
})
