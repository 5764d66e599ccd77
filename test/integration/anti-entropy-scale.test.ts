// Anti-entropy at scale between real daemons (127.0.14.20-.29). A member originating
// 25,000 records (~8 MB of state, twice libp2p's 4 MB read buffer; see helpers/bulk-peer.ts)
// joins first; daemon A pulls its state when it joins, then daemon B joins late, seeded
// with A only, and must pull the whole state from A. Once converged, an exchange between
// them costs a few hundred bytes, read from the daemons' own metrics. Before protocol
// 2.0.0 these join pulls failed with "Read buffer overflow - ... > 4194304" (issue 13).
import test from 'ava'
import { BulkPeer } from '../helpers/bulk-peer.ts'
import { makeCluster, type ClusterNode, type StateJson } from '../helpers/cluster.ts'
import { waitFor } from '../helpers/wait.ts'

const RECORDS = 25_000
const ENV = { SIDECAR_PUSH_PULL_INTERVAL: '2s', SIDECAR_LOGGING_LEVEL: 'info' }

function count (s: StateJson, host: string): number {
  return Object.keys(s.Servers[host]?.Services ?? {}).length
}

async function metric (n: ClusterNode, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(n.d.url('/metrics'), { signal: AbortSignal.timeout(10_000) })).text()
  const line = text.split('\n').find(l => l.startsWith(`${name}${labels} `) || (labels === '' && l.startsWith(`${name} `)))
  return line === undefined ? NaN : Number(line.split(' ')[1])
}

async function waitForCount (n: ClusterNode, host: string, want: number, timeoutMs: number): Promise<number> {
  const t0 = Date.now()
  let have = 0
  await waitFor(async () => {
    try { have = count(await n.d.json<StateJson>('/api/state.json'), host) } catch { have = -1 }
    return have === want
  }, { timeoutMs, intervalMs: 500, message: () => `${n.hostname} holds ${have} of ${want} records of ${host}; log tail:\n${n.d.output.split('\n').filter(l => !l.includes('DEBUG')).slice(-20).join('\n')}` })
  return Date.now() - t0
}

test('anti-entropy: a state of 25,000 records (twice the read buffer) reaches a joining daemon and a late joiner, and a converged exchange costs under 1 % of it', async t => {
  t.timeout(240_000)
  const bulk = await BulkPeer.start({ ip: '127.0.14.20', hostname: 'bulk-origin', records: RECORDS })
  t.teardown(async () => { await bulk.stop() })
  const [a, b] = await makeCluster(t, [
    { ip: '127.0.14.21', hostname: 'ae-a', args: ['--cluster-ip', '127.0.14.20'], env: ENV },
    { ip: '127.0.14.22', hostname: 'ae-b', args: ['--cluster-ip', '127.0.14.21'], env: ENV },
  ])
  a.spawn()
  await a.d.ready(60_000)
  const aMs = await waitForCount(a, 'bulk-origin', RECORDS, 60_000)
  t.log(`A held all ${RECORDS} records ${aMs} ms after its API answered`)

  b.spawn()
  await b.d.ready(60_000)
  const bMs = await waitForCount(b, 'bulk-origin', RECORDS, 60_000)
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
