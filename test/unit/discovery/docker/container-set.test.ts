import test from 'ava'
import { Writable } from 'node:stream'
import { ContainerSet } from '../../../../src/discovery/docker/container-set.ts'
import { DockerHealthSource } from '../../../../src/discovery/docker/health-source.ts'
import { regexNamer } from '../../../../src/discovery/docker/namer.ts'
import { createLogger } from '../../../../src/lib/logger.ts'
import { CTX, makeView } from './helpers.ts'

function setup (ctx = CTX): { set: ContainerSet, health: DockerHealthSource, log: string[] } {
  const log: string[] = []
  const destination = new Writable({ write (chunk: Buffer, _enc, cb) { log.push(chunk.toString()); cb() } })
  const health = new DockerHealthSource()
  const set = new ContainerSet({ logger: createLogger({ level: 'info', format: 'json', destination }), health }, ctx)
  return { set, health, log }
}

test('container set: an answer applies, and a second identical answer changes nothing', t => {
  const { set } = setup()
  const view = makeView()
  t.true(set.apply(view, set.seq))
  t.false(set.apply(view, set.seq))
  t.is(set.services().length, 1)
})

test('container set: an inspect answer older than a die event does not bring the container back', t => {
  const { set } = setup()
  const view = makeView()
  set.apply(view, set.seq)
  const startSeq = set.noteEvent(view.id) // "start" (a restart): an inspect is asked for at startSeq
  const dieSeq = set.noteEvent(view.id) // "die" arrives before the inspect answer
  t.true(set.remove(view.id, dieSeq))
  t.false(set.apply(view, startSeq), 'the late answer is ignored')
  t.deepEqual(set.services(), [])
})

test('container set: a full list asked for before an event does not override that event', t => {
  const { set } = setup()
  const a = makeView(); const b = makeView()
  set.apply(a, set.seq)
  const listedAt = set.seq // the reconcile asks for the list here ...
  const startSeq = set.noteEvent(b.id) // ... b starts meanwhile and its inspect is applied
  set.apply(b, startSeq)
  // The list (taken before b started) does not show b: removing b as of listedAt must not happen.
  t.false(set.remove(b.id, listedAt))
  t.is(set.services().length, 2)
  // Once a later reconcile supersedes the event, the rule is lifted.
  set.prune(startSeq)
  t.true(set.remove(b.id, set.seq))
})

test('container set: a stopped (not serving) answer removes the container', t => {
  const { set } = setup()
  const view = makeView()
  set.apply(view, set.seq)
  t.true(set.apply({ ...view, serving: false }, set.seq))
  t.deepEqual(set.services(), [])
})

test('container set: a container with bad labels is warned about once, however often it is seen', t => {
  const { set, log } = setup()
  const view = makeView({ labels: { ServiceName: 'w', ServicePort_80: 'x' } })
  for (let i = 0; i < 5; i++) set.apply(view, set.seq)
  t.is(log.filter(l => l.includes('skipping container')).length, 1)
  t.deepEqual(set.services(), [])
  t.regex(set.problems() ?? '', /a container is skipped for bad labels: container \/web-1 \([0-9a-f]{12}\): label ServicePort_80="x"/)
  set.apply({ ...view, labels: { ServiceName: 'w' } }, set.seq) // impossible in Docker, but a changed verdict is logged
  t.is(set.problems(), undefined)
  t.is(set.services().length, 1)
})

test('container set: ports left out are warned about once per container, and the service is still announced', t => {
  const { set, log } = setup()
  const ports = [{ containerPort: 80, type: 'tcp', hostIp: '127.0.2.9', hostPort: 32768 }, { containerPort: 9, type: 'sctp', hostIp: '127.0.2.9', hostPort: 32769 }]
  const a = makeView({ ports }); const b = makeView({ ports })
  for (let i = 0; i < 5; i++) { set.apply(a, set.seq); set.apply(b, set.seq) }
  const warned = log.filter(l => l.includes('9/sctp left out'))
  t.is(warned.length, 2, 'one line for each of the two containers')
  t.true(warned[0].includes('"level":"warn"'))
  t.is(set.services().length, 2)
  t.is(set.problems(), undefined, 'not a skipped container')
  set.apply({ ...a, ports: [ports[0]] }, set.seq)
  t.false(log.some(l => l.includes('labels are valid now')), 'no "valid now" line: the labels were never invalid')
})

test('container set: Docker health facts reach the health source, and changes emit an update', t => {
  const { set, health } = setup()
  const updates: string[] = []
  health.on('update', (id) => { updates.push(id) })
  const view = makeView({ hasHealthcheck: true, health: 'starting' })
  const id = view.id.slice(0, 12)
  set.apply(view, set.seq)
  t.is(health.result(id), undefined, 'starting: no verdict yet')
  set.setHealth(view.id, 'healthy', set.seq)
  t.deepEqual(health.result(id), { ok: true })
  set.setHealth(view.id, 'healthy', set.seq) // no change, no update
  set.setHealth(view.id, 'unhealthy', set.seq)
  t.false(health.result(id)?.ok)
  t.deepEqual(updates, [id, id, id])
  set.remove(view.id)
  t.regex(health.result(id)?.error ?? '', /not found/)
})

test('container set: a name too long for the regex namer is named after the image, warned about once, and logged clipped', t => {
  const { set, log } = setup({ ...CTX, namer: regexNamer('^/(.+)-[0-9]+$') })
  const view = makeView({ name: `/${'a'.repeat(100_000)}-1` }) // Docker takes names of up to about a megabyte
  for (let i = 0; i < 5; i++) set.apply(view, set.seq)
  t.is(set.services()[0]?.service.Name, 'nginx:1.27')
  const warned = log.filter(l => l.includes('name_match is tried on names of at most 1024'))
  t.is(warned.length, 1)
  t.true(warned[0].includes('container name is 100003 characters long'))
  t.true(warned[0].length < 2000, `the line carries a clipped name, not the whole (${warned[0].length} characters)`)
})
