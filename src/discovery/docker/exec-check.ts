// HealthCheck=External from a container label, as the check kind "DockerExec": the command
// is whatever the person who started the container wrote, so it never runs on the host.
// With [docker_discovery] allow_external_checks off (the default) it does not run at all:
// the check fails with an error saying why (shown in explain and the UI) and one warning
// per container is logged. On, it runs inside the container with docker exec
// (/bin/sh -c, as the original ran it on the host), exit code 0 passes, output bounded.
// Static-file External checks are not this: the operator wrote them; they stay host commands.
import { EventEmitter } from 'node:events'
import type { Duplex } from 'node:stream'
import type Docker from 'dockerode'
import type { CheckResult } from '../../health/checks.ts'
import type { SuppliedCheckSource } from '../../health/supplied.ts'
import { errorMessage } from '../../lib/errors.ts'
import type { Logger } from '../../lib/logger.ts'

export const DOCKER_EXEC_CHECK = 'DockerExec'

/** Bytes of a command's output kept for the error message; the rest is read and discarded. */
const MAX_OUTPUT = 512
/** Containers remembered as warned about (and timed-out execs); past this the set starts over (one more warning, or exec, each at worst). */
const MAX_WARNED = 10_000

/** Polls of the exit code after the output ended (EXIT_POLLS x EXIT_POLL_MS at most, well inside any check timeout). */
const EXIT_POLLS = 20
const EXIT_POLL_MS = 25

/**
 * Docker cannot kill an exec'd process: a command past its timeout keeps running in the
 * container. Another is not started beside it, or a command that hangs would add one
 * process (and one exec record in dockerd) per interval until the container's pid limit.
 */
export const STILL_RUNNING_ERROR = 'timed out: the command of an earlier check still runs in the container (Docker cannot stop it); no new one is started until it ends'

export const DISABLED_ERROR = 'HealthCheck=External from a container label is not run: [docker_discovery] allow_external_checks is off, because it would run a command chosen by whoever starts containers; set it to true to run the command inside the container (docker exec)'

/** The check args: "<service id> <command>" (the id names the container). */
export function execArgs (serviceId: string, command: string): string {
  return `${serviceId} ${command}`
}

export function parseExecArgs (args: string): { id: string, command: string } {
  const space = args.indexOf(' ')
  return space < 0 ? { id: args, command: '' } : { id: args.slice(0, space), command: args.slice(space + 1) }
}

/** Collects stdout+stderr of a multiplexed (non-TTY) exec stream: 8-byte frame headers, payloads kept up to max bytes. */
export class OutputCollector {
  #pending = Buffer.alloc(0)
  #frameLeft = 0
  #kept: Buffer[] = []
  #keptBytes = 0
  readonly #max: number

  constructor (max = MAX_OUTPUT) { this.#max = max }

  push (chunk: Buffer): void {
    let buf = this.#pending.length > 0 ? Buffer.concat([this.#pending, chunk]) : chunk
    this.#pending = Buffer.alloc(0)
    while (buf.length > 0) {
      if (this.#frameLeft === 0) {
        if (buf.length < 8) { this.#pending = Buffer.from(buf); return }
        this.#frameLeft = buf.readUInt32BE(4)
        buf = buf.subarray(8)
        continue
      }
      const take = Math.min(this.#frameLeft, buf.length)
      const room = this.#max - this.#keptBytes
      if (room > 0) { const part = buf.subarray(0, Math.min(room, take)); this.#kept.push(Buffer.from(part)); this.#keptBytes += part.length }
      this.#frameLeft -= take
      buf = buf.subarray(take)
    }
  }

  text (): string { return Buffer.concat(this.#kept).toString('utf8').trim() }
}

export class DockerExecChecks extends EventEmitter<{ update: [args: string] }> implements SuppliedCheckSource {
  readonly type = DOCKER_EXEC_CHECK
  readonly #logger: Logger
  readonly #client: () => Docker | undefined
  readonly #allow: boolean
  readonly #warned = new Set<string>()
  /** Execs whose check timed out, by check args, while their command may still run. */
  readonly #lingering = new Map<string, Docker.Exec>()

  /** client: the discoverer's current Docker connection (undefined while not connected). */
  constructor (components: { logger: Logger, client: () => Docker | undefined }, init: { allow: boolean }) {
    super()
    this.#logger = components.logger
    this.#client = components.client
    this.#allow = init.allow
  }

  /** Never used: the monitor probes this kind at each interval (probe). */
  result (): CheckResult | undefined { return undefined }

  async probe (args: string, signal: AbortSignal): Promise<CheckResult> {
    const { id, command } = parseExecArgs(args)
    if (!this.#allow) {
      this.#warnOnce(id)
      return { ok: false, error: DISABLED_ERROR }
    }
    if (command.trim() === '') return { ok: false, error: 'External check has no command' }
    const client = this.#client()
    if (client === undefined) return { ok: false, error: 'not connected to Docker: the check cannot run inside the container' }
    if (await this.#stillRunning(args, signal)) return { ok: false, error: STILL_RUNNING_ERROR }
    let started: Docker.Exec | undefined
    try {
      return await runInContainer(client, id, command, signal, (exec) => { started = exec })
    } catch (err) {
      if (!signal.aborted) return { ok: false, error: `docker exec failed: ${errorMessage(err)}` }
      if (started !== undefined) this.#linger(args, started)
      return { ok: false, error: 'timed out: the command did not end within the check timeout' }
    }
  }

  /** True while the command of this check's last timed-out run still runs (a gone container or exec: false). */
  async #stillRunning (args: string, signal: AbortSignal): Promise<boolean> {
    const exec = this.#lingering.get(args)
    if (exec === undefined) return false
    try {
      if ((await exec.inspect({ abortSignal: signal } as Docker.ExecInspectOptions)).Running) return true
    } catch {
      if (signal.aborted) return true // unknown: ask again at the next interval
    }
    this.#lingering.delete(args)
    return false
  }

  #linger (args: string, exec: Docker.Exec): void {
    if (this.#lingering.size >= MAX_WARNED) this.#lingering.clear() // containers gone with their checks: start over
    this.#lingering.set(args, exec)
  }

  #warnOnce (id: string): void {
    if (this.#warned.has(id)) return
    if (this.#warned.size >= MAX_WARNED) this.#warned.clear()
    this.#warned.add(id)
    this.#logger.warn({ id }, `container ${id} asks for HealthCheck=External; not run (its check fails): ${DISABLED_ERROR}`)
  }
}

/** docker exec /bin/sh -c command in the container; resolves when the command ended (or the signal fired). */
async function runInContainer (client: Docker, id: string, command: string, signal: AbortSignal, onCreated: (exec: Docker.Exec) => void): Promise<CheckResult> {
  const exec = await client.getContainer(id).exec({ Cmd: ['/bin/sh', '-c', command], AttachStdout: true, AttachStderr: true, Tty: false, abortSignal: signal } as Docker.ExecCreateOptions)
  onCreated(exec)
  const stream = await exec.start({ hijack: true, stdin: false, abortSignal: signal } as Docker.ExecStartOptions) as Duplex
  const output = new OutputCollector()
  await new Promise<void>((resolve, reject) => {
    const abort = (): void => { stream.destroy(); reject(new Error('aborted')) }
    if (signal.aborted) { abort(); return }
    signal.addEventListener('abort', abort, { once: true })
    stream.on('data', (c: Buffer) => { output.push(c) })
    const done = (): void => { signal.removeEventListener('abort', abort); resolve() }
    stream.once('end', done)
    stream.once('close', done)
    stream.once('error', (err) => { signal.removeEventListener('abort', abort); reject(err) })
  })
  let info = await exec.inspect({ abortSignal: signal } as Docker.ExecInspectOptions)
  // the stream can end a moment before Docker records the exit code
  for (let i = 0; i < EXIT_POLLS && info.Running && !signal.aborted; i++) {
    await new Promise(resolve => setTimeout(resolve, EXIT_POLL_MS))
    info = await exec.inspect({ abortSignal: signal } as Docker.ExecInspectOptions)
  }
  if (info.ExitCode === 0) return { ok: true }
  const text = output.text()
  return { ok: false, error: `exit ${info.ExitCode ?? 'unknown'} (in the container)${text === '' ? '' : `: ${text}`}` }
}
