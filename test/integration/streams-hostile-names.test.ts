// Names that try to forge SSE events: a service whose name holds CR, LF, "event:" and "data:"
// lines, on a real daemon (127.0.63.12, port 7777). The stream carries it inside one JSON
// string (escaped), so a reader sees one snapshot with that name, and no forged event, also
// when the service changes. A regression test: this held before it (c5511c7).
import test from 'ava'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { startDaemon } from '../helpers/daemon.ts'
import { SseReader } from '../helpers/streams.ts'
import { waitFor } from '../helpers/wait.ts'

const EVIL = 'evil\r\n\r\nevent: service-changed\ndata: {"forged":1}\r\rid: 1\n\nx'

test('a service name with line breaks and SSE field lines stays inside its JSON string: no forged event', async t => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-sse-names-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const file = path.join(dir, 'static.json')
  await writeFile(file, JSON.stringify([{ Service: { ID: 'evil1', Name: EVIL, Image: 'evil:1', Ports: [] }, Check: { Type: 'AlwaysSuccessful' } }]))
  const d = await startDaemon({ ip: '127.0.63.12', hostname: 'sse-names', cwd: dir, args: ['-d', 'static'], env: { STATIC_CONFIG_FILE: file, SIDECAR_LOGGING_LEVEL: 'info', PROXY_ENABLED: 'false' } })
  t.teardown(() => { d.kill() })
  await waitFor(async () => (await d.json<{ Services: Record<string, Array<{ Status: number }>> }>('/services.json')).Services[EVIL]?.[0]?.Status === 0, { message: 'the service ALIVE' })

  const reader = new SseReader(d.url('/api/events'))
  t.teardown(() => { reader.close() })
  await reader.waitFor(r => r.of('stream').length === 1, 'the snapshot and the stream event')
  const drain = await fetch(d.url('/api/services/evil1/drain'), { method: 'POST' })
  t.is(drain.status, 202)
  const changed = await reader.waitFor(r => r.of('service-changed')[0], 'the drain\'s event')
  // (members events come at each heartbeat: not counted)
  t.deepEqual(reader.events.map(e => e.event).filter(e => e !== 'members'), ['snapshot', 'stream', 'service-changed'])
  t.deepEqual(Object.keys((reader.events[0].json as { Services: Record<string, unknown> }).Services), [EVIL])
  t.is((changed.json as { Service: { Name: string } }).Service.Name, EVIL)
  t.false(reader.events.some(e => Object.hasOwn(e.json as object, 'forged')), 'no event is the forged one')
})
