// Issue #11 fuzz, bounded: 100,000 malformed or hostile gossip messages and anti-entropy
// frames (fixed seed, test/helpers/gossip-fuzz.ts) from a rogue member against a real daemon
// on 127.0.11.40 (with a real peer on .41, the rogue on .49). Asserts: no crash, not one of
// the records accepted, every message judged (none lost before the gate, so the count means
// something), and the daemon's RSS back within 10 % of its warmed-up level afterwards.
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import test from 'ava'
import { KIND } from '../../src/gossip/wire.ts'
import { makeCluster, startAll, statusIn, ALIVE, waitOnAll, type ClusterNode, type StateJson } from '../helpers/cluster.ts'
import { GossipFuzzer } from '../helpers/gossip-fuzz.ts'
import { metric, startRogue } from '../helpers/rogue.ts'
import { sleep, waitFor } from '../helpers/wait.ts'

const TOTAL = Number(process.env.SIDECAR_FUZZ_MESSAGES ?? 100_000)
/** Half go to anti-entropy, in exchanges of FRAMES_PER_EXCHANGE frames (the last one malformed, which ends the exchange). */
const AE_FRAMES = Math.floor(TOTAL / 2)
const FRAMES_PER_EXCHANGE = 200
const GOSSIP = TOTAL - AE_FRAMES
/** The first messages only warm the daemon up (JIT, caches at their steady size); RSS is measured from there. */
const WARMUP = Math.floor(GOSSIP / 10)
/** Messages sent ahead of what the daemon has judged at most: the rogue never buffers without bound. */
const WINDOW = 250
const SEED = 0x5eed11
/** The whole run must end within this, or fail (bounded in time as well as count); about 2 min on a quiet 2-core machine. */
const DEADLINE_MS = 480_000

async function rssKb (pid: number): Promise<number> {
  const m = /VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))
  return Number(m?.[1])
}

function keys (s: StateJson): string[] {
  return Object.values(s.Servers).flatMap(srv => Object.values(srv.Services).map(r => `${r.Hostname}/${r.ID}`)).sort()
}

test('100,000 hostile gossip messages and anti-entropy frames: no crash, nothing accepted, memory back', async t => {
  t.timeout(DEADLINE_MS + 60_000)
  const t0 = Date.now()
  const nodes = await makeCluster(t, [
    { ip: '127.0.11.40', hostname: 'target', args: ['-n', 'fuzz', '-c', '127.0.11.40', '-l', 'info'] },
    { ip: '127.0.11.41', hostname: 'peer', args: ['-n', 'fuzz', '-c', '127.0.11.40', '-l', 'info'] },
  ])
  const [target, peer] = nodes
  await startAll(nodes)
  const holds = (s: StateJson): boolean => nodes.every((n: ClusterNode) => n.services.every(name => statusIn(s, n.hostname, name) === ALIVE))
  await waitOnAll(nodes, 'converged', holds, 30_000)
  const rogue = await startRogue(t, { ip: '127.0.11.49', hostname: 'rogue', clusterName: 'fuzz' })
  const targetPeer = await rogue.join('127.0.11.40')
  await waitFor(async () => (await target.d.json<{ ClusterMembers?: Record<string, unknown> }>('/services.json')).ClusterMembers?.rogue !== undefined, { timeoutMs: 15_000, message: 'the rogue is a member' })
  // the victim is the target itself: its own records are never another's to vouch for, whatever the load does to membership
  const fuzz = new GossipFuzzer(SEED, {
    rogueHost: 'rogue', rogueIp: '127.0.11.49', victimHost: 'target', victimIds: Object.keys((await target.state()).Servers.target.Services), sign: rogue.sign,
  })
  const before = keys(await target.state())
  const pid = target.d.child.pid as number
  const page = async (): Promise<string> => await (await fetch(target.d.url('/metrics'), { signal: AbortSignal.timeout(10_000) })).text()
  let lastJudged = 0
  const judged = async (): Promise<number> => (lastJudged = metric(await page(), 'sidecar_gossip_messages_validated_total'))
  let lastPage = ''
  const refusedNow = async (): Promise<number> => metric(lastPage = await page(), 'sidecar_gossip_records_refused_total')
  const judged0 = await judged()
  const refused0 = await refusedNow()
  const rssStart = await rssKb(pid)
  const deadline = (): void => { if (Date.now() - t0 > DEADLINE_MS) throw new Error(`fuzz run over ${DEADLINE_MS / 1000} s`) }

  // gossip: every distinct message is judged once (gossipsub drops byte-identical repeats)
  const seen = new Set<string>()
  let hostile = 0
  let rssBase = 0
  let tGossip = Date.now()
  const pending: Array<Promise<void>> = []
  for (let i = 0; i < GOSSIP; i++) {
    const item = fuzz.next(KIND.records)
    const id = createHash('sha256').update(item.raw as Uint8Array).digest('base64')
    if (!seen.has(id)) { seen.add(id); hostile += item.hostile }
    pending.push(rogue.publish(item.raw as Uint8Array))
    if (pending.length >= 50) await Promise.all(pending.splice(0))
    if (i % WINDOW === WINDOW - 1 || i === WARMUP || i === GOSSIP - 1) {
      await Promise.all(pending.splice(0))
      const want = judged0 + seen.size
      // waits for the target to catch up; a message lost in transport (gossipsub drops an inbound stream that errs under
      // heavy load) would stall this forever, so it moves on once the count stops rising, and the total is asserted below
      let last = -1
      let still = 0
      await waitFor(async () => {
        deadline()
        const n = await judged()
        still = n === last ? still + 1 : 0
        last = n
        return n >= want - (i === GOSSIP - 1 ? 0 : WINDOW) || still >= 50
      }, { timeoutMs: 120_000, intervalMs: 100, message: () => `the target judged ${lastJudged - judged0} of ${seen.size} messages` })
      if (i === WARMUP) {
        await sleep(3000)
        rssBase = await rssKb(pid)
        tGossip = Date.now()
      }
    }
  }
  const gossipMs = Date.now() - tGossip
  const judgedGossip = await judged() - judged0 // (the peer's own announcements are judged too)
  t.true(judgedGossip >= seen.size * 0.97, `at least 97 % of the distinct messages reached the gate: ${judgedGossip} of ${seen.size}`)
  const refusedGossip = await refusedNow() - refused0

  // anti-entropy: exchanges of hostile chunks, each ended by a malformed frame
  let aeHostile = 0
  let frames = 0
  const tAe = Date.now()
  while (frames < AE_FRAMES) {
    deadline()
    const batch: Uint8Array[] = []
    for (let j = 0; j < FRAMES_PER_EXCHANGE - 1 && frames + batch.length < AE_FRAMES - 1; j++) {
      const item = fuzz.next(KIND.chunk, 0)
      aeHostile += item.hostile
      batch.push(item.raw as Uint8Array)
    }
    batch.push(fuzz.malformed(KIND.chunk))
    frames += batch.length
    await rogue.exchange(targetPeer, batch, 100_000)
  }
  const aeMs = Date.now() - tAe
  await waitFor(async () => await refusedNow() - refused0 - refusedGossip >= aeHostile, { timeoutMs: 30_000, message: () => `${hostile} + ${aeHostile} refusals counted; the target's counters:\n${lastPage.split('\n').filter(l => /^sidecar_(gossip|anti)/.test(l)).join('\n')}` })
  const refused = await refusedNow() - refused0

  // memory: back within 10 % of the warmed-up level once the daemon settles (gossipsub's seen-cache of message ids expires after 2 min)
  const rssPeak = await rssKb(pid)
  let rssAfter = rssPeak
  const tSettle = Date.now()
  while (rssAfter > rssBase * 1.1 && Date.now() - tSettle < 150_000) {
    await sleep(2000)
    rssAfter = await rssKb(pid)
  }
  const figures = {
    messages: GOSSIP, distinct: seen.size, judged: judgedGossip, refusedGossip, aeFrames: frames, hostileRecords: hostile + aeHostile, refused,
    gossipPerSecond: Math.round((GOSSIP - WARMUP) / (gossipMs / 1000)), aeFramesPerSecond: Math.round(frames / (aeMs / 1000)),
    rssStartMB: +(rssStart / 1024).toFixed(1), rssBaseMB: +(rssBase / 1024).toFixed(1), rssPeakMB: +(rssPeak / 1024).toFixed(1), rssAfterMB: +(rssAfter / 1024).toFixed(1),
    settleSeconds: Math.round((Date.now() - tSettle) / 1000), wallSeconds: Math.round((Date.now() - t0) / 1000), loadavg: (await readFile('/proc/loadavg', 'utf8')).trim(),
  }
  t.log(JSON.stringify(figures))
  console.log(`gossip fuzz figures: ${JSON.stringify(figures)}`)

  t.true(target.d.running, 'the daemon is alive')
  t.true((await fetch(target.d.url('/health'))).ok)
  t.false(/uncaught|FATAL|heap out of memory/i.test(target.d.output), 'no crash in the log')
  // (at least: the peer's own traffic can meet a refusal too, e.g. a record judged before its host's identify)
  t.true(refused - refusedGossip >= aeHostile, 'every hostile record of an anti-entropy frame was refused by the gate')
  t.true(refusedGossip >= hostile * 0.97, 'and those of gossip messages that arrived')
  t.deepEqual(keys(await target.state()), before, 'not one record accepted')
  t.deepEqual(keys(await peer.state()), before, 'nor relayed to the peer')
  t.true(rssAfter <= rssBase * 1.1, `RSS back within 10 %: ${rssAfter} kB after, ${rssBase} kB warmed up`)
})
