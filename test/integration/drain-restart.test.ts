// An operator's drain holds across a restart of the daemon (127.0.92.x, static discovery): two
// real daemons; a service of A drained through A's API; A stopped (SIGTERM) and started again,
// then killed (kill -9) and started again: every status the peer B sees for the service, on its
// event stream, is DRAINING or a tombstone, never ALIVE. Before, the drain was held in memory
// only, and the restarted A announced the service ALIVE to every peer's proxy. After an undrain
// and a restart it is ALIVE again. And a drained entry removed from the static file while A is
// down: its drain is dropped from data_dir/drains.json once A's start has listed the file. A
// drains.json that is not JSON, or a FIFO, stops nothing. A 202 to a drain means it is kept: a
// burst of 200 is in the file as each answer arrives, and a kill -9 right after loses none.
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import test from 'ava'
import { ALIVE, TOMBSTONE, makeCluster, startAll, statusIn, type ClusterNode, type StateJson, type StateRecord } from '../helpers/cluster.ts'
import { SseReader } from '../helpers/streams.ts'
import { sleep, waitFor } from '../helpers/wait.ts'

const A_IP = '127.0.92.2'
const B_IP = '127.0.92.3'
const DRAINING = 4

interface ChangeJson { Service: { ID: string, Name: string, Hostname: string, Status: number }, PreviousStatus: number }

async function post (node: ClusterNode, p: string): Promise<number> {
  const res = await fetch(node.d.url(p), { method: 'POST', signal: AbortSignal.timeout(15_000) })
  await res.text()
  return res.status
}

/** The IDs in A's data_dir/drains.json (the default data_dir, ~/.sidecar/<hostname>, under its working directory). */
async function keptDrains (node: ClusterNode): Promise<string[] | undefined> {
  const file = path.join(node.dir, '.sidecar', node.hostname, 'drains.json')
  if ((await stat(file).catch(() => undefined))?.isFile() !== true) return undefined // a FIFO would hold readFile for good
  const text = await readFile(file, 'utf8').catch(() => undefined)
  return text === undefined ? undefined : (JSON.parse(text) as { drained: Record<string, string[]> }).drained[node.hostname]
}

function recordOf (s: StateJson, host: string, name: string): StateRecord {
  const r = Object.values(s.Servers[host]?.Services ?? {}).find(r => r.Name === name)
  if (r === undefined) throw new Error(`no ${name} of ${host} in the state`)
  return r
}

const idOf = (s: StateJson, host: string, name: string): string => recordOf(s, host, name).ID

async function waitStatus (on: ClusterNode, host: string, name: string, status: number, what: string): Promise<void> {
  let last: number | undefined
  await waitFor(async () => {
    last = statusIn(await on.state(), host, name)
    return last === status
  }, { timeoutMs: 60_000, message: () => `${what}: ${name} of ${host} on ${on.hostname} is ${String(last)}, not ${status}; log tail:\n${on.daemon?.output.split('\n').filter(l => !l.includes('DEBUG')).slice(-20).join('\n')}` })
}

/** Starts the node's daemon again (same working directory, so the same data_dir) and waits for its API. */
async function restart (node: ClusterNode, how: 'SIGTERM' | 'SIGKILL'): Promise<void> {
  if (how === 'SIGTERM') {
    const r = await node.d.stop('SIGTERM')
    if (r.code !== 0) throw new Error(`${node.hostname} exited ${String(r.code)} ${String(r.signal)} at SIGTERM`)
  } else {
    node.d.kill()
    await node.d.exited
  }
  node.spawn()
  await node.d.ready()
}

test.serial('drain restart: a drained service stays out of the peer\'s ALIVE set across a SIGTERM restart and a kill -9 restart; after an undrain and a restart it is ALIVE', async t => {
  t.timeout(300_000)
  const [a, b] = await makeCluster(t, [
    { ip: A_IP, hostname: 'drain-a', services: ['web'], args: ['-c', B_IP], env: { PROXY_ENABLED: 'false' } },
    // slow to declare A departed: across the kill -9 it keeps A's DRAINING record, and the restarted A's join pull gets it back
    { ip: B_IP, hostname: 'drain-b', args: ['-c', A_IP], env: { PROXY_ENABLED: 'false', SIDECAR_DEPARTURE_GRACE: '120s' } },
  ])
  await startAll([a, b])
  await waitStatus(b, 'drain-a', 'web', ALIVE, 'before the drain')
  const id = idOf(await b.state(), 'drain-a', 'web')

  const reader = new SseReader(b.d.url('/api/events'))
  t.teardown(() => { reader.close() })
  await reader.waitFor(r => r.events[0]?.event === 'snapshot', 'B\'s event stream snapshot')
  const seen = (): number[] => reader.of('service-changed').map(e => e.json as ChangeJson).filter(c => c.Service.Hostname === 'drain-a' && c.Service.ID === id).map(c => c.Service.Status)

  t.is(await post(a, `/api/services/${id}/drain`), 202)
  await waitStatus(b, 'drain-a', 'web', DRAINING, 'after the drain')
  await waitFor(async () => (await keptDrains(a))?.includes(id), { timeoutMs: 10_000, message: 'the drain kept in A\'s data_dir' })
  // a second witness: B's /state.json, read every 100 ms from the drain to the undrain
  const polled: number[] = []
  let polling = true
  const poller = (async () => {
    while (polling) {
      const st = await b.state().then(s => statusIn(s, 'drain-a', 'web'), () => undefined)
      if (st !== undefined && polled.at(-1) !== st) polled.push(st)
      await sleep(100)
    }
  })()
  t.teardown(async () => { polling = false; await poller })

  for (const how of ['SIGTERM', 'SIGKILL'] as const) {
    await restart(a, how)
    await a.d.waitForOutput(/1 drain of an earlier run read from .*drains\.json/, { timeoutMs: 30_000 })
    await waitStatus(a, 'drain-a', 'web', DRAINING, `A itself after the ${how} restart`)
    // B holds the new run's record ...
    const announced = Date.parse(recordOf(await a.state(), 'drain-a', 'web').Updated)
    let held = ''
    await waitFor(async () => Date.parse(held = recordOf(await b.state(), 'drain-a', 'web').Updated) >= announced, { timeoutMs: 60_000, message: () => `B to hold A's record of web of the run after the ${how} restart (Updated ${new Date(announced).toISOString()} or later), not ${held}` })
    await sleep(6000) // ... and the new run's first health verdicts (AlwaysSuccessful, every 3 s), refreshes and gossip rounds meanwhile
    await waitStatus(b, 'drain-a', 'web', DRAINING, `B after the ${how} restart`)
    t.log(`statuses B saw for web up to the ${how} restart's end: ${seen().join(' ')} (0 ALIVE, 1 TOMBSTONE, 4 DRAINING)`)
  }
  polling = false
  await poller
  t.log(`statuses B's /state.json showed for web (each change once): ${polled.join(' ')}`)
  t.false(seen().includes(ALIVE), `B never saw web ALIVE while it was drained: ${seen().join(' ')}`)
  t.deepEqual(polled.filter(st => st !== DRAINING && st !== TOMBSTONE), [], 'nor did its /state.json show anything but DRAINING and TOMBSTONE')
  t.true(seen().length >= 3, 'B saw the drain and the SIGTERM restart\'s leave and return')

  t.is(await post(a, `/api/services/${id}/undrain`), 202)
  await waitStatus(b, 'drain-a', 'web', ALIVE, 'after the undrain')
  await waitFor(async () => (await keptDrains(a))?.length === 0, { timeoutMs: 10_000, message: 'the drain removed from A\'s data_dir' })
  await restart(a, 'SIGTERM')
  await waitStatus(b, 'drain-a', 'web', ALIVE, 'B after the restart that follows the undrain')
  t.notRegex(a.d.output, /drains? of an earlier run read from/)
})

test.serial('drain restart: a drained entry removed from the static file while the daemon is down loses its drain at the start\'s listing; the other keeps its own', async t => {
  t.timeout(180_000)
  const [a] = await makeCluster(t, [{ ip: A_IP, hostname: 'drain-solo', services: ['web', 'old'], env: { PROXY_ENABLED: 'false' } }])
  await startAll([a])
  await waitStatus(a, 'drain-solo', 'old', ALIVE, 'before the drains')
  const state = await a.state()
  const web = idOf(state, 'drain-solo', 'web')
  const old = idOf(state, 'drain-solo', 'old')
  t.is(await post(a, `/api/services/${web}/drain`), 202)
  t.is(await post(a, `/api/services/${old}/drain`), 202)
  await a.d.stop('SIGTERM')
  t.deepEqual((await keptDrains(a))?.sort(), [web, old].sort())

  await a.setServices(['web']) // web keeps its place (and so its port and ID)
  a.spawn()
  await a.d.ready()
  await a.d.waitForOutput(new RegExp(`forgetting 1 drain of an earlier run: no instance with the ID ${old} is discovered`), { timeoutMs: 30_000 })
  let kept: string[] | undefined
  await waitFor(async () => (kept = await keptDrains(a))?.join() === web, { timeoutMs: 10_000, message: () => `drains.json to hold only web's ID ${web}, not ${JSON.stringify(kept)}` })
  await waitStatus(a, 'drain-solo', 'web', DRAINING, 'web after the restart')
})

test.serial('drain restart: every 202 of 200 drains sent at once is already in drains.json when it arrives, and a kill -9 right after the last one loses none', async t => {
  t.timeout(240_000)
  const names = Array.from({ length: 200 }, (_, i) => `svc${i}`)
  const [a] = await makeCluster(t, [{ ip: A_IP, hostname: 'drain-burst', services: names, env: { PROXY_ENABLED: 'false' } }])
  await startAll([a])
  await waitStatus(a, 'drain-burst', 'svc199', ALIVE, 'before the drains')
  const state = await a.state()
  const ids = names.map(n => idOf(state, 'drain-burst', n))
  const file = path.join(a.dir, '.sidecar', a.hostname, 'drains.json')
  // read the file the moment each answer arrives, before this process does anything else: a 202
  // means the drain is kept (before, the file was written a few ms after the answer, and the
  // answers of a burst came back while the write of the first drains was still under way)
  const missing: string[] = []
  const statuses = await Promise.all(ids.map(async id => {
    const res = await fetch(a.d.url(`/api/services/${id}/drain`), { method: 'POST', signal: AbortSignal.timeout(30_000) })
    let kept: string[] = []
    try { kept = (JSON.parse(readFileSync(file, 'utf8')) as { drained: Record<string, string[]> }).drained['drain-burst'] ?? [] } catch { /* not written yet: kept stays empty */ }
    if (!kept.includes(id)) missing.push(id)
    await res.text()
    return res.status
  }))
  t.deepEqual([...new Set(statuses)], [202])
  t.deepEqual(missing, [], `${missing.length} of ${ids.length} drains answered 202 before drains.json held them`)

  await restart(a, 'SIGKILL')
  let after: StateJson | undefined
  await waitFor(async () => {
    after = await a.state()
    return names.every(n => statusIn(after!, 'drain-burst', n) === DRAINING)
  }, { timeoutMs: 60_000, message: () => `every service DRAINING after the kill -9, not ${names.filter(n => statusIn(after!, 'drain-burst', n) !== DRAINING).length} of them` })
})

test.serial('drain restart: a drains.json that is not JSON, and then one that is a FIFO, stops nothing: one warning each, and the next drain replaces it', async t => {
  t.timeout(180_000)
  const [a] = await makeCluster(t, [{ ip: A_IP, hostname: 'drain-bad', services: ['web'], env: { PROXY_ENABLED: 'false' } }])
  const dataDir = path.join(a.dir, '.sidecar', a.hostname)
  const file = path.join(dataDir, 'drains.json')
  await mkdir(dataDir, { recursive: true })
  await writeFile(file, '{"version": 1, "drained": {"drain-bad": ["abc", ')
  await startAll([a])
  await a.d.waitForOutput(/WARN.*drains\.json is not a drains file \(not JSON/)
  await waitStatus(a, 'drain-bad', 'web', ALIVE, 'started with the broken file')
  const id = idOf(await a.state(), 'drain-bad', 'web')
  t.is(await post(a, `/api/services/${id}/drain`), 202)
  await waitFor(async () => (await keptDrains(a))?.join() === id, { timeoutMs: 10_000, message: 'the broken file replaced by the drain' })

  await a.d.stop('SIGTERM')
  await rm(file)
  execFileSync('mkfifo', [file]) // nothing ever writes to it: a blocking read would hold the start
  a.spawn()
  await a.d.ready()
  await a.d.waitForOutput(/WARN.*drains of an earlier run not applied: data_dir .* is a FIFO \(named pipe\), not a regular file/)
  await waitStatus(a, 'drain-bad', 'web', ALIVE, 'started with a FIFO in the file\'s place (its drain could not be read)')
  t.is(await post(a, `/api/services/${id}/drain`), 202)
  await waitFor(async () => (await keptDrains(a))?.join() === id, { timeoutMs: 10_000, message: 'the FIFO replaced by the drain' })
})
