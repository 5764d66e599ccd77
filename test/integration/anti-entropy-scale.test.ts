// Anti-entropy at scale between real daemons (127.0.14.20-.29). A member originating
// 20,000 records (~6.5 MB of state, twice libp2p's 4 MB read buffer; see helpers/bulk-peer.ts)
// joins first; daemon A pulls its state when it joins, then daemon B joins late, seeded
// with A only, and must pull the whole state from A. Once converged, an exchange between
// them costs a few hundred bytes, read from the daemons' own metrics. Before protocol
// 2.0.0 these join pulls failed with "Read buffer overflow - ... > 4194304" (issue 13).
import http from 'node:http'
import test from 'ava'
import { BulkPeerProcess } from '../helpers/bulk-peer.ts'
import { makeCluster, type ClusterNode, type StateJson } from '../helpers/cluster.ts'
import { waitFor } from '../helpers/wait.ts'

const RECORDS = 20_000
// The bulk peer does not heartbeat its records (see helpers/bulk-peer.ts): a long alive lifespan keeps them through a slow run.
const ENV = { SIDECAR_PUSH_PULL_INTERVAL: '2s', SIDECAR_LOGGING_LEVEL: 'info', SIDECAR_ALIVE_LIFESPAN: '10m' }

function count (s: StateJson, host: string): number {
  return Object.keys(s.Servers[host]?.Services ?? {}).length
}

async function metric (n: ClusterNode, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(n.d.url('/metrics'), { signal: AbortSignal.timeout(10_000) })).text()
  const line = text.split('\n').find(l => l.startsWith(`${name}${labels} `) || (labels === '' && l.startsWith(`${name} `)))
  return line === undefined ? NaN : Number(line.split(' ')[1])
}

/** Waits until the daemon holds `want` ALIVE records (read from /metrics: cheaper than the state document on a loaded machine). */
async function waitForAlive (n: ClusterNode, want: number, timeoutMs: number): Promise<number> {
  const t0 = Date.now()
  let have = 0
  await waitFor(async () => {
    try { have = await metric(n, 'sidecar_services', '{status="alive"}') } catch { have = -1 }
    return have >= want
  }, { timeoutMs, intervalMs: 500, message: () => `${n.hostname} holds ${have} of ${want} ALIVE records; log tail:\n${n.d.output.split('\n').filter(l => !l.includes('DEBUG')).slice(-20).join('\n')}` })
  return Date.now() - t0
}

/** GETs url and counts the body's bytes without keeping them (the readers must not be the bottleneck). */
async function readAll (url: string, timeoutMs: number): Promise<number> {
  return await new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: timeoutMs }, res => {
      let n = 0
      res.on('data', (chunk: Buffer) => { n += chunk.length })
      res.on('end', () => { resolve(res.statusCode === 200 ? n : -1) })
      res.on('error', reject)
    })
    req.on('timeout', () => { req.destroy(new Error('timeout')) })
    req.on('error', reject)
  })
}

async function stateOf (n: ClusterNode): Promise<StateJson> {
  const res = await fetch(n.d.url('/api/state.json'), { signal: AbortSignal.timeout(60_000) })
  return await res.json() as StateJson
}

test('anti-entropy: a state of 20,000 records (twice the read buffer) reaches a joining daemon and a late joiner, and a converged exchange costs under 1 % of it', async t => {
  t.timeout(240_000)
  const bulk = await BulkPeerProcess.start({ ip: '127.0.14.20', hostname: 'bulk-origin', records: RECORDS })
  t.teardown(async () => { if (bulk.child.exitCode !== null) t.log(`bulk peer exited ${bulk.child.exitCode}: ${bulk.output}`); await bulk.stop() })
  const [a, b] = await makeCluster(t, [
    { ip: '127.0.14.21', hostname: 'ae-a', args: ['--cluster-ip', '127.0.14.20'], env: ENV },
    { ip: '127.0.14.22', hostname: 'ae-b', args: ['--cluster-ip', '127.0.14.21'], env: ENV },
  ])
  a.spawn()
  await a.d.ready(60_000)
  const aMs = await waitForAlive(a, RECORDS + 1, 120_000) // the bulk records and A's own
  t.log(`A held all ${RECORDS} records ${aMs} ms after its API answered`)

  b.spawn()
  await b.d.ready(60_000)
  const bMs = await waitForAlive(b, RECORDS + 2, 120_000) // and B's own and A's
  t.is(count(await stateOf(b), 'bulk-origin'), RECORDS, 'the state document lists every record')
  t.log(`late joiner B held all ${RECORDS} records ${bMs} ms after its API answered`)
  const failed = [a, b].flatMap(n => n.d.output.split('\n').filter(l => /anti-entropy .*failed|Read buffer overflow/.test(l) && !l.includes('DEBUG')))
  t.deepEqual(failed, [], 'no exchange failed')

  // Converged: the next exchange B starts is digests (and A's and B's own one record each, which they re-stamp every second).
  const before = await metric(b, 'sidecar_anti_entropy_exchanges_total', '{direction="out",result="ok"}')
  await waitFor(async () => await metric(b, 'sidecar_anti_entropy_exchanges_total', '{direction="out",result="ok"}') >= before + 2, { timeoutMs: 30_000, message: () => 'B started no further anti-entropy exchange' })
  const sent = await metric(b, 'sidecar_anti_entropy_last_exchange_bytes', '{way="sent"}')
  const received = await metric(b, 'sidecar_anti_entropy_last_exchange_bytes', '{way="received"}')
  const stateBytes = await metric(b, 'sidecar_anti_entropy_last_exchange_state_bytes')
  t.log(`converged exchange: ${sent} bytes sent, ${received} received; state ${(stateBytes / 1e6).toFixed(1)} MB`)
  t.true(stateBytes > 4_194_304, 'the state is larger than libp2p\'s read buffer')
  t.true(sent < stateBytes / 100 && received < stateBytes / 100, 'under 1 % of the state each way')
  t.true(await metric(b, 'sidecar_anti_entropy_exchange_bytes_count', '{direction="out",way="sent"}') >= 2, 'every exchange is counted')
})

test('api: 20 concurrent /api/state.json readers of a 20,000-record daemon get answers, readers that hang up mid-document change nothing, and its peer never suspects it', async t => {
  t.timeout(240_000)
  const bulk = await BulkPeerProcess.start({ ip: '127.0.14.40', hostname: 'bulk-readers', records: RECORDS })
  t.teardown(async () => { if (bulk.child.exitCode !== null) t.log(`bulk peer exited ${bulk.child.exitCode}: ${bulk.output}`); await bulk.stop() })
  const [a, b] = await makeCluster(t, [
    { ip: '127.0.14.41', hostname: 'rd-a', args: ['--cluster-ip', '127.0.14.40'], env: ENV },
    { ip: '127.0.14.42', hostname: 'rd-b', args: ['--cluster-ip', '127.0.14.41'], env: ENV },
  ])
  a.spawn()
  b.spawn()
  await Promise.all([a.d.ready(60_000), b.d.ready(60_000)])
  await waitForAlive(a, RECORDS + 1, 120_000)
  await metric(a, 'sidecar_event_loop_delay_max_seconds') // starts a new measuring period

  // 20 readers, each reading whole documents back to back (bytes counted, not kept): bounded to 15 s and 400 requests.
  const until = Date.now() + 15_000
  const latencies: number[] = []
  const answered = new Set<number>()
  let errors = 0
  let started = 0
  await Promise.all(Array.from({ length: 20 }, async (_, reader) => {
    while (Date.now() < until && started < 400) {
      started++
      const t0 = performance.now()
      const bytes = await readAll(a.d.url('/api/state.json'), 60_000).catch(() => -1)
      if (bytes > 1_000_000) answered.add(reader)
      else errors++
      latencies.push(performance.now() - t0)
    }
  }))
  latencies.sort((x, y) => x - y)
  const p = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]
  const maxDelay = await metric(a, 'sidecar_event_loop_delay_max_seconds')
  t.log(`${latencies.length} reads of ~6.5 MB: p50 ${p(0.5).toFixed(0)} ms, p99 ${p(0.99).toFixed(0)} ms; daemon's longest event-loop delay meanwhile ${(maxDelay * 1000).toFixed(0)} ms`)
  t.is(answered.size, 20, `every reader got whole documents (${errors} reads failed or were cut short)`)

  // Readers that hang up after the first part (the document is sent in parts, each reader with a
  // stream of its own over them): the daemon goes on serving whole, well-formed documents.
  const cut = await Promise.all(Array.from({ length: 20 }, async () => await new Promise<number>(resolve => {
    const req = http.get(a.d.url('/api/state.json'), res => {
      res.once('data', (chunk: Buffer) => { req.destroy(); resolve(chunk.length) })
    })
    req.on('error', () => { resolve(0) })
  })))
  t.true(cut.every(n => n > 0), 'every cut reader got a first part')
  // identity: fetch asks for gzip and inflates, and the length checked here is of the parts as sent
  const res = await fetch(a.d.url('/api/state.json'), { headers: { 'Accept-Encoding': 'identity' }, signal: AbortSignal.timeout(60_000) })
  const body = Buffer.from(await res.arrayBuffer())
  t.is(Number(res.headers.get('content-length')), body.length, 'Content-Length is the length of the parts sent')
  const state = JSON.parse(body.toString()) as StateJson
  t.is(Object.keys(state.Servers['bulk-readers']?.Services ?? {}).length, RECORDS, 'a whole document after the hang-ups')
  const suspicions = b.d.output.split('\n').filter(l => /member rd-a .*(answered no ping|departed)/.test(l))
  t.deepEqual(suspicions, [], 'the peer never suspected the daemon under read load')
  t.false(Number.isNaN(maxDelay), 'the event-loop delay is in /metrics')
})
