// HealthCheck=External from labels: off by default (a clear failure, one warning per
// container, no Docker call), and the exec output parser keeps at most its bound.
import test from 'ava'
import { DISABLED_ERROR, DockerExecChecks, OutputCollector, parseExecArgs } from '../../../../src/discovery/docker/exec-check.ts'
import type { Logger } from '../../../../src/lib/logger.ts'
import { silentLogger } from '../../../../src/lib/logger.ts'

function recordingLogger (): { logger: Logger, warnings: string[] } {
  const warnings: string[] = []
  const base = silentLogger()
  const logger = Object.assign(Object.create(base) as Logger, { warn: (_o: unknown, msg: string) => { warnings.push(msg) } })
  return { logger, warnings }
}

test('exec check off: fails with the reason, never asks Docker, warns once per container', async t => {
  const { logger, warnings } = recordingLogger()
  let asked = 0
  const checks = new DockerExecChecks({ logger, client: () => { asked++; return undefined } }, { allow: false })
  for (let i = 0; i < 5; i++) {
    t.deepEqual(await checks.probe('0123456789ab touch /tmp/pwned', AbortSignal.timeout(1000)), { ok: false, error: DISABLED_ERROR })
  }
  await checks.probe('ba9876543210 true', AbortSignal.timeout(1000))
  t.is(asked, 0)
  t.is(warnings.length, 2)
  t.regex(warnings[0], /container 0123456789ab asks for HealthCheck=External; not run/)
})

test('exec check on, Docker not connected: a clear failure', async t => {
  const checks = new DockerExecChecks({ logger: silentLogger(), client: () => undefined }, { allow: true })
  t.deepEqual(await checks.probe('0123456789ab true', AbortSignal.timeout(1000)), { ok: false, error: 'not connected to Docker: the check cannot run inside the container' })
})

test('exec args: the service id, then the command', t => {
  t.deepEqual(parseExecArgs('0123456789ab sh -c "a b"'), { id: '0123456789ab', command: 'sh -c "a b"' })
})

function frame (stream: number, text: string): Buffer {
  const payload = Buffer.from(text)
  const head = Buffer.alloc(8)
  head[0] = stream
  head.writeUInt32BE(payload.length, 4)
  return Buffer.concat([head, payload])
}

test('exec output: frames of stdout and stderr, split anywhere, kept up to the bound', t => {
  const all = Buffer.concat([frame(1, 'hello '), frame(2, 'world'), frame(1, 'x'.repeat(10_000))])
  const c = new OutputCollector(20)
  for (let i = 0; i < all.length; i += 7) c.push(all.subarray(i, i + 7))
  t.is(c.text(), 'hello worldxxxxxxxxx')
})
