// The check kinds. Each honours its AbortSignal (timeout or shutdown) and leaves no socket
// or process behind: HTTP uses a fresh socket that is destroyed after the answer, commands
// run in their own process group that is killed on abort, and what leaves that group is
// found by the marker in its environment (strays.ts).
import { spawn, type ChildProcess } from 'node:child_process'
import net from 'node:net'
import { InvalidCheckError } from '../lib/errors.ts'
import { http, https } from '../lib/node-http.ts'
import type { RunHandle, StrayReaper } from './strays.ts'

export interface CheckResult {
  /** true: passing. */
  readonly ok: boolean
  /** Why it failed, for people (API, logs). */
  readonly error?: string
}

/**
 * reach: the only "host:port" pairs (reachKey) the check may connect to, its redirects
 * included; anything else fails without a connection. Unset: any (the operator's own checks).
 */
export type CheckRunner = (args: string, signal: AbortSignal, reach?: ReadonlySet<string>) => Promise<CheckResult>

export const CHECK_TYPES = ['HttpGet', 'TcpConnect', 'External', 'AlwaysSuccessful'] as const
export type CheckType = typeof CHECK_TYPES[number]

export function isCheckType (t: string): t is CheckType {
  return (CHECK_TYPES as readonly string[]).includes(t)
}

const MAX_REDIRECTS = 5
const MAX_OUTPUT = 512 // bytes of command output kept for the error message
/** Characters of an unusable redirect Location quoted in the failure (a response head may hold 16 KiB of it). */
const MAX_LOCATION_SHOWN = 200
/** Pairs named in an out-of-reach failure before "...". */
const REACH_SHOWN = 6

/** "host:port" as reach holds it: the host lowercased, an IPv6 address without brackets. */
export function reachKey (host: string, port: number): string {
  return `${host.replace(/^\[(.*)\]$/, '$1').toLowerCase()}:${port}`
}

/** Why host:port may not be checked, or undefined when it may. */
function outOfReach (host: string, port: number, reach: ReadonlySet<string> | undefined): string | undefined {
  if (reach === undefined || reach.has(reachKey(host, port))) return undefined
  const shown = [...reach].slice(0, REACH_SHOWN).join(', ')
  const ports = reach.size === 0 ? ', and it publishes none' : `: ${shown}${reach.size > REACH_SHOWN ? ', ...' : ''}`
  return `${reachKey(host, port)} is not checked: a check from a container's labels may reach only that container's published TCP ports${ports} ([docker_discovery] check_any_target = true lifts this)`
}

/** GET the URL; 2xx passes. Redirects are followed like Go's default client, within reach when one is given. */
export async function httpGet (url: string, signal: AbortSignal, reach?: ReadonlySet<string>, redirects = 0, first = url): Promise<CheckResult> {
  let target: URL
  try {
    target = new URL(url)
  } catch {
    return { ok: false, error: `invalid URL ${JSON.stringify(url)}` }
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:') return { ok: false, error: `unsupported URL scheme ${target.protocol}` }
  const mod = target.protocol === 'https:' ? https() : http
  const refused = outOfReach(target.hostname, target.port !== '' ? Number(target.port) : target.protocol === 'https:' ? 443 : 80, reach)
  if (refused !== undefined) return { ok: false, error: redirects > 0 ? `redirected to ${url}: ${refused}` : refused }
  return await new Promise<CheckResult>((resolve) => {
    const req = mod.get(target, { agent: false, signal, headers: { 'user-agent': 'sidecar-health-check', connection: 'close' } }, (res) => {
      const status = res.statusCode ?? 0
      res.resume() // discard the body
      req.destroy()
      const location = res.headers.location
      if (status >= 300 && status < 400 && location !== undefined && redirects < MAX_REDIRECTS) {
        // The Location is the checked server's to choose: one the URL parser refuses
        // ("http://[::1", "http://a b/") fails the check. Thrown here, in the response
        // handler, it was an uncaught exception that ended the daemon.
        const next = URL.parse(location, target.href)
        resolve(next === null
          ? { ok: false, error: `HTTP ${status} from ${url}: redirect to an invalid URL ${JSON.stringify(location.length > MAX_LOCATION_SHOWN ? `${location.slice(0, MAX_LOCATION_SHOWN)}...` : location)}` }
          : httpGet(next.toString(), signal, reach, redirects + 1, first))
      } else if (status >= 200 && status < 300) {
        resolve({ ok: true })
      } else if (status >= 300 && status < 400 && location !== undefined) {
        resolve({ ok: false, error: `HTTP ${status} from ${url}: more than ${MAX_REDIRECTS} redirects (a redirect loop?), started at ${first}` })
      } else {
        resolve({ ok: false, error: `HTTP ${status} from ${url}` })
      }
    })
    req.on('error', (err) => {
      resolve({ ok: false, error: signal.aborted ? `timed out: ${url}` : `${err.message} (${url})` })
    })
    // A 101 to a request that asked for no upgrade: Node emits neither 'response' nor 'error' for
    // it, nor anything when the signal fires later, so the check never ended (the monitor gave up
    // on it a second after its timeout, as a check that ignores its abort).
    req.on('upgrade', (res, socket) => {
      socket.destroy()
      resolve({ ok: false, error: `HTTP ${res.statusCode ?? 101} from ${url}: switching protocols, though the check asked for no upgrade` })
    })
  })
}

/** Opens a TCP connection to host:port and closes it; a completed handshake passes. */
export async function tcpConnect (args: string, signal: AbortSignal, reach?: ReadonlySet<string>): Promise<CheckResult> {
  const m = /^\[?([^\]]*?)\]?:(\d{1,5})$/.exec(args.trim())
  const port = m === null ? NaN : Number(m[2])
  if (m === null || port < 1 || port > 65535) return { ok: false, error: `invalid TcpConnect target ${JSON.stringify(args)}: expected host:port` }
  const host = m[1] === '' ? '127.0.0.1' : m[1]
  const refused = outOfReach(host, port, reach)
  if (refused !== undefined) return { ok: false, error: refused }
  return await new Promise<CheckResult>((resolve) => {
    const socket = net.connect({ host, port })
    const done = (r: CheckResult): void => {
      signal.removeEventListener('abort', onAbort)
      socket.destroy()
      resolve(r)
    }
    const onAbort = (): void => { done({ ok: false, error: `timed out connecting to ${host}:${port}` }) }
    signal.addEventListener('abort', onAbort, { once: true })
    socket.once('connect', () => { done({ ok: true }) })
    socket.once('error', (err) => { done({ ok: false, error: `${err.message}` }) })
    if (signal.aborted) onAbort()
  })
}

/**
 * After the shell ends, its output still in the pipe is read for this long at most: a
 * descendant that left the process group (setsid) may hold the pipe open for ever.
 */
const OUTPUT_GRACE_MS = 100

/** Why a command could not be started, for people: the errno and what it means. */
function cannotStart (err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code
  const why = code === 'EAGAIN'
    ? 'no more processes may be started: the process limit of this user (ulimit -u) or of its cgroup (pids.max) is reached'
    : code === 'EMFILE' || code === 'ENFILE'
      ? 'too many open files: the limit of open files (ulimit -n) is reached'
      : code === 'ENOENT' ? '/bin/sh not found' : code === 'E2BIG' ? 'the command or the environment is too long' : undefined
  return `the command could not be started: ${err instanceof Error ? err.message : String(err)}${why === undefined ? '' : ` (${why})`}`
}

/**
 * Runs args through /bin/sh -c (as the original's README promised); exit 0 passes. The
 * check ends when the shell ends (or at the timeout), and takes with it every process the
 * shell left in its group: a command's background children do not pile up, one per interval.
 * run: marks the run's processes, so that those that leave the group are found (strays.ts).
 */
async function command (args: string, signal: AbortSignal, run?: RunHandle): Promise<CheckResult> {
  if (args.trim() === '') { run?.end(false); return { ok: false, error: 'External check has no command' } }
  return await new Promise<CheckResult>((resolve) => {
    let settled = false
    let grace: NodeJS.Timeout | undefined
    let child: ChildProcess | undefined
    const killGroup = (): void => {
      // the whole process group: a shell's children must not outlive the check
      try { if (child?.pid !== undefined) process.kill(-child.pid, 'SIGKILL') } catch { /* already gone */ }
    }
    const finish = (r: CheckResult, timedOut = false): void => {
      if (settled) return
      settled = true
      clearTimeout(grace)
      signal.removeEventListener('abort', onAbort)
      killGroup()
      child?.stdout?.destroy()
      child?.stderr?.destroy()
      run?.end(timedOut)
      resolve(r)
    }
    const onAbort = (): void => { finish({ ok: false, error: 'timed out: the command did not end within the check timeout' }, true) }
    try {
      child = spawn('/bin/sh', ['-c', args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true, ...(run === undefined ? {} : { env: { ...process.env, ...run.env } }) })
    } catch (err) { // errors other than EAGAIN, EMFILE, ENOENT... are thrown (E2BIG)
      finish({ ok: false, error: cannotStart(err) })
      return
    }
    if (child.pid !== undefined) run?.spawned(child.pid)
    let output = ''
    const keep = (chunk: Buffer): void => { if (output.length < MAX_OUTPUT) output += chunk.toString('utf8', 0, MAX_OUTPUT - output.length) }
    // no pipes when the spawn failed for want of file descriptors (EMFILE): the 'error' below says so
    child.stdout?.on('data', keep)
    child.stderr?.on('data', keep)
    signal.addEventListener('abort', onAbort, { once: true })
    child.once('error', (err) => { finish({ ok: false, error: child?.pid === undefined ? cannotStart(err) : err.message }) })
    child.once('exit', (code, sig) => {
      killGroup()
      const verdict = (): void => { finish(code === 0 ? { ok: true } : { ok: false, error: `exit ${code ?? sig}${output.trim() === '' ? '' : ': ' + output.trim()}` }) }
      child?.once('close', verdict)
      grace = setTimeout(verdict, OUTPUT_GRACE_MS)
    })
    if (signal.aborted) onAbort()
  })
}

/** An External check run as a plain command: what it starts outside its process group is not looked for. */
export async function external (args: string, signal: AbortSignal): Promise<CheckResult> {
  return await command(args, signal)
}

/** The External check of one service (label): what its runs leave running outside their process group is killed by strays. */
export function externalFor (strays: StrayReaper, label: string): CheckRunner {
  return async (args, signal) => await command(args, signal, strays.begin(label))
}

/** strays: for External checks, finds what their runs leave running (label: the service, for its log line). */
export function runnerFor (type: string, strays?: { reaper: StrayReaper, label: string }): CheckRunner {
  switch (type) {
    case 'HttpGet': return httpGet
    case 'TcpConnect': return tcpConnect
    case 'External': return strays === undefined ? external : externalFor(strays.reaper, strays.label)
    case 'AlwaysSuccessful': return async () => ({ ok: true })
    default: throw new InvalidCheckError(`unknown health check type ${JSON.stringify(type)}: use one of ${CHECK_TYPES.join(', ')}`)
  }
}

/** "http://:10234/" (the original's examples) means this host: fill in the host. */
export function fillEmptyHost (url: string, host: string): string {
  return url.replace(/^(https?:\/\/):(\d+)/i, (_m, scheme: string, port: string) => `${scheme}${host.includes(':') ? `[${host}]` : host}:${port}`)
}
